"""CrossHair can fail: each kind of contract the project relies on is shown
to catch a planted bug (tests/crosshair_targets/), and the checks CI runs
(tools/check-contracts) pass on the shipped modules (spec/semantics.md S8).

Kinds of contract relied on, one self-test each:
- integer postconditions over a plain validity predicate (model.placement):
  memvid's own sentinel placement under FIXED's contract shows D1 and D3;
- transition functions over model states, with ``model.wal.valid`` in pre-
  and postconditions: a record_checkpoint that keeps the pending bytes;
- codec round trips (model.format): a length read one byte off;
- a contract behind the blake3 wrapper: a decode that skips the checksum,
  found only with the plugin (without it CrossHair checks nothing there);
- behavioural equivalence (``crosshair diffbehavior``): an off-by-one copy of
  the reference's placement.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests/crosshair_plugin.py"
BOUNDS = ["--per_condition_timeout", "10", "--max_uninteresting_iterations", "30"]


def crosshair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crosshair", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize(
    ("target", "function", "expected"),
    [
        # region 1: the 48-byte sentinel runs past the region (D3)
        ("original_sentinel.py", "original_sentinel_writes", "original_sentinel_writes(0, 0, 1)"),
        ("header_codec_offset.py", "round_trip", "round_trip("),
        ("decode_without_digest.py", "decode_entry", "decode_entry(b'"),
        ("checkpoint_keeps_pending.py", "record_checkpoint", "record_checkpoint(State("),
    ],
)
def test_crosshair_finds_the_planted_bug(target: str, function: str, expected: str) -> None:
    result = crosshair("check", f"tests/crosshair_targets/{target}", "--extra_plugin", PLUGIN, *BOUNDS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: false when calling {function}(" in result.stdout, result.stdout
    assert expected in result.stdout, result.stdout


def test_crosshair_finds_d1_in_memvids_sentinel() -> None:
    """Beyond D3, the second postcondition (no zero write on pending bytes)
    must fail too: that is D1."""
    result = crosshair("check", "tests/crosshair_targets/original_sentinel.py", *BOUNDS)
    failing_lines = {line.split(":")[1] for line in result.stdout.splitlines() if ": error: " in line}
    assert len(failing_lines) == 2, result.stdout


def test_blake3_hides_the_bug_without_the_plugin() -> None:
    """Why the plugin exists: blake3 rejects symbolic bytes, so without the
    patch every path through the digest is dropped and the check exits 0."""
    result = crosshair("check", "tests/crosshair_targets/decode_without_digest.py", *BOUNDS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error:" not in result.stdout


def test_diffbehavior_finds_a_planted_difference() -> None:
    result = crosshair(
        "diffbehavior",
        "model.placement.place_entry",
        "tests.crosshair_targets.placement_off_by_one.place_entry",
        "--max_uninteresting_iterations",
        "50",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Given:" in result.stdout


def test_the_ci_contract_checks_pass() -> None:
    """tools/check-contracts, as CI runs it: every contracted module holds its
    contracts, and the model's and the reference's placement agree."""
    result = subprocess.run(
        ["bash", "tools/check-contracts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"CROSSHAIR": str(Path(sys.executable).parent / "crosshair"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("No differences found") == 2, result.stdout
