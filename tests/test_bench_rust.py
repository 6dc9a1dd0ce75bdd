"""`walcheck bench --rust` (walcheck/bench/rust.py): memvid's original Rust, the
Rust port and the Python reference side by side on the same workloads, from
one run, with ratios to the original and the issue's goals judged.

Needs cargo and Debian's crates (.ci/run installs them); builds wal-bench.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from walcheck.bench.measure import BenchError
from walcheck.bench.rust import IMPLEMENTATIONS, WORKSPACE, _rust, render_side_by_side, run_side_by_side

SEED = WORKSPACE.parents[2] / "shared" / "seed" / "embedded_wal.rs"


@pytest.fixture(scope="module", autouse=True)
def _rust_available() -> None:
    if shutil.which("cargo") is None and not (Path.home() / ".cargo" / "bin" / "cargo").exists():
        pytest.skip("cargo not found: install Rust (cargo) to build ports/rust")
    if "MEMVID_WAL_RS" not in os.environ and not SEED.exists():
        pytest.skip(f"memvid's wal.rs not found at {SEED}: set MEMVID_WAL_RS")


def test_three_implementations_side_by_side_from_one_run(tmp_path: Path) -> None:
    result = run_side_by_side(quick=True, directory=tmp_path)
    rows = result["rows"]
    assert [row["workload"] for row in rows] == [
        "appends 64 B synced",
        "appends 1 KiB synced",
        "appends 64 KiB synced",
        "appends 64 B skip_sync",
        "appends 1 KiB skip_sync",
        "appends 64 KiB skip_sync",
        "open 1 MiB",
    ]
    for row in rows:
        assert set(row["seconds"]) == set(IMPLEMENTATIONS)
        assert all(
            0 < row["seconds"][name]["best"] <= row["seconds"][name]["median"] for name in IMPLEMENTATIONS
        )
        assert row["ratio_to_original"]["original"] == 1.0
    # The quick plan has no 64 MiB open: only the append goals are judged.
    assert [goal["goal"] for goal in result["goals"]] == [
        "reference, 1 KiB skip_sync appends",
        "port, 1 KiB skip_sync appends",
    ]
    table = render_side_by_side(result)
    assert "| original Rust | Rust port (FIXED) | Python reference (FIXED) |" in table
    assert table.count("\n| ") == len(rows) + 1
    assert list(tmp_path.iterdir()) == []  # every file it made is gone


def test_work_that_was_not_done_is_an_error(tmp_path: Path) -> None:
    """wal-bench checks the work it timed: an open that finds other records fails."""
    from walcheck.bench.measure import _build_full_region
    from walcheck.bench.rust import build_wal_bench

    binary = build_wal_bench()
    path = tmp_path / "region.mv2"
    records, _ = _build_full_region(path, 1 << 20)
    assert len(_rust(binary, "open", "port", path, 4096, 1 << 20, 0, records, 3)) == 3
    with pytest.raises(BenchError, match="open found sequence"):
        _rust(binary, "open", "original", path, 4096, 1 << 20, 0, records + 1, 3)
