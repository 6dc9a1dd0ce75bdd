"""spec/faults.md R1-R5 on crafted crash images: what FIXED recovers, what
ORIGINAL does, and that the model predicts the reference in each case."""

from __future__ import annotations

import pytest

import model as m
from reference import (
    Design,
    EmbeddedWal,
    Header,
    MemoryStorage,
    Recovery,
    WalCorruption,
    encode_entry,
    encode_header,
    read_header,
)

REGION_SIZE = 512


def _image(region: bytes, *, wal_sequence: int = 0) -> MemoryStorage:
    region = region + bytes(REGION_SIZE - len(region))
    header = Header(wal_size=REGION_SIZE, wal_sequence=wal_sequence)
    return MemoryStorage(encode_header(header) + region)


def _open(
    storage: MemoryStorage, design: Design, recovery: Recovery = Recovery.TOLERATE_TORN_TAIL
) -> EmbeddedWal:
    return EmbeddedWal.open_read_only(storage, read_header(storage), design=design, recovery=recovery)


def _model_recovers(
    region: bytes,
    design: m.Design,
    wal_sequence: int = 0,
    recovery: m.Recovery = m.Recovery.TOLERATE_TORN_TAIL,
) -> list[tuple[int, bytes]] | tuple[int | None, str]:
    padded = region + bytes(REGION_SIZE - len(region))
    state = m.initial_state(
        design, REGION_SIZE, wal_sequence=wal_sequence, region=m.Region.from_bytes(padded)
    )
    state, error = m.open_wal(state, read_only=True, recovery=recovery)
    if error is not None:
        return error.offset, error.reason
    state, records = m.records_after(state, 0)
    assert isinstance(records, list)
    return [(r.sequence, r.payload) for r in records]


def _records(wal: EmbeddedWal) -> list[tuple[int, bytes]]:
    return [(r.sequence, r.payload) for r in wal.records_after(0)]


ONE = encode_entry(1, b"first")
TWO = encode_entry(2, b"second")


class TestR1TornTail:
    torn = ONE + TWO[:50] + bytes(len(TWO) - 50)  # record 2's last payload bytes never reached the disk

    def test_fixed_ends_the_log_at_the_torn_record(self) -> None:
        wal = _open(_image(self.torn), Design.FIXED)
        assert _records(wal) == [(1, b"first")]
        assert wal.write_head == len(ONE)
        assert _model_recovers(self.torn, m.Design.FIXED) == [(1, b"first")]

    def test_strict_reports_it(self) -> None:
        with pytest.raises(WalCorruption) as caught:
            _open(_image(self.torn), Design.FIXED, Recovery.STRICT)
        assert (caught.value.offset, caught.value.reason) == (len(ONE), "wal record checksum mismatch")
        expected = (len(ONE), "wal record checksum mismatch")
        assert _model_recovers(self.torn, m.Design.FIXED, recovery=m.Recovery.STRICT) == expected

    def test_original_cannot_open(self) -> None:
        with pytest.raises(WalCorruption):
            _open(_image(self.torn), Design.ORIGINAL)
        assert _model_recovers(self.torn, m.Design.ORIGINAL) == (len(ONE), "wal record checksum mismatch")

    def test_torn_length_field(self) -> None:
        torn = ONE + b"\x02" + bytes(7) + b"\xff\xff\xff\x7f" + bytes(36)
        assert _records(_open(_image(torn), Design.FIXED)) == [(1, b"first")]
        assert _model_recovers(torn, m.Design.FIXED) == [(1, b"first")]


class TestR2StaleRecordAfterALostSentinel:
    """Pass one wrote records 1-3; after a checkpoint, record 4 (the same size
    as record 1) wrapped to position 0 and was synced; its sentinel was not."""

    old_pass = encode_entry(1, b"aaaa") + encode_entry(2, b"bbbb") + encode_entry(3, b"cccc")
    image = encode_entry(4, b"dddd") + old_pass[len(encode_entry(1, b"aaaa")) :]

    def test_fixed_stops_at_the_stale_record(self) -> None:
        wal = _open(_image(self.image, wal_sequence=3), Design.FIXED)
        assert _records(wal) == [(4, b"dddd")]
        assert wal.sequence == 4
        assert _model_recovers(self.image, m.Design.FIXED, wal_sequence=3) == [(4, b"dddd")]

    def test_original_returns_stale_records_and_goes_back_in_sequence(self) -> None:
        wal = _open(_image(self.image, wal_sequence=3), Design.ORIGINAL)
        assert _records(wal) == [(4, b"dddd"), (2, b"bbbb"), (3, b"cccc")]
        assert wal.sequence == 3  # the next append would issue 4 again
        assert _model_recovers(self.image, m.Design.ORIGINAL, wal_sequence=3) == _records(wal)

    def test_strict_reports_the_break(self) -> None:
        with pytest.raises(WalCorruption) as caught:
            _open(_image(self.image, wal_sequence=3), Design.FIXED, Recovery.STRICT)
        assert caught.value.reason == "wal record sequence out of order"


class TestR3FirstRecord:
    def test_a_first_record_above_the_checkpoint_plus_one_is_not_the_log(self) -> None:
        image = encode_entry(7, b"seven")
        assert _records(_open(_image(image, wal_sequence=3), Design.FIXED)) == []
        assert _model_recovers(image, m.Design.FIXED, wal_sequence=3) == []
        assert _records(_open(_image(image, wal_sequence=6), Design.FIXED)) == [(7, b"seven")]


class TestR4HeaderAheadOfTheRecords:
    """The header says records up to 5 are checkpointed; the region ends after
    record 2 (a power loss kept the header write and lost the batch)."""

    def test_fixed_continues_above_the_checkpoint(self) -> None:
        storage = _image(ONE + TWO, wal_sequence=5)
        wal = EmbeddedWal.open(storage, read_header(storage), design=Design.FIXED)
        assert wal.sequence == 5
        assert wal.write_head == 0  # everything left is checkpointed: the log restarts at 0
        assert wal.append_entry(b"six") == 6
        reopened = _open(storage, Design.FIXED)
        assert [(r.sequence, r.payload) for r in reopened.pending_records()] == [(6, b"six")]
        assert _records(reopened) == [(6, b"six")]

    def test_original_reuses_a_checkpointed_sequence_and_loses_the_record(self) -> None:
        storage = _image(ONE + TWO, wal_sequence=5)
        wal = EmbeddedWal.open(storage, read_header(storage), design=Design.ORIGINAL)
        assert wal.append_entry(b"three") == 3  # 3 <= 5: never pending
        assert _open(storage, Design.ORIGINAL).pending_records() == []

    def test_model_agrees(self) -> None:
        for design in m.Design:
            state = m.initial_state(
                design,
                REGION_SIZE,
                wal_sequence=5,
                region=m.Region.from_bytes(ONE + TWO + bytes(REGION_SIZE - len(ONE + TWO))),
            )
            state, error = m.open_wal(state)
            assert error is None
            state, sequence = m.append_entry(state, b"x")
            assert sequence == (6 if design is m.Design.FIXED else 3)


class TestC4CheckpointSentinelBeforeTheHeader:
    """spec/defects.md C4 (found by walcheck explore): the pending entries fill
    the region exactly, so ORIGINAL's write head is 0 (modulo the region);
    record_checkpoint writes its sentinel there, over the first pending entry,
    before memvid writes the header. A process killed in between leaves the old
    header (checkpoint 0) and a log that starts with a sentinel."""

    SIZE = 104  # two entries of 48 + 4 bytes

    def _killed_between_checkpoint_and_header(self, design: Design) -> MemoryStorage:
        storage = MemoryStorage(encode_header(Header(wal_size=self.SIZE)) + bytes(self.SIZE))
        header = read_header(storage)
        wal = EmbeddedWal.open(storage, header, design=design)
        assert wal.append_entry(b"aaaa") == 1 and wal.append_entry(b"bbbb") == 2  # synced: acknowledged
        assert [r.sequence for r in wal.pending_records()] == [1, 2]
        wal.record_checkpoint(header.copy())  # memvid's commit; the kill comes before the header write
        return storage  # the file as the OS has it: every write kept, the header still old

    def test_original_loses_both_acknowledged_records(self) -> None:
        storage = self._killed_between_checkpoint_and_header(Design.ORIGINAL)
        assert read_header(storage).wal_sequence == 0
        assert _records(_open(storage, Design.ORIGINAL)) == []

    def test_fixed_keeps_them(self) -> None:
        storage = self._killed_between_checkpoint_and_header(Design.FIXED)
        assert _records(_open(storage, Design.FIXED)) == [(1, b"aaaa"), (2, b"bbbb")]
        # memvid's own code reads FIXED's file too (G7).
        assert _records(_open(storage, Design.ORIGINAL)) == [(1, b"aaaa"), (2, b"bbbb")]

    @pytest.mark.parametrize("design", list(m.Design), ids=lambda d: d.value)
    def test_model_predicts_the_region(self, design: m.Design) -> None:
        state = m.initial_state(design, self.SIZE)
        state, _ = m.open_wal(state)
        state, _ = m.append_entry(state, b"aaaa")
        state, _ = m.append_entry(state, b"bbbb")
        state, _ = m.record_checkpoint(state)
        storage = self._killed_between_checkpoint_and_header(Design(design.value))
        assert state.disk.region.to_bytes() == storage.read_at(4096, self.SIZE)
