"""The one trace vocabulary of the suite, and the one payload generator.

A trace is what a caller of memvid's WAL does, step by step: the operations
of the WAL (spec/semantics.md S3), memvid's composite actions around it
(commit S3.6, put and growth S3.11: model/caller.py) and crashes
(spec/faults.md). Every harness that runs fixed or generated traces speaks
it: the conformance transcripts and vectors (walcheck/conformance), the
exhaustive crash check (walcheck/sidebyside/exhaustive.py), and the
rendering of the model checker's and the machines' steps.

``payload_for(number, size)`` is the payload every harness appends when the
bytes themselves do not matter: recognisable (it starts with the record's
number), different for every number, deterministic. ``random_payload`` is its
random twin, for writers whose overwritten records must look like data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from model.format import WAL_OFFSET


@dataclass(frozen=True)
class Append:
    payload: bytes


@dataclass(frozen=True)
class Put:
    """memvid's put: an append that grows the region when it is refused for
    room, and appends again (S3.11)."""

    payload: bytes


@dataclass(frozen=True)
class Commit:
    """memvid's commit: pending, checkpoint, and the header made durable."""


@dataclass(frozen=True)
class RecordsAfter:
    below_sequence: int  # records_after(sequence - below_sequence), at least 0
    # Or records_after(after), whatever the sequence (the model checker's).
    after: int | None = None


@dataclass(frozen=True)
class Pending:
    pass


@dataclass(frozen=True)
class Stats:
    pass


@dataclass(frozen=True)
class ShouldCheckpoint:
    pass


@dataclass(frozen=True)
class SkipSync:
    skip: bool


@dataclass(frozen=True)
class Flush:
    pass


@dataclass(frozen=True)
class Reopen:
    read_only: bool = False


@dataclass(frozen=True)
class Crash:
    power_loss: bool  # False: a process kill (every write reached the OS)
    choice: int = 0  # which power-loss image, modulo how many there are


@dataclass(frozen=True)
class Grow:
    by: int


@dataclass(frozen=True)
class AppendNearLimit:
    """An append whose entry is near the region's size (F2.2, F4, D1): the
    payload is ``region_size - 96 + delta`` bytes (at least 0), so that the
    refusals at ``region_size - 48 < entry_size < region_size`` (FIXED) and
    ``entry_size > region_size`` come up in every region size."""

    delta: int


@dataclass(frozen=True)
class Truncate:
    """The file cut inside its region, between a close and an open (S3.2):
    region position ``cut`` modulo the region's size. Damage, so the oracle's
    guarantees are not checked after it; the model's answers still are."""

    cut: int


Step = (
    Append
    | Put
    | Commit
    | RecordsAfter
    | Pending
    | Stats
    | ShouldCheckpoint
    | SkipSync
    | Flush
    | Reopen
    | Crash
    | Grow
    | AppendNearLimit
    | Truncate
)


# -- memvid's caller layer (spec/semantics.md S9, model/caller.py) ------------
# Not in the driver protocol (spec/porting.md): the model checker and the
# machines take these, and describe them with the rest.


@dataclass(frozen=True)
class OpenWithRecovery:
    """memvid's writable open: what is pending applied, then the log reset (S9.2)."""


@dataclass(frozen=True)
class Doctor:
    """memvid's doctor on the file as it is (S9.9)."""


@dataclass(frozen=True)
class EndBatch:
    """The end of batch mode: a flush, then every append synced again."""


@dataclass(frozen=True)
class CrashInside:
    """A crash inside one of memvid's composite actions (``action``: "commit",
    "growth to 128", ...); which of its crash images is said beside it."""

    action: str


CallerStep = OpenWithRecovery | Doctor | EndBatch | CrashInside
Operation = Step | CallerStep


@dataclass(frozen=True)
class Trace:
    region_size: int
    checkpoint_sequence: int
    steps: tuple[Step, ...]
    # Where the region starts in the file (P1.3): memvid's files all say 4096,
    # but the header's field is what a port must use.
    region_offset: int = WAL_OFFSET

    def render(self) -> str:
        offset = "" if self.region_offset == WAL_OFFSET else f", region_offset={self.region_offset}"
        lines = [f"region_size={self.region_size}, checkpoint_sequence={self.checkpoint_sequence}{offset}"]
        lines += [f"  {render_step(step)}" for step in self.steps]
        return "\n".join(lines)


def render_step(step: Step) -> str:
    """One line: ``append(b'r1:abc...', len=40)``, ``commit()``, ``crash(power_loss=True, choice=3)``."""
    if isinstance(step, Append | Put):
        shown = step.payload if len(step.payload) <= 16 else step.payload[:16] + b"..."
        return f"{type(step).__name__.lower()}({shown!r}, len={len(step.payload)})"
    # A field left at None (RecordsAfter's after) is not shown: the vectors' traces stay as written.
    fields = ", ".join(f"{k}={v!r}" for k, v in vars(step).items() if v is not None)
    return f"{type(step).__name__.lower()}({fields})"


def describe(operation: Operation) -> str:
    """The operation in words, as the model checker's traces and the machines'
    findings show it: ``append 16 bytes``, ``batch mode on (skip_sync)``,
    ``power loss``. What only the state says (which crash image, the size
    grown to) the caller adds after a comma."""
    match operation:
        case Append(payload) | Put(payload):
            return f"{type(operation).__name__.lower()} {len(payload)} bytes"
        case AppendNearLimit(delta):
            return f"append near the region's size (region_size - 96 {delta:+d} bytes)"
        case RecordsAfter(below, after):
            return f"records_after({after})" if after is not None else f"records_after(sequence - {below})"
        case SkipSync(skip):
            return "batch mode on (skip_sync)" if skip else "batch mode off"
        case Reopen(read_only):
            return "reopen read-only" if read_only else "reopen"
        case Crash(power_loss, _):
            return "power loss" if power_loss else "process kill (every write reached the OS)"
        case Grow(by):
            return f"grow by {by} bytes"
        case Truncate(cut):
            return f"the file cut at region position {cut}"
        case OpenWithRecovery():
            return "open with recovery (memvid's writable open)"
        case EndBatch():
            return "end batch (flush, sync on)"
        case CrashInside(action):
            return f"crash inside {action}"
    return _WORDS[type(operation)]


_WORDS: dict[type, str] = {
    Commit: "commit",
    Pending: "pending_records",
    Stats: "stats",
    ShouldCheckpoint: "should_checkpoint",
    Flush: "flush",
    Doctor: "doctor",
}


def payload_for(number: int, size: int) -> bytes:
    """``size`` bytes: ``r<number>:``, then the alphabet over and over."""
    return (f"r{number}:".encode() + bytes(range(97, 123)) * (size // 26 + 1))[:size]


def random_payload(rng: random.Random, number: int, length: int) -> bytes:
    """``length`` bytes: ``<number>:``, then bytes drawn from ``rng``. For the
    writers whose records get overwritten on real files (walcheck crashes'
    writer; conform's recorded session makes the same bytes in its own order of
    draws): the leftovers of a record then look like data, as memvid's
    compressed frames do, not like a pattern or zeros.
    (The SIGKILL campaign's ``payload_for(n, seed)`` hashes instead: its
    checker must rebuild any payload from ``n`` alone.)"""
    return (f"{number}:".encode() + rng.randbytes(length))[:length]
