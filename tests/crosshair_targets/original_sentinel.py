"""memvid's sentinel placement (model.placement.original_sentinel_writes)
under the FIXED design's contract. CrossHair must find D3 (a write past the
region's end) and D1 (a zero write on the pending entries before the write head)."""

from __future__ import annotations

# The contract's predicates are used only in the docstring, where CrossHair reads them.
from model.placement import (  # noqa: F401
    ENTRY_HEADER_SIZE,
    ZeroWrite,
    valid_heads,
    writes_inside,
    writes_spare_pending,
)


def original_sentinel_writes(
    write_head: int, pending_bytes: int, region_size: int
) -> tuple[tuple[ZeroWrite, ...], int]:
    """
    pre: valid_heads(write_head, pending_bytes, region_size) and write_head < region_size
    post: writes_inside(__return__[0], region_size)
    post: writes_spare_pending(__return__[0], write_head, pending_bytes)
    """
    # model.placement.original_sentinel_writes' body, restated on purpose: CrossHair
    # checks a function against the contract in its own docstring.
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
