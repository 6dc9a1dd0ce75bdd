"""spec/faults.md R7 and spec/defects.md D6: damage in the middle of the log is
reported, not silently dropped, when a later record's mark (format F2.1,
``SYNC`` in the reserved bytes) proves the damaged record was durable.

Every case runs on the reference and on the model from the same bytes. The
same bytes with the marks cleared are what memvid would have written: FIXED
reads them as it always did (R1, R2 end the log).
"""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st

import model as m
from reference import (
    Design,
    EmbeddedWal,
    MemoryStorage,
    Recovery,
    WalCorruption,
    WalError,
    WalIoError,
    commit,
    create_mv2,
    read_header,
    scan_region,
)
from reference.header import HEADER_SIZE
from reference.mv2 import grow_region
from reference.wal import SYNCED_BEFORE_MARK
from walcheck.sidebyside.simdisk import SimulatedDisk

REGION_SIZE = 512
DATA = Path(__file__).parent / "data"
CHECKSUM = "wal record checksum mismatch"
SEQUENCE_BREAK = "wal record sequence out of order"

Outcome = list[tuple[int, bytes]] | tuple[int, str]


def _written(payloads: list[bytes], *, batch_from: int | None = None) -> tuple[MemoryStorage, list[int]]:
    """A file after appending ``payloads`` with FIXED, synced, or in batch mode
    (``skip_sync``) from index ``batch_from`` on. Returns the records' positions."""
    storage = MemoryStorage()
    wal = EmbeddedWal.open(storage, create_mv2(storage, REGION_SIZE))
    positions = []
    for index, payload in enumerate(payloads):
        if index == batch_from:
            wal.set_skip_sync(True)
        positions.append(wal.write_head)
        wal.append_entry(payload)
    return storage, positions


def _flip(image: bytes, region_position: int, bit: int = 0) -> bytes:
    damaged = bytearray(image)
    damaged[HEADER_SIZE + region_position] ^= 1 << bit
    return bytes(damaged)


def _cleared(image: bytes) -> bytes:
    """The same file as memvid writes it: the reserved bytes of every entry zero.
    The entries are walked by their length fields alone, damaged ones included."""
    header = read_header(MemoryStorage(image), clear_legacy_lock=False)
    cleared = bytearray(image)
    cursor = 0
    while cursor + 48 <= header.wal_size:
        at = HEADER_SIZE + cursor
        sequence, length = struct.unpack_from("<QI", image, at)
        if (sequence, length) == (0, 0) or length == 0 or cursor + 48 + length > header.wal_size:
            break
        cleared[at + 12 : at + 16] = bytes(4)
        cursor += 48 + length
    return bytes(cleared)


def _reference(image: bytes, design: Design = Design.FIXED, *, writable: bool = False) -> Outcome:
    storage = MemoryStorage(image)
    header = read_header(storage, clear_legacy_lock=False)
    opener = EmbeddedWal.open if writable else EmbeddedWal.open_read_only
    try:
        wal = opener(storage, header, design=design)
        return [(r.sequence, r.payload) for r in wal.records_after(0)]
    except WalCorruption as error:
        return error.offset, error.reason


def _model(image: bytes, design: m.Design = m.Design.FIXED) -> Outcome:
    header = read_header(MemoryStorage(image), clear_legacy_lock=False)
    state = m.initial_state(
        design,
        header.wal_size,
        wal_sequence=header.wal_sequence,
        region=m.Region.from_bytes(image[HEADER_SIZE : HEADER_SIZE + header.wal_size]),
    )
    state, error = m.open_wal(state, read_only=True)
    if error is not None:
        assert error.offset is not None
        return error.offset, error.reason
    state, records = m.records_after(state, 0)
    assert isinstance(records, list)
    return [(r.sequence, r.payload) for r in records]


def _both(image: bytes) -> Outcome:
    """The FIXED outcome, the same from the reference and the model."""
    outcome = _reference(image)
    assert _model(image) == outcome
    return outcome


PAYLOADS = [b"a" * 20, b"b" * 20, b"c" * 20, b"d" * 20]


class TestDamageProvenDurable:
    """Four synced appends: records 2-4 carry the mark (each follows a sync)."""

    def test_the_marks(self) -> None:
        storage, positions = _written(PAYLOADS)
        region = bytes(storage.data[HEADER_SIZE:])
        marks = [region[p + 12 : p + 16] for p in positions]
        assert marks == [bytes(4), SYNCED_BEFORE_MARK, SYNCED_BEFORE_MARK, SYNCED_BEFORE_MARK]

    @pytest.mark.parametrize("damaged", [0, 1, 2])
    def test_a_flipped_payload_bit_is_reported_at_its_record(self, damaged: int) -> None:
        storage, positions = _written(PAYLOADS)
        image = _flip(bytes(storage.data), positions[damaged] + 48 + 5, bit=3)
        assert _both(image) == (positions[damaged], CHECKSUM)
        assert _reference(image, writable=True) == (positions[damaged], CHECKSUM)

    def test_strict_reports_the_same(self) -> None:
        storage, positions = _written(PAYLOADS)
        image = _flip(bytes(storage.data), positions[1] + 60)
        reader = MemoryStorage(image)
        with pytest.raises(WalCorruption) as caught:
            EmbeddedWal.open_read_only(reader, read_header(reader), recovery=Recovery.STRICT)
        assert (caught.value.offset, caught.value.reason) == (positions[1], CHECKSUM)

    def test_the_last_record_has_nothing_after_it_to_prove_it(self) -> None:
        storage, positions = _written(PAYLOADS)
        image = _flip(bytes(storage.data), positions[3] + 50)
        assert _both(image) == [(s, p) for s, p in zip([1, 2, 3], PAYLOADS, strict=False)]

    def test_a_flipped_sequence_bit_in_the_middle_is_reported(self) -> None:
        storage, positions = _written(PAYLOADS)
        image = _flip(bytes(storage.data), positions[1] + 2)  # sequence 2 becomes 2 + 2**16
        assert _both(image) == (positions[1], SEQUENCE_BREAK)

    def test_a_damaged_length_field_leaves_no_chain_to_follow(self) -> None:
        """The documented limit: a length out of bounds says nothing about where
        the next record starts, so the log ends there, as before."""
        storage, positions = _written(PAYLOADS)
        image = _flip(bytes(storage.data), positions[1] + 8 + 3, bit=7)  # length + 2**31
        assert _both(image) == [(1, PAYLOADS[0])]

    def test_records_after_on_an_open_wal_reports_damage_found_later(self) -> None:
        storage, positions = _written(PAYLOADS)
        wal = EmbeddedWal.open(storage, read_header(storage))
        storage.data[HEADER_SIZE + positions[1] + 60] ^= 1
        with pytest.raises(WalCorruption) as caught:
            wal.pending_records()
        assert (caught.value.offset, caught.value.reason) == (positions[1], CHECKSUM)


class TestNoClaimNoReport:
    """The same damage where no mark proves anything: FIXED ends the log (R1, R2)."""

    def test_memvids_bytes_give_the_old_tolerant_recovery(self) -> None:
        storage, positions = _written(PAYLOADS)
        image = _cleared(_flip(bytes(storage.data), positions[1] + 60))
        assert _both(image) == [(1, PAYLOADS[0])]  # records 2-4 dropped, silently, as before D6
        assert _reference(image, Design.ORIGINAL) == (positions[1], CHECKSUM)
        assert _model(image, m.Design.ORIGINAL) == (positions[1], CHECKSUM)

    def test_a_sequence_break_in_memvids_bytes_ends_the_log(self) -> None:
        storage, positions = _written(PAYLOADS)
        image = _cleared(_flip(bytes(storage.data), positions[1] + 2))
        assert _both(image) == [(1, PAYLOADS[0])]

    def test_a_torn_record_in_a_batch(self) -> None:
        """Records 2-4 in batch mode: 3 and 4 were written while 2 was not yet
        durable, so they carry no mark, and a torn 2 is a legal power loss."""
        storage, positions = _written(PAYLOADS, batch_from=1)
        region = bytes(storage.data[HEADER_SIZE:])
        assert region[positions[1] + 12 : positions[1] + 16] == SYNCED_BEFORE_MARK  # after 1's sync
        assert [region[p + 12 : p + 16] for p in positions[2:]] == [bytes(4), bytes(4)]
        image = _flip(bytes(storage.data), positions[1] + 60)
        assert _both(image) == [(1, PAYLOADS[0])]

    def test_a_torn_wrap_before_the_earlier_pass_is_no_alarm(self) -> None:
        """After a checkpoint the next append wraps to 0. If power fails before
        it is synced, its first sector may persist and its second not: record 4
        is torn, and behind it lies the earlier pass, marked, in sequence,
        intact, and all checkpointed. A checkpointed record's mark proves
        nothing (R7), so every such image opens."""
        disk = SimulatedDisk()
        header = create_mv2(disk, 2048)
        wal = EmbeddedWal.open(disk, header)
        for payload in [b"a" * 600, b"b" * 600, b"c" * 600]:  # entries of 648 at 0, 648, 1296
            wal.append_entry(payload)
        commit(wal, disk, header)  # checkpoint 3; 1944 + 648 does not fit: the next append wraps
        wal.set_skip_sync(True)
        assert wal.append_entry(b"w" * 600) == 4
        assert wal.write_head == 648
        torn_wraps = 0
        for image in disk.power_loss_images():
            region = image[HEADER_SIZE : HEADER_SIZE + 2048]
            record_4_torn = region[:8] == (4).to_bytes(8, "little") and region[600:648] == b"a" * 48
            if record_4_torn and region[648 + 12 : 648 + 16] == SYNCED_BEFORE_MARK:
                torn_wraps += 1
            assert isinstance(_both(image), list)  # opens: records, never WalCorruption
        assert torn_wraps > 0


class TestTheFlag:
    """When FIXED writes the mark (spec/faults.md R7, "the volatile flag")."""

    @staticmethod
    def _marks(storage: MemoryStorage | SimulatedDisk, size: int = REGION_SIZE) -> list[bool]:
        region = storage.read_at(HEADER_SIZE, size)
        found, _ = scan_region(region)
        return [region[r.position + 12 : r.position + 16] == SYNCED_BEFORE_MARK for r in found]

    def test_open_skip_sync_flush_commit_and_growth(self) -> None:
        storage = MemoryStorage()
        header = create_mv2(storage, REGION_SIZE)
        wal = EmbeddedWal.open(storage, header)
        wal.append_entry(b"1")  # first after the open: unknown what a killed writer left
        wal.append_entry(b"2")  # after 1's sync
        wal.set_skip_sync(True)
        wal.append_entry(b"3")  # after 2's sync: marked, itself not synced
        wal.append_entry(b"4")  # 3 is not durable
        wal.flush()
        wal.append_entry(b"5")  # after the flush
        wal.set_skip_sync(False)
        wal.append_entry(b"6")  # 5 is not durable
        commit(wal, storage, header)  # the sentinel rewrites lie at the write head
        wal.append_entry(b"7")  # after 6's sync
        assert self._marks(storage) == [False, True, True, False, True, False, True]
        grow_region(storage, header, 2 * REGION_SIZE)
        wal = EmbeddedWal.open(storage, header)
        wal.append_entry(b"8")  # first after the reopen
        wal.append_entry(b"9")
        assert self._marks(storage, 2 * REGION_SIZE)[-2:] == [False, True]

    def test_original_never_marks(self) -> None:
        storage = MemoryStorage()
        wal = EmbeddedWal.open(storage, create_mv2(storage, REGION_SIZE), design=Design.ORIGINAL)
        for payload in PAYLOADS:
            wal.append_entry(payload)
        assert self._marks(storage) == [False] * 4

    def test_after_a_failed_sync_nothing_is_marked_until_the_next_sync(self) -> None:
        """R6: after a failed sync nothing is known about what reached the media;
        the WAL refuses to append, and after the reopen the first append is
        unmarked, the one after its sync marked."""
        disk = SimulatedDisk()
        header = create_mv2(disk, REGION_SIZE)
        wal = EmbeddedWal.open(disk, header)
        wal.append_entry(b"1")
        disk.fail_sync(0, persisted=[], error=errno.EIO)
        with pytest.raises(WalIoError):
            wal.append_entry(b"2")
        disk.disarm()
        with pytest.raises(WalIoError):
            wal.append_entry(b"3")
        wal = EmbeddedWal.open(disk, read_header(disk))
        wal.append_entry(b"3")
        wal.append_entry(b"4")
        assert self._marks(disk) == [False, True, False, True]  # 2 was written before the failed sync

    def test_the_model_writes_the_same_bytes(self) -> None:
        storage = MemoryStorage()
        header = create_mv2(storage, REGION_SIZE)
        wal = EmbeddedWal.open(storage, header)
        state, error = m.open_wal(m.initial_state(m.Design.FIXED, REGION_SIZE))
        assert error is None
        for step, payload in enumerate([b"1", b"2", b"3", b"4", b"5", b"6"]):
            if step == 2:
                wal.set_skip_sync(True)
                state = m.set_skip_sync(state, True)
            if step == 4:
                wal.flush()
                state = m.flush(state)
            wal.append_entry(payload)
            state, sequence = m.append_entry(state, payload)
            assert sequence == wal.sequence
            assert state.disk.region.to_bytes() == bytes(storage.data[HEADER_SIZE:])
        assert self._marks(storage) == [False, True, True, False, True, False]


def test_a_memvid_file_with_a_flipped_bit_reads_as_before() -> None:
    """A real memvid file (tests/data): zeros make no claim, so a flipped bit in
    a middle record ends FIXED's log there, as before D6; memvid reports it."""
    image = (DATA / "d_small_puts.mv2").read_bytes()
    header = read_header(MemoryStorage(image), clear_legacy_lock=False)
    region = image[HEADER_SIZE : HEADER_SIZE + header.wal_size]
    found, _ = scan_region(region)
    middle = found[len(found) // 2]
    damaged = _flip(image, middle.position + 48)
    assert _both(damaged) == [(r.sequence, r.payload) for r in found[: len(found) // 2]]
    assert _reference(damaged, Design.ORIGINAL) == (middle.position, CHECKSUM)


# ---------------------------------------------------------------------------
# D6: the divergence, found and shrunk by Hypothesis
# ---------------------------------------------------------------------------

# An operation on a fresh file: an append of n bytes, a change of skip_sync, a
# flush or a commit; then one bit flipped in the region.
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 40)),
        st.tuples(st.just("skip_sync"), st.integers(0, 1)),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("commit"), st.just(0)),
    ),
    max_size=8,
)
_CASES = st.tuples(_OPERATIONS, st.integers(0, 8 * REGION_SIZE - 1))


def _run(case: tuple[list[tuple[str, int]], int]) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The damaged file, and the acknowledged records not yet applied (S5)."""
    operations, bit = case
    storage = MemoryStorage()
    header = create_mv2(storage, REGION_SIZE)
    wal = EmbeddedWal.open(storage, header)
    appended: list[tuple[int, bytes]] = []
    acknowledged = applied = 0
    for name, argument in operations:
        if name == "append":
            payload = bytes([len(appended) + 1]) * argument
            try:
                appended.append((wal.append_entry(payload), payload))
            except WalError:
                continue
            if not wal.skip_sync:
                acknowledged = len(appended)
        elif name == "skip_sync":
            wal.set_skip_sync(bool(argument))
        elif name == "flush":
            wal.flush()
            acknowledged = len(appended)
        else:
            commit(wal, storage, header)
            applied = len(appended)
    return _flip(bytes(storage.data), bit // 8, bit % 8), appended[applied:acknowledged]


def _d6_diverges(case: tuple[list[tuple[str, int]], int]) -> bool:
    """FIXED reports the damage, where on memvid's bytes (the marks cleared) the
    same tolerant open returns the log without acknowledged records."""
    image, owed = _run(case)
    if not isinstance(_reference(image), tuple):
        return False
    before_d6 = _reference(_cleared(image))
    return isinstance(before_d6, list) and any(record not in before_d6 for record in owed)


def _shrunk_d6_case() -> tuple[list[tuple[str, int]], int]:
    return find(
        _CASES,
        _d6_diverges,
        settings=settings(
            max_examples=2000, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        ),
    )


def test_d6_minimal_trace() -> None:
    """spec/defects.md D6 quotes this case: two synced appends of one byte, then
    the region's first bit flipped, so record 1's sequence reads 0. FIXED
    reports it (record 2's mark proves record 1 was durable). Before D6 the
    tolerant open ended the log at 0 and dropped both acknowledged records
    without a word; memvid reads record 1 as sequence 0, never pending, and
    returns record 2 alone."""
    operations, bit = _shrunk_d6_case()
    assert (operations, bit) == ([("append", 1), ("append", 1)], 0)
    image, owed = _run((operations, bit))
    assert owed == [(1, b"\x01"), (2, b"\x02")]
    assert _both(image) == (0, SEQUENCE_BREAK)
    assert _reference(_cleared(image)) == []
    assert _reference(image, Design.ORIGINAL) == [(2, b"\x02")]
    assert _model(image, m.Design.ORIGINAL) == [(2, b"\x02")]


def test_inspect_shows_the_mark(tmp_path: Path) -> None:
    """``walcheck inspect`` lists D6's mark per entry, damaged ones included."""
    from walcheck.real.inspect import inspect_file, render

    storage, positions = _written(PAYLOADS[:3])
    path = tmp_path / "damaged.mv2"
    path.write_bytes(_flip(bytes(storage.data), positions[1] + 60))
    report = inspect_file(path)
    assert [(row.offset, row.synced_before) for row in report.log] == [(0, False), (positions[1], True)]
    row = f"{positions[1]:>10}  {2:>20}  {20:>10}  mismatch  SYNC  checksum mismatch"
    assert row in render(report)
