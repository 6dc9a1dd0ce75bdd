"""The file-backed embedded WAL: memvid's ``EmbeddedWal`` in Python (spec/semantics.md S3).

Byte-compatible with memvid: the same entry format, the same writes in the same
order. ``Design.ORIGINAL`` reproduces ``embedded_wal.rs`` exactly, defects
included; ``Design.FIXED`` (the default) keeps the guarantees of spec S6. Each
place the two differ is marked ``DIVERGENCE Dn`` and catalogued in
spec/defects.md. All I/O goes through ``Storage``.

Its size (over 500 lines) is ``EmbeddedWal``'s: one class, as memvid's, with
its scan and recovery rules beside it; the header codec, storage and memvid's
create/commit/grow are modules of their own.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import NamedTuple

import blake3

from reference.errors import CheckpointFailed, InvalidHeader, LockError, WalCorruption, WalIoError
from reference.header import Header
from reference.storage import READ_CHUNK_SIZE, Storage

# F2.1: sequence u64 LE, length u32 LE, 4 reserved bytes, blake3-256 of the payload.
# The reference's own, deliberately, as its other constants: it may not import the model.
ENTRY_HEADER_SIZE = 8 + 4 + 4 + 32
_SEQUENCE_AND_LENGTH = struct.Struct("<QI")
_ENTRY_HEADER = struct.Struct("<QI4s32s")
SEQUENCE_MAX = 2**64 - 1
# memvid's appends_since_checkpoint is a u64 that saturates. Named after the
# sequence's bound, not written again: no run makes 2^64 appends since an
# open, so a second spelling of the number could change unseen.
APPENDS_MAX = SEQUENCE_MAX
PAYLOAD_LEN_MAX = 2**32 - 1
WAL_CHECKPOINT_THRESHOLD = 0.75
WAL_CHECKPOINT_PERIOD = 1000

REASON_WAL_SIZE_ZERO = "wal_size must be non-zero"
REASON_READ_ONLY = "wal is read-only; reopen memory with write access"
REASON_PAYLOAD_TOO_LARGE = "WAL payload too large"
REASON_TOO_SMALL = "embedded WAL region too small for entry"
REASON_FULL = "embedded WAL region full"
REASON_LENGTH_INVALID = "wal record length invalid"
REASON_CHECKSUM = "wal record checksum mismatch"
REASON_SEQUENCE_EXHAUSTED = "WAL sequence exhausted"  # DIVERGENCE D2
REASON_PAYLOAD_EMPTY = "WAL payload empty"  # DIVERGENCE D4
REASON_SHORT_READ = "failed to fill whole buffer"
# FIXED (spec/faults.md R6): after a failed write or sync nothing more is acknowledged.
REASON_STORAGE_FAILED = "an earlier write or sync of the WAL failed; reopen the WAL before writing again"
REASON_SEQUENCE_BREAK = "wal record sequence out of order"  # FIXED: strict recovery, and R7
# F2.1, DIVERGENCE D6 (spec/faults.md R7): FIXED's reserved bytes when every
# byte of the region before the record was durable as it was written. memvid
# writes zeros there and never reads them; any other value makes no claim.
SYNCED_BEFORE_MARK = b"SYNC"
_NO_MARK = bytes(4)
# A sentinel's bytes (S3.14), or a slice of them for a tail shorter than 48.
_SENTINEL = bytes(ENTRY_HEADER_SIZE)
# S1.4: the scan reads the region this much at a time (the storage's own read
# chunk, so each window is one pread of FileStorage).
SCAN_WINDOW_SIZE = READ_CHUNK_SIZE


class Design(enum.Enum):
    ORIGINAL = "original"
    FIXED = "fixed"


# Shaped like walcheck/sidebyside/simdisk.py's _WriteFault only (two frozen fields): memvid's record.
@dataclass(frozen=True, slots=True)
class WalRecord:
    sequence: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class WalStats:
    region_size: int
    pending_bytes: int
    appends_since_checkpoint: int
    sequence: int


# Alike model/region.py's Record on purpose: model and reference are written
# apart, so that comparing them means something.
@dataclass(frozen=True, slots=True)
class ScannedRecord:
    position: int
    sequence: int
    payload: bytes
    synced_before: bool = False

    @property
    def total_size(self) -> int:
        return ENTRY_HEADER_SIZE + len(self.payload)


def encode_entry(
    sequence: int, payload: bytes, synced_before: bool = False, *, hasher: blake3.blake3 | None = None
) -> bytes:
    """F2: the 48-byte header followed by the payload. The reserved bytes are
    zero, as memvid writes them, or FIXED's mark (D6). ``hasher``, if given,
    is reset and used for the checksum: an append reuses its WAL's, which
    costs less than making one (the hash is most of an append's own time)."""
    if hasher is None:
        digest = blake3.blake3(payload).digest()
    else:
        hasher.reset()
        hasher.update(payload)
        digest = hasher.digest()
    # One pack and one concatenation: this runs once per append.
    reserved = SYNCED_BEFORE_MARK if synced_before else _NO_MARK
    return _ENTRY_HEADER.pack(sequence, len(payload), reserved, digest) + payload


def place_entry(
    fixed: bool, write_head: int, pending_bytes: int, region_size: int, entry_size: int
) -> int | str:
    """S3.4 steps 5, 6, 7: the position for an entry of ``entry_size`` bytes, or
    the reason the append is refused.

    pre: 0 <= pending_bytes <= write_head <= region_size and entry_size >= ENTRY_HEADER_SIZE
    post: isinstance(__return__, str) or 0 <= __return__ <= __return__ + entry_size <= region_size
    post: not fixed or isinstance(__return__, str) or __return__ in (write_head, 0)
    post: not fixed or isinstance(__return__, str) or __return__ == write_head or pending_bytes == 0
    """
    if entry_size > region_size:
        return REASON_TOO_SMALL
    if fixed and region_size - ENTRY_HEADER_SIZE < entry_size < region_size:
        return REASON_TOO_SMALL  # DIVERGENCE D1: alone it would leave 1..47 bytes
    if pending_bytes + entry_size > region_size:
        return REASON_FULL
    end = write_head + entry_size
    fits = end <= region_size
    if fixed and fits:
        # DIVERGENCE D1: end where a sentinel fits after the entry, or exactly
        # at the region's end with every byte pending (no sentinel needed).
        fits = end <= region_size - ENTRY_HEADER_SIZE or pending_bytes + entry_size == region_size == end
    if fits:
        return write_head
    return REASON_FULL if pending_bytes > 0 else 0


def sentinel_writes(
    fixed: bool, write_head: int, pending_bytes: int, region_size: int
) -> tuple[tuple[tuple[int, int], ...], int]:
    """S3.14: the zero writes (position, length) that end the log, in the order
    memvid makes them, and the write head after them.

    pre: 0 <= pending_bytes <= write_head <= region_size
    post: all(0 <= start < region_size for start, _ in __return__[0])
    post: not fixed or all(write_head <= start and start + length <= region_size for start, length in __return__[0])
    """
    if pending_bytes >= region_size:
        return (), write_head
    remaining = region_size - write_head
    if remaining >= ENTRY_HEADER_SIZE:
        return ((write_head, ENTRY_HEADER_SIZE),), write_head
    tail = ((write_head, remaining),) if remaining > 0 else ()
    if fixed:
        return tail, write_head  # DIVERGENCE D1, D3: never a sentinel at position 0
    # The original writes a whole header at 0, even past a region under 48 bytes.
    return (*tail, (0, ENTRY_HEADER_SIZE)), 0


class Recovery(enum.Enum):
    """What a FIXED scan does with an invalid record (spec/faults.md R5)."""

    TOLERATE_TORN_TAIL = "tolerate-torn-tail"
    STRICT = "strict"


def continues_log(previous: int | None, sequence: int, checkpoint_sequence: int) -> bool:
    """spec/faults.md R2, R3 (FIXED): may a record with ``sequence`` follow
    ``previous`` (None: the first record)? Otherwise it is a leftover of an
    earlier pass whose sentinel a crash took away, and the log ended before it."""
    if sequence == 0:
        return False
    if previous is None:
        return sequence <= checkpoint_sequence + 1
    return sequence == previous + 1


@dataclass(frozen=True, slots=True)
class _Invalid:
    """An entry the scan rejects: why, and its end when its length is in range."""

    reason: str
    end: int | None


def _entry_at(
    view: memoryview, cursor: int, region_size: int | None = None
) -> ScannedRecord | _Invalid | None:
    """F3.4: the record, the invalid entry, or the sentinel (None) at ``cursor``.

    ``view`` may be shorter than ``region_size`` (ORIGINAL only, S3.2: a file
    shorter than its region): memvid reads the header, then the payload, and
    fails with an I/O error at the first read that passes the file's end."""
    size = len(view) if region_size is None else region_size
    if cursor + ENTRY_HEADER_SIZE > len(view):
        raise WalIoError(REASON_SHORT_READ)
    sequence, length = _SEQUENCE_AND_LENGTH.unpack_from(view, cursor)
    if sequence == 0 and length == 0:
        return None
    start = cursor + ENTRY_HEADER_SIZE
    if length == 0 or start + length > size:
        return _Invalid(REASON_LENGTH_INVALID, None)
    if start + length > len(view):
        raise WalIoError(REASON_SHORT_READ)
    payload = bytes(view[start : start + length])
    if blake3.blake3(payload).digest() != view[cursor + 16 : start]:
        return _Invalid(REASON_CHECKSUM, start + length)
    return ScannedRecord(cursor, sequence, payload, view[cursor + 12 : cursor + 16] == SYNCED_BEFORE_MARK)


def _proven_durable(view: memoryview, position: int, previous: int | None, checkpoint_sequence: int) -> bool:
    """spec/faults.md R7: the broken entry ending at ``position`` takes the
    sequence after ``previous`` (as the region's first entry, at most
    ``checkpoint_sequence + 1``). It was durable, not torn, if the records
    after it continue that sequence, each intact, up to a pending one that
    carries the mark: every byte before that one was durable when it was
    written."""
    # The same lines as model/wal.py's proof, on purpose: model and reference are
    # written apart from the spec, so that comparing them means something.
    expected = None if previous is None else previous + 2
    while position + ENTRY_HEADER_SIZE <= len(view):
        entry = _entry_at(view, position)
        if not isinstance(entry, ScannedRecord):
            return False
        if expected is None:
            if not 2 <= entry.sequence <= checkpoint_sequence + 2:
                return False
        elif entry.sequence != expected:
            return False
        if entry.synced_before and entry.sequence > checkpoint_sequence:
            return True
        expected = entry.sequence + 1
        position += entry.total_size
    return False


class Walk(NamedTuple):
    """What a scan found, without the records themselves: the last record's
    sequence (None: no record), S2.2's pending bytes, and where the walk stopped."""

    last_sequence: int | None
    pending_bytes: int
    end: int


_WALK_FROM_THE_START = Walk(None, 0, 0)


def scan_region(
    region: bytes,
    design: Design = Design.ORIGINAL,
    checkpoint_sequence: int = 0,
    recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
    region_size: int | None = None,
) -> tuple[list[ScannedRecord], int]:
    """S2.1: walk the region bytes from 0 to the sentinel, the end, or an invalid
    record. Returns the records and where the walk stopped.

    ORIGINAL raises WalCorruption on an invalid record. FIXED (spec/faults.md)
    ends the log at a torn tail (R1) or at a record that does not continue the
    log (R2), and raises for either in STRICT recovery (R5), or when the
    records after it prove it was durable before they were written (R7).

    ``region`` may be shorter than ``region_size`` (the bytes a short file
    holds, ORIGINAL, S3.2): the walk is the same, and a read past the bytes
    there are raises WalIoError "failed to fill whole buffer"."""
    found, walk = walk_region(region, design, checkpoint_sequence, recovery, region_size)
    return found, walk.end


def walk_region(
    region: bytes,
    design: Design = Design.ORIGINAL,
    checkpoint_sequence: int = 0,
    recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
    region_size: int | None = None,
) -> tuple[list[ScannedRecord], Walk]:
    """scan_region's walk with all it finds: the records, and the last
    sequence and pending bytes an open takes from it (S2.2) with the end:
    the fast walk over the region's first records (S1.4), then the general
    walk from the first entry it did not take."""
    found: list[ScannedRecord] = []
    data = region if type(region) is bytes else bytes(region)
    size = len(data) if region_size is None else region_size
    taken, previous, pending = _take_records(
        data, 0, min(size, len(data)), design is Design.FIXED, checkpoint_sequence, None, 0, found
    )
    walk = _walk_region(
        data, design, checkpoint_sequence, recovery, size, found, Walk(previous, pending, taken)
    )
    return found, walk


def general_walk(
    region: bytes,
    design: Design = Design.ORIGINAL,
    checkpoint_sequence: int = 0,
    recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
    region_size: int | None = None,
) -> tuple[list[ScannedRecord], Walk]:
    """walk_region's answer from the general walk alone, entry by entry from
    the region's start. In a scan the general walk only ever decides where
    the log ends (the fast walk takes every record it can), so the machines
    compare this with walk_region on every region they read (S1.4: the fast
    walk only ever takes what the general walk would); two functions rather
    than a flag, since a flag that picked the walk could change unseen."""
    found: list[ScannedRecord] = []
    walk = _walk_region(
        region, design, checkpoint_sequence, recovery, region_size, found, _WALK_FROM_THE_START
    )
    return found, walk


def _walk_region(
    region: bytes,
    design: Design,
    checkpoint_sequence: int,
    recovery: Recovery,
    region_size: int | None,
    found: list[ScannedRecord] | None,
    start: Walk,
) -> Walk:
    """The general walk from ``start`` (where a walk of the region's first
    bytes left off: its last sequence, pending bytes and cursor); the records
    go into ``found`` unless it is None (an open needs only the last sequence,
    the pending bytes and the end)."""
    fixed = design is Design.FIXED
    strict = recovery is Recovery.STRICT
    data = region if type(region) is bytes else bytes(region)
    size = len(data) if region_size is None else region_size
    previous, pending, cursor = start
    # The general walk, the spec's, entry by entry (F3.4, faults.md).
    view = memoryview(data)
    while cursor + ENTRY_HEADER_SIZE <= size:
        entry = _entry_at(view, cursor, size)
        if entry is None:
            break
        if isinstance(entry, _Invalid):
            if not fixed or strict:
                raise WalCorruption(cursor, entry.reason)
            if entry.end is not None and _proven_durable(view, entry.end, previous, checkpoint_sequence):
                raise WalCorruption(cursor, entry.reason)  # R7: damage, not a torn tail
            break  # R1: a torn tail ends the log
        if fixed and not continues_log(previous, entry.sequence, checkpoint_sequence):
            end = cursor + entry.total_size
            if strict or _proven_durable(view, end, previous, checkpoint_sequence):
                raise WalCorruption(cursor, REASON_SEQUENCE_BREAK)  # R5, R7
            break  # R2
        if entry.sequence > checkpoint_sequence:
            pending += entry.total_size
        if found is not None:
            found.append(entry)
        previous = entry.sequence
        cursor = entry.position + entry.total_size
    return Walk(previous, pending, cursor)


def _take_records(
    data: bytes,
    base: int,
    limit: int,
    fixed: bool,
    checkpoint_sequence: int,
    previous: int | None,
    pending: int,
    found: list[ScannedRecord] | None,
) -> tuple[int, int | None, int]:
    """The fast walk (spec/semantics.md S1.4) over ``data``, the region's
    bytes from position ``base``, up to ``limit`` bytes into it: it takes the
    records the general walk of _walk_region takes, in the common case, a
    valid record within ``limit`` that continues the log, and stops at the
    first entry that is anything else (a sentinel, an invalid entry, one cut
    by ``limit``, a record that does not continue the log), so the general
    walk, resumed there, decides everything else and the two cannot differ.
    Returns the cursor it stopped at (in ``data``), the last sequence and the
    pending bytes so far.

    Shaped for speed, since an open of a 64 MiB region runs this body 62,000
    times: names bound to locals, no object made per record unless ``found``
    wants it, the checksum compared in place (bytes.startswith, no slice),
    one hasher reset and reused rather than one built per record."""
    unpack = _SEQUENCE_AND_LENGTH.unpack_from
    starts_with = data.startswith
    hasher = blake3.blake3()
    reset, update, digest = hasher.reset, hasher.update, hasher.digest
    first_limit = checkpoint_sequence + 1
    cursor = 0
    while cursor + ENTRY_HEADER_SIZE <= limit:
        sequence, length = unpack(data, cursor)
        start = cursor + ENTRY_HEADER_SIZE
        end = start + length
        if length == 0 or end > limit:
            break  # a sentinel (0, 0), a zero length, or an entry cut by the limit
        if fixed and (sequence != previous + 1 if previous is not None else not 0 < sequence <= first_limit):
            break  # continues_log is false (R2, R3)
        payload = data[start:end]
        reset()
        update(payload)
        if not starts_with(digest(), start - 32):
            break  # a checksum mismatch
        if sequence > checkpoint_sequence:
            pending += ENTRY_HEADER_SIZE + length
        if found is not None:
            marked = starts_with(SYNCED_BEFORE_MARK, cursor + 12)
            found.append(ScannedRecord(base + cursor, sequence, payload, marked))
        previous = sequence
        cursor = end
    return cursor, previous, pending


def _after_window(
    window: bytes, taken: int, position: int, wanted: int, size: int, window_size: int
) -> int | None:
    """Where the fast walk stopped in a window of ``wanted`` bytes, at
    ``taken`` in it (``position`` in the region), what the scan does next: 0,
    the walk ends there (too few bytes left in the region for an entry, or the
    sentinel, as in the general walk); a length, the entry there is cut by the
    window's end, so read a window that long (``window_size``, or the entry
    if longer) from there; None, anything else, for the general walk."""
    if position + ENTRY_HEADER_SIZE > size:
        return 0  # the region's end
    # A whole window (a short one is the file's end: reading again gets no
    # more): the entry at ``taken`` may be cut by it. Tests that would add
    # nothing are left out: that the window ends before the region does (one
    # that reaches the region's end cuts nothing the two tests below see, as
    # the header of an entry there fits, the test above, and the entry ends
    # inside the region, entry_end <= size), and that the length is not zero
    # (an entry of length 0 whose header fits is not cut).
    if len(window) == wanted:
        if taken + ENTRY_HEADER_SIZE > len(window):
            return min(max(window_size, ENTRY_HEADER_SIZE), size - position)
        length: int = _SEQUENCE_AND_LENGTH.unpack_from(window, taken)[1]
        entry_end = position + ENTRY_HEADER_SIZE + length
        if taken + ENTRY_HEADER_SIZE + length > len(window) and entry_end <= size:
            return min(max(window_size, entry_end - position), size - position)
    if taken + ENTRY_HEADER_SIZE <= len(window) and _SEQUENCE_AND_LENGTH.unpack_from(window, taken) == (0, 0):
        return 0  # the sentinel
    return None


class EmbeddedWal:
    """memvid's embedded WAL over one region of a storage. Use ``open`` or
    ``open_read_only``; the constructor does not scan."""

    def __init__(
        self,
        storage: Storage,
        region_offset: int,
        region_size: int,
        checkpoint_head: int,
        checkpoint_sequence: int,
        *,
        read_only: bool,
        design: Design,
        recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
        scan_window: int = SCAN_WINDOW_SIZE,
    ) -> None:
        self._storage = storage
        self._region_offset = region_offset
        self._region_size = region_size
        self._write_head = self._pending_bytes = 0  # both set by the open's scan, before any read
        self._checkpoint_head = checkpoint_head
        self._sequence = checkpoint_sequence
        self._checkpoint_sequence = checkpoint_sequence
        self._appends_since_checkpoint = 0
        self._read_only = read_only
        self._skip_sync = False
        self._design = design
        self._recovery = recovery
        # S1.4: how much of the region each of the scan's reads asks for. A
        # tuning knob of the reference only, which no result depends on.
        self._scan_window = scan_window
        # FIXED: set by a failed write or sync (R6); only a reopen clears it.
        self._storage_failed = False
        # The appends' checksums, one hasher reset for each (encode_entry).
        self._hasher = blake3.blake3()
        # FIXED (spec/faults.md R7): no write below the write head since this
        # WAL's last sync. Unknown, so False, at open: a killed writer may have
        # left unsynced writes anywhere.
        self._synced_below_head = False

    # -- S3.2, S3.3 ---------------------------------------------------------

    @classmethod
    def open(
        cls,
        storage: Storage,
        header: Header,
        *,
        design: Design = Design.FIXED,
        recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
        scan_window: int = SCAN_WINDOW_SIZE,
    ) -> EmbeddedWal:
        return cls._open(
            storage, header, read_only=False, design=design, recovery=recovery, scan_window=scan_window
        )

    # open and open_read_only: memvid's two constructors, alike on purpose (its API).
    @classmethod
    def open_read_only(
        cls,
        storage: Storage,
        header: Header,
        *,
        design: Design = Design.FIXED,
        recovery: Recovery = Recovery.TOLERATE_TORN_TAIL,
        scan_window: int = SCAN_WINDOW_SIZE,
    ) -> EmbeddedWal:
        return cls._open(
            storage, header, read_only=True, design=design, recovery=recovery, scan_window=scan_window
        )

    @classmethod
    def _open(
        cls,
        storage: Storage,
        header: Header,
        *,
        read_only: bool,
        design: Design,
        recovery: Recovery,
        scan_window: int,
    ) -> EmbeddedWal:
        if header.wal_size == 0:
            raise InvalidHeader(REASON_WAL_SIZE_ZERO)
        wal = cls(
            storage,
            header.wal_offset,
            header.wal_size,
            header.wal_checkpoint_pos % header.wal_size,
            header.wal_sequence,
            read_only=read_only,
            design=design,
            recovery=recovery,
            scan_window=scan_window,
        )
        # The open needs no record, only what they add up to.
        walk = wal._walk(None)
        next_head = walk.end
        wal._pending_bytes = walk.pending_bytes
        wal._sequence = header.wal_sequence if walk.last_sequence is None else walk.last_sequence
        if design is Design.FIXED and wal._sequence < header.wal_sequence:
            # spec/faults.md R4: the header outlived records it covers; what is
            # left is checkpointed, so the log restarts at position 0.
            wal._sequence, next_head = header.wal_sequence, 0
        wal._write_head = wal._head_after_scan(next_head)
        if read_only:
            return wal
        if design is Design.FIXED:
            wal._erase_after_log()
        else:
            wal._maybe_write_sentinel()
        return wal

    # -- S3.4 ---------------------------------------------------------------

    def append_entry(self, payload: bytes) -> int:
        self._assert_writable()
        self._assert_storage_healthy()
        if len(payload) > PAYLOAD_LEN_MAX:
            raise CheckpointFailed(REASON_PAYLOAD_TOO_LARGE)
        # S3.4: the payload is copied (frozen against a caller's later changes)
        # only once the append is placed, so that a refusal never copies it:
        # a payload of gigabytes sent to a small region is refused at once.
        if self._design is Design.ORIGINAL:
            return self._append_original(payload)
        if not payload:
            raise CheckpointFailed(REASON_PAYLOAD_EMPTY)  # DIVERGENCE D4
        sequence = self._sequence
        if sequence == SEQUENCE_MAX:
            raise CheckpointFailed(REASON_SEQUENCE_EXHAUSTED)  # DIVERGENCE D2
        sequence += 1
        entry_size = ENTRY_HEADER_SIZE + len(payload)
        region_size = self._region_size
        pending = self._pending_bytes
        placed = self._write_head
        end = placed + entry_size
        if end <= region_size - ENTRY_HEADER_SIZE:
            # The common case, decided in one comparison rather than two calls
            # (a batch makes this call 62,000 times): the entry fits at the
            # write head with a whole sentinel after it, so place_entry gives
            # the write head and sentinel_writes one 48-byte write at ``end``
            # (tests/test_fast_paths.py checks the two agree). The pending
            # bytes need no test of their own: they end at the write head
            # (valid_heads, I11's integer form), so with the entry they come
            # to at most ``end``, short of the region's size.
            sentinel = _SENTINEL
        else:
            where = place_entry(True, placed, pending, region_size, entry_size)
            if isinstance(where, str):
                raise CheckpointFailed(where)
            placed, end = where, where + entry_size
            # FIXED's sentinel (S3.14, D1): place_entry leaves room for a whole
            # one after the entry, or none at all (the entry ends at the
            # region's end with every byte pending), never 1..47 bytes.
            sentinel = _SENTINEL if end < region_size else b""
        self._write_head = placed
        # DIVERGENCE D6: FIXED marks the record when every byte before it is
        # durable (it goes at the write head, or at 0 after a wrap).
        entry = encode_entry(sequence, bytes(payload), self._synced_below_head, hasher=self._hasher)
        # DIVERGENCE D5: the entry and the zeros after it (its sentinel) in
        # one write, then one sync: the sentinel is durable when the append
        # returns, and it is one system call fewer.
        self._synced_below_head = False
        try:
            # _write's body without its checks, made above, or its modulo:
            # ``placed`` is inside the region.
            self._storage.write_at(self._region_offset + placed, entry + sentinel)
        except OSError as error:
            raise self._storage_error(error) from error
        if not self._skip_sync:
            self._sync()
        self._write_head = end  # DIVERGENCE D1: may rest at the region end
        self._pending_bytes = pending + entry_size
        self._sequence = sequence
        self._appends_since_checkpoint = min(self._appends_since_checkpoint + 1, APPENDS_MAX)
        return sequence

    def _append_original(self, payload: bytes) -> int:
        """memvid's append_entry after its length check (S3.4)."""
        entry_size = ENTRY_HEADER_SIZE + len(payload)
        placed = place_entry(False, self._write_head, self._pending_bytes, self._region_size, entry_size)
        if isinstance(placed, str):
            raise CheckpointFailed(placed)
        self._write_head = placed
        next_sequence = (self._sequence + 1) & SEQUENCE_MAX
        self._write(placed, encode_entry(next_sequence, bytes(payload), hasher=self._hasher))
        if not self._skip_sync:
            self._sync()
        self._write_head = (placed + entry_size) % self._region_size
        self._pending_bytes += entry_size
        self._sequence = next_sequence
        self._appends_since_checkpoint = min(self._appends_since_checkpoint + 1, APPENDS_MAX)
        self._maybe_write_sentinel()
        return self._sequence

    # -- S3.7 ---------------------------------------------------------------

    def should_checkpoint(self) -> bool:
        # memvid also returns false for a region of size 0; no WAL here has one:
        # the open refuses it (S3.2), and that is the only way to a WAL.
        if self._read_only:
            return False
        occupancy = self._pending_bytes / self._region_size
        return (
            occupancy >= WAL_CHECKPOINT_THRESHOLD or self._appends_since_checkpoint >= WAL_CHECKPOINT_PERIOD
        )

    # -- S3.5 ---------------------------------------------------------------

    def record_checkpoint(self, header: Header) -> None:
        """Mark everything appended as applied and write the checkpoint into
        ``header`` (the caller then writes the header to the file and syncs)."""
        self._assert_writable()
        self._assert_storage_healthy()
        self._checkpoint_head = self._write_head % self._region_size
        self._pending_bytes = 0
        self._appends_since_checkpoint = 0
        self._checkpoint_sequence = self._sequence
        header.wal_checkpoint_pos = self._checkpoint_head
        header.wal_sequence = self._checkpoint_sequence
        self._maybe_write_sentinel()

    # -- S3.8, S3.9 ---------------------------------------------------------

    def pending_records(self) -> list[WalRecord]:
        return self.records_after(self._checkpoint_sequence)

    def records_after(self, sequence: int) -> list[WalRecord]:
        found: list[ScannedRecord] = []
        walk = self._walk(found)
        next_head = walk.end
        if found:
            self._sequence = found[-1].sequence
            if self._design is Design.FIXED and self._sequence < self._checkpoint_sequence:
                self._sequence, next_head = self._checkpoint_sequence, 0  # R4, as in open
        self._pending_bytes = walk.pending_bytes
        head = self._head_after_scan(next_head)
        if head != self._write_head:
            # R7: the head moved, so another writer wrote below it (one WAL alone keeps
            # it in place, I6), forward past its records or back over its wrap.
            self._synced_below_head = False
        self._write_head = head
        if not self._read_only:
            self._maybe_write_sentinel()
        return [WalRecord(r.sequence, r.payload) for r in found if r.sequence > sequence]

    # -- S3.10, S3.13 -------------------------------------------------------

    def stats(self) -> WalStats:
        return WalStats(
            region_size=self._region_size,
            pending_bytes=self._pending_bytes,
            appends_since_checkpoint=self._appends_since_checkpoint,
            sequence=self._sequence,
        )

    def set_skip_sync(self, skip: bool) -> None:
        self._skip_sync = skip

    def flush(self) -> None:
        self._assert_storage_healthy()
        self._sync()

    # -- Introspection (the Rust fields are private; tests and tools read them) --

    @property
    def region_offset(self) -> int:
        return self._region_offset

    @property
    def region_size(self) -> int:
        return self._region_size

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def design(self) -> Design:
        return self._design

    @property
    def recovery(self) -> Recovery:
        return self._recovery

    @property
    def write_head(self) -> int:
        return self._write_head

    @property
    def checkpoint_head(self) -> int:
        return self._checkpoint_head

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def sequence(self) -> int:
        return self._sequence

    @property
    def checkpoint_sequence(self) -> int:
        return self._checkpoint_sequence

    @property
    def appends_since_checkpoint(self) -> int:
        return self._appends_since_checkpoint

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def skip_sync(self) -> bool:
        return self._skip_sync

    # -- Internals ------------------------------------------------------------

    def _assert_writable(self) -> None:
        if self._read_only:
            raise LockError(REASON_READ_ONLY)

    def _assert_storage_healthy(self) -> None:
        """R6 (FIXED): after a failed write or sync the kernel may have dropped
        the dirty pages, so a later sync that succeeds proves nothing about
        them (PostgreSQL's fsyncgate). Acknowledge nothing until a reopen
        rescans what is really there. The original carries on."""
        if self._storage_failed:
            raise WalIoError(REASON_STORAGE_FAILED)

    def _storage_error(self, error: OSError) -> WalIoError:
        self._synced_below_head = False  # R6, R7: what reached the media is unknown
        if self._design is Design.FIXED:
            self._storage_failed = True
        return WalIoError(str(error))

    def _head_after_scan(self, next_head: int) -> int:
        if self._design is Design.FIXED:
            return next_head  # DIVERGENCE D1
        return next_head % self._region_size

    def _walk(self, found: list[ScannedRecord] | None) -> Walk:
        """S2.1 and S2.2 over this WAL's region: the records into ``found``
        (unless None), the last sequence, the pending bytes, the scan's end.

        The region is read a window at a time (S1.4) and the fast walk takes
        the records of each as it arrives: a window's memory is reused for
        the next one, where one read of the whole region would page-fault
        fresh memory for every byte of it (64 MiB: as long as the hashing).
        An entry cut by a window's end starts the next window. At anything
        but a record or the sentinel the region is read whole and the general
        walk of _walk_region decides from there, as it always has."""
        fixed = self._design is Design.FIXED
        size = self._region_size
        if fixed and self._file_size() < self._region_offset + size:
            # S3.2: FIXED refuses a file shorter than its region at once. memvid
            # reads record by record and fails only at a read past the file's
            # end (read_exact), so ORIGINAL scans what there is and stops there.
            raise WalIoError(REASON_SHORT_READ)
        previous: int | None = None
        pending = base = 0
        window_size = self._scan_window
        wanted = min(window_size, size)
        while True:
            # No window passes the region's end (each asks for at most
            # ``size - base`` bytes), so the fast walk may use all of it.
            window = self._read(base, wanted)
            taken, previous, pending = _take_records(
                window,
                base,
                len(window),
                fixed,
                self._checkpoint_sequence,
                previous,
                pending,
                found,
            )
            position = base + taken
            after = _after_window(window, taken, position, wanted, size, window_size)
            if after is None:
                break
            if not after:  # 0: the walk ends here
                return Walk(previous, pending, position)
            base, wanted = position, after
        # Anything else (an invalid entry, a record that does not continue the
        # log, a short file): the general walk over the whole region.
        region = self._read(0, size)
        return _walk_region(
            region,
            self._design,
            self._checkpoint_sequence,
            self._recovery,
            size,
            found,
            Walk(previous, pending, position),
        )

    def _file_size(self) -> int:
        try:
            return self._storage.size()
        except OSError as error:
            raise WalIoError(str(error)) from error

    def _read(self, position: int, length: int) -> bytes:
        """Up to ``length`` bytes of the region from ``position``: fewer only
        where the file ends (``Storage.read_at``). A short file is the scan's
        to answer: FIXED has refused one before its first read (S3.2), and
        ORIGINAL's walk fails at the first entry read past the bytes there,
        as memvid's read_exact does."""
        try:
            return self._storage.read_at(self._region_offset + position, length)
        except OSError as error:
            raise WalIoError(str(error)) from error

    def _write(self, position: int, data: bytes) -> None:
        """memvid's seek_and_write: ``position`` is taken modulo the region size,
        and ``data`` is written whole even where it runs past the region (D3)."""
        self._assert_writable()
        absolute = self._region_offset + position % self._region_size
        try:
            self._storage.write_at(absolute, data)
        except OSError as error:
            raise self._storage_error(error) from error

    def _sync(self) -> None:
        try:
            self._storage.sync()
        except OSError as error:
            raise self._storage_error(error) from error
        # R7: everything written so far is durable (FIXED only writes the mark).
        self._synced_below_head = self._design is Design.FIXED

    def _erase_after_log(self) -> None:
        """R8 (DIVERGENCE C5): a writable open zeroes what lies after the log
        and syncs, before any append. A crash can leave records after the
        recovered log's end that recovery did not return; the next appends
        issue their sequences again, and a later crash that keeps a new
        entry and loses the sentinel after it would let the scan take the
        old record there as the new log's continuation. Where every byte
        after the write head is zero already, the sentinel alone, unsynced,
        as memvid's open writes it (S3.14). Read a window at a time, as the
        scan reads (S1.4)."""
        head, size = self._write_head, self._region_size
        stale_end = position = head
        while position < size:
            window = self._read(position, min(self._scan_window, size - position))
            if not window:
                raise WalIoError(REASON_SHORT_READ)  # FIXED refused a short file before its scan
            kept = len(window.rstrip(b"\0"))
            if kept:
                stale_end = position + kept
            position += len(window)
        if stale_end == head:
            self._maybe_write_sentinel()
            return
        # One write from the head over the sentinel's 48 bytes (or the tail,
        # when fewer remain) and the last non-zero byte, then one sync.
        end = max(stale_end, min(head + ENTRY_HEADER_SIZE, size))
        self._write(head, bytes(end - head))
        self._sync()

    def _maybe_write_sentinel(self) -> None:
        """S3.14: zero bytes at the write head end the log for the next scan.

        memvid's version first returns for a read-only WAL or an empty
        region; here every caller is a writable open or a write (each checks
        ``read_only`` first, and ``_write`` refuses a read-only WAL anyway),
        and no WAL has an empty region (S3.2 refuses ``wal_size`` 0), so the
        guard is left out rather than kept where nothing can reach it."""
        writes, self._write_head = sentinel_writes(
            self._design is Design.FIXED, self._write_head, self._pending_bytes, self._region_size
        )
        for position, length in writes:
            self._write(position, bytes(length))
