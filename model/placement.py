"""Where an append puts its entry and where the sentinel goes (spec S3.4 steps
5, 6 and 7; S3.14).

Pure integer arithmetic: the part of the WAL where D1 and D3 live, small
enough for CrossHair to check symbolically. The contracts are PEP 316
docstrings; ``valid_heads`` is the plain predicate that carries I5, I7 and
the integer form of I11 (class invariants would hide bugs from CrossHair, so there are none). The
FIXED functions promise the guarantees; the ORIGINAL ones promise only what
memvid's code keeps. tests/crosshair_targets/ holds the broken copies that
prove CrossHair finds what these contracts forbid. The reference has its own
``place_entry`` and ``sentinel_writes``, compared with these by
``crosshair diffbehavior``.
"""

from __future__ import annotations

# Deliberately this module's own (model.format's is the same 48 bytes, F2.1):
# placement imports nothing, so that CrossHair analyses it alone.
ENTRY_HEADER_SIZE = 8 + 4 + 4 + 32
REASON_TOO_SMALL = "embedded WAL region too small for entry"
REASON_FULL = "embedded WAL region full"

# A zero write: (position, length) in the region; may run past its end (D3).
ZeroWrite = tuple[int, int]


def valid_heads(write_head: int, pending_bytes: int, region_size: int) -> bool:
    """I5, I7, I11 as one predicate: the pending entries are the last
    ``pending_bytes`` before the write head, all inside the region."""
    return region_size > 0 and 0 <= pending_bytes <= write_head <= region_size


def writes_inside(writes: tuple[ZeroWrite, ...], region_size: int) -> bool:
    """G6 for a set of writes: every byte inside ``[0, region_size)``."""
    return all(start >= 0 and start + length <= region_size for start, length in writes)


def writes_spare_pending(writes: tuple[ZeroWrite, ...], write_head: int, pending_bytes: int) -> bool:
    """G1 for a set of writes: none touches the pending entries, which are the
    ``pending_bytes`` before the write head."""
    first_pending = write_head - pending_bytes
    return pending_bytes == 0 or all(
        start + length <= first_pending or start >= write_head for start, length in writes
    )


def safe_end(end: int, pending_after: int, region_size: int) -> bool:
    """G7 for one entry: it ends where memvid's open cannot wrap its sentinel."""
    return 0 <= end <= region_size and not leaves_unsafe_tail(end, pending_after, region_size)


def leaves_unsafe_tail(end: int, pending_after: int, region_size: int) -> bool:
    """D1: an entry ending at ``end`` leaves fewer than 48 bytes before the
    region's end, where no sentinel fits and memvid's open would wrap its
    sentinel onto position 0; ending exactly at the end is safe only when every
    byte of the region is pending (memvid writes no sentinel then).

    pre: 0 <= end <= region_size
    post: __return__ == (region_size - end < 48 and not end == region_size == pending_after)
    """
    if end == region_size:
        return pending_after != region_size
    return end > region_size - ENTRY_HEADER_SIZE


def fixed_place_entry(write_head: int, pending_bytes: int, region_size: int, entry_size: int) -> int | str:
    """FIXED: the entry's position, or the reason the append is refused.

    pre: valid_heads(write_head, pending_bytes, region_size)
    pre: entry_size >= ENTRY_HEADER_SIZE
    post: isinstance(__return__, str) or 0 <= __return__ <= __return__ + entry_size <= region_size
    post: isinstance(__return__, str) or __return__ == write_head or (__return__ == 0 and pending_bytes == 0)
    post: isinstance(__return__, str) or pending_bytes + entry_size <= region_size
    post: isinstance(__return__, str) or safe_end(__return__ + entry_size, pending_bytes + entry_size, region_size)
    post: __return__ != REASON_TOO_SMALL or entry_size > region_size - ENTRY_HEADER_SIZE
    """
    if entry_size > region_size or leaves_unsafe_tail(entry_size, entry_size, region_size):
        return REASON_TOO_SMALL
    if pending_bytes + entry_size > region_size:
        return REASON_FULL
    end = write_head + entry_size
    if end <= region_size and not leaves_unsafe_tail(end, pending_bytes + entry_size, region_size):
        return write_head
    if pending_bytes > 0:
        return REASON_FULL
    return 0


def original_place_entry(write_head: int, pending_bytes: int, region_size: int, entry_size: int) -> int | str:
    """ORIGINAL (``append_entry``): ``write_head`` is as memvid keeps it, already
    reduced modulo the region size. It keeps the entry inside the region, and
    nothing more: after D1 its write head sits on pending entries.

    pre: 0 <= write_head < region_size
    pre: 0 <= pending_bytes <= region_size
    pre: entry_size >= ENTRY_HEADER_SIZE
    post: isinstance(__return__, str) or 0 <= __return__ <= __return__ + entry_size <= region_size
    post: isinstance(__return__, str) or pending_bytes + entry_size <= region_size
    """
    if entry_size > region_size:
        return REASON_TOO_SMALL
    if pending_bytes + entry_size > region_size:
        return REASON_FULL
    if write_head + entry_size > region_size:
        if pending_bytes > 0:
            return REASON_FULL
        return 0
    return write_head


def fixed_sentinel_writes(
    write_head: int, pending_bytes: int, region_size: int
) -> tuple[tuple[ZeroWrite, ...], int]:
    """FIXED (S3.14): the zero writes that end the log, and the write head after.

    pre: valid_heads(write_head, pending_bytes, region_size)
    post: writes_inside(__return__[0], region_size)
    post: writes_spare_pending(__return__[0], write_head, pending_bytes)
    post: all(start >= write_head for start, _ in __return__[0])
    post: __return__[1] == write_head
    post: region_size - write_head < 48 or pending_bytes == region_size or __return__[0] == ((write_head, 48),)
    """
    if pending_bytes >= region_size:  # FIXED, all pending: the write head is at the end
        return (), write_head
    remaining = region_size - write_head
    if remaining < ENTRY_HEADER_SIZE:  # FIXED: the head stays, no wrap
        return (((write_head, remaining),) if remaining > 0 else ()), write_head
    return ((write_head, ENTRY_HEADER_SIZE),), write_head


def fixed_open_writes(
    write_head: int, pending_bytes: int, region_size: int, stale_end: int
) -> tuple[tuple[ZeroWrite, ...], bool]:
    """FIXED's writable open (R8): its zero writes, and whether a sync follows.

    ``stale_end`` is one past the last non-zero byte of the region at or after
    the write head, the write head itself when there is none. Such bytes are
    what a crash left after the recovered log's end: records recovery did not
    return, whose sequences the next appends issue again, so that a later
    recovery would take them as the new log's continuation. With none, the
    sentinel alone and no sync (S3.14, as memvid's open); otherwise one write
    of zeros from the write head over the sentinel and the last of them, then
    a sync, so that they are gone before the first append.

    pre: valid_heads(write_head, pending_bytes, region_size)
    pre: write_head <= stale_end <= region_size
    post: writes_inside(__return__[0], region_size)
    post: writes_spare_pending(__return__[0], write_head, pending_bytes)
    post: all(start == write_head for start, _ in __return__[0])
    post: __return__[1] == (stale_end > write_head)
    post: not __return__[1] or __return__[0][0][0] + __return__[0][0][1] >= stale_end
    """
    sentinel, _ = fixed_sentinel_writes(write_head, pending_bytes, region_size)
    if stale_end <= write_head:
        return sentinel, False
    end = max([stale_end, *(start + length for start, length in sentinel)])
    return ((write_head, end - write_head),), True


def original_sentinel_writes(
    write_head: int, pending_bytes: int, region_size: int
) -> tuple[tuple[ZeroWrite, ...], int]:
    """ORIGINAL (``maybe_write_sentinel``): with fewer than 48 bytes left it
    zeroes them and writes the sentinel at 0 (D1), 48 bytes long even when the
    region is shorter (D3). Its writes start inside the region, and nothing more.

    pre: 0 <= write_head < region_size
    pre: 0 <= pending_bytes <= region_size
    post: all(0 <= start < region_size for start, _ in __return__[0])
    post: 0 <= __return__[1] < region_size
    """
    # tests/crosshair_targets/original_sentinel.py restates this body on purpose, under
    # FIXED's contract, for CrossHair to find D1 and D3 in it.
    if pending_bytes >= region_size:
        return (), write_head
    position = write_head
    writes: tuple[ZeroWrite, ...] = ()
    remaining = region_size - position
    if remaining < ENTRY_HEADER_SIZE:
        if remaining > 0:
            writes = ((position, remaining),)
        position = 0
    return (*writes, (position, ENTRY_HEADER_SIZE)), position


def place_entry(
    fixed: bool, write_head: int, pending_bytes: int, region_size: int, entry_size: int
) -> int | str:
    """Either design, by flag: the signature ``crosshair diffbehavior`` compares
    with ``reference.wal.place_entry``."""
    if fixed:
        return fixed_place_entry(write_head, pending_bytes, region_size, entry_size)
    return original_place_entry(write_head, pending_bytes, region_size, entry_size)


def sentinel_writes(
    fixed: bool, write_head: int, pending_bytes: int, region_size: int
) -> tuple[tuple[ZeroWrite, ...], int]:
    """Either design, by flag; compared with ``reference.wal.sentinel_writes``.
    S3.14: on the heads ``model.wal.valid`` allows each design (the two
    functions' own preconditions), every zero write starts inside the region,
    never at or past its end, and writes a byte at least: model/wal.py's
    ``_maybe_write_sentinel`` counts the part of each write inside the region
    on that.

    pre: 0 <= pending_bytes <= region_size
    pre: valid_heads(write_head, pending_bytes, region_size) if fixed else 0 <= write_head < region_size
    post: all(0 <= start < region_size and length > 0 for start, length in __return__[0])
    """
    if fixed:
        return fixed_sentinel_writes(write_head, pending_bytes, region_size)
    return original_sentinel_writes(write_head, pending_bytes, region_size)
