"""What each reader would make of the file (spec/inspect.md I5): memvid's code
(ORIGINAL) and the reference (FIXED), read-only and for writing, FIXED in both
recovery modes. Worked out on a copy of the region in memory; the file is never
written."""

from __future__ import annotations

from dataclasses import dataclass

from reference import Design, EmbeddedWal, Header, Recovery, WalCorruption, WalError
from reference.wal import ENTRY_HEADER_SIZE, PAYLOAD_LEN_MAX, place_entry

READ_ONLY = "read-only"
WRITING = "for writing"


class ReadOutsideRegion(RuntimeError):
    """The WAL read bytes outside its region: inspect holds only the region."""


class RegionImage:
    """``reference.Storage`` over a file of which only the WAL region is held: the
    WAL reads and writes nothing else (but D3: ORIGINAL writes past a region under
    48 bytes; such writes are recorded, not applied). The region is kept as one
    ``bytes`` object, handed out whole to the WAL's region read without a copy and
    replaced only by a write that changes it (a rewritten sentinel does not), so
    a verdict on a 64 MiB region costs its scans, not copies."""

    def __init__(self, region_offset: int, region: bytes, file_size: int) -> None:
        self.region_offset = region_offset
        self.region = region
        self.file_size = file_size
        self.writes_outside: list[tuple[int, int]] = []
        self.syncs = 0

    def read_at(self, offset: int, length: int) -> bytes:
        start = offset - self.region_offset
        if start < 0 or (length > 0 and start >= len(self.region) and offset < self.file_size):
            raise ReadOutsideRegion(f"read of {length} bytes at {offset}")
        if start == 0 and length >= len(self.region):
            return self.region
        return self.region[start : start + length]

    def write_at(self, offset: int, data: bytes) -> None:
        start = offset - self.region_offset
        end = start + len(data)
        if start < 0 or end > len(self.region):
            self.writes_outside.append((offset, len(data)))
        first, last = max(start, 0), min(end, len(self.region))
        if first < last:
            inside = data[first - start : last - start]
            if self.region[first:last] != inside:
                self.region = self.region[:first] + inside + self.region[last:]

    def sync(self) -> None:
        self.syncs += 1

    def size(self) -> int:
        return self.file_size


@dataclass(frozen=True)
class Verdict:
    design: str  # "original" or "fixed"
    mode: str  # READ_ONLY or WRITING
    recovery: str | None  # FIXED's recovery mode; None for ORIGINAL, which has none
    error_kind: str | None
    error_reason: str | None
    error_offset: int | None
    records: int | None
    pending: tuple[int, ...] | None
    write_head: int | None
    # The largest payload the next append takes without growing the region.
    next_append_max_payload: int | None
    writes_outside_region: tuple[tuple[int, int], ...]

    @property
    def error(self) -> str | None:
        if self.error_kind is None:
            return None
        if self.error_offset is not None:
            return f"{self.error_kind} at {self.error_offset}: {self.error_reason}"
        return f"{self.error_kind}: {self.error_reason}"

    @property
    def who(self) -> str:
        if self.design == Design.ORIGINAL.value:
            return f"memvid (ORIGINAL), {self.mode}"
        return f"the reference (FIXED, {self.recovery}), {self.mode}"


def largest_payload(fixed: bool, write_head: int, pending_bytes: int, region_size: int) -> int | None:
    """The largest payload an append accepts now (S3.4's placement), or None. The
    accepted entry sizes are unions of ranges, each bounded by one of the values
    below, so the largest is among them."""
    bounds = {
        region_size,
        region_size - ENTRY_HEADER_SIZE,
        region_size - pending_bytes,
        region_size - write_head,
        region_size - write_head - ENTRY_HEADER_SIZE,
    }
    accepted = [
        size
        for size in bounds
        if ENTRY_HEADER_SIZE < size <= region_size
        and size - ENTRY_HEADER_SIZE <= PAYLOAD_LEN_MAX
        and isinstance(place_entry(fixed, write_head, pending_bytes, region_size, size), int)
    ]
    return max(accepted) - ENTRY_HEADER_SIZE if accepted else None


def verdict(
    region_offset: int,
    region: bytes,
    file_size: int,
    header: Header,
    design: Design,
    mode: str,
    recovery: Recovery,
) -> Verdict:
    image = RegionImage(region_offset, region, file_size)
    fixed = design is Design.FIXED
    recovery_name = recovery.value if fixed else None
    try:
        opener = EmbeddedWal.open if mode == WRITING else EmbeddedWal.open_read_only
        wal = opener(image, header.copy(), design=design, recovery=recovery)
        # One rescan, not two: pending_records() is records_after(checkpoint_sequence).
        every = wal.records_after(0)
        pending = tuple(r.sequence for r in every if r.sequence > wal.checkpoint_sequence)
        records = len(every)
    except WalError as error:
        offset = error.offset if isinstance(error, WalCorruption) else None
        outside = tuple(image.writes_outside)
        return Verdict(
            design.value,
            mode,
            recovery_name,
            error.kind,
            error.reason,
            offset,
            None,
            None,
            None,
            None,
            outside,
        )
    largest = None
    if mode == WRITING:
        largest = largest_payload(fixed, wal.write_head, wal.pending_bytes, wal.region_size)
    return Verdict(
        design.value,
        mode,
        recovery_name,
        None,
        None,
        None,
        records,
        pending,
        wal.write_head,
        largest,
        tuple(image.writes_outside),
    )


# ORIGINAL has no recovery mode; FIXED's two (spec/faults.md R5).
READERS: tuple[tuple[Design, str, Recovery], ...] = (
    (Design.ORIGINAL, READ_ONLY, Recovery.TOLERATE_TORN_TAIL),
    (Design.ORIGINAL, WRITING, Recovery.TOLERATE_TORN_TAIL),
    (Design.FIXED, READ_ONLY, Recovery.TOLERATE_TORN_TAIL),
    (Design.FIXED, WRITING, Recovery.TOLERATE_TORN_TAIL),
    (Design.FIXED, READ_ONLY, Recovery.STRICT),
    (Design.FIXED, WRITING, Recovery.STRICT),
)
