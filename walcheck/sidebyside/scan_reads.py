"""The reads of the reference's scan against S1.4's rule of windows.

The scan's windows are a matter of speed: a scan that reads more than it
needs, or the whole region where windows would do, finds the same records, so
no comparison of results can see it. This module predicts, from the region's
bytes and the records the whole-region walk (S2.1) finds there, exactly the reads
S1.4 says a scan with a given window makes, and ``ReadLog`` records the reads
the reference made, so that the side-by-side machines can compare the two.

The rule, as spec/semantics.md S1.4 states it: the first window is the
region's first ``window`` bytes (all of it, if shorter); the fast walk takes
the window's records, the ones that end inside it; where it stops, a window
that was read whole and cut the entry there (its header, or its payload when
that entry ends inside the region) is followed by a window from that entry's
start, ``window`` bytes long, or the whole entry if longer, or up to the
region's end if shorter. Otherwise the scan ends there (too few bytes left for
a header, or the sentinel), or reads the region whole once for the general walk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import model as m
from reference import Design, Recovery, WalError, scan_region
from reference.storage import Storage
from reference.wal import general_walk, walk_region
from walcheck.sidebyside.predicates import first_mutable

# F2.1's entry header, written here rather than imported, as the machines' other numbers.
_HEADER = 48
_LENGTH_AT = 8  # the u32 length after the u64 sequence


class ReadLog:
    """A ``Storage`` that logs every ``read_at`` made through it (offset,
    length asked), and every ``write_at`` (offset, length written), and counts
    its syncs."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.reads: list[tuple[int, int]] = []
        self.writes: list[tuple[int, int]] = []
        self.syncs = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.inner.read_at(offset, length)

    def write_at(self, offset: int, data: bytes) -> None:
        self.writes.append((offset, len(data)))
        self.inner.write_at(offset, data)

    def sync(self) -> None:
        self.syncs += 1
        self.inner.sync()

    def size(self) -> int:
        return self.inner.size()


def record_ends(
    region: bytes, region_size: int, design: m.Design, checkpoint_sequence: int
) -> dict[int, int] | None:
    """Where each record the scan takes starts, and where it ends, from the
    reference's whole-region walk (``scan_region``: no windows, and the
    machines compare what it takes with the model's scan, S2.1); None when
    the walk fails (the reads of a scan that raises are not S1.4's concern)."""
    try:
        found, _ = scan_region(region, Design(design.value), checkpoint_sequence, region_size=region_size)
    except WalError:
        return None
    return {record.position: record.position + record.total_size for record in found}


def walks_disagree(region: bytes, region_size: int, design: m.Design, checkpoint_sequence: int) -> str | None:
    """S1.4: the fast walk only ever takes what the general walk would. The
    reference's scan of ``region`` against its general walk alone, entry by
    entry from the start (``general_walk``), in every
    recovery mode of ``design``: the records (with their marks), where each
    walk stops, or the error. None when they agree. In a scan the general
    walk only decides the log's end (the fast walk takes every record it
    can), so without this comparison its record-taking would run nowhere.

    Asked at the header's checkpoint, and again at the first record's
    sequence, as if the header had been written past it (R4's state): the
    walks must agree at any checkpoint, and only there do they meet a record
    at or below it."""
    checkpoints = [checkpoint_sequence]
    recoveries = list(Recovery) if design is m.Design.FIXED else [Recovery.TOLERATE_TORN_TAIL]
    for checkpoint in checkpoints:
        for recovery in recoveries:
            walks: list[tuple[object, ...]] = []
            for walker in (walk_region, general_walk):
                try:
                    found, walk = walker(region, Design(design.value), checkpoint, recovery, region_size)
                    if first_mutable(found) is not None:
                        return f"S2.1: the scan's records are not frozen values: {first_mutable(found)}"
                    walks.append(([dataclasses.astuple(record) for record in found], tuple(walk)))
                except WalError as error:
                    walks.append((error.kind, error.reason, getattr(error, "offset", None)))
            fast, general = walks
            if fast != general:
                return (
                    f"S1.4 ({recovery.value}, checkpoint {checkpoint}): the scan walked to {fast},"
                    f" the general walk alone to {general}"
                )
            records = fast[0]
            if len(checkpoints) == 1 and isinstance(records, list) and records:
                first_sequence = records[0][1]
                if first_sequence != checkpoint:
                    checkpoints.append(first_sequence)
    return None


def expected_reads(
    region: bytes, region_size: int, window: int, ends: Mapping[int, int]
) -> list[tuple[int, int]]:
    """S1.4's reads (position in the region, length asked) of a scan with
    ``window``, of a region whose bytes the file holds are ``region`` (shorter
    than ``region_size``: a short file) and whose records are ``ends``."""
    reads: list[tuple[int, int]] = []
    start, asked = 0, min(window, region_size)
    while True:
        reads.append((start, asked))
        got = max(0, min(asked, len(region) - start))
        stop = start
        while stop in ends and ends[stop] <= start + got:
            stop = ends[stop]  # the fast walk takes the records that end inside the window
        if stop + _HEADER > region_size:
            return reads  # the region's end
        if got == asked:
            if stop + _HEADER > start + got:  # the window cut the header
                start, asked = stop, min(max(window, _HEADER), region_size - stop)
                continue
            length = int.from_bytes(region[stop + _LENGTH_AT : stop + _LENGTH_AT + 4], "little")
            entry_end = stop + _HEADER + length
            if length != 0 and start + got < entry_end <= region_size:  # the window cut the payload
                start, asked = stop, min(max(window, entry_end - stop), region_size - stop)
                continue
        if stop + _HEADER <= start + got and not any(region[stop : stop + _LENGTH_AT + 4]):
            return reads  # the sentinel
        reads.append((0, region_size))  # the general walk
        return reads


def reads_broken(
    reads: list[tuple[int, int]],
    region_offset: int,
    region: bytes,
    region_size: int,
    window: int,
    ends: Mapping[int, int],
) -> str | None:
    """What is wrong with one scan's ``reads`` (a ReadLog's: file offset,
    length), or None when they are S1.4's."""
    made = [(offset - region_offset, length) for offset, length in reads]
    wanted = expected_reads(region, region_size, window, ends)
    if made == wanted:
        return None
    first = next(
        (i for i, (a, b) in enumerate(zip(made, wanted, strict=False)) if a != b), min(len(made), len(wanted))
    )
    return (
        f"S1.4: a scan with {window}-byte windows of a {region_size}-byte region read {len(made)} times, "
        f"S1.4 says {len(wanted)}; read {first} was {made[first : first + 1]}, "
        f"expected {wanted[first : first + 1]} (position in the region, length)"
    )
