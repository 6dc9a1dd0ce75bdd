"""``inspect_file``: the report on one file's WAL (spec/inspect.md). Reads the
4096-byte header and the region, nothing else, through a read-only descriptor,
without a lock; never writes."""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reference import FileStorage, Header, WalError, decode_header
from reference.header import HEADER_SIZE, LEGACY_LOCK_END, LEGACY_LOCK_START
from reference.storage import OFFSET_MAX
from walcheck.real.inspect.evidence import Doctor, Evidence, Space, doctor, find_evidence, space
from walcheck.real.inspect.scan import (
    Entry,
    LogEnd,
    PastEnd,
    Progress,
    SearchBudget,
    search_past_end,
    walk_log,
)
from walcheck.real.inspect.verdicts import READERS, WRITING, Verdict, verdict

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RegionParameters:
    """A bare WAL region: what an MV2 header would otherwise say. ``checkpoint_pos``
    is taken modulo ``size``, as memvid's open does."""

    offset: int
    size: int
    checkpoint_sequence: int
    checkpoint_pos: int = 0


class InspectError(Exception):
    """The file cannot be inspected at all (spec/inspect.md I9): ``kind`` is
    "usage" (the command line does not fit the file) or "input" (the file cannot be read)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Report:
    path: str
    file_size: int
    region_source: str  # "header" or "command line"
    header: Header | None = None
    header_error: str | None = None
    legacy_lock_bytes: bool = False
    region_bytes_in_file: int = 0
    log: list[Entry] = field(default_factory=list)
    log_end: LogEnd | None = None
    past_end: PastEnd | None = None
    sequence_problems: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    space: Space | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    doctor: Doctor | None = None
    notes: list[str] = field(default_factory=list)
    # The region's bytes, kept for --dump; not part of the report's data.
    region: bytes = b""

    @property
    def healthy(self) -> bool:
        """I8: exit 0. The header decodes; memvid's code and FIXED's tolerant recovery,
        read-only and for writing, all open the WAL and agree on what is pending;
        nothing is written outside the region; no evidence of lost records. FIXED's
        strict recovery is shown, not counted: it refuses torn tails, which a crash
        leaves legitimately."""
        counted = [v for v in self.verdicts if v.recovery != "strict"]
        return (
            self.header_error is None
            and bool(counted)
            and all(v.error is None and not v.writes_outside_region for v in counted)
            and len({v.pending for v in counted}) == 1
            and not self.evidence
        )


def _sequence_problems(log: list[Entry]) -> list[str]:
    problems = []
    intact = [entry for entry in log if entry.checksum_ok]
    for previous, current in itertools.pairwise(intact):
        if current.sequence == previous.sequence:
            problems.append(f"sequence {current.sequence} twice (at {previous.offset} and {current.offset})")
        elif current.sequence != previous.sequence + 1:
            problems.append(f"{previous.sequence} then {current.sequence} (at {current.offset})")
    return problems


def _open_regular(path: Path) -> FileStorage:
    """A read-only FileStorage on ``path``, refusing anything but a regular file
    before reading a byte (a FIFO would block, /dev/zero never ends)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        probe = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InspectError("input", f"{path}: no such file") from None
    except IsADirectoryError:
        raise InspectError("input", f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise InspectError("input", f"{path}: permission denied") from None
    except OSError as error:
        raise InspectError("input", f"{path}: {error.strerror}") from None
    try:
        mode = os.fstat(probe).st_mode
    finally:
        os.close(probe)
    if stat.S_ISDIR(mode):
        raise InspectError("input", f"{path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise InspectError("input", f"{path}: {kind}, not a regular file")
    try:
        storage = FileStorage(path, read_only=True)
    except OSError as error:
        raise InspectError("input", f"{path}: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(storage.fd).st_mode):  # replaced in between
        storage.close()
        raise InspectError("input", f"{path}: not a regular file")
    return storage


def _read(storage: FileStorage, offset: int, length: int) -> bytes:
    try:
        return storage.read_at(offset, length)
    except OSError as error:
        raise InspectError("input", f"{storage.path}: {error.strerror}") from None


def inspect_file(
    path: str | Path,
    region: RegionParameters | None = None,
    *,
    progress: Progress | None = None,
    budget: SearchBudget | None = None,
) -> Report:
    """The report on the file's WAL: the region its MV2 header names, or ``region``.
    Raises InspectError when the file cannot be read or ``region`` is not in it."""
    path = Path(path)
    report_progress = progress or (lambda phase, done, total: None)
    with _open_regular(path) as storage:
        file_size = storage.size()
        report = Report(
            path=str(path), file_size=file_size, region_source="header" if region is None else "command line"
        )
        if region is not None:
            if region.size == 0:
                raise InspectError(
                    "usage", "the region size must be at least 1 (memvid: wal_size must be non-zero)"
                )
            end = region.offset + region.size
            if end > file_size:
                raise InspectError(
                    "usage",
                    f"the region [{region.offset}, {end}) runs past the end of the file ({file_size} bytes)",
                )
            header = Header(
                wal_size=region.size,
                wal_offset=region.offset,
                wal_checkpoint_pos=region.checkpoint_pos,
                wal_sequence=region.checkpoint_sequence,
            )
        else:
            raw = _read(storage, 0, HEADER_SIZE)
            if len(raw) < HEADER_SIZE:
                report.header_error = (
                    f"I/O error: failed to fill whole buffer (the file has {len(raw)} bytes, fewer than "
                    "the 4096-byte header)"
                )
                return report
            report.legacy_lock_bytes = any(raw[LEGACY_LOCK_START:LEGACY_LOCK_END])
            try:
                header = decode_header(raw)
            except WalError as error:
                report.header_error = str(error)
                return report
        report.header = header
        # Only the bytes the file has: a header may claim a region of 2**64 - 1 bytes.
        length = max(0, min(header.wal_size, file_size - header.wal_offset, OFFSET_MAX - header.wal_offset))
        data = _read(storage, header.wal_offset, length) if length else b""
    _analyse(report, header, data, report_progress, budget or SearchBudget.for_region(len(data)))
    return report


def _analyse(report: Report, header: Header, data: bytes, progress: Progress, budget: SearchBudget) -> None:
    report.region = data
    report.region_bytes_in_file = len(data)
    if header.footer_offset > report.file_size and report.region_source == "header":
        # Seen with memvid-sdk 2.0.160 on truncated files: its open fails with
        # "Table of contents validation failed: ..." before it scans the WAL.
        report.notes.append(
            f"the file ends before footer_offset ({header.footer_offset}): memvid's open fails on the "
            "table of contents before it reads the WAL"
        )
    if len(data) < header.wal_size:
        report.notes.append(
            f"the file ends {header.wal_size - len(data)} bytes before the region does "
            f"(at region position {len(data)})"
        )
    if report.legacy_lock_bytes:
        report.notes.append(
            "legacy lock bytes 80..140 are set: memvid's open, even its read-only one (which opens the "
            "file for writing too), clears them, a write to the header without a sync (spec/format.md F1.2)"
        )
    view = memoryview(data)
    log, log_end = walk_log(view, header.wal_size, header.wal_sequence, progress)
    report.log, report.log_end = log, log_end
    report.sequence_problems = _sequence_problems(log)
    start = min(log_end.position + 1, len(data))
    report.past_end = search_past_end(view, data, start, header.wal_sequence, budget, progress)
    if not report.past_end.complete:
        report.notes.append(
            f"the search for entries past the log's end stopped at region position "
            f"{report.past_end.stopped_at}: these bytes hold more candidate entry headers than it may "
            "look at (spec/inspect.md I2); entries after that position are not listed"
        )
    past = list(report.past_end.entries)
    report.evidence = find_evidence(log, log_end, past, header.wal_sequence, header.wal_size)
    report.space = space(log, log_end, header.wal_size)
    for index, (design, mode, recovery) in enumerate(READERS):
        progress("opening it as each reader would", index, len(READERS))
        report.verdicts.append(
            verdict(header.wal_offset, data, report.file_size, header, design, mode, recovery)
        )
    original_writing = next(v for v in report.verdicts if v.design == "original" and v.mode == WRITING)
    report.doctor = doctor(
        original_writing, log, past, header.wal_sequence, header.wal_offset, header.wal_size
    )
    for v in report.verdicts:
        if v.writes_outside_region:
            report.notes.append(
                f"{v.who} writes outside the region: "
                + ", ".join(
                    f"{length} bytes at {offset}" for offset, length in dict.fromkeys(v.writes_outside_region)
                )
                + " (D3: a region under 48 bytes)"
            )
            break


class ProgressOnStderr:
    """Progress lines once the work has taken more than ``after`` seconds (I8)."""

    def __init__(self, write: Callable[[str], object], tty: bool, after: float = 1.0) -> None:
        self._write = write
        self._tty = tty
        self._after = after
        self._started = time.monotonic()
        self._last = -1.0
        self._phase = ""
        self._shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic() - self._started
        # A new phase is shown at once; within a phase, a line every half second.
        if now < self._after or (phase == self._phase and now - self._last < 0.5):
            return
        self._last, self._phase = now, phase
        share = f"{100 * done // total}%" if total else ""
        line = f"walcheck inspect: {phase} {share} ({now:.1f} s)"
        self._write(("\r" + line.ljust(70)) if self._tty else line + "\n")
        self._shown = True

    def finish(self) -> None:
        if self._shown and self._tty:
            self._write("\n")
