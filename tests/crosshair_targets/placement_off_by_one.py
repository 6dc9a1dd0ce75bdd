"""reference.wal.place_entry with the sentinel room check off by one (``<``
where memvid's layout needs ``<=``). ``crosshair diffbehavior`` against
model.placement.place_entry must show the difference."""

from __future__ import annotations

from model.placement import ENTRY_HEADER_SIZE, REASON_FULL, REASON_TOO_SMALL


def place_entry(
    fixed: bool, write_head: int, pending_bytes: int, region_size: int, entry_size: int
) -> int | str:
    if entry_size > region_size:
        return REASON_TOO_SMALL
    if fixed and region_size - ENTRY_HEADER_SIZE < entry_size < region_size:
        return REASON_TOO_SMALL
    if pending_bytes + entry_size > region_size:
        return REASON_FULL
    end = write_head + entry_size
    fits = end <= region_size
    if fixed and fits:
        fits = end < region_size - ENTRY_HEADER_SIZE or pending_bytes + entry_size == region_size == end
    if fits:
        return write_head
    return REASON_FULL if pending_bytes > 0 else 0
