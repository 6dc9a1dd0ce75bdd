"""One bounded pass over a WAL region's bytes (spec/inspect.md I1, I2).

First the log, walked exactly as memvid's scan walks it (spec/format.md F3.4):
from position 0, record after record, to a sentinel, an invalid entry, the
region's end or the file's end. Then the intact entries past the log's end,
found by their shape, not by guessing sequences: an entry header whose
reserved bytes are what memvid or FIXED write (four zeros, or FIXED's ``SYNC``,
F2.1), whose length is in bounds and whose checksum is the blake3 of its
payload. Candidates come from two searches that run in C (zero runs, and
``SYNC``), an intact entry's payload is skipped as a whole, and the work is
capped (``SearchBudget``), so the pass is linear in the region and bounded on
hostile bytes. Sequences are whatever 64 bits the file holds; nothing here
adds to them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

import blake3

from reference.wal import ENTRY_HEADER_SIZE, SYNCED_BEFORE_MARK

_SEQUENCE_AND_LENGTH = struct.Struct("<QI")
_RESERVED_START = 12  # F2.1: the reserved bytes follow the sequence and the length
_CHECKSUM_START = 16
_ZEROS = bytes(4)
# A run of four or more zero bytes: where memvid's reserved bytes can be. Written as a
# literal prefix so that the regular expression engine searches for it in C.
_ZERO_RUN = re.compile(rb"\x00\x00\x00\x00\x00*")

# Statuses of a log entry (the scan's decision, F3.4) and of one past the end.
CHECKPOINTED = "checkpointed"
PENDING = "pending"
CHECKSUM_MISMATCH = "checksum mismatch"
LENGTH_INVALID = "length invalid"
CUT_OFF = "cut off by the end of the file"
PAST_THE_END = "past the log's end"

# Why the log ends (spec/inspect.md I1).
END_SENTINEL = "sentinel"
END_REGION = "region end"
END_INVALID = "invalid entry"
END_FILE = "end of file"

Progress = Callable[[str, int, int], None]  # (phase, bytes done, bytes in all)


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry header in the region and what the scan makes of it."""

    offset: int  # position in the region
    sequence: int
    length: int
    checksum_ok: bool
    status: str
    # FIXED's mark in the reserved bytes (F2.1, D6): every byte of the region before
    # this entry was durable when it was written. memvid never writes it.
    synced_before: bool
    checksum: bytes  # the 32 bytes the header holds

    @property
    def end(self) -> int:
        return self.offset + ENTRY_HEADER_SIZE + self.length


@dataclass(frozen=True, slots=True)
class LogEnd:
    position: int
    kind: str  # END_SENTINEL, END_REGION, END_INVALID, END_FILE
    reason: str  # in words, with the position


@dataclass(frozen=True, slots=True)
class SearchBudget:
    """The most work the search past the end may do, so that hostile bytes cannot
    make it quadratic: payload bytes hashed for candidates that turn out wrong,
    and candidate headers looked at. When either runs out the search stops and
    says where (``PastEnd.complete`` is False)."""

    hashed_bytes: int
    candidates: int

    @staticmethod
    def for_region(size: int) -> SearchBudget:
        # Four times the region in blake3 (about 0.2 s for 64 MiB here), and a few
        # hundred thousand candidates (each a few microseconds in Python).
        return SearchBudget(hashed_bytes=4 * size + 2**20, candidates=max(100_000, size // 64))


@dataclass(frozen=True, slots=True)
class PastEnd:
    entries: tuple[Entry, ...]
    searched_from: int
    complete: bool
    stopped_at: int | None  # where the budget ran out, when it did


def _reserved_ok(view: memoryview, position: int) -> bool:
    reserved = view[position + _RESERVED_START : position + _CHECKSUM_START]
    return reserved in (_ZEROS, SYNCED_BEFORE_MARK)


def walk_log(
    region: memoryview, region_size: int, checkpoint_sequence: int, progress: Progress = _no_progress
) -> tuple[list[Entry], LogEnd]:
    """The log as memvid's scan reads it. ``region`` holds the bytes the file has of a
    region of ``region_size`` bytes: fewer when the file ends inside it."""
    entries: list[Entry] = []
    available = len(region)
    cursor = 0
    reported = 0
    while cursor + ENTRY_HEADER_SIZE <= region_size:
        if cursor - reported >= 1 << 22:
            progress("walking the log", cursor, region_size)
            reported = cursor
        if cursor + ENTRY_HEADER_SIZE > available:
            reason = (
                f"the end of the file, {available - cursor} bytes into the entry header at {cursor} "
                "(a torn tail)"
            )
            return entries, LogEnd(cursor, END_FILE, reason)
        sequence, length = _SEQUENCE_AND_LENGTH.unpack_from(region, cursor)
        if sequence == 0 and length == 0:
            return entries, LogEnd(cursor, END_SENTINEL, f"sentinel at {cursor}")
        marked = region[cursor + _RESERVED_START : cursor + _CHECKSUM_START] == SYNCED_BEFORE_MARK
        stored = bytes(region[cursor + _CHECKSUM_START : cursor + ENTRY_HEADER_SIZE])
        start = cursor + ENTRY_HEADER_SIZE
        if length == 0 or start + length > region_size:
            entries.append(Entry(cursor, sequence, length, False, LENGTH_INVALID, marked, stored))
            reason = f"{LENGTH_INVALID} at {cursor} (a torn tail, or damage)"
            return entries, LogEnd(cursor, END_INVALID, reason)
        if start + length > available:
            # memvid's scan finds the length valid, then fails to read the payload.
            entries.append(Entry(cursor, sequence, length, False, CUT_OFF, marked, stored))
            reason = f"the end of the file, inside the entry at {cursor} (a torn tail)"
            return entries, LogEnd(cursor, END_FILE, reason)
        if blake3.blake3(region[start : start + length]).digest() != stored:
            entries.append(Entry(cursor, sequence, length, False, CHECKSUM_MISMATCH, marked, stored))
            reason = f"{CHECKSUM_MISMATCH} at {cursor} (a torn tail, or damage)"
            return entries, LogEnd(cursor, END_INVALID, reason)
        status = PENDING if sequence > checkpoint_sequence else CHECKPOINTED
        entries.append(Entry(cursor, sequence, length, True, status, marked, stored))
        cursor = start + length
    reason = f"region end ({region_size - cursor} bytes left, fewer than a header)"
    return entries, LogEnd(cursor, END_REGION, reason)


class _Candidates:
    """Positions where an entry header memvid or FIXED wrote may begin, asked for
    in increasing order. Its reserved bytes at ``r = p + 12`` are four zeros or
    ``SYNC``. Zeros: its length is not zero, so the maximal zero run that holds
    the reserved bytes begins inside the length field or at ``r``: ``r`` is one
    of the run's first four positions (or of the part of it at or after the
    lowest position asked for, which keeps the property). Both searches restart
    at the position asked for, so an intact entry's payload is never searched."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._zero_rs: list[int] = []  # candidates of the current zero run, increasing
        self._zeros_searched_to = 0  # no zero run ends before this is left unread
        self._sync_r = -2  # -2: not searched yet; -1: none left

    def next_at_or_after(self, low: int) -> int | None:
        low_r = low + _RESERVED_START
        data = self._data
        self._zero_rs = [r for r in self._zero_rs if r >= low_r]
        search_from = max(self._zeros_searched_to, low_r)
        while not self._zero_rs and search_from <= len(data):
            run = _ZERO_RUN.search(data, search_from)
            if run is None:
                search_from = len(data) + 1
                break
            first, search_from = run.start(), run.end()
            self._zero_rs = [r for r in range(first, first + 4) if r + 4 <= search_from]
        self._zeros_searched_to = search_from
        if self._sync_r == -2 or 0 <= self._sync_r < low_r:
            self._sync_r = data.find(SYNCED_BEFORE_MARK, low_r)
        zero_r = self._zero_rs[0] if self._zero_rs else -1
        sync_r = self._sync_r
        if zero_r < 0 and sync_r < 0:
            return None
        if zero_r < 0 or 0 <= sync_r < zero_r:
            self._sync_r = data.find(SYNCED_BEFORE_MARK, sync_r + 1)
            return sync_r - _RESERVED_START
        self._zero_rs.pop(0)
        return zero_r - _RESERVED_START


def search_past_end(
    region: memoryview,
    data: bytes,
    start: int,
    checkpoint_sequence: int,
    budget: SearchBudget,
    progress: Progress = _no_progress,
) -> PastEnd:
    """Intact entries in ``[start, len(region))``, left to right; an entry found is
    skipped as a whole (what lies inside its payload is payload). ``data`` is the
    same bytes as ``region``, for the searches."""
    available = len(region)
    found: list[Entry] = []
    hashed = 0
    looked_at = 0
    skip_below = start
    reported = start

    def intact_at(position: int) -> Entry | None:
        nonlocal hashed
        if position < skip_below or position + ENTRY_HEADER_SIZE > available:
            return None
        if not _reserved_ok(region, position):
            return None
        sequence, length = _SEQUENCE_AND_LENGTH.unpack_from(region, position)
        payload_start = position + ENTRY_HEADER_SIZE
        if length == 0 or payload_start + length > available:
            return None
        hashed += length
        stored = bytes(region[position + _CHECKSUM_START : payload_start])
        if blake3.blake3(region[payload_start : payload_start + length]).digest() != stored:
            return None
        marked = region[position + _RESERVED_START : position + _CHECKSUM_START] == SYNCED_BEFORE_MARK
        return Entry(position, sequence, length, True, PAST_THE_END, marked, stored)

    candidates = _Candidates(data)
    position = candidates.next_at_or_after(start)
    while position is not None:
        looked_at += 1
        if looked_at > budget.candidates or hashed > budget.hashed_bytes:
            return PastEnd(tuple(found), start, False, position)
        if position - reported >= 1 << 22:
            progress("searching past the log's end", position, available)
            reported = position
        entry = intact_at(position)
        low = position + 1
        while entry is not None:
            # Entries of an earlier pass lie back to back: try the next one directly.
            found.append(entry)
            skip_below = low = entry.end
            entry = intact_at(entry.end)
        position = candidates.next_at_or_after(low)
    return PastEnd(tuple(found), start, True, None)
