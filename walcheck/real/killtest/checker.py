"""The checker of the SIGKILL campaign: a killed writer's file recovered
read-only and checked against what the writer reported (spec S6: G1
durability, G2 integrity, G4 succession, G5 openability; G7 counted, not
enforced).

A record is *applied* (S5.1) when a returned commit handed it over: APPLIED
lines count once the COMMIT line after them is read. Every acknowledged record
must be applied or in the file; "covered by the checkpoint" is not enough,
because a WAL that lost a record would still checkpoint past it.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    WalError,
    read_header,
)
from walcheck.real.killtest.writer import payload_for

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
