"""Where entries and sentinels go (spec S3.4 steps 5-7, S3.14), as properties.

The same promises CrossHair checks symbolically on model.placement's
contracts, sampled by Hypothesis over valid heads, plus the equivalence of the
model's and the reference's arithmetic. Marked ``crosshair_backend``: with
HYPOTHESIS_PROFILE=crosshair they run on the CrossHair backend as well.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import placement as p
from reference import wal as r

pytestmark = pytest.mark.crosshair_backend


@st.composite
def heads(draw: st.DrawFn) -> tuple[int, int, int]:
    """(write_head, pending_bytes, region_size) satisfying valid_heads."""
    region_size = draw(st.integers(1, 1 << 20))
    write_head = draw(st.integers(0, region_size))
    pending_bytes = draw(st.integers(0, write_head))
    return write_head, pending_bytes, region_size


entry_sizes = st.integers(p.ENTRY_HEADER_SIZE, (1 << 20) + 64)


@given(heads(), entry_sizes)
def test_fixed_entry_lands_inside_the_region_and_never_on_pending_bytes(
    heads: tuple[int, int, int], entry_size: int
) -> None:
    write_head, pending_bytes, region_size = heads
    placed = p.fixed_place_entry(write_head, pending_bytes, region_size, entry_size)
    if isinstance(placed, str):
        return
    assert placed >= 0 and placed + entry_size <= region_size  # G6
    assert placed == write_head or pending_bytes == 0  # G1
    assert p.safe_end(placed + entry_size, pending_bytes + entry_size, region_size)  # G7


@given(heads())
def test_fixed_sentinel_stays_inside_and_spares_pending_bytes(heads: tuple[int, int, int]) -> None:
    write_head, pending_bytes, region_size = heads
    writes, after = p.fixed_sentinel_writes(write_head, pending_bytes, region_size)
    assert p.writes_inside(writes, region_size)  # G6
    assert p.writes_spare_pending(writes, write_head, pending_bytes)  # G1
    assert after == write_head


@given(st.booleans(), heads(), entry_sizes)
def test_model_and_reference_place_entries_alike(
    fixed: bool, heads: tuple[int, int, int], entry_size: int
) -> None:
    assert p.place_entry(fixed, *heads, entry_size) == r.place_entry(fixed, *heads, entry_size)


@given(st.booleans(), heads())
def test_model_and_reference_place_sentinels_alike(fixed: bool, heads: tuple[int, int, int]) -> None:
    assert p.sentinel_writes(fixed, *heads) == r.sentinel_writes(fixed, *heads)


def test_original_sentinel_lands_on_pending_bytes() -> None:
    """D1 at the arithmetic level: 250 pending bytes before write head 250 in a
    256-byte region; memvid's sentinel goes to 0."""
    writes, after = p.original_sentinel_writes(250, 250, 256)
    assert writes == ((250, 6), (0, 48)) and after == 0
    assert not p.writes_spare_pending(writes, 250, 250)
