"""Conformance vectors (spec/porting.md P5): transcripts of fixed traces,
written from the model to ``spec/vectors/<design>/<name>.json``.

Each vector is what walcheck.conformance.transcript.transcript says a conforming port
answers, byte for byte: every request, every answer, the region after every
request, the volatile state, and the crash images the runner writes with the
records recovery must return. ``walcheck vectors`` rewrites them;
``walcheck vectors --check`` (and tests/test_vectors.py) requires the files on
disk to be exactly what the model produces now.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import model as m
from walcheck.conformance.driver import DriverFailure, DriverProcess
from walcheck.conformance.replay import ConformanceFailure, ReplayFigures, replay
from walcheck.conformance.transcript import Event, Exchange, Rewrite, transcript
from walcheck.oracle import GuaranteeViolation
from walcheck.trace import (
    Append,
    AppendNearLimit,
    Commit,
    Crash,
    Flush,
    Grow,
    Pending,
    RecordsAfter,
    Reopen,
    ShouldCheckpoint,
    SkipSync,
    Stats,
    Step,
    Trace,
    Truncate,
    payload_for,
)

FORMAT = "memvid-wal-vector/1"
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "spec" / "vectors"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    trace: Trace


def _appends(sizes: Sequence[int], first: int = 1) -> tuple[Step, ...]:
    return tuple(Append(payload_for(first + i, size)) for i, size in enumerate(sizes))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "basic",
        "Appends, every query, a commit, more appends, records_after and a clean reopen (S3.2-S3.10).",
        Trace(
            160,
            0,
            (
                Append(b"hello"),
                Append(b"world"),
                Pending(),
                Stats(),
                ShouldCheckpoint(),
                Commit(),
                Append(b"after the checkpoint"),
                RecordsAfter(1),
                Stats(),
                Reopen(),
                Stats(),
            ),
        ),
    ),
    Scenario(
        "wrap",
        "Entries that do not fit before the region's end wrap to position 0 once everything is "
        "checkpointed (F3, F5).",
        Trace(
            160,
            0,
            (*_appends([40]), Commit(), *_appends([40, 30], 2), Commit(), *_appends([20, 20], 4), Reopen()),
        ),
    ),
    Scenario(
        "exact-end",
        "An entry that ends exactly at the region's end (F3.3), then a commit and a wrap.",
        Trace(96, 0, (*_appends([48]), Stats(), Reopen(), Commit(), *_appends([10], 2), Reopen())),
    ),
    Scenario(
        "near-end",
        "An entry that leaves fewer than 48 bytes before the region's end (F3.2; ORIGINAL: D1).",
        Trace(100, 0, (*_appends([4]), Pending(), *_appends([1], 2), Pending(), Reopen(), Stats())),
    ),
    Scenario(
        "full",
        "Appends until the region is full, a refused append, then a commit frees it (S3.4).",
        Trace(
            200, 0, (*_appends([30, 30, 30, 30]), Stats(), ShouldCheckpoint(), Commit(), *_appends([30], 5))
        ),
    ),
    Scenario(
        "errors",
        "Refused appends: empty payload (FIXED: D4), larger than the region, read-only (S4).",
        Trace(
            128,
            0,
            (
                Append(b""),
                Pending(),
                Append(bytes(200)),
                Append(b"kept"),
                Reopen(read_only=True),
                Append(b"refused"),
                Commit(),
                Pending(),
                Stats(),
                ShouldCheckpoint(),
            ),
        ),
    ),
    Scenario(
        "sequence-exhausted",
        "Appends up to sequence 2^64 - 1 (FIXED refuses the next: D2; ORIGINAL wraps to 0).",
        Trace(400, m.SEQUENCE_MAX - 2, (*_appends([8, 8, 8]), Pending(), Stats(), Reopen(), Stats())),
    ),
    Scenario(
        "tiny-region",
        "A region smaller than one entry header (ORIGINAL's sentinel writes past it: D3).",
        Trace(40, 0, (Append(b"x"), Stats(), Reopen(), Pending())),
    ),
    Scenario(
        "kill",
        "A process kill after unsynced appends: every write reached the OS (spec/faults.md).",
        Trace(200, 0, (SkipSync(True), *_appends([10, 20]), Crash(False), Stats(), *_appends([5], 3))),
    ),
    Scenario(
        "power-loss-unsynced",
        "Power loss with unsynced appends in one 512-byte sector: each image keeps some version of it.",
        Trace(
            200,
            0,
            (
                *_appends([10]),
                SkipSync(True),
                *_appends([20, 30], 2),
                Crash(True, 1),
                Stats(),
                *_appends([5], 9),
            ),
        ),
    ),
    Scenario(
        "power-loss-after-flush",
        "Power loss after a flush: every flushed record is acknowledged and must be recovered (G1).",
        Trace(200, 0, (SkipSync(True), *_appends([10, 20]), Flush(), *_appends([7], 3), Crash(True, 0))),
    ),
    Scenario(
        "power-loss-after-wrap",
        "Unsynced appends after a wrap, then power loss: leftovers of the earlier pass must not "
        "come back (R2; ORIGINAL: D1 and C2).",
        Trace(
            160,
            0,
            (
                *_appends([40]),
                Commit(),
                SkipSync(True),
                *_appends([30, 10], 2),
                Crash(True, 1),
                Pending(),
                Stats(),
            ),
        ),
    ),
    Scenario(
        "erase-after-log",
        "Power loss keeps a later unsynced entry and loses the one before it (512-byte entries, sectors of "
        "their own): recovery returns nothing, and FIXED's writable open zeroes the leftover and syncs "
        "before the next append, which carries the SYNC mark (spec/faults.md R8; ORIGINAL keeps it: C5).",
        Trace(
            512 * 4 + 511,
            0,
            (
                SkipSync(True),
                *_appends([464, 464]),
                Crash(True, 4),
                Pending(),
                *_appends([464], 3),
                Pending(),
                Stats(),
            ),
        ),
    ),
    Scenario(
        "short-file",
        "A file cut inside its region (S3.2): memvid's Rust reads entry by entry and opens it when the log "
        "ends inside the file, then lengthens it; FIXED refuses it with Io.",
        Trace(
            160, 0, (*_appends([5]), Truncate(110), Pending(), *_appends([40], 2), Pending(), Truncate(60))
        ),
    ),
    Scenario(
        "region-offset",
        "The region at file offset 8704 rather than 4096 (P1.3): the header's wal_offset is what counts.",
        Trace(160, 0, (*_appends([20, 30]), Commit(), *_appends([10], 3), Crash(True, 2), Pending()), 8704),
    ),
    Scenario(
        "near-limit",
        "Entries within a few bytes of the region's size (F2.2, F4, D1).",
        Trace(
            200,
            0,
            (*tuple(AppendNearLimit(delta) for delta in (49, 47, -3, 48, 0)), Commit(), AppendNearLimit(48)),
        ),
    ),
    Scenario(
        "growth",
        "memvid's region growth with pending records (S3.11): they stay where they are.",
        Trace(
            120, 0, (*_appends([20, 10]), Grow(100), Pending(), *_appends([60, 20], 3), Commit(), Grow(40))
        ),
    ),
)

RANDOM_TRACES = 6
RANDOM_STEPS = 24
RANDOM_SEED = 20261125


def _random_step(rng: random.Random, number: int) -> Step:
    roll = rng.random()
    if roll < 0.45:
        return Append(payload_for(number, rng.choice([1, 3, 8, 17, 40, 60])))
    kind = rng.choice(
        ["commit", "after", "pending", "stats", "should", "skip", "flush", "reopen", "crash", "grow"]
    )
    if kind == "commit":
        return Commit()
    if kind == "after":
        return RecordsAfter(rng.randrange(3))
    if kind == "pending":
        return Pending()
    if kind == "stats":
        return Stats()
    if kind == "should":
        return ShouldCheckpoint()
    if kind == "skip":
        return SkipSync(rng.random() < 0.5)
    if kind == "flush":
        return Flush()
    if kind == "reopen":
        return Reopen(rng.random() < 0.2)
    if kind == "crash":
        return Crash(rng.random() < 0.7, rng.randrange(8))
    return Grow(rng.choice([16, 48, 100]))


def random_scenarios() -> tuple[Scenario, ...]:
    """Traces from a fixed seed and Python's own generator, not Hypothesis, so
    they do not change with Hypothesis's version."""
    rng = random.Random(RANDOM_SEED)
    scenarios = []
    for index in range(1, RANDOM_TRACES + 1):
        size = rng.choice([96, 128, 160, 200, 256])
        steps = tuple(_random_step(rng, n) for n in range(1, RANDOM_STEPS + 1))
        scenarios.append(
            Scenario(
                f"random-{index}", f"{RANDOM_STEPS} random steps (seed {RANDOM_SEED}).", Trace(size, 0, steps)
            )
        )
    return tuple(scenarios)


def all_scenarios() -> tuple[Scenario, ...]:
    return SCENARIOS + random_scenarios()


def _event_json(event: Event) -> dict[str, Any]:
    if isinstance(event, Rewrite):
        file: dict[str, Any] = {"region": event.region.hex()}
        if event.short:
            file["short"] = True  # S3.2: the file ends after these bytes, no canary
        if event.damage:
            file["damage"] = True
        return {"file": file, "note": event.note}
    step: dict[str, Any] = {
        "request": event.request,
        "response": event.response,
        "region": event.region.hex(),
    }
    if event.state is not None:
        step["state"] = event.state
    if event.purpose:
        step["purpose"] = event.purpose
    if event.outside_writes:
        step["outside_writes"] = True
    if event.file_end is not None:
        step["file_end"] = event.file_end
    return step


def build_vector(scenario: Scenario, design: m.Design) -> dict[str, Any]:
    trace = scenario.trace
    return {
        # Key by key, like inspect's render.py's report, on purpose: each document is its own format (P5).
        "format": FORMAT,
        "name": scenario.name,
        "description": scenario.description,
        "design": design.value,
        "region_offset": trace.region_offset,
        "region_size": trace.region_size,
        "trace": trace.render().splitlines(),
        "steps": [_event_json(event) for event in transcript(trace, design)],
    }


def encode(vector: dict[str, Any]) -> bytes:
    """Deterministic bytes: key order as built, two-space indent, one newline at the end."""
    return (json.dumps(vector, indent=2, ensure_ascii=True) + "\n").encode()


def events_of(vector: dict[str, Any]) -> list[Event]:
    """A vector's steps as the events walcheck.conformance.transcript.replay takes."""
    if vector.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} vector: format {vector.get('format')!r}")
    events: list[Event] = []
    for step in vector["steps"]:
        if "file" in step:
            file = step["file"]
            events.append(
                Rewrite(
                    bytes.fromhex(file["region"]),
                    step.get("note", ""),
                    short=bool(file.get("short", False)),
                    damage=bool(file.get("damage", False)),
                )
            )
        else:
            events.append(
                Exchange(
                    step["request"],
                    step["response"],
                    bytes.fromhex(step["region"]),
                    step.get("state"),
                    step.get("purpose", ""),
                    bool(step.get("outside_writes", False)),
                    step.get("file_end"),
                )
            )
    return events


def expected_files(directory: Path = DEFAULT_DIRECTORY) -> dict[Path, bytes]:
    return {
        directory / design.value / f"{scenario.name}.json": encode(build_vector(scenario, design))
        for design in (m.Design.FIXED, m.Design.ORIGINAL)
        for scenario in all_scenarios()
    }


def write_vectors(directory: Path = DEFAULT_DIRECTORY) -> list[Path]:
    """Write every vector; remove stale ones. Returns the files written."""
    files = expected_files(directory)
    for design in m.Design:
        folder = directory / design.value
        folder.mkdir(parents=True, exist_ok=True)
        for stale in set(folder.glob("*.json")) - set(files):
            stale.unlink()
    for path, data in files.items():
        path.write_bytes(data)
    return sorted(files)


def stale_vectors(directory: Path = DEFAULT_DIRECTORY) -> list[str]:
    """What differs between the files on disk and what the model produces now."""
    files = expected_files(directory)
    problems = [
        f"{p}: differs from the model" for p, data in files.items() if p.is_file() and p.read_bytes() != data
    ]
    problems += [f"{p}: missing" for p in files if not p.is_file()]
    on_disk = {p for design in m.Design for p in (directory / design.value).glob("*.json")}
    problems += [f"{p}: no scenario makes it" for p in sorted(on_disk - set(files))]
    return sorted(problems)


@dataclass
class VectorResult:
    path: Path
    ok: bool
    detail: str = ""
    step: int | None = None


@dataclass
class VectorReport:
    results: list[VectorResult] = field(default_factory=list)
    figures: ReplayFigures = field(default_factory=ReplayFigures)
    seconds: float = 0.0


def vector_files(path: Path, design: m.Design) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.json"))
    if not files and (path / design.value).is_dir():
        files = sorted((path / design.value).glob("*.json"))
    return files


def replay_vectors(command: list[str], files: list[Path], timeout: float = 10.0) -> VectorReport:
    """Replay each vector on a fresh file; the first difference in a vector ends it."""
    started = time.monotonic()
    report = VectorReport()
    driver = DriverProcess(command, timeout)
    driver.start()
    try:
        with tempfile.TemporaryDirectory(prefix="walcheck-vectors-") as workdir:
            for index, path in enumerate(files):
                vector = json.loads(path.read_text())
                file = Path(workdir) / f"vector-{index}.mv2"
                driver.ensure_running()
                try:
                    replay(events_of(vector), driver, file, guarantees=False, figures=report.figures)
                    report.results.append(VectorResult(path, True))
                except ConformanceFailure as failure:
                    report.results.append(VectorResult(path, False, failure.detail, failure.index))
                except (DriverFailure, GuaranteeViolation, ValueError, KeyError) as error:
                    report.results.append(VectorResult(path, False, f"{type(error).__name__}: {error}"))
                finally:
                    try:
                        if driver.running:
                            driver.request({"op": "close"})
                    except DriverFailure:
                        pass
    finally:
        driver.stop()
    report.seconds = time.monotonic() - started
    return report
