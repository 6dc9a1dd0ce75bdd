"""The executable model of memvid's embedded WAL (spec/semantics.md).

Everything that decides a transition lives here. The model does no I/O and
never imports the reference: the tests hold the two side by side.

Layout follows the spec: constants, state variables grouped by role (durable
on disk, volatile in the WAL object, the caller's in-memory header, history
kept only for checking), the initial state, then one function per operation.
Every operation takes a ``State`` and returns a new one with its result;
errors are values (``WalError``), never exceptions.

Two designs share this code. ``Design.ORIGINAL`` is exactly what
``embedded_wal.rs`` does, defects included. ``Design.FIXED`` is what the
reference does by default. Every place where they differ is marked
``DIVERGENCE`` with its number in spec/defects.md.

Its size (over 600 lines) is the WAL's: one function per operation of S3,
each beside the state it reads, so that the model reads as the spec does;
the byte format, placement, regions and memvid's composite actions are
modules of their own (format, placement, region, caller).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TypeVar

from model.format import (
    ENTRY_HEADER_SIZE,
    PAYLOAD_LEN_MAX,
    SEQUENCE_MAX,
    WAL_CHECKPOINT_PERIOD,
    WAL_CHECKPOINT_THRESHOLD,
    decode_entry,
    decode_entry_header,
    entry_size,
)
from model.placement import fixed_open_writes, place_entry, sentinel_writes
from model.region import Extent, Record, Region

U64_MAX = 2**64 - 1


class Design(enum.Enum):
    ORIGINAL = "original"
    FIXED = "fixed"


class Recovery(enum.Enum):
    """spec/faults.md R5: what a FIXED scan does with an invalid record."""

    TOLERATE_TORN_TAIL = "tolerate-torn-tail"
    STRICT = "strict"


class ErrorKind(enum.Enum):
    INVALID_HEADER = "InvalidHeader"
    LOCK = "Lock"
    CHECKPOINT_FAILED = "CheckpointFailed"
    WAL_CORRUPTION = "WalCorruption"
    IO = "Io"


# S4: the reason strings, verbatim from embedded_wal.rs.
REASON_WAL_SIZE_ZERO = "wal_size must be non-zero"
REASON_READ_ONLY = "wal is read-only; reopen memory with write access"
REASON_PAYLOAD_TOO_LARGE = "WAL payload too large"
# S3.2: a read past the end of a file shorter than its region (Rust's read_exact).
REASON_SHORT_READ = "failed to fill whole buffer"
REASON_LENGTH_INVALID = "wal record length invalid"
REASON_CHECKSUM = "wal record checksum mismatch"
# DIVERGENCE D2: the original has no such error; it wraps the sequence to 0.
REASON_SEQUENCE_EXHAUSTED = "WAL sequence exhausted"
# DIVERGENCE D4: the original writes an empty record, which every later scan
# rejects as "wal record length invalid".
REASON_PAYLOAD_EMPTY = "WAL payload empty"
# FIXED: strict recovery (spec/faults.md R5), and R7 in tolerant recovery.
REASON_SEQUENCE_BREAK = "wal record sequence out of order"


@dataclass(frozen=True, slots=True)
class WalError:
    kind: ErrorKind
    reason: str
    offset: int | None = None


# ---------------------------------------------------------------------------
# State variables
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """The MV2 header fields the WAL reads and writes (format F1)."""

    wal_size: int
    wal_checkpoint_pos: int
    wal_sequence: int


@dataclass(frozen=True, slots=True)
class Disk:
    """The file: what a reader sees now (``header``, ``region``), and, for the
    crash model (model/crash.py), the region as of the last sync and the
    region writes since, in order. ``region`` is ``durable_region`` with
    ``unsynced`` applied; it is kept too because every scan reads it.

    Header writes are not logged: every operation that writes the header
    syncs before it returns (commit, growth), so between operations the
    header is always durable."""

    header: HeaderFields
    region: Region
    durable_region: Region
    # Each unsynced write is the extents one storage write put down, in order.
    unsynced: tuple[tuple[Extent, ...], ...] = ()
    # History, not in an implementation: bytes written past the region's end
    # (guarantee G6). Only the original's sentinel does this (D3).
    bytes_written_outside_region: int = 0
    # S3.2: where the file ends, as a region position, when it ends before the
    # region does (None: the file holds the whole region). The bytes from
    # there on read as zeros in ``region`` and are not in the file; writes
    # lengthen the file, so this only grows, and may pass the region's size.
    file_end: int | None = None

    def written(self, *pieces: Extent) -> Disk:
        """The disk after one storage write of ``pieces`` (contiguous extents)
        into the region, not yet synced. Each piece holds a byte at least
        (model.placement's contract on sentinel writes; a record is 48 bytes
        or more): an empty one would leave an empty extent, which R0 rejects."""
        region = self.region
        for piece in pieces:
            region = region.write(piece.start, piece.source, piece.source_offset, piece.end - piece.start)
        file_end = self.file_end if self.file_end is None else max(self.file_end, *(p.end for p in pieces))
        return replace(self, region=region, unsynced=(*self.unsynced, pieces), file_end=file_end)

    def synced(self) -> Disk:
        return replace(self, durable_region=self.region, unsynced=())


@dataclass(frozen=True, slots=True)
class Volatile:
    """Volatile: the fields of an open EmbeddedWal (S1.2)."""

    region_size: int
    write_head: int
    checkpoint_head: int
    pending_bytes: int
    sequence: int
    checkpoint_sequence: int
    appends_since_checkpoint: int
    read_only: bool
    skip_sync: bool
    recovery: Recovery = Recovery.TOLERATE_TORN_TAIL
    # FIXED only (spec/faults.md R7): no write below the write head since the
    # WAL's last sync, so every byte before the next record is durable. False
    # after open (a killed writer may have left unsynced writes anywhere);
    # True after each sync of the WAL's own (an append's, flush); False after
    # an append that is not synced. The sentinel at the write head does not
    # count: it lies at or after the next record's position.
    synced_below_head: bool = False


# The fields of Volatile an implementation's open WAL has too, as the
# side-by-side machines compare them (recovery and synced_below_head are how
# the model decides, not fields memvid has).
IMPLEMENTATION_FIELDS = (
    "region_size",
    "write_head",
    "checkpoint_head",
    "pending_bytes",
    "sequence",
    "checkpoint_sequence",
    "appends_since_checkpoint",
    "read_only",
    "skip_sync",
)


@dataclass(frozen=True, slots=True)
class State:
    design: Design
    disk: Disk
    wal: Volatile | None
    # The caller's in-memory Header: record_checkpoint writes into it and the
    # caller persists it with write_header (S3.5, S3.6).
    caller_header: HeaderFields
    # History, not in an implementation: how many records were ever appended.
    appends_total: int = 0


# Alike in shape to walcheck/sidebyside/simdisk.py's Write only: a frozen pair and its derived size.
@dataclass(frozen=True, slots=True)
class ScannedRecord:
    position: int
    record: Record

    @property
    def total_size(self) -> int:
        return self.record.size


@dataclass(frozen=True, slots=True)
class Stats:
    region_size: int
    pending_bytes: int
    appends_since_checkpoint: int
    sequence: int


T = TypeVar("T")
Outcome = tuple[State, T | WalError]


# ---------------------------------------------------------------------------
# Initial state (S3.1: memvid's create)
# ---------------------------------------------------------------------------


def initial_state(
    design: Design,
    region_size: int,
    wal_sequence: int = 0,
    wal_checkpoint_pos: int = 0,
    region: Region | None = None,
) -> State:
    """A closed WAL over a file memvid has just created: a zeroed region unless
    ``region`` is given."""
    header = HeaderFields(region_size, wal_checkpoint_pos, wal_sequence)
    initial = region if region is not None else Region.zeroed(region_size)
    disk = Disk(header=header, region=initial, durable_region=initial)
    return State(design=design, disk=disk, wal=None, caller_header=header)


# ---------------------------------------------------------------------------
# Scan (S2: what open and records_after find)
# ---------------------------------------------------------------------------


def continues_log(previous: int | None, sequence: int, checkpoint_sequence: int) -> bool:
    """R2, R3: may a record with ``sequence`` follow ``previous`` (None: it is
    the first record, at position 0)? FIXED only.

    The first record of the region is a checkpointed one or the first pending
    one; after that each record is exactly one more than the one before.
    Anything else is a leftover of an earlier pass whose sentinel a crash took
    away (or a damaged sequence field): the log ended.
    """
    if sequence == 0:
        return False
    if previous is None:
        return sequence <= checkpoint_sequence + 1
    return sequence == previous + 1


@dataclass(frozen=True, slots=True)
class Invalid:
    """An entry the scan rejects (F3.4 rows C1, C2): why, and where it would end
    if its length field is in range (None for an invalid length)."""

    reason: str
    end: int | None


def entry_at(region: Region, cursor: int) -> Record | Invalid | None:
    """F3.4: what the 48 bytes at ``cursor`` (which must fit) begin: a record
    (with the mark of its reserved bytes, F2.1), an invalid entry, or None for
    a sentinel. Records found in the bytes without a provenance of their own
    (foreign bytes, a header spliced from two sources) get ``append_index`` -1."""
    intact = region.intact_record_at(cursor)
    if intact is not None and intact.payload:
        return intact
    header = decode_entry_header(region.read(cursor, ENTRY_HEADER_SIZE))
    if header.is_sentinel:
        return None
    end = cursor + ENTRY_HEADER_SIZE + header.length
    if header.length == 0 or end > region.size:
        return Invalid(REASON_LENGTH_INVALID, None)
    decoded = decode_entry(region.read(cursor, ENTRY_HEADER_SIZE + header.length))
    if decoded is None:  # the length is valid, so only the digest can differ
        return Invalid(REASON_CHECKSUM, end)
    return Record(decoded[0], decoded[1], -1, header.synced_before)


def proven_durable(region: Region, position: int, previous: int | None, checkpoint_sequence: int) -> bool:
    """R7 (FIXED, tolerant): is the broken entry that ends at ``position`` proven
    to have been durable, so that no power loss can explain it?

    It takes one sequence, the one after ``previous`` (if it is the region's
    first entry: at most ``checkpoint_sequence + 1``, R3). Follow the records
    after it while each is intact and continues that sequence; the proof is a
    pending one among them (sequence above the checkpoint) carrying the mark:
    when it was written, every byte before it, the broken entry's included,
    was durable. A checkpointed record does not count: after a wrap the records
    behind a torn first entry are the earlier pass's, marked, and all
    checkpointed; and where only checkpointed records follow, ending the log
    loses nothing the WAL still owes.
    """
    # The same lines as reference/wal.py's _proven_durable, on purpose: model and
    # reference are written apart from the spec, so that comparing them means something.
    expected = None if previous is None else previous + 2
    while position + ENTRY_HEADER_SIZE <= region.size:
        entry = entry_at(region, position)
        if not isinstance(entry, Record):
            return False
        if expected is None:
            if not 2 <= entry.sequence <= checkpoint_sequence + 2:
                return False
        elif entry.sequence != expected:
            return False
        if entry.synced_before and entry.sequence > checkpoint_sequence:
            return True
        expected = entry.sequence + 1
        position += entry.size
    return False


def scan(
    region: Region,
    # No defaults: every caller names its design and checkpoint (a default was
    # a value the model's callers never used, only tests/test_format.py).
    design: Design,
    checkpoint_sequence: int,
    recovery: Recovery | None = None,
    file_end: int | None = None,
) -> tuple[list[ScannedRecord], int] | WalError:
    """S2.1: walk the region from position 0 until a sentinel, the end, or an
    invalid record. Returns the records and the position where the walk stopped.

    ORIGINAL: an invalid record is WalCorruption. FIXED (spec/faults.md R1-R3,
    R7): a record that does not continue the log ends it, and so does an
    invalid record (a torn tail), unless ``recovery`` is STRICT, which reports
    both, or the records after it prove it was durable (R7), which reports it.

    ``file_end`` (S3.2): the file ends there, inside the region. FIXED reads
    the region whole, so that is an Io error at once; ORIGINAL reads each
    entry's header, then its payload, and fails at the first read past it.
    """
    fixed = design is Design.FIXED
    strict = recovery is Recovery.STRICT
    short_read = WalError(ErrorKind.IO, REASON_SHORT_READ)
    if fixed and file_end is not None and file_end < region.size:
        return short_read
    found: list[ScannedRecord] = []
    cursor = 0
    previous: int | None = None
    while cursor + ENTRY_HEADER_SIZE <= region.size:
        if file_end is not None and cursor + ENTRY_HEADER_SIZE > file_end:
            return short_read  # the header's read passes the file's end
        entry = entry_at(region, cursor)
        if entry is None:
            break
        if file_end is not None and not (isinstance(entry, Invalid) and entry.end is None):
            end = entry.end if isinstance(entry, Invalid) else cursor + entry.size
            if end is not None and end > file_end:
                return short_read  # the payload's read passes it (after the length check)
        if isinstance(entry, Invalid):
            if not fixed or strict:
                return WalError(ErrorKind.WAL_CORRUPTION, entry.reason, cursor)
            if entry.end is not None and proven_durable(region, entry.end, previous, checkpoint_sequence):
                return WalError(ErrorKind.WAL_CORRUPTION, entry.reason, cursor)  # R7
            break  # R1: a torn tail ends the log
        if fixed and not continues_log(previous, entry.sequence, checkpoint_sequence):
            if strict or proven_durable(region, cursor + entry.size, previous, checkpoint_sequence):
                return WalError(ErrorKind.WAL_CORRUPTION, REASON_SEQUENCE_BREAK, cursor)  # R5, R7
            break  # R2: a leftover of an earlier pass
        found.append(ScannedRecord(cursor, entry))
        previous = entry.sequence
        cursor += entry.size
    return found, cursor


def _pending_bytes(found: list[ScannedRecord], checkpoint_sequence: int) -> int:
    return sum(s.total_size for s in found if s.record.sequence > checkpoint_sequence)


# ---------------------------------------------------------------------------
# Validity: the structural part of S7 as one plain predicate, for contracts
# ---------------------------------------------------------------------------


def valid(state: State) -> bool:
    """I1, I5, I7, I10, I12 and the shape of the write head per design, without
    a scan (the scan-based invariants are model/invariants.py). Contracts use
    this predicate in pre- and postconditions; a class invariant would let
    CrossHair skip the paths that break it."""
    header = state.disk.header
    if header.wal_size <= 0 or state.disk.region.size != header.wal_size:
        return False
    wal = state.wal
    if wal is None:
        return True
    size = wal.region_size
    if size != header.wal_size or not 0 <= wal.pending_bytes <= size:
        return False
    if state.design is Design.FIXED:
        heads_ok = wal.pending_bytes <= wal.write_head <= size
        sequences_ok = 0 <= wal.checkpoint_sequence <= wal.sequence <= SEQUENCE_MAX
    else:
        heads_ok = 0 <= wal.write_head < size
        sequences_ok = 0 <= wal.sequence <= SEQUENCE_MAX and 0 <= wal.checkpoint_sequence <= SEQUENCE_MAX
    return (
        heads_ok
        and sequences_ok
        and 0 <= wal.checkpoint_head < size
        and 0 <= wal.appends_since_checkpoint <= U64_MAX
    )


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def open_wal(
    state: State, read_only: bool = False, recovery: Recovery = Recovery.TOLERATE_TORN_TAIL
) -> Outcome[None]:
    """S3.2 open / S3.3 open_read_only: the caller reads the header from disk,
    then the WAL scans the region and (writable only) writes a sentinel."""
    assert state.wal is None, "open on an open WAL"
    header = state.disk.header
    if header.wal_size == 0:
        return state, WalError(ErrorKind.INVALID_HEADER, REASON_WAL_SIZE_ZERO)
    checkpoint_sequence = header.wal_sequence
    scanned = scan(state.disk.region, state.design, checkpoint_sequence, recovery, state.disk.file_end)
    if isinstance(scanned, WalError):
        return state, scanned
    found, next_head = scanned
    size = header.wal_size
    sequence = found[-1].record.sequence if found else checkpoint_sequence
    if state.design is Design.FIXED and sequence < checkpoint_sequence:
        # R4: a crash kept the header and lost records it covers. Everything
        # left is checkpointed: the log restarts at position 0 and the
        # sequence continues from the checkpoint.
        sequence, next_head = checkpoint_sequence, 0
    write_head = next_head % size
    if state.design is Design.FIXED:
        # DIVERGENCE D1: the write head may rest at the region's end; the next
        # append then wraps instead of landing on the live log's first record.
        write_head = next_head
    wal = Volatile(
        region_size=size,
        write_head=write_head,
        checkpoint_head=header.wal_checkpoint_pos % size,
        pending_bytes=_pending_bytes(found, checkpoint_sequence),
        sequence=sequence,
        checkpoint_sequence=checkpoint_sequence,
        appends_since_checkpoint=0,
        read_only=read_only,
        skip_sync=False,
        recovery=recovery,
    )
    state = replace(state, wal=wal, caller_header=header)
    if read_only:
        return state, None
    if state.design is Design.FIXED:
        return _erase_after_log(state), None
    return _maybe_write_sentinel(state), None


def close_wal(state: State) -> State:
    """S3.12: dropping the WAL object. Nothing is written."""
    return replace(state, wal=None)


def append_entry(state: State, payload: bytes) -> Outcome[int]:
    """S3.4: append one record and return its sequence.

    pre: state.wal is not None and valid(state)
    post: valid(__return__[0])
    post: not isinstance(__return__[1], WalError) or __return__[0] == state
    post: isinstance(__return__[1], WalError) or __return__[0].wal.pending_bytes == state.wal.pending_bytes + 48 + len(payload)
    post: state.design is Design.ORIGINAL or isinstance(__return__[1], WalError) or __return__[1] == state.wal.sequence + 1
    """
    wal = _open(state)
    if wal.read_only:
        return state, WalError(ErrorKind.LOCK, REASON_READ_ONLY)
    if len(payload) > PAYLOAD_LEN_MAX:
        return state, WalError(ErrorKind.CHECKPOINT_FAILED, REASON_PAYLOAD_TOO_LARGE)
    if state.design is Design.FIXED and not payload:
        return state, WalError(ErrorKind.CHECKPOINT_FAILED, REASON_PAYLOAD_EMPTY)  # DIVERGENCE D4
    if state.design is Design.FIXED and wal.sequence == SEQUENCE_MAX:
        # DIVERGENCE D2: the original wraps to sequence 0, a record no scan
        # ever counts as pending.
        return state, WalError(ErrorKind.CHECKPOINT_FAILED, REASON_SEQUENCE_EXHAUSTED)
    size_of_entry = entry_size(len(payload))
    # Steps 5, 6 and 7 of S3.4; DIVERGENCE D1 lives in model.placement.
    placed = place_entry(
        state.design is Design.FIXED, wal.write_head, wal.pending_bytes, wal.region_size, size_of_entry
    )
    if isinstance(placed, str):
        return state, WalError(ErrorKind.CHECKPOINT_FAILED, placed)
    position = placed
    sequence = (wal.sequence + 1) & U64_MAX
    fixed = state.design is Design.FIXED
    # DIVERGENCE D6: FIXED marks the record when everything before it is durable
    # (its position is the write head, or 0 after a wrap: at most the head).
    record = Record(sequence, bytes(payload), state.appends_total, fixed and wal.synced_below_head)
    entry = Extent(position, position + record.size, record, 0)
    write_head = (position + size_of_entry) % wal.region_size
    if state.design is Design.FIXED:
        write_head = position + size_of_entry  # DIVERGENCE D1
    wal = replace(
        wal,
        write_head=write_head,
        pending_bytes=wal.pending_bytes + size_of_entry,
        sequence=sequence,
        appends_since_checkpoint=min(wal.appends_since_checkpoint + 1, U64_MAX),
    )
    if state.design is Design.FIXED:
        # DIVERGENCE D5: the entry and the zeros after it go down in one write,
        # then one sync: the sentinel is durable when the append returns.
        zeros, write_head = sentinel_writes(True, wal.write_head, wal.pending_bytes, wal.region_size)
        pieces = (entry, *(Extent(start, start + length, None, 0) for start, length in zeros))
        disk = state.disk.written(*pieces)
        if not wal.skip_sync:
            disk = disk.synced()
        wal = replace(wal, write_head=write_head, synced_below_head=not wal.skip_sync)
        return replace(state, disk=disk, wal=wal, appends_total=state.appends_total + 1), sequence
    disk = state.disk.written(entry)
    if not wal.skip_sync:
        disk = disk.synced()  # S3.4: the original syncs the entry, then writes its sentinel
    state = replace(state, disk=disk, wal=wal, appends_total=state.appends_total + 1)
    return _maybe_write_sentinel(state), sequence


def should_checkpoint(state: State) -> bool:
    """S3.7.

    pre: state.wal is not None and valid(state)
    post: not (__return__ and state.wal.read_only)
    post: __return__ or state.wal.read_only or state.wal.appends_since_checkpoint < WAL_CHECKPOINT_PERIOD
    """
    wal = _open(state)
    # memvid also returns false for a region of size 0, which valid() rules out.
    if wal.read_only:
        return False
    occupancy = wal.pending_bytes / wal.region_size
    return occupancy >= WAL_CHECKPOINT_THRESHOLD or wal.appends_since_checkpoint >= WAL_CHECKPOINT_PERIOD


def record_checkpoint(state: State) -> Outcome[None]:
    """S3.5: mark everything appended so far as applied. Writes the checkpoint
    into the caller's header (not to disk: that is write_header, S3.6).

    pre: state.wal is not None and valid(state)
    post: valid(__return__[0])
    post: isinstance(__return__[1], WalError) or __return__[0].wal.pending_bytes == 0
    post: isinstance(__return__[1], WalError) or __return__[0].wal.checkpoint_sequence == state.wal.sequence
    post: isinstance(__return__[1], WalError) or __return__[0].caller_header.wal_sequence == state.wal.sequence
    """
    # tests/crosshair_targets/checkpoint_keeps_pending.py restates this body on purpose,
    # with a planted bug, for CrossHair's self-test.
    wal = _open(state)
    if wal.read_only:
        return state, WalError(ErrorKind.LOCK, REASON_READ_ONLY)
    checkpoint_head = wal.write_head % wal.region_size
    wal = replace(
        wal,
        checkpoint_head=checkpoint_head,
        pending_bytes=0,
        appends_since_checkpoint=0,
        checkpoint_sequence=wal.sequence,
    )
    caller_header = replace(
        state.caller_header, wal_checkpoint_pos=checkpoint_head, wal_sequence=wal.sequence
    )
    state = replace(state, wal=wal, caller_header=caller_header)
    return _maybe_write_sentinel(state), None


def write_header(state: State) -> State:
    """S3.6: the caller writes its in-memory header to the file and syncs
    (memvid's commit and growth both sync right after the header write)."""
    return replace(state, disk=replace(state.disk, header=state.caller_header).synced())


def flush(state: State) -> State:
    """S3.13: sync every write so far."""
    wal = state.wal
    if wal is not None and state.design is Design.FIXED:
        wal = replace(wal, synced_below_head=True)  # R7
    return replace(state, disk=state.disk.synced(), wal=wal)


def records_after(state: State, sequence: int) -> Outcome[list[Record]]:
    """S3.8: rescan the region, refresh the volatile fields from what the scan
    found, and return the records with a sequence above ``sequence``."""
    wal = _open(state)
    scanned = scan(
        state.disk.region, state.design, wal.checkpoint_sequence, wal.recovery, state.disk.file_end
    )
    if isinstance(scanned, WalError):
        return state, scanned
    found, next_head = scanned
    write_head = next_head % wal.region_size
    last_sequence = found[-1].record.sequence if found else wal.sequence
    if state.design is Design.FIXED:
        write_head = next_head  # DIVERGENCE D1
        if found and last_sequence < wal.checkpoint_sequence:  # R4, as in open
            last_sequence, write_head = wal.checkpoint_sequence, 0
    wal = replace(
        wal,
        sequence=last_sequence,
        pending_bytes=_pending_bytes(found, wal.checkpoint_sequence),
        write_head=write_head,
        # R7: a head moved, forward or back, has another writer's bytes below it
        # (one WAL alone keeps it in place, I6), synced or not.
        synced_below_head=wal.synced_below_head and write_head == wal.write_head,
    )
    state = replace(state, wal=wal)
    if not wal.read_only:
        state = _maybe_write_sentinel(state)
    return state, [s.record for s in found if s.record.sequence > sequence]


def pending_records(state: State) -> Outcome[list[Record]]:
    """S3.9: the records not yet covered by a checkpoint."""
    return records_after(state, _open(state).checkpoint_sequence)


def stats(state: State) -> Stats:
    """S3.10."""
    wal = _open(state)
    return Stats(wal.region_size, wal.pending_bytes, wal.appends_since_checkpoint, wal.sequence)


def set_skip_sync(state: State, skip: bool) -> State:
    """S3.13: no effect on the bytes; only on which writes are synced.

    pre: state.wal is not None and valid(state)
    post: valid(__return__) and __return__.disk == state.disk
    """
    return replace(state, wal=replace(_open(state), skip_sync=skip))


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------


def truncate_file(state: State, keep: int) -> State:
    """S3.2: the file cut at region position ``keep`` (below the region's size),
    between a close and an open, as damage or a short copy leaves it: the bytes
    after it are gone (they read as zeros here, and the file ends before them)."""
    assert state.wal is None, "truncate with the WAL open"
    size = state.disk.header.wal_size
    assert 0 <= keep < size
    region = state.disk.region.write_zeros(keep, size - keep)
    return replace(
        state, disk=replace(state.disk, region=region, durable_region=region, unsynced=(), file_end=keep)
    )


def _open(state: State) -> Volatile:
    assert state.wal is not None, "operation on a closed WAL"
    return state.wal


def _erase_after_log(state: State) -> State:
    """R8 (DIVERGENCE C5): FIXED's writable open zeroes what lies after the
    log, where the region is not zero already, and syncs; where it is, the
    sentinel alone (model.placement.fixed_open_writes). The sync leaves every
    byte below the write head durable, so the next append may say so (R7)."""
    wal = _open(state)
    after = b""
    if wal.write_head < wal.region_size:  # at the end: every byte is pending, nothing after
        after = state.disk.region.read(wal.write_head, wal.region_size - wal.write_head)
    stale_end = wal.write_head + len(after.rstrip(b"\0"))
    writes, sync = fixed_open_writes(wal.write_head, wal.pending_bytes, wal.region_size, stale_end)
    disk = state.disk
    for start, length in writes:
        disk = disk.written(Extent(start, start + length, None, 0))
    if not sync:
        return replace(state, disk=disk)
    return replace(state, disk=disk.synced(), wal=replace(wal, synced_below_head=True))


def _maybe_write_sentinel(state: State) -> State:
    """S3.14: zero bytes at the write head so that a scan stops there. Where
    they go is model.placement's decision (DIVERGENCE D1, D3)."""
    # Only a writable open and an append call this, on a region of one byte
    # or more (S3.2 refuses wal_size 0): memvid's guard for a read-only WAL
    # or an empty region has nothing to guard here.
    wal = _open(state)
    assert not wal.read_only
    writes, write_head = sentinel_writes(
        state.design is Design.FIXED, wal.write_head, wal.pending_bytes, wal.region_size
    )
    disk = state.disk
    outside = disk.bytes_written_outside_region
    for start, length in writes:
        # At least 1: every write starts inside the region and writes a byte
        # (the contract of model.placement.sentinel_writes, CrossHair-checked,
        # on the heads valid() allows).
        inside = min(length, wal.region_size - start)
        disk = disk.written(Extent(start, start + inside, None, 0))
        outside += length - inside
    disk = replace(disk, bytes_written_outside_region=outside)
    return replace(state, disk=disk, wal=replace(wal, write_head=write_head))
