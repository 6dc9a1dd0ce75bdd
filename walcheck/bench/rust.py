"""memvid's original Rust, the Rust port of FIXED and the Python reference side
by side on the same workloads, in one run (``walcheck bench --rust``, issue 13).

Workloads: appends of 64 B, 1 KiB and 64 KiB, with a sync per append and with
``skip_sync`` and one ``flush``, into a fresh file whose region holds them all;
and ``open_read_only`` of regions of 1, 16 and 64 MiB full of 1 KiB records
(page cache warm; the scan is the cost). The two Rust implementations run in
``ports/rust``'s ``wal-bench`` binary, which times inside the process; the
reference runs in this one. Each figure is the best of three runs, with the
median beside it, and each ratio is of best times against the original Rust.

Goals (issue 13): the reference at or under 1.0x the original's time for 1 KiB
``skip_sync`` appends and for the 64 MiB open; the port at or under 0.5x for
the open and 1.0x for appends.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walcheck.bench.measure import (
    KIB,
    MIB,
    REPEATS,
    BenchError,
    JsonDict,
    Progress,
    _build_full_region,
    _load_average,
    _say,
    _time_appends,
    _time_open,
    machine_info,
)

WORKSPACE = Path(__file__).resolve().parents[2] / "ports" / "rust"
IMPLEMENTATIONS = ("original", "port", "reference")
NAMES = {
    "original": "original Rust",
    "port": "Rust port (FIXED)",
    "reference": "Python reference (FIXED)",
}
GOALS: tuple[tuple[str, str, str, float], ...] = (
    # (workload key, implementation, what, at most this ratio to the original)
    ("appends 1 KiB skip_sync", "reference", "reference, 1 KiB skip_sync appends", 1.0),
    ("open 64 MiB", "reference", "reference, open of 64 MiB", 1.0),
    ("open 64 MiB", "port", "port, open of 64 MiB", 0.5),
    ("appends 1 KiB skip_sync", "port", "port, 1 KiB skip_sync appends", 1.0),
)


# Not measure.py's Plan, on purpose: the workloads all three implementations run, with counts of their own.
@dataclass(frozen=True)
class SideBySidePlan:
    payload_sizes: tuple[int, ...]
    skip_sync_counts: Mapping[int, int]
    synced_counts: Mapping[int, int]
    region_sizes: tuple[int, ...]


FULL = SideBySidePlan(
    payload_sizes=(64, 1 * KIB, 64 * KIB),
    skip_sync_counts={64: 62_000, 1 * KIB: 62_000, 64 * KIB: 3_000},
    synced_counts={64: 1_000, 1 * KIB: 1_000, 64 * KIB: 300},
    region_sizes=(1 * MIB, 16 * MIB, 64 * MIB),
)
QUICK = SideBySidePlan(
    payload_sizes=(64, 1 * KIB, 64 * KIB),
    skip_sync_counts={64: 2_000, 1 * KIB: 2_000, 64 * KIB: 100},
    synced_counts={64: 30, 1 * KIB: 30, 64 * KIB: 10},
    region_sizes=(1 * MIB,),
)


def _cargo() -> str | None:
    found = shutil.which("cargo")
    home = Path.home() / ".cargo" / "bin" / "cargo"
    return found or (str(home) if home.exists() else None)


def build_wal_bench(workspace: Path = WORKSPACE) -> Path:
    """``cargo build --release -p wal-bench``; the binary's path. Raises BenchError."""
    cargo = _cargo()
    if cargo is None:
        raise BenchError("cargo not found: the Rust side needs cargo and .ci/run's librust-*-dev packages")
    built = subprocess.run(
        [cargo, "build", "--release", "--offline", "-p", "wal-bench"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise BenchError(f"cargo build of wal-bench failed:\n{built.stderr[-3000:]}")
    return workspace / "target" / "release" / "wal-bench"


def _rust(binary: Path, *args: object) -> list[float]:
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wal-bench {' '.join(map(str, args))}: {done.stderr.strip()}")
    seconds: list[float] = json.loads(done.stdout)["seconds"]
    if len(seconds) != REPEATS:
        raise BenchError(f"wal-bench gave {len(seconds)} timings, meant {REPEATS}")
    return seconds


def _row(key: str, work: str, timings: Mapping[str, Sequence[float]]) -> JsonDict:
    best = {name: min(seconds) for name, seconds in timings.items()}
    return {
        "workload": key,
        "work": work,
        "seconds": {
            name: {"best": best[name], "median": statistics.median(seconds)}
            for name, seconds in timings.items()
        },
        "ratio_to_original": {name: best[name] / best["original"] for name in timings},
    }


def _size(byte_count: int) -> str:
    return (
        f"{byte_count // MIB} MiB"
        if byte_count >= MIB
        else f"{byte_count // KIB} KiB"
        if byte_count >= KIB
        else f"{byte_count} B"
    )


def run_side_by_side(
    *, quick: bool = False, directory: Path | None = None, progress: Progress | None = None
) -> JsonDict:
    plan = QUICK if quick else FULL
    place = Path(directory or tempfile.gettempdir())
    load_at_start = _load_average()
    binary = build_wal_bench()
    rows: list[JsonDict] = []
    for skip_sync in (False, True):
        counts = plan.skip_sync_counts if skip_sync else plan.synced_counts
        for payload in plan.payload_sizes:
            count = counts[payload]
            key = f"appends {_size(payload)} {'skip_sync' if skip_sync else 'synced'}"
            timings = {
                which: _rust(binary, "appends", which, place, payload, count, int(skip_sync), REPEATS)
                for which in ("original", "port")
            }
            timings["reference"] = [
                _time_appends(place, payload, count, skip_sync=skip_sync) for _ in range(REPEATS)
            ]
            rows.append(
                _row(key, f"{count:,} appends" + (" and a flush" if skip_sync else ", a sync each"), timings)
            )
            _say(
                progress,
                f"side by side: {key}: " + ", ".join(f"{k} {min(v):.3f} s" for k, v in timings.items()),
            )
    for region_size in plan.region_sizes:
        path = place / f"side-by-side-{region_size}.mv2"
        try:
            records, _ = _build_full_region(path, region_size)
            timings = {
                which: _rust(binary, "open", which, path, 4096, region_size, 0, records, REPEATS)
                for which in ("original", "port")
            }
            timings["reference"] = [_time_open(path, records) for _ in range(REPEATS)]
        finally:
            path.unlink(missing_ok=True)
        key = f"open {_size(region_size)}"
        rows.append(_row(key, f"{records:,} records of 1 KiB", timings))
        _say(
            progress, f"side by side: {key}: " + ", ".join(f"{k} {min(v):.3f} s" for k, v in timings.items())
        )
    by_key = {row["workload"]: row for row in rows}
    goals = [
        {
            "goal": what,
            "at_most": limit,
            "ratio": by_key[key]["ratio_to_original"][which],
            "met": by_key[key]["ratio_to_original"][which] <= limit,
        }
        for key, which, what, limit in GOALS
        if key in by_key
    ]
    return {
        "machine": machine_info(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": _load_average(),
        "directory": str(place),
        "quick": quick,
        "rows": rows,
        "goals": goals,
    }


def render_side_by_side(result: Mapping[str, Any]) -> str:
    machine = result["machine"]
    load = result.get("load_average_at_start")
    lines = [
        f"{machine['cpu']}, {machine['cores']} cores, {machine['platform']}, Python {machine['python']}, "
        f"{machine['date']}, load average {load[0] if load else '?'} at start; "
        f"files in {result['directory']}.",
        "",
        "Side by side, one run (best of 3, median in parentheses; ratios of best times to the original "
        "Rust):",
        "",
        "| workload | work | original Rust | Rust port (FIXED) | Python reference (FIXED) "
        "| port / original | reference / original |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        cells = [
            f"{row['seconds'][name]['best'] * 1000:,.1f} ms ({row['seconds'][name]['median'] * 1000:,.1f})"
            for name in IMPLEMENTATIONS
        ]
        ratios = [f"{row['ratio_to_original'][name]:.2f}x" for name in ("port", "reference")]
        lines.append(f"| {row['workload']} | {row['work']} | " + " | ".join(cells + ratios) + " |")
    lines.append("")
    for goal in result["goals"]:
        verdict = "met" if goal["met"] else "NOT met"
        lines.append(f"- goal {goal['goal']} <= {goal['at_most']:.1f}x: {goal['ratio']:.2f}x, {verdict}")
    return "\n".join(lines) + "\n"
