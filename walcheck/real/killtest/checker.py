"""The checker of the SIGKILL campaign: a killed writer's file recovered
read-only and checked against what the writer reported (spec S6: G1
durability, G2 integrity, G4 succession, G5 openability; G7 counted, not
enforced). What the lives reported is handed to the oracle's multi-life model
(``walcheck.oracle.Lives``), which decides G1, G2 and G4; this module parses
the reports, recovers the file, and checks G5 and G7 itself.

A record is *applied* (S5.1) when a returned commit handed it over: APPLIED
lines count once the COMMIT line after them is read. Every acknowledged record
must be applied or in the file; "covered by the checkpoint" is not enough,
because a WAL that lost a record would still checkpoint past it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    WalError,
    read_header,
)
from walcheck.oracle import Life, Lives, Recovery
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


class Acknowledged(NamedTuple):
    """An ACK line: the writer was told ``sequence`` for its n-th append, and it is durable."""

    sequence: int
    n: int


class Committed(NamedTuple):
    """A COMMIT line: the commit returned, applying ``applied``, checkpointed at ``checkpoint``."""

    applied: tuple[int, ...]
    checkpoint: int


@dataclass
class WriterLog:
    """Everything the writers of one file reported, across all its lives."""

    acknowledged: dict[int, int] = field(default_factory=dict)  # sequence -> n
    _applying: list[int] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)
    # What the lives reported, in order, for the oracle.
    _events: list[Opening | Acknowledged | Committed] = field(default_factory=list)
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
                self._events.append(opening)
            elif kind == "ACK":
                sequence, n = numbers
                self.acknowledged[sequence] = n
                self._events.append(Acknowledged(sequence, n))
            elif kind == "APPLIED":
                first, last = numbers
                self._applying.extend(range(first, last + 1))
            elif kind == "COMMIT":
                self._events.append(Committed(tuple(self._applying), numbers[0]))
                self._applying.clear()
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
        return self.oracle(seed=0).required()  # which, not what: any seed will do

    def oracle(self, seed: int) -> Lives:
        """The oracle, told everything the lives reported, in the order they did."""
        lives = Lives()
        for event in self._events:
            if isinstance(event, Opening):
                lives.open_life(event.checkpoint_sequence, event.last_sequence, _appends_of(event, seed))
            elif isinstance(event, Acknowledged):
                lives.on_acknowledged(event.sequence, payload_for(event.n, seed))
            else:
                lives.on_commit(event.applied, event.checkpoint)
        return lives

    def check(self, path: Path, seed: int) -> CheckResult:
        return check_lives(path, self.oracle(seed))


def _appends_of(opening: Opening, seed: int) -> Callable[[int], bytes]:
    """What the life that opened so appended with each later sequence."""
    return lambda sequence: payload_for(opening.n_for(sequence), seed)


@dataclass(frozen=True)
class CheckResult:
    """What one recovery of a killed writer's file found."""

    opened: bool
    error: str | None
    records_found: int
    checkpoint_sequence: int | None
    # memvid's ORIGINAL code reading the same file: its error, or whether it
    # recovered exactly the records FIXED did.
    original_error: str | None
    original_agrees: bool
    # What the oracle found in the records (nothing when the file did not open).
    found: Recovery = field(default_factory=Recovery)

    @property
    def acknowledged_checked(self) -> int:
        return self.found.acknowledged_checked

    @property
    def lost(self) -> tuple[int, ...]:
        return self.found.lost

    @property
    def wrong_payloads(self) -> tuple[int, ...]:
        return self.found.wrong_payloads

    @property
    def sequence_errors(self) -> tuple[str, ...]:
        return self.found.sequence_errors

    @property
    def unacknowledged_found(self) -> int:
        return self.found.unacknowledged_found

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
    """``check_lives`` on what a writer reported, given flat: ``acknowledged``
    maps sequence to n (the payload is ``payload_for(n, seed)``); records at
    or below ``last_commit`` and those in ``applied`` were handed over by a
    commit and need not be in the file any more; ``openings`` say which n
    every sequence of each life carries (for records appended but not
    acknowledged). Without the order of the reports, no life's open is
    checked for records it lost (``WriterLog.check`` has the order)."""
    lives = Lives(
        acknowledged={sequence: payload_for(n, seed) for sequence, n in acknowledged.items()},
        applied=set(applied),
        applied_through=last_commit,
        lives=[Life(opening.last_sequence, _appends_of(opening, seed)) for opening in openings],
    )
    return check_lives(path, lives)


def check_lives(path: Path, lives: Lives) -> CheckResult:
    """Recover ``path`` read-only (the FIXED design) and have the oracle check
    the records against what the lives were told (G1, G2, G4); the file must
    open (G5). memvid's ORIGINAL code reads the file too, and whether it
    recovers the same records is recorded (G7)."""
    original_records: list[tuple[int, bytes]] | None = None
    original_error: str | None = None
    try:
        original_records = _recover(path, Design.ORIGINAL)[1]
    except (WalError, OSError) as error:
        original_error = f"{type(error).__name__}: {error}"
    try:
        header, records = _recover(path, Design.FIXED)
    except (WalError, OSError) as error:
        unopened = f"{type(error).__name__}: {error}"
        return CheckResult(False, unopened, 0, None, original_error, original_agrees=original_records is None)
    return CheckResult(
        True, None, len(records), header.wal_sequence, original_error, original_records == records,
        found=lives.check_recovered(records),
    )  # fmt: skip
