"""The original's defects (spec/defects.md): found by the stateful machines, and
shown by the minimal trace of each, on both designs.

The hunts pass only when Hypothesis finds the counterexample on ORIGINAL; the
same narrowed machines must find nothing on FIXED.
"""

from __future__ import annotations

import pytest

import model as m
from reference import (
    CheckpointFailed,
    Design,
    EmbeddedWal,
    MemoryStorage,
    WalCorruption,
    commit,
    create_mv2,
    grown_size,
    read_header,
)
from walcheck.sidebyside.hunts import DEFECT_HUNTS, DefectHunt, hunt, hunt_settings

# The crash hunts (C1, C2) have their own tests in tests/test_stateful_crash.py.
HUNTS = {h.defect: h for h in DEFECT_HUNTS if h.crash_kinds is None}


@pytest.mark.parametrize("defect", sorted(HUNTS))
def test_stateful_hunt_finds_original_defect(defect: str) -> None:
    spec = HUNTS[defect]
    finding = hunt(spec.machine(), hunt_settings(spec.examples, steps=spec.steps))
    assert finding is not None, f"{defect} was not found on ORIGINAL"
    assert finding.kind == "guarantee", finding.render()
    assert finding.guarantee == spec.guarantee, finding.render()
    assert any(line.startswith("state.create(") for line in finding.trace), finding.trace


@pytest.mark.parametrize("defect", sorted(HUNTS))
def test_stateful_same_hunt_finds_nothing_on_fixed(defect: str) -> None:
    spec: DefectHunt = HUNTS[defect]
    finding = hunt(spec.on_fixed().machine(), hunt_settings(300))
    assert finding is None, finding.render()


def _fresh(region_size: int, design: Design, wal_sequence: int = 0) -> tuple[MemoryStorage, EmbeddedWal]:
    storage = MemoryStorage()
    header = create_mv2(storage, region_size, wal_sequence=wal_sequence)
    return storage, EmbeddedWal.open(storage, header, design=design)


def _reader(storage: MemoryStorage, region_size: int) -> EmbeddedWal:
    """memvid (the original) opening the file read-only, as another process would."""
    assert read_header(storage).wal_size == region_size
    return EmbeddedWal.open_read_only(storage, read_header(storage), design=Design.ORIGINAL)


def _memvid_reopens_copy(storage: MemoryStorage) -> list[tuple[int, bytes]]:
    """memvid (the original code) opening a copy of the file for writing, as it
    does for a put: the sentinel it writes on open must not cost a record."""
    copy = MemoryStorage(bytes(storage.data))
    wal = EmbeddedWal.open(copy, read_header(copy), design=Design.ORIGINAL)
    return [(r.sequence, r.payload) for r in wal.pending_records()]


class TestD1SentinelWrapsOntoLiveLog:
    """D1: region 256, one record of 202 bytes leaves 6 bytes: the sentinel goes to 0."""

    def test_original_loses_the_record(self) -> None:
        storage, wal = _fresh(256, Design.ORIGINAL)
        assert wal.append_entry(b"x" * 154) == 1  # entry 202 bytes, 54 left: no wrap
        assert [r.sequence for r in wal.pending_records()] == [1]
        assert wal.append_entry(b"y" * 1) == 2  # entry 49 bytes ends at 251: 5 left
        assert wal.pending_records() == []  # both acknowledged records are gone
        assert _reader(storage, 256).pending_records() == []

    def test_original_reuses_sequences_after_reopen(self) -> None:
        storage, wal = _fresh(256, Design.ORIGINAL)
        wal.append_entry(b"x" * 203)  # entry 251 bytes: 5 left
        reopened = _reader(storage, 256)
        assert reopened.sequence == 0  # the next append will be sequence 1 again (G3)

    def test_original_overwrites_pending_and_cannot_reopen(self) -> None:
        storage, wal = _fresh(256, Design.ORIGINAL)
        header = read_header(storage)
        wal.append_entry(b"a" * 150)  # entry 0..198
        commit(wal, storage, header)
        assert wal.append_entry(b"b") == 2  # entry 198..247; sentinel moves to 0
        assert wal.write_head == 0
        assert wal.append_entry(b"c" * 159) == 3  # entry 0..207, over entry 2's header
        with pytest.raises(WalCorruption) as caught:
            EmbeddedWal.open(storage, read_header(storage), design=Design.ORIGINAL)
        assert (caught.value.offset, caught.value.reason) == (207, "wal record length invalid")

    def test_fixed_wraps_instead_of_leaving_an_unsafe_tail(self) -> None:
        storage, wal = _fresh(256, Design.FIXED)
        header = read_header(storage)
        wal.append_entry(b"a" * 150)  # entry 0..198
        commit(wal, storage, header)
        # 198 + 49 would leave 9 bytes: FIXED wraps to 0 (nothing is pending).
        assert wal.append_entry(b"b") == 2
        assert wal.write_head == 49
        # 49 + 207 ends exactly at the end with every byte pending: allowed.
        assert wal.append_entry(b"c" * 159) == 3
        assert wal.write_head == 256
        assert _memvid_reopens_copy(storage) == [(2, b"b"), (3, b"c" * 159)]

    def test_fixed_refuses_an_append_that_would_leave_an_unsafe_tail(self) -> None:
        storage, wal = _fresh(256, Design.FIXED)
        wal.append_entry(b"x" * 154)  # entry 0..202: 54 bytes left, a sentinel fits
        with pytest.raises(CheckpointFailed, match="embedded WAL region full"):
            wal.append_entry(b"y")  # would end at 251, leaving 5
        assert [r.sequence for r in wal.pending_records()] == [1]
        assert _memvid_reopens_copy(storage) == [(1, b"x" * 154)]

    def test_fixed_refuses_an_entry_that_can_never_leave_room_for_a_sentinel(self) -> None:
        _, wal = _fresh(256, Design.FIXED)
        with pytest.raises(CheckpointFailed, match="too small for entry"):
            wal.append_entry(b"x" * 203)  # 251 bytes: alone it still leaves 5
        assert wal.append_entry(b"x" * 208) == 1  # exactly 256: the region is all pending

    def test_fixed_entry_ending_at_region_end_keeps_write_head_at_end(self) -> None:
        storage, wal = _fresh(256, Design.FIXED)
        wal.append_entry(b"x" * 100)  # 148 bytes
        wal.append_entry(b"y" * 60)  # 108 bytes, ends at 256 exactly, all pending
        assert wal.write_head == 256
        with pytest.raises(CheckpointFailed, match="embedded WAL region full"):
            wal.append_entry(b"z")  # must wrap, and records are pending
        assert _memvid_reopens_copy(storage) == [(1, b"x" * 100), (2, b"y" * 60)]


class TestD2SequenceWraps:
    def test_original_wraps_to_zero_and_loses_the_record(self) -> None:
        _, wal = _fresh(4096, Design.ORIGINAL, wal_sequence=2**64 - 1)
        assert wal.append_entry(b"a") == 0
        assert wal.pending_records() == []  # sequence 0 is never above the checkpoint

    def test_fixed_refuses(self) -> None:
        _, wal = _fresh(4096, Design.FIXED, wal_sequence=2**64 - 2)
        assert wal.append_entry(b"a") == 2**64 - 1
        with pytest.raises(CheckpointFailed, match="WAL sequence exhausted"):
            wal.append_entry(b"b")
        assert [r.sequence for r in wal.pending_records()] == [2**64 - 1]


class TestD3SentinelPastRegion:
    def test_original_writes_past_a_small_region(self) -> None:
        storage = MemoryStorage()
        header = create_mv2(storage, 16)
        storage.write_at(4096 + 16, b"\xa5" * 64)
        storage.writes.clear()
        EmbeddedWal.open(storage, header, design=Design.ORIGINAL)
        assert storage.read_at(4096 + 16, 64) != b"\xa5" * 64
        assert max(offset + length for offset, length in storage.writes) == 4096 + 48

    def test_fixed_stays_inside(self) -> None:
        storage = MemoryStorage()
        header = create_mv2(storage, 16)
        storage.write_at(4096 + 16, b"\xa5" * 64)
        EmbeddedWal.open(storage, header, design=Design.FIXED)
        assert storage.read_at(4096 + 16, 64) == b"\xa5" * 64


class TestD4EmptyPayload:
    def test_original_acknowledges_then_cannot_scan(self) -> None:
        _, wal = _fresh(4096, Design.ORIGINAL)
        assert wal.append_entry(b"") == 1
        with pytest.raises(WalCorruption) as caught:
            wal.pending_records()
        assert (caught.value.offset, caught.value.reason) == (0, "wal record length invalid")

    def test_fixed_refuses(self) -> None:
        _, wal = _fresh(4096, Design.FIXED)
        with pytest.raises(CheckpointFailed, match="WAL payload empty"):
            wal.append_entry(b"")
        assert wal.pending_records() == []


@pytest.mark.parametrize(
    ("current", "entry", "expected"),
    [(65536, 100, 131072), (65536, 65536, 131072), (65536, 131072, 262144), (48, 49, 96), (64, 300, 512)],
)
def test_grown_size_doubles_as_memvid_does(current: int, entry: int, expected: int) -> None:
    """S3.11: memvid doubles while the size is at most max(entry, current + 1)."""
    assert grown_size(current, entry) == expected


class _HugePayload(bytes):
    """A payload that claims 2**32 bytes, so the length check runs without 4 GiB."""

    def __len__(self) -> int:
        return 2**32


@pytest.mark.parametrize("design", list(Design))
def test_payload_too_large_is_refused_by_both_designs(design: Design) -> None:
    """S3.4 error 2, checked before anything else is looked at or written."""
    storage, wal = _fresh(4096, design)
    writes = len(storage.writes)
    with pytest.raises(CheckpointFailed, match="WAL payload too large"):
        wal.append_entry(_HugePayload(b"x"))
    assert len(storage.writes) == writes
    state, _ = m.open_wal(m.initial_state(m.Design(design.value), 4096))
    _, outcome = m.append_entry(state, _HugePayload(b"x"))
    assert outcome == m.WalError(m.ErrorKind.CHECKPOINT_FAILED, "WAL payload too large")
