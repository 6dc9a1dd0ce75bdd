"""The reference's fast paths (spec/semantics.md S1.4) against its general ones.

The scan reads the region a window at a time and takes the records of each
with a fast walk; anything but a valid record that continues the log goes to
the general walk, entry by entry, over the whole region. FIXED's append
decides its common case (the entry fits at the write head with a whole
sentinel after it) in two comparisons instead of place_entry and
sentinel_writes. Each must do exactly what the general path does:

- an open and a rescan give the same outcome with windows of a few bytes as
  with one window for the whole region, and the same as scan_region over the
  region's bytes (the whole-region walk the reference had before windows);
- scan_region gives the same with the fast walk as with the general walk alone;
- an append from any state writes what place_entry and sentinel_writes say.

Each check is also run against a planted bug in the path it covers, and must
find it.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference.wal as rw
from reference.errors import WalError, WalIoError
from reference.header import HEADER_SIZE, Header
from reference.storage import MemoryStorage
from reference.wal import (
    ENTRY_HEADER_SIZE,
    Design,
    EmbeddedWal,
    Recovery,
    encode_entry,
    place_entry,
    scan_region,
    sentinel_writes,
)

WINDOWS = (1, 47, 48, 49, 64, 100, 257)
ONE_WINDOW = 1 << 20


@dataclass(frozen=True)
class Image:
    region_size: int
    checkpoint_sequence: int
    region: bytes  # the region's bytes the file holds (shorter than region_size: a short file)


@st.composite
def images(draw: st.DrawFn) -> Image:
    """Logs as the WAL writes them and as crashes and damage leave them:
    consecutive records (some with D6's mark), now and then a jump in the
    sequence or an empty payload, then a sentinel, zeros, leftovers of an
    earlier pass or noise; sometimes a flipped byte or a file cut short."""
    region_size = draw(st.integers(ENTRY_HEADER_SIZE, 1200))
    checkpoint_sequence = draw(st.integers(0, 3))
    sequence = draw(st.integers(0, checkpoint_sequence + 2))
    pieces: list[bytes] = []
    for _ in range(draw(st.integers(0, 14))):
        payload = draw(st.binary(min_size=1, max_size=90) | st.just(b""))
        if draw(st.integers(0, 9)) == 0:
            sequence += draw(st.integers(-3, 3))
        pieces.append(encode_entry(max(sequence, 0), payload, draw(st.booleans())))
        sequence += 1
    tail = draw(
        st.sampled_from(
            [bytes(ENTRY_HEADER_SIZE), b"", encode_entry(1, b"stale") + encode_entry(2, b"older")]
        )
        | st.binary(max_size=120)
    )
    body = bytearray((b"".join(pieces) + tail)[:region_size])
    body += bytes(region_size - len(body))
    if body and draw(st.integers(0, 3)) == 0:
        body[draw(st.integers(0, len(body) - 1))] ^= 1 << draw(st.integers(0, 7))
    keep = draw(st.none() | st.integers(0, region_size))
    return Image(region_size, checkpoint_sequence, bytes(body if keep is None else body[:keep]))


Outcome = tuple[object, ...]


def _open_outcome(image: Image, design: Design, recovery: Recovery, window: int) -> Outcome:
    """open_read_only, then records_after(0): what each found, or the error."""
    storage = MemoryStorage(bytes(HEADER_SIZE) + image.region)
    header = Header(wal_size=image.region_size, wal_sequence=image.checkpoint_sequence)
    try:
        wal = EmbeddedWal.open_read_only(
            storage, header, design=design, recovery=recovery, scan_window=window
        )
    except WalError as error:
        return (type(error).__name__, str(error))
    opened = (wal.sequence, wal.pending_bytes, wal.write_head)
    records = [(r.sequence, r.payload) for r in wal.records_after(0)]
    return (opened, records, wal.sequence, wal.pending_bytes, wal.write_head)


def _whole_region_outcome(image: Image, design: Design, recovery: Recovery) -> Outcome:
    """The open as S3.2 states it, from scan_region over the region's bytes."""
    fixed = design is Design.FIXED
    if fixed and len(image.region) < image.region_size:
        return ("WalIoError", str(WalIoError(rw.REASON_SHORT_READ)))
    try:
        found, end = scan_region(
            image.region, design, image.checkpoint_sequence, recovery, region_size=image.region_size
        )
    except WalError as error:
        return (type(error).__name__, str(error))
    sequence = found[-1].sequence if found else image.checkpoint_sequence
    if fixed and sequence < image.checkpoint_sequence:
        sequence, end = image.checkpoint_sequence, 0  # faults.md R4
    pending = sum(r.total_size for r in found if r.sequence > image.checkpoint_sequence)
    head = end if fixed else end % image.region_size
    records = [(r.sequence, r.payload) for r in found if r.sequence > 0]  # records_after(0)
    return ((sequence, pending, head), records, sequence, pending, head)


def _windows_disagree(image: Image, design: Design, recovery: Recovery) -> bool:
    whole = _whole_region_outcome(image, design, recovery)
    return any(_open_outcome(image, design, recovery, w) != whole for w in (*WINDOWS, ONE_WINDOW))


CASES = [(d, r) for d in Design for r in Recovery if d is Design.FIXED or r is Recovery.TOLERATE_TORN_TAIL]
CASE_IDS = [f"{d.value}-{r.value}" for d, r in CASES]


# As test_the_fast_walk_takes_what_the_general_walk_takes below, on purpose: each fast path, same draws.
@pytest.mark.parametrize(("design", "recovery"), CASES, ids=CASE_IDS)
@settings(max_examples=100)
@given(image=images())
def test_windowed_open_finds_what_the_whole_region_walk_finds(
    design: Design, recovery: Recovery, image: Image
) -> None:
    whole = _whole_region_outcome(image, design, recovery)
    for window in (*WINDOWS, ONE_WINDOW):
        assert _open_outcome(image, design, recovery, window) == whole, f"window of {window} bytes"


def _scan_outcome(image: Image, design: Design, recovery: Recovery) -> Outcome:
    try:
        found, end = scan_region(
            image.region, design, image.checkpoint_sequence, recovery, region_size=image.region_size
        )
    except WalError as error:
        return (type(error).__name__, str(error))
    return (found, end)


def _takes_nothing(
    data: bytes,
    base: int,
    limit: int,
    fixed: bool,
    checkpoint: int,
    previous: int | None,
    pending: int,
    found: object,
) -> tuple[int, int | None, int]:
    return 0, previous, pending


@contextmanager
def _replaced(name: str, replacement: object) -> Iterator[None]:
    saved = getattr(rw, name)
    setattr(rw, name, replacement)
    try:
        yield
    finally:
        setattr(rw, name, saved)


def _planted(function: Callable[..., object], text: str, replacement: str) -> Any:
    """``function`` compiled again in reference.wal's namespace with ``text``
    (which must be in its source) replaced: a bug planted in the code under test."""
    original = inspect.getsource(function)
    planted = original.replace(text, replacement)
    assert planted != original, f"{text!r} is not in {function.__name__}"
    namespace = dict(vars(rw))
    exec(compile(textwrap.dedent(planted), f"<planted {function.__name__}>", "exec"), namespace)
    return namespace[function.__name__]


def _fast_walk_disagrees(image: Image, design: Design, recovery: Recovery) -> bool:
    fast = _scan_outcome(image, design, recovery)
    with _replaced("_take_records", _takes_nothing):
        general = _scan_outcome(image, design, recovery)
    return fast != general


# As test_windowed_open_finds_what_the_whole_region_walk_finds above, on purpose: each fast path, same draws.
@pytest.mark.parametrize(("design", "recovery"), CASES, ids=CASE_IDS)
@settings(max_examples=100)
@given(image=images())
def test_the_fast_walk_takes_what_the_general_walk_takes(
    design: Design, recovery: Recovery, image: Image
) -> None:
    assert not _fast_walk_disagrees(image, design, recovery)


def _first(strategy: st.SearchStrategy[Image], condition: Callable[[Image], bool]) -> Image | None:
    """The first of 500 derandomised examples that meets ``condition``."""
    found: list[Image] = []

    @settings(max_examples=500, derandomize=True, database=None)
    @given(image=strategy)
    def search(image: Image) -> None:
        if not found and condition(image):
            found.append(image)

    search()
    return found[0] if found else None


@pytest.mark.planted_bug
def test_a_scan_that_ends_the_log_at_a_window_cut_is_caught() -> None:
    after_window = rw._after_window

    def ends_at_cuts(
        window: bytes, taken: int, position: int, wanted: int, size: int, window_size: int
    ) -> int | None:
        after = after_window(window, taken, position, wanted, size, window_size)
        return 0 if after else after

    with _replaced("_after_window", ends_at_cuts):
        image = _first(images(), lambda i: _windows_disagree(i, Design.FIXED, Recovery.TOLERATE_TORN_TAIL))
    assert image is not None, "a scan losing the records after a window's end passed"


@st.composite
def damaged_logs(draw: st.DrawFn) -> Image:
    """A log of one to five records, one of them with a payload bit flipped
    (its length in range: only the checksum tells), then a sentinel: what
    ``images`` makes only now and then."""
    payloads = draw(st.lists(st.binary(min_size=1, max_size=60), min_size=1, max_size=5))
    entries = [bytearray(encode_entry(number, payload)) for number, payload in enumerate(payloads, 1)]
    damaged = entries[draw(st.integers(0, len(entries) - 1))]
    damaged[draw(st.integers(ENTRY_HEADER_SIZE, len(damaged) - 1))] ^= 1 << draw(st.integers(0, 7))
    body = b"".join(entries) + bytes(ENTRY_HEADER_SIZE)
    return Image(len(body) + draw(st.integers(0, 100)), 0, body)


@pytest.mark.planted_bug
def test_a_fast_walk_that_skips_the_checksum_is_caught() -> None:
    planted = _planted(rw._take_records, "if not starts_with(digest(), start - 32):", "if False:")
    with _replaced("_take_records", planted):
        image = _first(
            images() | damaged_logs(),
            lambda i: _scan_outcome(i, Design.FIXED, Recovery.STRICT) != _general(i),
        )
    assert image is not None, "a fast walk that takes records with a wrong checksum passed"


def _general(image: Image) -> Outcome:
    with _replaced("_take_records", _takes_nothing):
        return _scan_outcome(image, Design.FIXED, Recovery.STRICT)


# -- FIXED's append ---------------------------------------------------------------


@dataclass(frozen=True)
class AppendCase:
    region_size: int
    write_head: int
    pending_bytes: int
    payload: bytes


@st.composite
def append_cases(draw: st.DrawFn) -> AppendCase:
    """The states place_entry's precondition allows (pending <= write_head <=
    region_size, valid_heads: every state a FIXED run reaches, S7's I5, I7 and
    I11), with the write head often near the region's end. The fast path
    relies on the pending bytes ending at the write head, so a state outside
    it is not one to ask."""
    region_size = draw(st.integers(ENTRY_HEADER_SIZE, 600))
    write_head = draw(st.integers(0, region_size) | st.integers(max(0, region_size - 150), region_size))
    pending = draw(st.integers(0, write_head) | st.just(write_head))
    payload = draw(st.binary(min_size=1, max_size=200))
    return AppendCase(region_size, write_head, pending, payload)


def _append_outcome(case: AppendCase, append: Callable[[EmbeddedWal, bytes], int]) -> Outcome:
    storage = MemoryStorage(bytes(HEADER_SIZE + case.region_size))
    wal = EmbeddedWal.open(storage, Header(wal_size=case.region_size), design=Design.FIXED)
    storage.writes.clear()
    wal._write_head, wal._pending_bytes = case.write_head, case.pending_bytes
    try:
        append(wal, case.payload)
    except WalError as error:
        return (type(error).__name__, error.reason, wal.write_head)
    return (storage.writes, wal.write_head, wal.pending_bytes, bytes(storage.data))


def _general_append_outcome(case: AppendCase) -> Outcome:
    """What place_entry and sentinel_writes say the append writes."""
    entry_size = ENTRY_HEADER_SIZE + len(case.payload)
    placed = place_entry(True, case.write_head, case.pending_bytes, case.region_size, entry_size)
    if isinstance(placed, str):
        return ("CheckpointFailed", placed, case.write_head)
    end = placed + entry_size
    zeros, _ = sentinel_writes(True, end, case.pending_bytes + entry_size, case.region_size)
    trailing = sum(length for _, length in zeros)
    data = bytearray(HEADER_SIZE + case.region_size)
    written = encode_entry(1, case.payload) + bytes(trailing)
    data[HEADER_SIZE + placed : HEADER_SIZE + placed + len(written)] = written
    return ([(HEADER_SIZE + placed, len(written))], end, case.pending_bytes + entry_size, bytes(data))


@settings(max_examples=300)
@given(case=append_cases())
def test_fixed_appends_write_what_place_entry_and_sentinel_writes_say(case: AppendCase) -> None:
    assert _append_outcome(case, EmbeddedWal.append_entry) == _general_append_outcome(case)


@pytest.mark.planted_bug
def test_an_append_fast_path_that_forgets_the_sentinel_room_is_caught() -> None:
    planted_append: Callable[[EmbeddedWal, bytes], int] = _planted(
        EmbeddedWal.append_entry, "if end <= region_size - ENTRY_HEADER_SIZE:", "if end <= region_size:"
    )
    found: list[AppendCase] = []

    @settings(max_examples=500, derandomize=True, database=None)
    @given(case=append_cases())
    def search(case: AppendCase) -> None:
        if not found and _append_outcome(case, planted_append) != _general_append_outcome(case):
            found.append(case)

    search()
    assert found, "an append that leaves no room for its sentinel passed"
