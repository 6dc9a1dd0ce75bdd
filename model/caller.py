"""memvid's composite actions around the WAL, as pure model functions: what
the caller layer does with the operations of model/wal.py.

- ``commit``: memvid's commit as the model does it (spec/semantics.md S3.6):
  ``pending_records``, ``record_checkpoint`` into the caller's header, the
  header write (which syncs). Every stage's state is kept, because harnesses
  show them (conformance answers after each request) or crash between them
  (the model checker's crash inside a commit).
- ``restart``: a process starting on a file, in particular on a crash image
  (spec/faults.md): the header on disk becomes the caller's, nothing volatile
  survives, the WAL is not open yet.
- ``grow_region``, ``grown_size``: memvid's growth of the region (S3.11) and
  the size it grows to.

Every harness drives these rather than writing them out again: the
side-by-side machines (walcheck/sidebyside), the model checker
(walcheck/modelcheck), the conformance transcripts and vectors
(walcheck/conformance). The reference has its own, file-backed versions
(reference/mv2.py), which these must agree with; it may not import this.

New caller actions go here, one function each, taking a ``State`` and
returning what the action leaves (as ``model.wal`` does for the WAL's own
operations): errors are values, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.placement import REASON_FULL, REASON_TOO_SMALL
from model.region import Record, Region
from model.wal import (
    Design,
    Disk,
    HeaderFields,
    Outcome,
    State,
    WalError,
    close_wal,
    open_wal,
    pending_records,
    record_checkpoint,
    write_header,
)

# ---------------------------------------------------------------------------
# Commit (S3.6)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commit:
    """What memvid's commit left at each of its stages. The commit stops at
    the first refusal: ``pending`` is a ``WalError`` when the WAL cannot be
    read (nothing after it ran), ``checkpoint_error`` when record_checkpoint
    refused (no header write)."""

    after_pending: State
    pending: list[Record] | WalError
    # After record_checkpoint: the caller's header holds the new checkpoint,
    # the header on disk does not yet. None when pending_records failed.
    after_checkpoint: State | None = None
    checkpoint_error: WalError | None = None
    # After the header write: the commit returned. None when it was refused.
    committed: State | None = None

    @property
    def state(self) -> State:
        """The state the commit left, wherever it stopped."""
        for reached in (self.committed, self.after_checkpoint):
            if reached is not None:
                return reached
        return self.after_pending

    @property
    def error(self) -> WalError | None:
        return self.pending if isinstance(self.pending, WalError) else self.checkpoint_error

    @property
    def applied(self) -> list[Record] | None:
        """The records the commit handed to memvid's index, once it returned."""
        if self.committed is None or isinstance(self.pending, WalError):
            return None
        return self.pending


def commit(state: State) -> Commit:
    """S3.6: memvid's commit on an open WAL."""
    after_pending, pending = pending_records(state)
    if isinstance(pending, WalError):
        return Commit(after_pending, pending)
    after_checkpoint, refused = record_checkpoint(after_pending)
    if refused is not None:
        return Commit(after_pending, pending, after_checkpoint, refused)
    return Commit(after_pending, pending, after_checkpoint, None, write_header(after_checkpoint))


# ---------------------------------------------------------------------------
# Restart (spec/faults.md)
# ---------------------------------------------------------------------------


def restart(design: Design, disk: Disk, *, appends_total: int = 0) -> State:
    """A process of ``design`` that starts on the file ``disk``: it reads the
    header as its own in-memory header (S3.1) and has not opened the WAL.
    ``appends_total`` is the model's history, carried across if the caller
    wants it."""
    return State(design=design, disk=disk, wal=None, caller_header=disk.header, appends_total=appends_total)


def crash_image(header: HeaderFields, region: Region) -> Disk:
    """The file a crash leaves: the header on disk (every header write is
    synced before its operation returns, S3.6, S3.11) over the region the
    crash left, all of it durable now."""
    return Disk(header=header, region=region, durable_region=region)


# ---------------------------------------------------------------------------
# Growth (S3.11)
# ---------------------------------------------------------------------------


# The refusals of append_entry memvid answers by growing the region.
REASONS_THAT_GROW = frozenset({REASON_TOO_SMALL, REASON_FULL})


def grown_size(current: int, entry_size: int) -> int:
    """memvid's new region size when an append of ``entry_size`` bytes failed:
    double until the size exceeds both the entry and the current size.
    (reference/mv2.py has the same rule: the reference may not import the
    model; tests/test_defects.py holds the two to memvid's numbers.)"""
    target = max(entry_size, current + 1)
    size = current
    while size <= target:
        size *= 2
    return size


def grow_region(state: State, new_size: int) -> Outcome[None]:
    """S3.11: memvid's growth. Close the WAL, keep every region byte where it is,
    zero the new part, write the header with the new size, sync, reopen."""
    assert new_size >= state.disk.header.wal_size
    assert state.wal is not None, "growth of a closed WAL"
    read_only, recovery = state.wal.read_only, state.wal.recovery
    closed = close_wal(state)
    header = replace(closed.caller_header, wal_size=new_size)
    grown = closed.disk.region.grown(new_size)
    # The grown region is in the file whole: a short file's end is past (S3.2).
    disk = replace(closed.disk, header=header, region=grown, durable_region=grown, unsynced=(), file_end=None)
    return open_wal(replace(closed, disk=disk, caller_header=header), read_only=read_only, recovery=recovery)
