"""The benchmark (walcheck/bench/) runs and reports sane figures.

Timings vary with the machine and its load, so nothing here checks a speed:
only that every measurement did its work and the result holds together."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from walcheck.bench.measure import QUICK_PLAN, REPEATS, run_bench
from walcheck.bench.table import render_table
from walcheck.cli import main


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _check_timing(figures: dict[str, Any], *, higher_is_better: bool) -> None:
    runs = figures["runs"]
    assert len(runs) == REPEATS
    assert all(_positive(run) for run in runs)
    assert figures["best"] == (max(runs) if higher_is_better else min(runs))
    assert min(runs) <= figures["median"] <= max(runs)


@pytest.fixture(scope="module")
def bench_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def quick_result(bench_directory: Path) -> dict[str, Any]:
    # One quick run (under 10 s) shared by every test of this module.
    messages: list[str] = []
    result = run_bench(quick=True, directory=bench_directory, progress=messages.append)
    assert messages, "progress was never reported"
    return result


def test_appends_cover_every_payload_and_mode(quick_result: dict[str, Any], bench_directory: Path) -> None:
    appends = quick_result["appends"]
    # The first place is the directory given; tmpfs comes in addition when there is one.
    assert Path(appends[0]["directory"]).parent == bench_directory
    storages = {entry["storage"] for entry in appends}
    for storage in storages:
        for skip_sync in (False, True):
            sizes = {
                entry["payload_bytes"]
                for entry in appends
                if entry["storage"] == storage and entry["skip_sync"] is skip_sync
            }
            assert sizes == set(QUICK_PLAN.payload_sizes)
    for entry in appends:
        _check_timing(entry["seconds"], higher_is_better=False)
        _check_timing(entry["appends_per_second"], higher_is_better=True)
        assert entry["appends_per_second"]["best"] == pytest.approx(
            entry["appends"] / entry["seconds"]["best"]
        )
        assert entry["region_bytes"] >= entry["appends"] * (48 + entry["payload_bytes"]) + 48


def test_recovery_and_floors_are_sane(quick_result: dict[str, Any]) -> None:
    recovery = quick_result["recovery"]
    assert [entry["region_bytes"] for entry in recovery] == list(QUICK_PLAN.recovery_region_sizes)
    for entry in recovery:
        # Full: no room for one more 1 KiB entry and its sentinel.
        assert entry["region_bytes"] - entry["records"] * 1072 < 1072 + 48
        for name in (
            "open_seconds",
            "scan_region_seconds",
            "floor_whole_region_hash_seconds",
            "floor_per_record_hash_seconds",
        ):
            _check_timing(entry[name], higher_is_better=False)
        assert _positive(entry["open_mb_per_second"])
        assert _positive(entry["open_records_per_second"])
        # Hashing the region in one call does less than the open, which hashes it all and more.
        assert entry["floor_whole_region_hash_seconds"]["best"] <= entry["open_seconds"]["best"]
        for ratios in (entry["ratios"], entry["median_ratios"]):
            assert set(ratios) == {
                "open_over_whole_region_hash",
                "open_over_per_record_hash",
                "scan_over_per_record_hash",
            }
            assert all(_positive(ratio) for ratio in ratios.values())
        assert entry["ratios"]["open_over_per_record_hash"] == pytest.approx(
            entry["open_seconds"]["best"] / entry["floor_per_record_hash_seconds"]["best"]
        )
        assert entry["within_target"] == (entry["ratios"]["open_over_per_record_hash"] <= 3.0)
    largest = recovery[-1]
    assert quick_result["target"]["met"] == largest["within_target"]


def test_suite_rates(quick_result: dict[str, Any]) -> None:
    machines = quick_result["suite"]["machines"]
    assert len(machines) == 3
    for entry in machines:
        assert entry["findings"] == []  # FIXED keeps every guarantee
        assert all(steps > 0 for steps in entry["steps"])
        _check_timing(entry["steps_per_second"], higher_is_better=True)
    crash = [entry for entry in machines if "Crash" in entry["machine"]]
    assert len(crash) == 1
    _check_timing(crash[0]["crash_images_per_second"], higher_is_better=True)
    assert quick_result["suite"]["exhaustive"] is None  # full runs only


def test_machine_info_and_json_round_trip(quick_result: dict[str, Any]) -> None:
    info = quick_result["machine"]
    for key in ("platform", "python", "cpu", "blake3", "date"):
        assert isinstance(info[key], str) and info[key]
    assert info["cores"] >= 1
    assert json.loads(json.dumps(quick_result)) == quick_result


def test_render_table(quick_result: dict[str, Any]) -> None:
    table = render_table(json.loads(json.dumps(quick_result)))
    assert "| open / (a) | open / (b) | scan / (b) |" in table
    assert table.count("\n| 1 MiB |") == 1
    assert "StatefulCrashFixed" in table


def test_main_rejects_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--directory", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
