"""Benchmarks of the reference WAL and of the suite (``walcheck bench``).
(Just over 500 lines: five measurements, each with its floor, in one run.)

One run measures, each measurement repeated three times (best and median kept):

1. appends per second with payloads of 64 B, 1 KiB and 64 KiB, with a sync
   after every append (memvid's default) and with ``set_skip_sync(True)`` and
   one ``flush()`` at the end, on a real-disk directory (``--directory``,
   default the temporary directory) and on tmpfs (``/dev/shm``) when there is one;
2. recovery: ``read_header`` and ``EmbeddedWal.open_read_only`` (which scans)
   of regions full of 1 KiB records, page cache warm, and ``scan_region``
   alone on the same bytes in memory;
3. two floors on the same bytes: blake3 of the whole region in one call (a),
   and a bare loop hashing each record's payload (b), with the ratios of
   recovery and scan to them;
4. the suite's own rate: steps per second of each FIXED machine, crash images
   checked per second, and the exhaustive crash check's images per second;
5. the machine it ran on.

``run_bench`` measures; walcheck/bench/table.py renders the Markdown table
``walcheck bench`` prints (walcheck/bench/command.py).
"""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

import model
from reference import EmbeddedWal, FileStorage, create_mv2, read_header, scan_region
from reference.wal import ENTRY_HEADER_SIZE, Design
from walcheck.sidebyside.exhaustive import run_exhaustive
from walcheck.sidebyside.hunts import fixed_machines, hunt, hunt_settings
from walcheck.sidebyside.machines import WalMachineBase
from walcheck.trace import payload_for

KIB = 1024
MIB = 1024 * KIB
MB = 1_000_000  # rates in MB/s are decimal megabytes
REPEATS = 3
# The target: recovery within 3x of hashing each record alone (floor b).
RATIO_TARGET = 3.0
TMPFS_DIRECTORY = Path("/dev/shm")
RECOVERY_PAYLOAD_SIZE = 1 * KIB
SCHEMA_VERSION = 1

JsonDict = dict[str, Any]
Progress = Callable[[str], None]

# memvid's Rust, as reported in the issue, printed beside our numbers for context.
RUST_CONTEXT: JsonDict = {
    "skip_sync_appends": 62_000,
    "skip_sync_payload_bytes": 1 * KIB,
    "skip_sync_seconds": 0.30,
    "skip_sync_appends_per_second": 205_000,
    "open_region_bytes": 64 * MIB,
    "open_records": 62_000,
    "open_seconds_low": 0.19,
    "open_seconds_high": 0.30,
}


class BenchError(RuntimeError):
    """A measurement did not do the work it was meant to time."""


# Not rust.py's SideBySidePlan, on purpose: this bench also times the suite and the exhaustive run.
@dataclass(frozen=True)
class Plan:
    """How much work each measurement does."""

    payload_sizes: tuple[int, ...]
    # Appends that do not wait for the disk: skip_sync anywhere, and a sync per
    # append on tmpfs, where fsync costs microseconds.
    unsynced_counts: Mapping[int, int]
    # A sync per append on a real disk: bound by fsync, so far fewer.
    disk_synced_counts: Mapping[int, int]
    recovery_region_sizes: tuple[int, ...]
    suite_examples: int
    exhaustive: bool


# Full counts give each timed append run 0.2 s or more on a 2-core EPYC:
# 62,000 1 KiB appends is the Rust run; 64 KiB appends run at about
# 40,000-60,000/s without waiting for a disk, so 12,000 of them need a 751 MiB
# region (created and deleted per run). A synced append on this machine's
# virtual ext4 disk took 0.09-0.7 ms (fsync cost varies from run to run).
FULL_PLAN = Plan(
    payload_sizes=(64, 1 * KIB, 64 * KIB),
    unsynced_counts={64: 62_000, 1 * KIB: 62_000, 64 * KIB: 12_000},
    disk_synced_counts={64: 3_000, 1 * KIB: 3_000, 64 * KIB: 2_000},
    recovery_region_sizes=(1 * MIB, 16 * MIB, 64 * MIB),
    suite_examples=100,
    exhaustive=True,
)
QUICK_PLAN = Plan(
    payload_sizes=(64, 1 * KIB, 64 * KIB),
    unsynced_counts={64: 5_000, 1 * KIB: 5_000, 64 * KIB: 300},
    disk_synced_counts={64: 100, 1 * KIB: 100, 64 * KIB: 30},
    recovery_region_sizes=(1 * MIB, 16 * MIB),
    suite_examples=20,
    exhaustive=False,
)


# -- helpers ------------------------------------------------------------------


def _timing(seconds: Sequence[float]) -> JsonDict:
    return {"runs": list(seconds), "best": min(seconds), "median": statistics.median(seconds)}


def _rates(work: Sequence[int], seconds: Sequence[float]) -> JsonDict:
    """Work per second of each run; the best is the fastest run."""
    per_run = [done / elapsed for done, elapsed in zip(work, seconds, strict=True)]
    return {"runs": per_run, "best": max(per_run), "median": statistics.median(per_run)}


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _filesystem_of(path: Path) -> str:
    """The type of the file system holding ``path`` (the longest matching mount point)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best_mount, best_type = "", "unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best_mount):
            best_mount, best_type = mount_point, fields[2]
    return best_type


def _storage_kind(filesystem: str) -> str:
    return "tmpfs" if filesystem in ("tmpfs", "ramfs") else "disk"


def _tmpfs_available() -> bool:
    return TMPFS_DIRECTORY.is_dir() and os.access(TMPFS_DIRECTORY, os.W_OK)


def _region_size_for(count: int, payload_size: int) -> int:
    """A region, in whole MiB, that holds ``count`` entries and a sentinel without wrapping."""
    needed = count * (ENTRY_HEADER_SIZE + payload_size) + ENTRY_HEADER_SIZE
    return -(-needed // MIB) * MIB


def _start_timing() -> float:
    # Collect the previous run's garbage now, so that it is not collected
    # inside this run's timed part. The collector stays on: the reference pays
    # for its own garbage in real use too.
    gc.collect()
    return time.perf_counter()


# -- 1. appends ---------------------------------------------------------------


def _time_appends(directory: Path, payload_size: int, count: int, *, skip_sync: bool) -> float:
    """Seconds for ``count`` appends into a fresh file (and the flush, with skip_sync)."""
    payload = payload_for(payload_size, payload_size)
    path = directory / f"appends-{payload_size}.mv2"
    try:
        with FileStorage(path, create=True) as storage:
            header = create_mv2(storage, _region_size_for(count, payload_size))
            wal = EmbeddedWal.open(storage, header)
            wal.set_skip_sync(skip_sync)
            append = wal.append_entry
            start = _start_timing()
            for _ in range(count):
                append(payload)
            if skip_sync:
                wal.flush()
            elapsed = time.perf_counter() - start
            if wal.sequence != count:
                raise BenchError(f"{count} appends left sequence {wal.sequence}")
    finally:
        path.unlink(missing_ok=True)
    return elapsed


def measure_appends(
    places: Sequence[tuple[str, Path]], plan: Plan, progress: Progress | None = None
) -> list[JsonDict]:
    results: list[JsonDict] = []
    for kind, directory in places:
        filesystem = _filesystem_of(directory)
        for skip_sync in (False, True):
            mode = "skip_sync + flush" if skip_sync else "sync per append"
            for payload_size in plan.payload_sizes:
                waits_for_disk = not skip_sync and kind == "disk"
                counts = plan.disk_synced_counts if waits_for_disk else plan.unsynced_counts
                count = counts[payload_size]
                seconds = [
                    _time_appends(directory, payload_size, count, skip_sync=skip_sync) for _ in range(REPEATS)
                ]
                rates = _rates([count] * REPEATS, seconds)
                results.append(
                    {
                        "storage": kind,
                        "directory": str(directory),
                        "filesystem": filesystem,
                        "mode": mode,
                        "skip_sync": skip_sync,
                        "payload_bytes": payload_size,
                        "appends": count,
                        "region_bytes": _region_size_for(count, payload_size),
                        "seconds": _timing(seconds),
                        "appends_per_second": rates,
                        "payload_mb_per_second": {
                            "best": rates["best"] * payload_size / MB,
                            "median": rates["median"] * payload_size / MB,
                        },
                    }
                )
                _say(
                    progress,
                    f"appends {payload_size:>6} B, {mode}, {kind} ({filesystem}): "
                    f"{rates['best']:,.0f}/s best, {rates['median']:,.0f}/s median",
                )
    return results


# -- 2 and 3. recovery and its floors ------------------------------------------


def _build_full_region(path: Path, region_size: int) -> tuple[int, list[tuple[int, int]]]:
    """Fill a new file's region with 1 KiB records, as many as fit without wrap.
    Returns the record count and each payload's (offset in the region, length)."""
    entry_size = ENTRY_HEADER_SIZE + RECOVERY_PAYLOAD_SIZE
    # FIXED places an entry only where a 48-byte sentinel still fits after it.
    records = (region_size - ENTRY_HEADER_SIZE) // entry_size
    base = payload_for(region_size, RECOVERY_PAYLOAD_SIZE)
    with FileStorage(path, create=True) as storage:
        header = create_mv2(storage, region_size)
        wal = EmbeddedWal.open(storage, header)
        wal.set_skip_sync(True)
        for index in range(records):
            # Each record differs, so no two checksums are the same.
            wal.append_entry(index.to_bytes(8, "little") + base[8:])
        wal.flush()
        if wal.sequence != records:
            raise BenchError(f"built {wal.sequence} records, meant {records}")
    spans = [(index * entry_size + ENTRY_HEADER_SIZE, RECOVERY_PAYLOAD_SIZE) for index in range(records)]
    return records, spans


def _time_open(path: Path, records: int) -> float:
    with FileStorage(path, read_only=True) as storage:
        start = _start_timing()
        header = read_header(storage, clear_legacy_lock=False)
        wal = EmbeddedWal.open_read_only(storage, header)
        elapsed = time.perf_counter() - start
    if wal.sequence != records or wal.pending_bytes != records * (ENTRY_HEADER_SIZE + RECOVERY_PAYLOAD_SIZE):
        raise BenchError(f"open found sequence {wal.sequence}, pending {wal.pending_bytes}; meant {records}")
    return elapsed


def _time_scan(region: bytes, records: int) -> float:
    start = _start_timing()
    found, _ = scan_region(region, Design.FIXED)
    elapsed = time.perf_counter() - start
    if len(found) != records:
        raise BenchError(f"scan_region found {len(found)} records, meant {records}")
    return elapsed


def _time_whole_region_hash(region: bytes) -> float:
    start = _start_timing()
    blake3.blake3(region).digest()
    return time.perf_counter() - start


def _time_per_record_hash(region: bytes, spans: Sequence[tuple[int, int]]) -> float:
    view = memoryview(region)
    start = _start_timing()
    for offset, length in spans:
        blake3.blake3(view[offset : offset + length]).digest()
    return time.perf_counter() - start


def measure_recovery(directory: Path, plan: Plan, progress: Progress | None = None) -> list[JsonDict]:
    results: list[JsonDict] = []
    for region_size in plan.recovery_region_sizes:
        path = directory / f"recovery-{region_size}.mv2"
        try:
            records, spans = _build_full_region(path, region_size)
            with FileStorage(path, read_only=True) as storage:
                header = read_header(storage, clear_legacy_lock=False)
                region = storage.read_at(header.wal_offset, header.wal_size)
            # The floors must hash exactly the payloads the scan checks.
            found, _ = scan_region(region, Design.FIXED)
            positions = [(record.position + ENTRY_HEADER_SIZE, len(record.payload)) for record in found]
            if positions != spans:
                raise BenchError("the precomputed record spans differ from the scanned ones")
            del found, positions
            open_seconds = [_time_open(path, records) for _ in range(REPEATS)]
            scan_seconds = [_time_scan(region, records) for _ in range(REPEATS)]
            whole_seconds = [_time_whole_region_hash(region) for _ in range(REPEATS)]
            each_seconds = [_time_per_record_hash(region, spans) for _ in range(REPEATS)]
        finally:
            path.unlink(missing_ok=True)
        best_open, best_scan = min(open_seconds), min(scan_seconds)
        best_whole, best_each = min(whole_seconds), min(each_seconds)
        median_open, median_scan = statistics.median(open_seconds), statistics.median(scan_seconds)
        median_whole, median_each = statistics.median(whole_seconds), statistics.median(each_seconds)
        open_over_each = best_open / best_each
        results.append(
            {
                "region_bytes": region_size,
                "records": records,
                "payload_bytes": RECOVERY_PAYLOAD_SIZE,
                "directory": str(directory),
                "filesystem": _filesystem_of(directory),
                "page_cache": "warm (the file was just written and is read again each run)",
                "open_seconds": _timing(open_seconds),
                "open_mb_per_second": _rates([region_size] * REPEATS, open_seconds)["best"] / MB,
                "open_records_per_second": _rates([records] * REPEATS, open_seconds)["best"],
                "scan_region_seconds": _timing(scan_seconds),
                "floor_whole_region_hash_seconds": _timing(whole_seconds),
                "floor_per_record_hash_seconds": _timing(each_seconds),
                # Ratios of best times; the medians' ratios show how steady they are.
                "ratios": {
                    "open_over_whole_region_hash": best_open / best_whole,
                    "open_over_per_record_hash": open_over_each,
                    "scan_over_per_record_hash": best_scan / best_each,
                },
                "median_ratios": {
                    "open_over_whole_region_hash": median_open / median_whole,
                    "open_over_per_record_hash": median_open / median_each,
                    "scan_over_per_record_hash": median_scan / median_each,
                },
                "within_target": open_over_each <= RATIO_TARGET,
            }
        )
        _say(
            progress,
            f"recovery {region_size // MIB} MiB ({records:,} records): open {best_open:.4f} s, "
            f"scan_region {best_scan:.4f} s, floors {best_whole:.4f} s / {best_each:.4f} s, "
            f"open/floor(b) {open_over_each:.2f}",
        )
    return results


# -- 4. the suite's own rate -------------------------------------------------------


def measure_suite(plan: Plan, progress: Progress | None = None) -> JsonDict:
    machines: list[JsonDict] = []
    for machine in fixed_machines():
        seconds: list[float] = []
        steps: list[int] = []
        images: list[int] = []
        examples: list[int] = []
        findings: list[str] = []
        for _ in range(REPEATS):
            before = Counter(WalMachineBase.counters)
            start = _start_timing()
            # hunt_settings without a seed derandomises: every run does the same examples.
            finding = hunt(machine, hunt_settings(plan.suite_examples))
            seconds.append(time.perf_counter() - start)
            gained = Counter(WalMachineBase.counters)
            gained.subtract(before)
            steps.append(gained["steps"])
            images.append(gained["crash images checked"])
            examples.append(gained["examples"])
            if finding is not None:
                findings.append(finding.render())
        steps_per_second = _rates(steps, seconds)
        images_per_second = _rates(images, seconds) if any(images) else None
        machines.append(
            {
                "machine": machine.__name__,
                "max_examples": plan.suite_examples,
                "examples_run": examples,
                "steps": steps,
                "crash_images_checked": images,
                "seconds": _timing(seconds),
                "steps_per_second": steps_per_second,
                "crash_images_per_second": images_per_second,
                # FIXED must have none; a finding here is a bug, not a benchmark figure.
                "findings": findings,
            }
        )
        images_note = f", {images_per_second['best']:,.0f} crash images/s" if images_per_second else ""
        _say(progress, f"suite {machine.__name__}: {steps_per_second['best']:,.0f} steps/s{images_note}")
    exhaustive: JsonDict | None = None
    if plan.exhaustive:
        exhaustive_seconds: list[float] = []
        image_counts: list[int] = []
        crash_points = 0
        violations = 0
        for _ in range(REPEATS):
            start = _start_timing()
            report = run_exhaustive(model.Design.FIXED)
            exhaustive_seconds.append(time.perf_counter() - start)
            image_counts.append(report.images)
            crash_points, violations = report.crash_points, len(report.violations)
        exhaustive = {
            "design": model.Design.FIXED.value,
            "crash_points": crash_points,
            "images": image_counts[-1],
            "violations": violations,
            "seconds": _timing(exhaustive_seconds),
            "images_per_second": _rates(image_counts, exhaustive_seconds),
        }
        _say(
            progress,
            f"exhaustive FIXED: {image_counts[-1]:,} images, "
            f"{exhaustive['images_per_second']['best']:,.0f} images/s",
        )
    return {"machines": machines, "exhaustive": exhaustive}


# -- 5. the machine -------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> JsonDict:
    try:
        usable_cores: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        usable_cores = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "blake3": importlib.metadata.version("blake3"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _load_average() -> list[float] | None:
    # Other work on the same cores slows every figure; the load shows whether there was any.
    try:
        return list(os.getloadavg())
    except OSError:
        return None


# -- the run ----------------------------------------------------------------------


def run_bench(
    *, quick: bool = False, directory: Path | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every measurement once (each repeated three times) and return a
    JSON-serialisable result. ``directory`` is where the real-disk files go
    (default: the temporary directory); tmpfs files go to /dev/shm when it exists."""
    plan = QUICK_PLAN if quick else FULL_PLAN
    started = time.perf_counter()
    load_at_start = _load_average()
    disk_parent = directory if directory is not None else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix="walcheck-bench-", dir=disk_parent) as disk_name:
        disk_directory = Path(disk_name)
        disk_kind = _storage_kind(_filesystem_of(disk_directory))
        if disk_kind != "disk":
            _say(progress, f"warning: {disk_directory} is on tmpfs; its sync numbers are not a disk's")
        places: list[tuple[str, Path]] = [(disk_kind, disk_directory)]
        tmpfs_context = (
            tempfile.TemporaryDirectory(prefix="walcheck-bench-", dir=TMPFS_DIRECTORY)
            if _tmpfs_available()
            else None
        )
        try:
            if tmpfs_context is not None:
                places.append(("tmpfs", Path(tmpfs_context.name)))
            appends = measure_appends(places, plan, progress)
            # Recovery reads a warm page cache, so the file system matters little;
            # tmpfs keeps building the regions cheap.
            recovery_directory = places[-1][1]
            recovery = measure_recovery(recovery_directory, plan, progress)
        finally:
            if tmpfs_context is not None:
                tmpfs_context.cleanup()
    suite = measure_suite(plan, progress)
    largest = max(recovery, key=lambda entry: int(entry["region_bytes"]))
    return {
        "schema": SCHEMA_VERSION,
        "quick": quick,
        "repeats": REPEATS,
        "machine": machine_info(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": _load_average(),
        "appends": appends,
        "recovery": recovery,
        "suite": suite,
        "target": {
            "ratio": RATIO_TARGET,
            "region_bytes": largest["region_bytes"],
            "open_over_per_record_hash": largest["ratios"]["open_over_per_record_hash"],
            "met": largest["within_target"],
        },
        "rust_context": dict(RUST_CONTEXT),
        "seconds": time.perf_counter() - started,
    }
