"""A real-process crash test: a writer doing memvid-like work is killed with
SIGKILL at a random moment, and the file it leaves is recovered and checked
against what the writer reported before it died.

The writer (``python -m walcheck.real.killtest.campaign writer PATH SEED MODE [FIRST_N]``)
appends, grows the region and commits as memvid does, and prints one line per
event the moment it has happened:

    OPEN <checkpoint sequence> <last sequence> <first n>   the WAL was opened
    ACK <sequence> <n>                                     the record is acknowledged (spec S5.1)
    APPLIED <first> <last>                                 the commit under way returned these records
    COMMIT <sequence>                                      that commit returned; its checkpoint is <sequence>
    GROW <region size>                                     the region grew
    WRAP <sequence>                                        that append went back to position 0

``n`` is the writer's own counter; the record's payload is ``payload_for(n, seed)``.
Within one life ``sequence - n`` is constant (each successful append advances
both by one), so the OPEN line tells the checker which payload every sequence
of that life must carry, acknowledged or not. A record is *applied* (S5.1)
when a returned commit handed it over: APPLIED lines count once the COMMIT
line after them is read. Every acknowledged record must be applied or in the
file; "covered by the checkpoint" is not enough, because a WAL that lost a
record would still checkpoint past it.

A SIGKILL ends the process, not the machine: every write that returned is in
the page cache and is read back, synced or not. So this test finds what a
crash *between* two writes leaves behind, not what a power cut loses.

``run_kill_campaign`` runs many writer lives, kills each, and checks the file
with ``check_file`` (spec S6: G1 durability, G2 integrity, G4 succession, G5
openability; G7 counted, not enforced).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import blake3

from reference import (
    CheckpointFailed,
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    WalError,
    commit,
    create_mv2,
    grow_region,
    grown_size,
    read_header,
)
from reference.mv2 import MIB, REASONS_THAT_GROW
from reference.wal import ENTRY_HEADER_SIZE

# Small, so that a few appends fill it: new files grow, and files that live long enough wrap.
INITIAL_REGION_SIZE = 4096
# memvid grows up to its tiers; past this the writer commits instead of growing.
GROWTH_CAP = 1 * MIB
PAYLOAD_SIZE_MAX = 1500
# Each life of a file counts n from life_index * FIRST_N_STRIDE, so no two lives
# of one file share a payload (a life lasts well under a second).
FIRST_N_STRIDE = 1_000_000
MODES = ("sync", "batch")
# Commit after 1..COMMIT_EVERY_MAX appends (or sooner when should_checkpoint says so).
COMMIT_EVERY_MAX = 12
BATCH_SIZE_MAX = 8
# How long a writer lives once it has opened the WAL before it is killed.
KILL_DELAY_SECONDS = (0.005, 0.080)
# One kill in this many counts its delay from the spawn instead, so that some
# kills land in start-up and in recovery (open's scan and sentinel).
KILL_FROM_SPAWN_ONE_IN = 6
CONTINUE_SAME_FILE_PROBABILITY = 0.5
WRITER_START_TIMEOUT_SECONDS = 30.0
PROBLEMS_KEPT = 20


def payload_for(n: int, seed: int) -> bytes:
    """The payload of the writer's n-th append: 1..1500 bytes, ``b"<n>:"``
    followed by pseudo-random bytes (so that the leftovers of an overwritten
    record look like memvid's compressed frames, not like zeros), truncated to
    the length."""
    stream = blake3.blake3(f"killtest:{seed}:{n}".encode()).digest(length=8 + PAYLOAD_SIZE_MAX)
    length = 1 + int.from_bytes(stream[:8], "little") % PAYLOAD_SIZE_MAX
    return (f"{n}:".encode() + stream[8:])[:length]


# -- The writer ----------------------------------------------------------------


def _report(line: str) -> None:
    # One write per line: a pipe write of under PIPE_BUF bytes is atomic, so the
    # campaign sees a line whole or not at all, whenever the kill comes.
    os.write(sys.stdout.fileno(), (line + "\n").encode())


class Writer:
    """memvid's side of the WAL: appends that grow the region when it is full,
    and commits."""

    def __init__(self, path: Path, *, first_n: int) -> None:
        creating = not path.exists()
        self.storage = FileStorage(path, create=creating)
        self.header: Header = (
            create_mv2(self.storage, INITIAL_REGION_SIZE) if creating else read_header(self.storage)
        )
        self.wal = EmbeddedWal.open(self.storage, self.header)
        _report(f"OPEN {self.wal.checkpoint_sequence} {self.wal.sequence} {first_n}")

    def append(self, payload: bytes) -> int:
        """``append_entry``, growing the region (S3.11) or, past the cap, committing
        when the WAL refuses for lack of room. Returns the sequence."""
        while True:
            head_before = self.wal.write_head
            try:
                sequence = self.wal.append_entry(payload)
            except CheckpointFailed as refusal:
                if refusal.reason not in REASONS_THAT_GROW:
                    raise
                new_size = grown_size(self.header.wal_size, ENTRY_HEADER_SIZE + len(payload))
                if new_size <= GROWTH_CAP:
                    self._grow(new_size)
                elif self.wal.pending_bytes > 0:
                    self.commit()
                else:
                    raise  # nothing to free: the entry can never fit
            else:
                if head_before > 0 and self.wal.write_head == ENTRY_HEADER_SIZE + len(payload):
                    # From here on the region holds an earlier pass: every append
                    # overwrites old records, the case the recovery rules are for.
                    _report(f"WRAP {sequence}")
                return sequence

    def _grow(self, new_size: int) -> None:
        skip_sync = self.wal.skip_sync
        del self.wal  # memvid drops the WAL before it moves the bytes
        grow_region(self.storage, self.header, new_size)
        self.header = read_header(self.storage)
        self.wal = EmbeddedWal.open(self.storage, self.header)
        # A reopened WAL syncs every append again; a batch in progress must not.
        self.wal.set_skip_sync(skip_sync)
        _report(f"GROW {new_size}")

    def commit(self) -> None:
        applied = [record.sequence for record in commit(self.wal, self.storage, self.header)]
        for first, last in _runs(applied):
            _report(f"APPLIED {first} {last}")
        _report(f"COMMIT {self.wal.checkpoint_sequence}")


def _runs(sequences: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs, as (first, last): one run unless the WAL skipped or repeated one."""
    runs: list[tuple[int, int]] = []
    for sequence in sequences:
        if runs and sequence == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], sequence)
        else:
            runs.append((sequence, sequence))
    return runs


def run_writer(path: Path, seed: int, mode: str, first_n: int = 0) -> NoReturn:
    """Work on the file until killed. Every acknowledgement is reported after
    the record is durable in the sense of S5.1, never before."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    rng = random.Random(f"{seed}:{first_n}")
    writer = Writer(path, first_n=first_n)
    n = first_n
    while True:
        appends_before_commit = rng.randint(1, COMMIT_EVERY_MAX)
        appended = 0
        while appended < appends_before_commit and not writer.wal.should_checkpoint():
            if mode == "sync":
                sequence = writer.append(payload_for(n, seed))
                _report(f"ACK {sequence} {n}")
                n += 1
                appended += 1
            else:
                writer.wal.set_skip_sync(True)
                batch: list[tuple[int, int]] = []
                for _ in range(rng.randint(1, BATCH_SIZE_MAX)):
                    batch.append((writer.append(payload_for(n, seed)), n))
                    n += 1
                writer.wal.flush()
                # Only now, after the flush returned, are the batch's records acknowledged.
                for sequence, batch_n in batch:
                    _report(f"ACK {sequence} {batch_n}")
                writer.wal.set_skip_sync(False)
                appended += len(batch)
        writer.commit()


# -- The checker -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opening:
    """An OPEN line: a life opened the WAL after ``last_sequence``, counting n from ``first_n``."""

    checkpoint_sequence: int
    last_sequence: int
    first_n: int

    def n_for(self, sequence: int) -> int:
        return self.first_n + (sequence - self.last_sequence - 1)


@dataclass
class WriterLog:
    """Everything the writers of one file reported, across all its lives."""

    acknowledged: dict[int, int] = field(default_factory=dict)  # sequence -> n
    # Sequences a returned commit applied.
    applied: set[int] = field(default_factory=set)
    last_reported_commit: int = 0
    # The checkpoint of a commit whose COMMIT line the kill cut off, as the next
    # life found it in the header: what it applied was never itemised, so every
    # acknowledged record at or below it is excused.
    unreported_commit: int = 0
    _applying: list[int] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)
    commits: int = 0
    growths: int = 0
    wraps: int = 0

    def take(self, stdout: bytes) -> int:
        """Apply the complete lines of one life's output; returns how many there were.
        A partial last line was cut by the kill: it was never reported."""
        complete, _, _partial = stdout.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        self._applying.clear()  # a commit the kill interrupted returned nothing
        for line in lines:
            kind, *fields = line.decode().split()
            numbers = [int(f) for f in fields]
            if kind == "OPEN":
                opening = Opening(*numbers)
                self.openings.append(opening)
                if opening.checkpoint_sequence > self.last_reported_commit:
                    # Still a commit: its header reached the file before the kill.
                    self.unreported_commit = max(self.unreported_commit, opening.checkpoint_sequence)
            elif kind == "ACK":
                sequence, n = numbers
                self.acknowledged[sequence] = n
            elif kind == "APPLIED":
                first, last = numbers
                self._applying.extend(range(first, last + 1))
            elif kind == "COMMIT":
                self.applied.update(self._applying)
                self._applying.clear()
                self.last_reported_commit = max(self.last_reported_commit, numbers[0])
                self.commits += 1
            elif kind == "GROW":
                self.growths += 1
            elif kind == "WRAP":
                self.wraps += 1
            else:
                raise ValueError(f"unknown writer line {line!r}")
        return len(lines)

    def required(self) -> list[int]:
        """The acknowledged sequences no returned commit applied: they must be in the file."""
        return sorted(s for s in self.acknowledged if s > self.unreported_commit and s not in self.applied)

    def check(self, path: Path, seed: int) -> CheckResult:
        return check_file(
            path,
            self.acknowledged,
            self.unreported_commit,
            seed,
            applied=self.applied,
            openings=self.openings,
        )


@dataclass(frozen=True)
class CheckResult:
    """What one recovery of a killed writer's file found."""

    opened: bool
    error: str | None
    records_found: int
    acknowledged_checked: int
    # Sequences: acknowledged and not applied, but not recovered.
    lost: tuple[int, ...]
    # Sequences whose payload is not the one the writer appended with that sequence.
    wrong_payloads: tuple[int, ...]
    # Descriptions of where the recovered sequences do not increase by exactly one.
    sequence_errors: tuple[str, ...]
    # Recovered records the writer appended but had not acknowledged when killed.
    unacknowledged_found: int
    checkpoint_sequence: int | None
    # memvid's ORIGINAL code reading the same file: its error, or whether it
    # recovered exactly the records FIXED did.
    original_error: str | None
    original_agrees: bool

    @property
    def ok(self) -> bool:
        return self.opened and not (self.lost or self.wrong_payloads or self.sequence_errors)

    def describe(self) -> str:
        if not self.opened:
            return f"unopenable: {self.error}"
        parts = []
        if self.lost:
            parts.append(f"lost sequences {_abbreviate(self.lost)}")
        if self.wrong_payloads:
            parts.append(f"wrong payloads at sequences {_abbreviate(self.wrong_payloads)}")
        if self.sequence_errors:
            parts.append(f"sequence errors {_abbreviate(self.sequence_errors)}")
        return "; ".join(parts) or "ok"


def _abbreviate(items: Sequence[object], shown: int = 8) -> str:
    head = ", ".join(str(item) for item in items[:shown])
    return f"[{head}{', ...' if len(items) > shown else ''}] ({len(items)})"


def _recover(path: Path, design: Design) -> tuple[Header, list[tuple[int, bytes]]]:
    with FileStorage(path, read_only=True) as storage:
        header = read_header(storage, clear_legacy_lock=False)
        wal = EmbeddedWal.open_read_only(storage, header, design=design)
        return header, [(record.sequence, record.payload) for record in wal.records_after(0)]


def check_file(
    path: Path,
    acknowledged: Mapping[int, int],
    last_commit: int,
    seed: int,
    *,
    applied: Collection[int] = (),
    openings: Sequence[Opening] = (),
) -> CheckResult:
    """Recover ``path`` read-only (the FIXED design) and check it against the
    writer's reports: ``acknowledged`` maps sequence to n; records at or below
    ``last_commit`` and those in ``applied`` were handed over by a returned
    commit and need not be in the file any more; ``openings`` say which n every
    sequence of each life carries (for records appended but not acknowledged).

    Every other acknowledged record must be recovered with
    ``payload_for(n, seed)`` (G1); every recovered record must carry the payload
    the writer appended with its sequence (G2); recovered sequences increase by
    exactly one (G4, I4); the file must open (G5). memvid's ORIGINAL code reads
    the file too, and whether it recovers the same records is recorded (G7)."""
    original_records: list[tuple[int, bytes]] | None = None
    original_error: str | None = None
    try:
        original_records = _recover(path, Design.ORIGINAL)[1]
    except (WalError, OSError) as error:
        original_error = f"{type(error).__name__}: {error}"
    try:
        header, records = _recover(path, Design.FIXED)
    except (WalError, OSError) as error:
        return CheckResult(
            opened=False,
            error=f"{type(error).__name__}: {error}",
            records_found=0,
            acknowledged_checked=0,
            lost=(),
            wrong_payloads=(),
            sequence_errors=(),
            unacknowledged_found=0,
            checkpoint_sequence=None,
            original_error=original_error,
            original_agrees=original_records is None,
        )

    recovered = dict(records)
    applied = set(applied)
    required = sorted(s for s in acknowledged if s > last_commit and s not in applied)
    lost = tuple(sequence for sequence in required if sequence not in recovered)

    wrong_payloads: list[int] = []
    unacknowledged_found = 0
    for sequence, payload in records:
        if sequence in acknowledged:
            expected_n: int | None = acknowledged[sequence]
        else:
            expected_n = _n_from_openings(openings, sequence)
            unacknowledged_found += 1
        if expected_n is None or payload != payload_for(expected_n, seed):
            wrong_payloads.append(sequence)

    sequence_errors = tuple(
        f"{earlier} then {later}"
        for (earlier, _), (later, _) in itertools.pairwise(records)
        if later != earlier + 1
    )
    return CheckResult(
        opened=True,
        error=None,
        records_found=len(records),
        acknowledged_checked=len(required),
        lost=lost,
        wrong_payloads=tuple(wrong_payloads),
        sequence_errors=sequence_errors,
        unacknowledged_found=unacknowledged_found,
        checkpoint_sequence=header.wal_sequence,
        original_error=original_error,
        original_agrees=original_records == records,
    )


def _n_from_openings(openings: Sequence[Opening], sequence: int) -> int | None:
    # The latest life that opened below this sequence appended it, if anyone did.
    for opening in reversed(openings):
        if opening.last_sequence < sequence:
            return opening.n_for(sequence)
    return None


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
    return [
        sys.executable,
        "-m",
        "walcheck.real.killtest.campaign",
        "writer",
        str(path),
        str(seed),
        mode,
        str(first_n),
    ]


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


def main(argv: Sequence[str]) -> int:
    usage = (
        "usage: python -m walcheck.real.killtest.campaign writer PATH SEED MODE [FIRST_N]\n"
        "       python -m walcheck.real.killtest.campaign campaign DIRECTORY KILLS SEED MODE"
    )
    if len(argv) in (4, 5) and argv[0] == "writer":
        first_n = int(argv[4]) if len(argv) == 5 else 0
        run_writer(Path(argv[1]), int(argv[2]), argv[3], first_n)
    if len(argv) == 5 and argv[0] == "campaign":
        directory = Path(argv[1])
        directory.mkdir(parents=True, exist_ok=True)
        report = run_kill_campaign(int(argv[2]), seed=int(argv[3]), directory=directory, mode=argv[4])
        print(report.render())
        for problem in report.problems:
            print(f"  {problem}")
        for example in report.original_examples:
            print(f"  (G7, counted only) {example}")
        return 0 if report.clean else 1
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
