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

from collections.abc import Callable
from dataclasses import dataclass, replace

from model.format import ENTRY_HEADER_SIZE
from model.placement import REASON_FULL, REASON_TOO_SMALL
from model.region import Extent, Foreign, Record, Region
from model.wal import (
    Design,
    Disk,
    HeaderFields,
    Invalid,
    Outcome,
    State,
    WalError,
    _open,
    close_wal,
    entry_at,
    flush,
    open_wal,
    pending_records,
    record_checkpoint,
    records_after,
    set_skip_sync,
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


# ---------------------------------------------------------------------------
# The caller layer (spec/semantics.md S9): staged commit, recovery at open,
# growth, batch mode, the doctor. Each returns the state it leaves and the
# files a crash inside it can leave (``crash_images``: each a Disk whose
# header and region are durable), so every harness crashes them the same way.
# ---------------------------------------------------------------------------

# What lies right after the region (spec/semantics.md S9.12): memvid's data
# segments and TOC, bytes that are not zeros and not entries; in the
# side-by-side harnesses, these 64 bytes and then the file's end. A growth that
# loses its zeros leaves them at the start of the new part, the zeros of the
# file's extension after them (M4). Written out here as S9.12 gives them, not
# taken from the harness, so that a wrong value on either side is caught.
DATA_AFTER_REGION = Foreign(bytes([0xA5]) * 256)


def _synced_image(disk: Disk) -> Disk:
    """``disk`` with every write durable: what a staged file is once synced."""
    return Disk(header=disk.header, region=disk.region, durable_region=disk.region, file_end=disk.file_end)


@dataclass(frozen=True, slots=True)
class Replaced:
    """S9.1 steps 2-8 in the model: a file built beside the original, synced,
    renamed over it, the directory synced. A crash at any point leaves one of
    the two files whole: ``before`` (until the rename is durable) or
    ``after``."""

    before: Disk
    after: Disk

    @property
    def crash_images(self) -> tuple[Disk, Disk]:
        return self.before, self.after


@dataclass(frozen=True, slots=True)
class StagedCommit:
    """S9.1: memvid's commit(). ``pending`` is what pending_records returned on
    the open file (a WalError stops the commit there); ``replaced`` the copy's
    replace; ``state`` the WAL reopened on the new file."""

    after_pending: State
    pending: list[Record] | WalError
    replaced: Replaced | None = None
    committed: State | None = None

    @property
    def state(self) -> State:
        return self.committed if self.committed is not None else self.after_pending

    @property
    def error(self) -> WalError | None:
        return self.pending if isinstance(self.pending, WalError) else None

    @property
    def applied(self) -> list[Record] | None:
        if self.committed is None or isinstance(self.pending, WalError):
            return None
        return self.pending

    @property
    def crash_images(self) -> tuple[Disk, ...]:
        if self.replaced is None:
            return (_synced_image(self.after_pending.disk),)
        return self.replaced.crash_images


def _reopened(state: State, disk: Disk, *, skip_sync: bool) -> State:
    """S9.1 step 8: the WAL opened again on ``disk``, now the file. memvid's new
    EmbeddedWal has skip_sync off; FIXED keeps the batch's (DIVERGENCE M5)."""
    wal = _open(state)
    reopened, refused = open_wal(
        restart(state.design, disk, appends_total=state.appends_total), recovery=wal.recovery
    )
    assert refused is None, f"a file the caller just wrote does not open: {refused}"
    if state.design is Design.FIXED and skip_sync:
        reopened = set_skip_sync(reopened, True)
    return reopened


def _replace(state: State, build: Callable[[State], State]) -> tuple[Replaced, State]:
    """Sync the open file, build the copy from a synced image of it (``build``
    gets the copy as a closed state and returns it with its header written),
    rename it over, reopen. Returns the replace and the reopened state."""
    before = _synced_image(state.disk)
    built = build(restart(state.design, before, appends_total=state.appends_total))
    after = _synced_image(replace(built.disk, header=built.caller_header))
    return Replaced(before, after), _reopened(state, after, skip_sync=_open(state).skip_sync)


def staged_commit(state: State) -> StagedCommit:
    """S9.1: pending_records on the open file; on a copy: open the WAL, record
    the checkpoint, write the header, sync; rename it over; reopen."""
    after_pending, pending = pending_records(state)
    if isinstance(pending, WalError):
        return StagedCommit(after_pending, pending)
    if not pending:
        # memvid's commit returns at once when nothing is pending (nor dirty).
        return StagedCommit(after_pending, pending, committed=after_pending)

    def build(copy: State) -> State:
        opened, refused = open_wal(copy, recovery=_open(after_pending).recovery)
        assert refused is None, f"the copy of an open file does not open: {refused}"
        checkpointed, refused = record_checkpoint(opened)
        assert refused is None, f"record_checkpoint refused on a writable copy: {refused}"
        return checkpointed

    replaced, committed = _replace(after_pending, build)
    return StagedCommit(after_pending, pending, replaced, committed)


@dataclass(frozen=True, slots=True)
class RecoveryAtOpen:
    """S9.2: a writable open and memvid's recover_wal. ``records`` are the
    records it applied (None when the open failed: ``error``). ORIGINAL works
    in place: ``in_place`` is the commit's stages (C4 strikes between them);
    FIXED stages it (DIVERGENCE M4): ``staged``."""

    opened: State
    error: WalError | None
    records: list[Record] | None = None
    in_place: Commit | None = None
    staged: StagedCommit | None = None

    @property
    def state(self) -> State:
        if self.staged is not None:
            return self.staged.state
        if self.in_place is not None:
            return self.in_place.state
        return self.opened

    @property
    def crash_images(self) -> tuple[Disk, ...]:
        """The files a crash before the open returned can leave: the file as
        it was, and (in place) the header and region after each stage."""
        if self.staged is not None:
            return self.staged.crash_images
        if self.in_place is None:
            return (_synced_image(self.opened.disk),)
        # S9.2: the commit of a recovery runs to its end (recover_at_open says why).
        checkpointed, committed = self.in_place.after_checkpoint, self.in_place.committed
        assert checkpointed is not None and committed is not None, "a recovery's commit stopped"
        # Killed between record_checkpoint's sentinel and the header: the old header (C4).
        return tuple(_synced_image(state.disk) for state in (self.opened, checkpointed, committed))


def recover_at_open(state: State) -> RecoveryAtOpen:
    """S9.2 on a closed state: open for writing, records_after(wal_sequence),
    and when it returns records, commit them: in place (ORIGINAL) or staged."""
    opened, refused = open_wal(state)
    if refused is not None:
        return RecoveryAtOpen(opened, refused)
    after_scan, records = records_after(opened, opened.disk.header.wal_sequence)
    # S9.2: a rescan right after an open that scanned cannot fail, nor can the
    # commit's (pending_records) after it; a writable WAL's record_checkpoint
    # never refuses. The scans read the same region, checkpoint, recovery and
    # file end (which writes only move up), but for the open's sentinel: zeros
    # where its scan stopped, or over the first entry's header (D1, R4), so
    # each rescan stops at a sentinel over bytes the open's scan accepted.
    assert not isinstance(records, WalError), f"the rescan after an open failed: {records}"
    if not records:
        return RecoveryAtOpen(after_scan, None, [])
    if state.design is Design.FIXED:
        staged = staged_commit(after_scan)  # DIVERGENCE M4
        return RecoveryAtOpen(after_scan, staged.error, records, staged=staged)
    in_place = commit(after_scan)
    return RecoveryAtOpen(after_scan, in_place.error, records, in_place=in_place)


@dataclass(frozen=True, slots=True)
class Growth:
    """S9.4: memvid's growth of an open WAL. ``state`` has the WAL reopened on
    the grown region. ``in_flight`` (ORIGINAL, in place) is the file between
    the growth's writes and its one sync: the new header over the region as the
    file held it (the new part holding what lay after the region, S9.12), with
    the region's unsynced writes and the zeros over the new part not yet
    durable; model/crash.py's power_loss_regions of it are every region a power
    loss can leave under the new header (under the old one: those of the file
    before the growth)."""

    state: State
    crash_images: tuple[Disk, ...]
    in_flight: Disk | None = None


def grow(state: State, new_size: int) -> Growth:
    """S9.4. ORIGINAL in place, one sync for the moved data, the zeros and the
    header: a crash can leave the old file, the grown one, or the new header
    over a new part that still holds the data that lay there (M4). FIXED builds
    the grown file beside the old one (DIVERGENCE M4) and keeps skip_sync (M5)."""
    if state.design is Design.FIXED:

        def build(copy: State) -> State:
            header = replace(copy.caller_header, wal_size=new_size)
            grown = copy.disk.region.grown(new_size)
            return replace(
                copy, disk=replace(copy.disk, region=grown, durable_region=grown), caller_header=header
            )

        replaced, grown_state = _replace(state, build)
        return Growth(grown_state, replaced.crash_images)
    old_size = state.disk.header.wal_size
    grown_state, refused = grow_region(state, new_size)
    assert refused is None, f"the grown region does not open: {refused}"
    before = _synced_image(state.disk)
    header = replace(state.disk.header, wal_size=new_size)

    def data_in_new_part(region: Region) -> Region:
        # S9.12: the data after the region, then the file's extension (zeros).
        length = min(len(DATA_AFTER_REGION.data), new_size - old_size)
        return region.grown(new_size).write(old_size, DATA_AFTER_REGION, 0, length)

    zeros_lost = data_in_new_part(state.disk.region)
    lost = Disk(header=header, region=zeros_lost, durable_region=zeros_lost)
    zeros = (Extent(old_size, new_size, None, 0),)
    in_flight = Disk(
        header=header,
        region=state.disk.region.grown(new_size),
        durable_region=data_in_new_part(state.disk.durable_region),
        unsynced=(*state.disk.unsynced, zeros),
    )
    return Growth(grown_state, (before, lost, _synced_image(grown_state.disk)), in_flight)


def begin_batch(state: State, skip_sync: bool = True) -> State:
    """S9.5: memvid's begin_batch (without pre-sizing): appends skip their sync."""
    return set_skip_sync(state, skip_sync)


def end_batch(state: State) -> State:
    """S9.5: one flush for the batch, then appends sync again."""
    return set_skip_sync(flush(state), False)


@dataclass(frozen=True, slots=True)
class Doctor:
    """S9.9: memvid's doctor on a closed file. ``state`` is the memory opened
    after the repair (closed WAL for the harness to open), ``applied`` the
    records the repair applied, ``crash_images`` the files a crash inside it
    can leave."""

    state: State
    applied: list[Record]
    crash_images: tuple[Disk, ...]


def salvage(region: Region, wal_sequence: int) -> list[Record]:
    """FIXED's doctor scan (S9.9): every intact record above ``wal_sequence``
    whose sequence is above the last one taken, stepping over invalid entries
    whose length is in range, to the first sentinel or out-of-range length."""
    taken: list[Record] = []
    last = wal_sequence
    cursor = 0
    while cursor + ENTRY_HEADER_SIZE <= region.size:
        # Alike reference/caller.py's walk on purpose: the model and the reference are
        # written apart, so that comparing them means something. (The file machines'
        # damage_a_record walks alike too, keeping positions to pick a record to damage.)
        entry = entry_at(region, cursor)
        if entry is None:
            break
        if isinstance(entry, Invalid):
            if entry.end is None:
                break
            cursor = entry.end
            continue
        if entry.sequence > last:
            taken.append(entry)
            last = entry.sequence
        cursor += entry.size
    return taken


def doctor(state: State) -> Doctor:
    """S9.9 on a closed state (the file as a new process finds it)."""
    assert state.wal is None, "the doctor runs on a closed file"
    disk = _synced_image(state.disk)
    header = disk.header
    size = header.wal_size
    zeroed = Region.zeroed(size)
    if state.design is Design.FIXED:
        records = salvage(disk.region, header.wal_sequence)
        # DIVERGENCE M2, M3: the intact records applied, the sequence kept, one replace.
        repaired_header = replace(
            header,
            wal_checkpoint_pos=0,
            wal_sequence=max([header.wal_sequence, *(r.sequence for r in records)]),
        )
        after = Disk(header=repaired_header, region=zeroed, durable_region=zeroed)
        repaired = restart(state.design, after, appends_total=state.appends_total)
        return Doctor(repaired, records, (disk, after))
    reset = replace(header, wal_checkpoint_pos=0, wal_sequence=0)
    images: list[Disk] = [disk]
    opened, refused = open_wal(restart(state.design, disk, appends_total=state.appends_total))
    scanned = refused
    if refused is None:
        _, pending = pending_records(opened)
        scanned = pending if isinstance(pending, WalError) else None
    if scanned is not None:
        # try_recover_from_wal_corruption: zeros and header 0/0 under one sync (M3).
        images += [
            Disk(header=header, region=zeroed, durable_region=zeroed),
            Disk(header=reset, region=disk.region, durable_region=disk.region),
        ]
        disk = Disk(header=reset, region=zeroed, durable_region=zeroed)
        images.append(disk)
    recovery = recover_at_open(restart(state.design, disk, appends_total=state.appends_total))
    images += recovery.crash_images
    recovered = recovery.state
    applied = recovery.records or []
    # reset_wal: zero, sync, header 0/0, sync.
    cleared = Disk(header=recovered.disk.header, region=zeroed, durable_region=zeroed)
    final = Disk(header=reset, region=zeroed, durable_region=zeroed)
    images += [cleared, final]
    return Doctor(restart(state.design, final, appends_total=state.appends_total), applied, tuple(images))
