"""The SIGKILL campaign (spec/faults.md): many writer lives, each killed with
SIGKILL at a random moment, and the file each leaves recovered and checked
against what the writer reported before it died (``checker``). About half the
lives continue the previous life's file.

A SIGKILL ends the process, not the machine: every write that returned is in
the page cache and is read back, synced or not. So this test finds what a
crash *between* two writes leaves behind, not what a power cut loses.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from walcheck.real.killtest.checker import WriterLog
from walcheck.real.killtest.writer import MODES

# Each life of a file counts n from life_index * FIRST_N_STRIDE, so no two lives
# of one file share a payload (a life lasts well under a second).
FIRST_N_STRIDE = 1_000_000
# How long a writer lives once it has opened the WAL before it is killed.
KILL_DELAY_SECONDS = (0.005, 0.080)
# One kill in this many counts its delay from the spawn instead, so that some
# kills land in start-up and in recovery (open's scan and sentinel).
KILL_FROM_SPAWN_ONE_IN = 6
CONTINUE_SAME_FILE_PROBABILITY = 0.5
WRITER_START_TIMEOUT_SECONDS = 30.0
PROBLEMS_KEPT = 20


# -- The campaign ------------------------------------------------------------------


@dataclass(frozen=True)
class LifeOutput:
    stdout: bytes
    stderr: bytes
    returncode: int
    opened_before_kill: bool
    seconds: float


def _drain(stream: IO[bytes], sink: bytearray, first_line: threading.Event) -> None:
    # Reading as the writer writes keeps the pipe from filling and stalling it.
    while chunk := os.read(stream.fileno(), 65536):
        sink.extend(chunk)
        if b"\n" in chunk:
            first_line.set()
    first_line.set()


def run_writer_life(argv: Sequence[str], delay: float, *, count_from_open: bool) -> LifeOutput:
    """Start a writer, let it run ``delay`` seconds (from its OPEN line, or from
    the spawn), SIGKILL it, and collect everything it printed."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = bytearray(), bytearray()
    first_line, stderr_done = threading.Event(), threading.Event()
    readers = [
        threading.Thread(target=_drain, args=(process.stdout, stdout, first_line), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, stderr, stderr_done), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        if count_from_open and not first_line.wait(WRITER_START_TIMEOUT_SECONDS):
            raise TimeoutError(f"writer printed nothing in {WRITER_START_TIMEOUT_SECONDS} s: {argv}")
        time.sleep(delay)
        # The first line is OPEN: the writer had opened the WAL when the kill came.
        opened = b"\n" in stdout
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()  # on the way out of an error: never leave a writer running
        process.wait()
        for reader in readers:
            reader.join()
        process.stdout.close()
        process.stderr.close()
    return LifeOutput(bytes(stdout), bytes(stderr), process.returncode, opened, time.perf_counter() - started)


# Alike in shape to syscalls/campaign.py's CrashReport and modelcheck/report.py's ExploreReport,
# on purpose: each counts its own campaign's work (here kills and what they left); none is the other's.
@dataclass
class KillReport:
    mode: str
    seed: int
    kills: int = 0
    acknowledged_checked: int = 0
    acknowledgements: int = 0
    commits: int = 0
    growths: int = 0
    wraps: int = 0
    # Kills of a writer whose file had wrapped: every append then overwrites an
    # earlier pass, and a kill between the entry and its sentinel leaves old records after it.
    kills_after_wrap: int = 0
    lost: int = 0
    wrong_payloads: int = 0
    unopenable: int = 0
    sequence_errors: int = 0
    # A writer that ended other than by the kill (an exception): its stderr is in problems.
    writer_failures: int = 0
    unacknowledged_found: int = 0
    killed_before_open: int = 0
    continued_files: int = 0
    # G7 on crash images, counted and not enforced: ORIGINAL has no recovery
    # rules (spec/faults.md R1-R4), so a kill between an entry and its sentinel
    # can leave a file it cannot open, or on which it finds other records.
    original_unopenable: int = 0
    original_other_records: int = 0
    seconds_total: float = 0.0
    seconds_in_writers: float = 0.0
    seconds_checking: float = 0.0
    problems: list[str] = field(default_factory=list)
    original_examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.wrong_payloads
            or self.unopenable
            or self.sequence_errors
            or self.writer_failures
        )

    def render(self) -> str:
        return (
            f"{self.mode}: kills {self.kills:,}, acknowledged {self.acknowledged_checked:,} checked, "
            f"{self.lost:,} lost, {self.wrong_payloads:,} wrong payloads, {self.unopenable:,} unopenable, "
            f"{self.sequence_errors:,} sequence errors, {self.writer_failures:,} writer failures "
            f"({self.acknowledgements:,} acks, {self.commits:,} commits, {self.growths:,} growths, "
            f"{self.wraps:,} wraps, {self.kills_after_wrap:,} kills after a wrap, "
            f"{self.unacknowledged_found:,} unacknowledged records recovered, "
            f"{self.continued_files:,} continued files, {self.killed_before_open:,} killed before open, "
            f"ORIGINAL: {self.original_unopenable:,} unopenable, "
            f"{self.original_other_records:,} other records; "
            f"{self.seconds_total:.1f} s, {self.seconds_in_writers:.1f} s in writers, "
            f"{self.seconds_checking:.1f} s checking)"
        )

    def note(self, problem: str) -> None:
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)

    def note_original(self, example: str) -> None:
        if len(self.original_examples) < PROBLEMS_KEPT:
            self.original_examples.append(example)


def writer_argv(path: Path, seed: int, mode: str, first_n: int) -> list[str]:
    return [sys.executable, "-m", "walcheck.real.killtest.writer", str(path), str(seed), mode, str(first_n)]


def run_kill_campaign(
    kills: int,
    *,
    seed: int,
    directory: Path,
    mode: str,
    progress: Callable[[int, KillReport], None] | None = None,
) -> KillReport:
    """``kills`` writer lives, each SIGKILLed at a random moment and its file
    checked. About half the lives continue the previous life's file (a file
    recovered before, maybe grown), the others start a new one; the log of what
    the writers reported is kept per file, across its lives."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    rng = random.Random(seed)
    report = KillReport(mode=mode, seed=seed)
    started = time.perf_counter()
    path: Path | None = None
    log = WriterLog()
    for kill in range(kills):
        continuing = path is not None and rng.random() < CONTINUE_SAME_FILE_PROBABILITY
        if not continuing or path is None:
            path = directory / f"kill-{mode}-{seed}-{kill:04d}.mv2"
            log = WriterLog()
        else:
            report.continued_files += 1
        delay = rng.uniform(*KILL_DELAY_SECONDS)
        count_from_open = rng.randrange(KILL_FROM_SPAWN_ONE_IN) != 0
        argv = writer_argv(path, seed, mode, kill * FIRST_N_STRIDE)
        life = run_writer_life(argv, delay, count_from_open=count_from_open)
        report.kills += 1
        report.seconds_in_writers += life.seconds
        commits_before, growths_before, wraps_before = log.commits, log.growths, log.wraps
        acknowledged_before = len(log.acknowledged)
        log.take(life.stdout)
        report.acknowledgements += len(log.acknowledged) - acknowledged_before
        report.commits += log.commits - commits_before
        report.growths += log.growths - growths_before
        report.wraps += log.wraps - wraps_before
        report.kills_after_wrap += log.wraps > 0
        reproduce = f"kill {kill} ({mode}, seed {seed}, delay {delay * 1000:.1f} ms, file {path})"

        if life.returncode != -signal.SIGKILL:
            report.writer_failures += 1
            report.note(f"{reproduce}: writer exited {life.returncode}: {life.stderr.decode()[-2000:]}")
            path = None  # whatever it left, the next life does not build on it
            continue
        if not log.openings:
            # Killed inside create_mv2, before the file was a complete MV2 file:
            # nothing was acknowledged, and memvid's create is not the WAL under test.
            report.killed_before_open += 1
            path = None
            continue
        if not life.opened_before_kill:
            report.killed_before_open += 1

        check_started = time.perf_counter()
        result = log.check(path, seed)
        report.seconds_checking += time.perf_counter() - check_started
        report.acknowledged_checked += result.acknowledged_checked
        report.lost += len(result.lost)
        report.wrong_payloads += len(result.wrong_payloads)
        report.sequence_errors += len(result.sequence_errors)
        report.unacknowledged_found += result.unacknowledged_found
        report.unopenable += not result.opened
        if result.opened and result.original_error is not None:
            report.original_unopenable += 1
            report.note_original(f"{reproduce}: ORIGINAL {result.original_error}")
        elif not result.original_agrees:
            report.original_other_records += 1
            report.note_original(f"{reproduce}: ORIGINAL recovers other records")
        if not result.ok:
            report.note(f"{reproduce}: {result.describe()}")
            path = None  # keep the damaged file as it is, for inspection
        if progress is not None:
            progress(kill, report)
    report.seconds_total = time.perf_counter() - started
    return report
