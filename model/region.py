"""An abstract map of the WAL region: which record, which leftover bytes, or zeros lie where.

The map is a tuple of extents that tile ``[0, size)``. Each extent says where its
bytes came from (a record's encoding, foreign bytes, or zeros) and at which
offset into that source it starts, so the model knows the provenance of every
byte: a record that is intact, the remains of a record from an earlier pass,
or zeros. ``read`` materialises bytes when a scan needs them. Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from model.format import encode_entry, entry_size


# Alike reference/wal.py's ScannedRecord on purpose: model and reference are
# written apart, so that comparing them means something.
@dataclass(frozen=True, slots=True)
class Record:
    """One appended record. ``append_index`` counts appends since the model began
    (history, not in an implementation); it keeps two records apart even when a
    defective design gives them the same sequence. ``synced_before`` is FIXED's
    mark in the reserved bytes (F2.1, spec/faults.md R7)."""

    sequence: int
    payload: bytes
    append_index: int
    synced_before: bool = False

    @property
    def size(self) -> int:
        return entry_size(len(self.payload))

    def encoded(self) -> bytes:
        return _encoded(self.sequence, self.payload, self.synced_before)


@lru_cache(maxsize=4096)
def _encoded(sequence: int, payload: bytes, synced_before: bool) -> bytes:
    return encode_entry(sequence, payload, synced_before)


@dataclass(frozen=True, slots=True)
class Foreign:
    """Bytes the WAL did not write (hostile input, media damage)."""

    data: bytes


Source = Record | Foreign | None  # None: zeros


@dataclass(frozen=True, slots=True)
class Extent:
    start: int
    end: int
    source: Source
    source_offset: int

    def materialise(self) -> bytes:
        length = self.end - self.start
        if self.source is None:
            return bytes(length)
        data = self.source.encoded() if isinstance(self.source, Record) else self.source.data
        return data[self.source_offset : self.source_offset + length]


@dataclass(frozen=True, slots=True)
class Region:
    size: int
    extents: tuple[Extent, ...]

    # Alternative constructors, so classmethods (Python's convention): a
    # staticmethod called through the class runs the same without its
    # decorator, which made that mutant equivalent (spec/mutants.md M13.7).
    @classmethod
    def zeroed(cls, size: int) -> Region:
        return cls(size, (Extent(0, size, None, 0),) if size > 0 else ())

    @classmethod
    def from_bytes(cls, data: bytes) -> Region:
        if not data:
            return cls(0, ())
        return cls(len(data), (Extent(0, len(data), Foreign(bytes(data)), 0),))

    def well_formed(self) -> bool:
        """S7's R0, the representation's own invariant: the extents are
        non-empty, in order, and tile ``[0, size)`` exactly (what ``extent_at``'s
        search and every read rely on)."""
        position = 0
        for extent in self.extents:
            if extent.start != position or extent.end <= extent.start:
                return False
            position = extent.end
        return position == self.size

    def _index_at(self, position: int) -> int:
        starts = [extent.start for extent in self.extents]
        return bisect_right(starts, position) - 1

    def extent_at(self, position: int) -> Extent:
        return self.extents[self._index_at(position)]

    def read(self, start: int, length: int) -> bytes:
        """The bytes at ``[start, start + length)``; the range must lie in the region."""
        assert start >= 0 and start + length <= self.size, (start, length, self.size)
        out = bytearray()
        index = self._index_at(start)
        end = start + length
        while len(out) < length:
            extent = self.extents[index]
            lo = max(start, extent.start)
            hi = min(end, extent.end)
            out += extent.materialise()[lo - extent.start : hi - extent.start]
            index += 1
        return bytes(out)

    def intact_record_at(self, position: int) -> Record | None:
        """The record whose whole encoding starts at ``position`` in one extent, if any.

        A fast path for scans: such bytes are that record's encoding, so decoding
        and hashing them is known to succeed.
        """
        extent = self.extent_at(position)
        source = extent.source
        if (
            isinstance(source, Record)
            and extent.start == position
            and extent.source_offset == 0
            and extent.end - extent.start >= source.size
        ):
            return source
        return None

    def write(self, start: int, source: Source, source_offset: int, length: int) -> Region:
        """The region after writing ``length`` bytes of ``source`` at ``start``."""
        assert start >= 0 and start + length <= self.size, (start, length, self.size)
        if length == 0:
            return self
        end = start + length
        kept: list[Extent] = []
        for extent in self.extents:
            if extent.end <= start or extent.start >= end:
                kept.append(extent)
                continue
            if extent.start < start:
                kept.append(Extent(extent.start, start, extent.source, extent.source_offset))
            if extent.end > end:
                shift = end - extent.start
                kept.append(Extent(end, extent.end, extent.source, extent.source_offset + shift))
        kept.append(Extent(start, end, source, source_offset))
        kept.sort(key=lambda extent: extent.start)
        return Region(self.size, _merge_zero_runs(kept))

    def write_zeros(self, start: int, length: int) -> Region:
        return self.write(start, None, 0, length)

    def copy_from(self, other: Region, start: int, end: int) -> Region:
        """This region with ``[start, end)`` taken from ``other`` (the same size):
        one sector of a crash image taken from a later version of the region."""
        region = self
        for extent in other.extents:
            lo, hi = max(start, extent.start), min(end, extent.end)
            if lo < hi:
                region = region.write(lo, extent.source, extent.source_offset + (lo - extent.start), hi - lo)
        return region

    def grown(self, new_size: int) -> Region:
        """memvid's growth keeps every byte in place and zeroes the new part (S3.11)."""
        assert new_size >= self.size
        return Region(new_size, self.extents).write_zeros(self.size, new_size - self.size)

    def to_bytes(self) -> bytes:
        return b"".join(extent.materialise() for extent in self.extents)


def _merge_zero_runs(extents: list[Extent]) -> tuple[Extent, ...]:
    merged: list[Extent] = []
    for extent in extents:
        if merged and extent.source is None and merged[-1].source is None:
            merged[-1] = Extent(merged[-1].start, extent.end, None, 0)
        else:
            merged.append(extent)
    return tuple(merged)
