"""walcheck.sidebyside.simdisk: the simulated disk the crash tests run on.

The expected images here come from an independent oracle: MemoryStorage replays
the writes one at a time, and a sector's versions are read off those replays,
not computed the way SimulatedDisk computes them. (Over 500 lines: every
fault the disk injects has its own group of tests.)
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import (
    Design,
    EmbeddedWal,
    MemoryStorage,
    Storage,
    WalRecord,
    create_mv2,
    read_header,
)
from walcheck.sidebyside.simdisk import (
    SECTOR_SIZE,
    SimulatedCrash,
    SimulatedDisk,
    Write,
    flip_bit,
    overwrite,
    truncated,
)

# -- The oracle -------------------------------------------------------------------------------


def replay(initial: bytes, writes: list[Write] | tuple[Write, ...], length: int | None = None) -> bytes:
    """``initial`` with ``writes`` applied in order by MemoryStorage, zero-extended to ``length``."""
    storage = MemoryStorage(initial)
    for write in writes:
        storage.write_at(write.offset, write.data)
    image = bytes(storage.data)
    return image if length is None else image.ljust(length, b"\0")


def sectors_of(write: Write) -> list[int]:
    return list(range(write.offset // SECTOR_SIZE, (write.offset + len(write.data) - 1) // SECTOR_SIZE + 1))


def sector_slice(image: bytes, sector: int) -> bytes:
    return image[sector * SECTOR_SIZE : (sector + 1) * SECTOR_SIZE]


def oracle_versions(initial: bytes, writes: list[Write]) -> dict[int, list[bytes]]:
    """Each sector a write touches: its content before the writes, then after each
    write that touches it, read off full replays of the prefixes."""
    length = len(replay(initial, writes))
    versions: dict[int, list[bytes]] = {}
    for count, write in enumerate(writes, start=1):
        after = replay(initial, writes[:count], length)
        for sector in sectors_of(write):
            if sector not in versions:
                versions[sector] = [sector_slice(initial.ljust(length, b"\0"), sector)]
            versions[sector].append(sector_slice(after, sector))
    return versions


def oracle_images(initial: bytes, writes: list[Write]) -> Counter[bytes]:
    """Every power-loss image, as a multiset, from the oracle's versions."""
    length = len(replay(initial, writes))
    versions = oracle_versions(initial, writes)
    sectors = sorted(versions)
    images: Counter[bytes] = Counter()
    for choice in itertools.product(*(versions[sector] for sector in sectors)):
        image = bytearray(initial.ljust(length, b"\0"))
        for sector, content in zip(sectors, choice, strict=True):
            image[sector * SECTOR_SIZE : sector * SECTOR_SIZE + len(content)] = content
        images[bytes(image)] += 1
    return images


def disk_with(initial: bytes, writes: list[Write]) -> SimulatedDisk:
    disk = SimulatedDisk(initial)
    for write in writes:
        disk.write_at(write.offset, write.data)
    return disk


initials = st.binary(max_size=1500)
write_lists = st.lists(
    st.builds(Write, offset=st.integers(0, 2000), data=st.binary(min_size=1, max_size=600)), max_size=4
)

# -- The OS view and sync ------------------------------------------------------------------


def test_satisfies_the_storage_protocol() -> None:
    storage: Storage = SimulatedDisk()
    assert isinstance(storage, Storage)


@given(
    initials,
    st.lists(
        st.one_of(
            st.builds(Write, offset=st.integers(0, 2000), data=st.binary(min_size=1, max_size=600)),
            st.just("sync"),
        ),
        max_size=8,
    ),
    st.integers(0, 3000),
    st.integers(0, 700),
)
def test_view_equals_memory_storage_given_the_same_writes(
    initial: bytes, operations: list[Write | str], read_offset: int, read_length: int
) -> None:
    disk = SimulatedDisk(initial)
    memory = MemoryStorage(initial)
    for operation in operations:
        if isinstance(operation, Write):
            disk.write_at(operation.offset, operation.data)
            memory.write_at(operation.offset, operation.data)
        else:
            disk.sync()
            memory.sync()
        assert disk.view == bytes(memory.data)
        assert disk.size() == memory.size()
        assert disk.read_at(read_offset, read_length) == memory.read_at(read_offset, read_length)
    assert disk.kill_image() == disk.view
    assert disk.calls == len(operations)


@given(initials, write_lists, write_lists)
def test_sync_makes_everything_durable(initial: bytes, before: list[Write], after: list[Write]) -> None:
    disk = disk_with(initial, before)
    assert disk.durable == initial
    assert disk.unsynced == tuple(before)
    disk.sync()
    assert disk.durable == disk.view == replay(initial, before)
    assert disk.unsynced == ()
    assert disk.count_power_loss_images() == 1
    assert list(disk.power_loss_images()) == [disk.view]
    for write in after:
        disk.write_at(write.offset, write.data)
    assert disk.durable == replay(initial, before)
    assert disk.unsynced == tuple(after)


def test_an_empty_write_is_a_call_that_changes_nothing() -> None:
    # As pwrite of zero bytes: the file does not grow (nor does MemoryStorage, S1.4).
    disk = SimulatedDisk(b"abc")
    disk.write_at(100, b"")
    assert disk.view == b"abc"
    assert disk.unsynced == ()
    assert disk.calls == 1


def test_a_write_past_the_largest_file_fails_with_efbig() -> None:
    disk = SimulatedDisk(b"abc")
    with pytest.raises(OSError) as raised:
        disk.write_at(2**63 - 1, b"x")
    assert raised.value.errno == errno.EFBIG
    assert (disk.view, disk.unsynced, disk.calls) == (b"abc", (), 1)
    assert disk.read_at(2**64, 2**64) == b""


def test_reads_do_not_count_as_calls() -> None:
    disk = SimulatedDisk(b"abc")
    disk.read_at(0, 3)
    disk.size()
    assert disk.calls == 0


# -- Power loss ------------------------------------------------------------------------------


def three_writes() -> tuple[bytes, list[Write]]:
    """Sector 0 written twice (last by the last write), sectors 1 and 2 once."""
    initial = b"A" * 1024
    return initial, [Write(100, b"x" * 10), Write(600, b"y" * 500), Write(50, b"z" * 5)]


def test_power_loss_enumerates_the_product_durable_first_view_last() -> None:
    initial, writes = three_writes()
    disk = disk_with(initial, writes)
    assert disk.count_power_loss_images() == 3 * 2 * 2
    images = list(disk.power_loss_images())
    assert len(images) == 12
    assert images[0] == initial.ljust(len(disk.view), b"\0") == disk.durable.ljust(len(disk.view), b"\0")
    assert images[-1] == disk.view
    assert Counter(images) == oracle_images(initial, writes)
    # Sector 0 was touched last, so it varies fastest: the second image is the
    # durable one with only the first write's sector-0 version.
    assert images[1] == replay(initial, writes[:1], len(disk.view))[:SECTOR_SIZE] + images[0][SECTOR_SIZE:]


def test_an_extending_write_leaves_a_hole_of_zeros() -> None:
    disk = SimulatedDisk(b"D" * 10)
    disk.write_at(1500, b"tail")
    images = list(disk.power_loss_images())
    assert len(images) == 2
    assert images[0] == b"D" * 10 + bytes(1500 - 10 + 4)
    assert images[1] == disk.view
    assert truncated(images[0], len(disk.durable)) == disk.durable


@given(initials, write_lists, st.randoms(use_true_random=False))
def test_every_power_loss_image_is_made_of_sector_versions(
    initial: bytes, writes: list[Write], rng: random.Random
) -> None:
    disk = disk_with(initial, writes)
    versions = oracle_versions(initial, writes)
    count = disk.count_power_loss_images()
    assert count == math.prod(len(v) for v in versions.values())
    limit = 64
    images = list(disk.power_loss_images(limit=limit, rng=rng))
    assert len(images) == min(count, limit)
    assert images[0] == initial.ljust(len(disk.view), b"\0")
    assert images[-1] == disk.view
    for image in images:
        assert len(image) == len(disk.view)
        for sector in range(-(-len(image) // SECTOR_SIZE)):
            found = sector_slice(image, sector)
            if sector in versions:
                assert found in versions[sector], f"sector {sector} holds no version of it"
            else:
                assert found == sector_slice(initial.ljust(len(image), b"\0"), sector)
    if count <= limit:
        assert Counter(images) == oracle_images(initial, writes)
    else:
        assert len(set(images)) >= 2  # at least durable and view differ when sampling


def test_limit_samples_exactly_limit_images_in_enumeration_order() -> None:
    initial, writes = three_writes()
    disk = disk_with(initial, writes)
    everything = list(disk.power_loss_images())
    for limit in (2, 5, 11):
        sample = list(disk.power_loss_images(limit=limit, rng=random.Random(limit)))
        assert len(sample) == limit
        assert sample[0] == everything[0]
        assert sample[-1] == everything[-1]
        # A subsequence of the full enumeration, no index twice.
        positions = [everything.index(image) for image in sample]
        assert positions == sorted(positions)
    assert list(disk.power_loss_images(limit=12)) == everything  # not over the limit: no rng needed
    with pytest.raises(ValueError, match="rng"):
        list(disk.power_loss_images(limit=5))


def test_limit_sampling_works_on_astronomical_products() -> None:
    disk = SimulatedDisk(bytes(64 * SECTOR_SIZE))
    for _ in range(3):
        disk.write_at(0, bytes([0xEE]) * 64 * SECTOR_SIZE)
    assert disk.count_power_loss_images() == 4**64
    sample = list(disk.power_loss_images(limit=20, rng=random.Random(1)))
    assert len(sample) == 20
    # Every write wrote the same bytes: each sector is old or new, independently.
    for image in sample:
        for sector in range(64):
            assert sector_slice(image, sector) in (bytes(SECTOR_SIZE), bytes([0xEE]) * SECTOR_SIZE)
    assert len(set(sample)) > 2
    assert sample[0] == disk.durable
    assert sample[-1] == disk.view


# -- Crash points and injected errors ----------------------------------------------------------


def test_arm_crash_raises_at_the_chosen_call_and_does_nothing() -> None:
    disk = SimulatedDisk(b"start")
    disk.write_at(0, b"S")  # calls before arming do not count toward the crash
    disk.arm_crash(2)
    disk.write_at(1, b"T")
    disk.sync()
    durable, view, unsynced, calls = disk.durable, disk.view, disk.unsynced, disk.calls
    with pytest.raises(SimulatedCrash):
        disk.write_at(2, b"never")
    assert (disk.durable, disk.view, disk.unsynced, disk.calls) == (durable, view, unsynced, calls)
    disk.write_at(2, b"A")  # the crash fires once
    assert disk.view == b"STAr" + b"t"


def test_arm_crash_stops_a_sync_and_disarm_forgets_it() -> None:
    disk = SimulatedDisk()
    disk.write_at(0, b"data")
    disk.arm_crash(0)
    with pytest.raises(SimulatedCrash):
        disk.sync()
    assert disk.durable == b""
    assert disk.unsynced == (Write(0, b"data"),)
    disk.arm_crash(0)
    disk.disarm()
    disk.sync()
    assert disk.durable == b"data"


def test_a_crash_wins_over_an_error_armed_for_the_same_call() -> None:
    disk = SimulatedDisk()
    disk.arm_crash(0)
    disk.fail_write(0)
    with pytest.raises(SimulatedCrash):
        disk.write_at(0, b"x")


@pytest.mark.parametrize("error", [errno.EIO, errno.ENOSPC])
def test_fail_write_raises_the_errno_and_writes_nothing(error: int) -> None:
    disk = SimulatedDisk(b"old")
    disk.fail_write(1, error)
    disk.write_at(0, b"n")  # call 1 succeeds
    with pytest.raises(OSError) as raised:
        disk.write_at(1, b"never")
    assert raised.value.errno == error
    assert disk.view == b"nld"
    assert disk.unsynced == (Write(0, b"n"),)
    assert disk.calls == 2  # the failed write was issued
    disk.write_at(1, b"E")  # once only
    assert disk.view == b"nEd"


def test_fail_write_on_a_sync_call_fails_the_next_write() -> None:
    disk = SimulatedDisk()
    disk.fail_write(0)
    disk.sync()
    with pytest.raises(OSError):
        disk.write_at(0, b"x")


def test_fail_sync_persists_exactly_the_chosen_writes() -> None:
    disk = SimulatedDisk(b"." * 20)
    writes = [Write(0, b"aa"), Write(5, b"bb"), Write(10, b"cc"), Write(15, b"dd")]
    for write in writes:
        disk.write_at(write.offset, write.data)
    view = disk.view
    disk.fail_sync(0, persisted=[0, 2], error=errno.ENOSPC)
    with pytest.raises(OSError) as raised:
        disk.sync()
    assert raised.value.errno == errno.ENOSPC
    assert disk.durable == replay(b"." * 20, [writes[0], writes[2]])
    assert disk.unsynced == (writes[1], writes[3])
    assert disk.view == view
    disk.sync()  # a retry persists the rest
    assert disk.durable == view
    assert not disk.unsynced


def test_fail_sync_with_nothing_persisted_changes_nothing() -> None:
    disk = SimulatedDisk(b"x")
    disk.write_at(0, b"y")
    disk.fail_sync(0)
    with pytest.raises(OSError) as raised:
        disk.sync()
    assert raised.value.errno == errno.EIO
    assert (disk.durable, disk.unsynced) == (b"x", (Write(0, b"y"),))


def test_fail_sync_drops_bytes_a_later_persisted_write_overwrote() -> None:
    # Write 0 is kept unsynced, but write 1, persisted, overwrote its middle: those
    # bytes are in neither the view nor the page cache any more.
    disk = SimulatedDisk()
    disk.write_at(0, b"aaaaaa")
    disk.write_at(2, b"bb")
    disk.fail_sync(0, persisted=[1])
    with pytest.raises(OSError):
        disk.sync()
    assert disk.durable == b"\0\0bb"
    assert disk.unsynced == (Write(0, b"aa"), Write(4, b"aa"))
    assert disk.view == b"aabbaa"


def test_fail_sync_refuses_indices_past_the_unsynced_writes() -> None:
    disk = SimulatedDisk()
    disk.write_at(0, b"a")
    disk.fail_sync(0, persisted=[1])
    with pytest.raises(ValueError, match="past the 1 unsynced"):
        disk.sync()


@given(initials, write_lists, st.data())
def test_a_failed_sync_keeps_view_equal_to_durable_plus_unsynced(
    initial: bytes, writes: list[Write], data: st.DataObject
) -> None:
    disk = disk_with(initial, writes)
    persisted = data.draw(st.sets(st.integers(0, max(len(writes) - 1, 0))) if writes else st.just(set[int]()))
    view = disk.view
    disk.fail_sync(0, persisted=persisted)
    with pytest.raises(OSError):
        disk.sync()
    assert disk.view == view
    assert disk.durable == replay(initial, [w for i, w in enumerate(writes) if i in persisted])
    assert replay(disk.durable, disk.unsynced) == view
    # Every power-loss image is still built from the sector versions the remaining writes give.
    versions = oracle_versions(disk.durable, list(disk.unsynced))
    for image in disk.power_loss_images(limit=16, rng=random.Random(0)):
        for sector, options in versions.items():
            assert sector_slice(image, sector) in options


@pytest.mark.parametrize("error", [errno.EIO, errno.EBADF])
def test_fail_read_raises_the_errno_once_and_changes_nothing(error: int) -> None:
    disk = SimulatedDisk(b"durable")
    disk.write_at(0, b"D")
    before = (disk.view, disk.durable, disk.unsynced, disk.calls)
    disk.fail_read(1, error)
    assert disk.read_at(0, 3) == b"Dur"  # read 1 succeeds
    with pytest.raises(OSError) as raised:
        disk.read_at(0, 7)
    assert raised.value.errno == error
    assert raised.value.strerror == os.strerror(error)
    assert (disk.view, disk.durable, disk.unsynced, disk.calls) == before
    assert disk.reads == 2  # the failed read was made
    assert disk.read_at(0, 7) == b"Durable"  # once only


@pytest.mark.parametrize("error", [errno.EIO, errno.EOVERFLOW])
def test_fail_size_raises_the_errno_once_and_changes_nothing(error: int) -> None:
    disk = SimulatedDisk(b"abc")
    disk.write_at(3, b"de")
    before = (disk.view, disk.durable, disk.unsynced, disk.calls)
    disk.fail_size(0, error)
    with pytest.raises(OSError) as raised:
        disk.size()
    assert raised.value.errno == error
    assert (disk.view, disk.durable, disk.unsynced, disk.calls) == before
    assert disk.size_queries == 1
    assert disk.size() == 5


def test_reads_and_size_queries_are_counted_apart_from_the_storage_calls() -> None:
    # A read is no crash point and no write's or sync's call: a crash or a
    # write fault armed for the next call waits for a write.
    disk = SimulatedDisk(b"x")
    disk.arm_crash(0)
    disk.fail_size(1)
    disk.fail_read(0)
    with pytest.raises(OSError):
        disk.read_at(0, 1)
    assert disk.size() == 1  # size query 1; the fault is armed for query 2
    assert (disk.calls, disk.reads, disk.size_queries) == (0, 1, 1)
    with pytest.raises(SimulatedCrash):
        disk.write_at(0, b"y")
    with pytest.raises(OSError):
        disk.size()


def test_disarm_forgets_read_and_size_faults() -> None:
    disk = SimulatedDisk(b"x")
    disk.fail_read(0)
    disk.fail_size(0)
    disk.disarm()
    assert (disk.read_at(0, 1), disk.size()) == (b"x", 1)


def test_negative_arguments_are_refused() -> None:
    disk = SimulatedDisk()
    for call in (
        lambda: disk.arm_crash(-1),
        lambda: disk.fail_write(-1),
        lambda: disk.fail_sync(0, persisted=[-1]),
        lambda: disk.fail_read(-1),
        lambda: disk.fail_size(-1),
        lambda: disk.write_at(-1, b"x"),
        lambda: disk.read_at(-1, 1),
    ):
        with pytest.raises(ValueError):
            call()


# -- Torn writes ------------------------------------------------------------------------------


def classify(image: bytes, old: bytes, new: bytes, garbage: set[bytes], start: int, end: int) -> set[str]:
    piece = image[start:end]
    names = {"old": old[start:end], "new": new[start:end], "zero": bytes(end - start)}
    found = {name for name, content in names.items() if piece == content}
    if piece in garbage:
        found.add("garbage")
    return found


def torn_setup() -> tuple[SimulatedDisk, bytes, list[tuple[int, int]]]:
    """An earlier unsynced write, then an in-flight one over parts of two sectors."""
    disk = SimulatedDisk(b"A" * 1200)
    disk.write_at(0, b"e" * 8)
    old = disk.view
    disk.write_at(300, b"B" * 400)  # bytes 300..512 of sector 0, 512..700 of sector 1
    return disk, old, [(300, 512), (512, 700)]


@pytest.mark.parametrize("rng", [None, random.Random(7)], ids=["pattern", "rng"])
def test_each_sector_of_a_torn_write_is_old_new_zero_or_garbage(rng: random.Random | None) -> None:
    disk, old, spans = torn_setup()
    new = disk.view
    assert disk.count_torn_images() == 16
    images = list(disk.torn_images(rng=rng))
    assert len(images) == 16
    assert images[0] == old
    # Garbage is whatever is neither old, new nor zero; it must be the same in every image.
    garbage_seen: list[set[bytes]] = [set(), set()]
    for image in images:
        for (start, end), seen in zip(spans, garbage_seen, strict=True):
            piece = image[start:end]
            if piece not in (old[start:end], new[start:end], bytes(end - start)):
                seen.add(piece)
    assert all(len(seen) == 1 for seen in garbage_seen)
    garbage = set().union(*garbage_seen)
    combinations = set()
    for image in images:
        assert len(image) == len(new)
        assert image[:300] == new[:300] and image[700:] == new[700:]  # powersafe overwrite
        states = [classify(image, old, new, garbage, start, end) for start, end in spans]
        assert all(len(state) == 1 for state in states)
        combinations.add(tuple(state.pop() for state in states))
    assert len(combinations) == 16


def test_torn_garbage_is_deterministic_in_the_rng() -> None:
    disk, _, _ = torn_setup()
    assert list(disk.torn_images(rng=random.Random(3))) == list(disk.torn_images(rng=random.Random(3)))
    assert list(disk.torn_images()) == list(disk.torn_images())


def test_torn_images_sample_up_to_limit_with_all_old_and_all_new() -> None:
    disk = SimulatedDisk(bytes(8 * SECTOR_SIZE))
    disk.write_at(0, b"\x11" * 8 * SECTOR_SIZE)
    assert disk.count_torn_images() == 4**8
    sample = list(disk.torn_images(rng=random.Random(5), limit=10))
    assert len(sample) == 10
    assert len(set(sample)) == 10
    assert sample[0] == disk.durable
    assert disk.view in sample
    with pytest.raises(ValueError, match="rng"):
        list(disk.torn_images(limit=10))


def test_no_write_in_flight_no_torn_images() -> None:
    disk = SimulatedDisk(b"x")
    assert disk.count_torn_images() == 0
    assert list(disk.torn_images()) == []


# -- Media faults --------------------------------------------------------------------------------


def test_truncated() -> None:
    assert truncated(b"abcdef", 3) == b"abc"
    assert truncated(b"abc", 5) == b"abc\0\0"
    assert truncated(b"abc", 0) == b""
    with pytest.raises(ValueError):
        truncated(b"abc", -1)


def test_flip_bit() -> None:
    assert flip_bit(b"\x00\x00", 0) == b"\x01\x00"
    assert flip_bit(b"\x00\x00", 15) == b"\x00\x80"
    assert flip_bit(flip_bit(b"memvid", 21), 21) == b"memvid"
    with pytest.raises(IndexError):
        flip_bit(b"\x00", 8)


def test_overwrite() -> None:
    assert overwrite(b"abcdef", 2, b"XY") == b"abXYef"
    assert overwrite(b"ab", 4, b"Z") == b"ab\0\0Z"
    assert overwrite(b"abc", 0, b"") == b"abc"


# -- With the WAL --------------------------------------------------------------------------------


def test_unsynced_appends_survive_a_kill_and_not_every_power_loss() -> None:
    disk = SimulatedDisk()
    header = create_mv2(disk, wal_size=4096)
    assert disk.unsynced == ()
    wal = EmbeddedWal.open(disk, header, design=Design.FIXED)
    wal.set_skip_sync(True)
    payloads = [b"first", b"second" * 20, b"third" * 3]
    expected = [WalRecord(wal.append_entry(payload), payload) for payload in payloads]

    assert disk.count_power_loss_images() > 1
    killed = MemoryStorage(disk.kill_image())
    reopened = EmbeddedWal.open_read_only(killed, read_header(killed, clear_legacy_lock=False))
    assert reopened.pending_records() == expected

    # The durable image predates every append: power loss may lose them all.
    durable = MemoryStorage(next(disk.power_loss_images()))
    lost = EmbeddedWal.open_read_only(durable, read_header(durable, clear_legacy_lock=False))
    assert lost.pending_records() == []
