"""memvid's caller layer in the reference (spec/semantics.md S9; defects.md
M1-M5): the staged commit, recovery at open, growth, batch mode, the doctor,
both designs, and a crash at every step of each.

The crash check: every operation on a file or on the directory is counted; a
crash at step k leaves several images: a process kill keeps everything
written; a power loss keeps the synced bytes, and of the writes since the last
sync none, the last one alone, or all but one (each in turn), with the
directory as of its last sync or as it was. Each image is
opened with the design's recovery, and what the file holds must be what the
caller was told: every acknowledged record applied (in the frame store) or
pending, none twice, nothing never appended (G1, G2, G8), and the next append
issued a fresh sequence (G3).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference import Design, WalCorruption, WalIoError
from reference.caller import FrameStoreDamaged, Memory, doctor, read_frames
from reference.header import read_header
from reference.storage import FileDirectory, MemoryDirectory, MemoryStorage
from walcheck import figures


class Crash(Exception):
    """The process dies here."""


class Clock:
    """Counts the steps of every file and of the directory; raises Crash at ``crash_at``."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.steps = 0
        self.crash_at = crash_at

    def tick(self) -> None:
        if self.crash_at is not None and self.steps == self.crash_at:
            raise Crash
        self.steps += 1


class JournalStorage(MemoryStorage):
    """A file that knows which of its bytes are durable: ``durable`` as of the
    last sync, and the writes since, in order."""

    def __init__(self, clock: Clock, data: bytes = b"") -> None:
        super().__init__(data)
        self.clock = clock
        self.durable = bytes(data)
        self.unsynced: list[tuple[int, bytes]] = []

    def write_at(self, offset: int, data: bytes) -> None:
        self.clock.tick()
        super().write_at(offset, data)
        self.unsynced.append((offset, bytes(data)))

    def sync(self) -> None:
        self.clock.tick()
        super().sync()
        self.durable = bytes(self.data)
        self.unsynced.clear()

    def image(self, kept: list[int]) -> bytes:
        """The durable bytes with the unsynced writes numbered ``kept`` applied."""
        data = bytearray(self.durable)
        for offset, written in (self.unsynced[index] for index in kept):
            data.extend(bytes(max(0, offset + len(written) - len(data))))
            data[offset : offset + len(written)] = written
        return bytes(data)


class JournalDirectory(MemoryDirectory):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.files[self.PATH] = JournalStorage(clock)
        self.durable = dict(self.files)

    def create_temp(self, *, lock: bool = False) -> tuple[str, MemoryStorage]:
        self.clock.tick()
        name, _ = super().create_temp(lock=lock)
        self.files[name] = JournalStorage(self.clock)
        return name, self.files[name]

    def replace(self, temp: str) -> None:
        self.clock.tick()
        super().replace(temp)

    def sync(self) -> None:
        self.clock.tick()
        super().sync()

    def images(self) -> dict[str, bytes]:
        """What the path holds after the crash, by how the crash happened."""
        path = self.PATH
        current, durable = self.files.get(path), self.durable.get(path)
        found: dict[str, bytes] = {}
        assert isinstance(current, JournalStorage)
        found["kill"] = bytes(current.data)
        for names, storage in (("synced directory", durable), ("renamed", current)):
            if isinstance(storage, JournalStorage):
                writes = list(range(len(storage.unsynced)))
                found[f"power, {names}"] = storage.image([])
                if writes:
                    found[f"power, {names}, last write kept"] = storage.image(writes[-1:])
                for lost in writes[:-1]:
                    found[f"power, {names}, all but write {lost} kept"] = storage.image(
                        [index for index in writes if index != lost]
                    )
        return found


@dataclass
class Told:
    """What the caller was told: acknowledged appends, and the sequences issued."""

    acknowledged: dict[int, bytes]
    issued: set[int]


Scenario = Callable[[Memory, Told], None]


def _put(memory: Memory, told: Told, payload: bytes) -> None:
    sequence = memory.put(payload)
    told.issued.add(sequence)
    if not memory.wal.skip_sync:
        told.acknowledged[sequence] = payload


def _setup(design: Design, clock: Clock) -> tuple[JournalDirectory, Memory, Told]:
    directory = JournalDirectory(clock)
    memory = Memory.create(directory, design=design, wal_size=512)
    return directory, memory, Told({}, set())


def _check_image(image: bytes, design: Design, told: Told, where: str) -> str | None:
    """The image opened by the design: None if it keeps its promises, else why not."""
    directory = MemoryDirectory(image)
    try:
        memory = Memory.open(directory, design=design)
        frames = memory.frames()
    except (WalCorruption, WalIoError, FrameStoreDamaged) as error:
        return f"{where}: does not open: {error}"
    pending = {r.sequence: r.payload for r in memory.wal.pending_records()}
    held = [*frames, *pending.items()]
    sequences = [s for s, _ in held]
    if len(sequences) != len(set(sequences)):
        return f"{where}: a record is held twice (G2): {sorted(sequences)}"
    missing = {s: p for s, p in told.acknowledged.items() if (s, p) not in held}
    if missing:
        return f"{where}: acknowledged records lost (G1, G8): {sorted(missing)}"
    next_sequence = memory.put(b"next")
    if next_sequence in told.issued and next_sequence in dict(held):
        return f"{where}: sequence {next_sequence} issued again (G3)"
    return None


def crash_everywhere(design: Design, prepare: Scenario, operation: Scenario) -> list[str]:
    """Run ``prepare``, then crash ``operation`` at each of its steps; the
    problems found in every image, or [] when every image keeps the promises."""
    probe = Clock()
    directory, memory, told = _setup(design, probe)
    prepare(memory, told)
    start = probe.steps
    operation(memory, told)
    problems: list[str] = []
    for crash_at in range(start, probe.steps + 1):
        clock = Clock()
        directory, memory, told = _setup(design, clock)
        prepare(memory, told)
        clock.crash_at = crash_at
        with contextlib.suppress(Crash):
            operation(memory, told)
        images = directory.images()
        figures.add(figures.CALLER_CRASH_IMAGES, design.value, len(images))
        for name, image in images.items():
            problem = _check_image(image, design, told, f"crash at step {crash_at - start} ({name})")
            if problem is not None:
                problems.append(problem)
    return problems


def _puts(count: int, size: int = 16) -> Scenario:
    def scenario(memory: Memory, told: Told) -> None:
        for index in range(count):
            _put(memory, told, bytes([65 + index]) * size)

    return scenario


def _commit(memory: Memory, told: Told) -> None:
    memory.commit()


def _nothing(memory: Memory, told: Told) -> None:
    pass


# -- S9.1 the staged commit ------------------------------------------------------


class TestStagedCommit:
    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_the_commit_replaces_the_file_with_a_synced_copy(self, tmp_path: Path, design: Design) -> None:
        # Starts as TestRecoveryAtOpen's first test does, on purpose: each test's file is made where it reads.
        path = tmp_path / "m.mv2"
        memory = Memory.create(FileDirectory(path), design=design, wal_size=4096)
        memory.put(b"one")
        inode = os.stat(path).st_ino
        assert [r.payload for r in memory.commit()] == [b"one"]
        assert os.stat(path).st_ino != inode
        assert memory.frames() == [(1, b"one")]
        memory.close()
        reopened = Memory.open(FileDirectory(path), design=design)
        assert reopened.recovered == [] and reopened.frames() == [(1, b"one")]
        assert read_header(reopened.storage).wal_sequence == 1
        assert not [p for p in os.listdir(tmp_path) if p != "m.mv2"]  # no temporary file left
        reopened.close()

    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_in_memvid_order(self, design: Design) -> None:
        directory = MemoryDirectory()
        memory = Memory.create(directory, design=design, wal_size=4096)
        memory.put(b"one")
        old = directory.files[directory.PATH]
        syncs = old.syncs
        memory.commit()
        assert old.syncs == syncs + 1  # step 2: the file is synced before the copy
        assert directory.log == ["create .memory.mv2.0", "rename .memory.mv2.0", "fsync dir"]
        assert directory.files[directory.PATH].syncs == 2  # the copy, after the copy and at the end

    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_a_crash_anywhere_in_a_commit_loses_nothing(self, design: Design) -> None:
        """The staged commit is atomic in both designs."""
        assert crash_everywhere(design, _puts(3), _commit) == []


# -- S9.2 recovery at open, S9.3 commit_skip_indexes ---------------------------------


def _reopen(memory: Memory, told: Told) -> None:
    """Close and open again: the open applies what is pending (S9.2)."""
    directory = memory.directory
    memory.close()
    Memory.open(directory, design=memory.design)


class TestRecoveryAtOpen:
    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_the_open_applies_pending_records(self, tmp_path: Path, design: Design) -> None:
        # Starts as TestStagedCommit's first test does, on purpose: each test's file is made where it reads.
        path = tmp_path / "m.mv2"
        memory = Memory.create(FileDirectory(path), design=design, wal_size=4096)
        memory.put(b"one")
        memory.put(b"two")
        memory.close()
        inode = os.stat(path).st_ino
        reopened = Memory.open(FileDirectory(path), design=design)
        assert [r.payload for r in reopened.recovered] == [b"one", b"two"]
        assert reopened.frames() == [(1, b"one"), (2, b"two")]
        assert reopened.wal.pending_records() == []
        # memvid recovers in place; FIXED through a staged replace (M4).
        assert (os.stat(path).st_ino == inode) is (design is Design.ORIGINAL)
        reopened.close()

    def test_original_power_loss_loses_applied_records(self) -> None:
        """M4: frames, sentinel and header under one sync; the header kept alone."""
        problems = crash_everywhere(Design.ORIGINAL, _puts(2), _reopen)
        # The header outlived the frames it points at: the frame store is gone.
        assert any("frame store" in p and "last write kept" in p for p in problems), problems

    def test_fixed_a_crash_anywhere_in_a_recovery_loses_nothing(self) -> None:
        assert crash_everywhere(Design.FIXED, _puts(2), _reopen) == []

    def test_original_commit_skip_indexes_is_in_place(self) -> None:
        def skip_indexes(memory: Memory, told: Told) -> None:
            memory.commit_skip_indexes()

        problems = crash_everywhere(Design.ORIGINAL, _puts(2), skip_indexes)
        assert any("frame store" in p and "last write kept" in p for p in problems), problems
        assert crash_everywhere(Design.FIXED, _puts(2), skip_indexes) == []


# -- S9.4 growth, S9.5 batch mode ------------------------------------------------------


def _fill_region(memory: Memory, told: Told) -> None:
    """Pending entries that fill the 512-byte region exactly: 8 of 64 bytes."""
    _puts(8)(memory, told)
    assert memory.wal.pending_bytes == memory.header.wal_size == 512


def _grow_by_a_put(memory: Memory, told: Told) -> None:
    _put(memory, told, b"grows")


class TestGrowth:
    def test_a_full_region_grows_and_keeps_its_records(self) -> None:
        for design in Design:
            directory = MemoryDirectory()
            memory = Memory.create(directory, design=design, wal_size=512)
            told = Told({}, set())
            _fill_region(memory, told)
            memory.put(b"x")
            assert memory.header.wal_size == 1024
            assert [r.sequence for r in memory.wal.pending_records()] == list(range(1, 10))

    def test_original_power_loss_leaves_data_in_the_region(self) -> None:
        """M4: the header's new size kept, the zeros over the old data lost."""

        def prepare(memory: Memory, told: Told) -> None:
            _fill_region(memory, told)
            memory.commit()  # frames after the region: the data the growth moves
            _fill_region(memory, told)  # no sentinel ends the log before the region's end

        problems = crash_everywhere(Design.ORIGINAL, prepare, _grow_by_a_put)
        # The new size and the moved data kept, the zeros lost: the scan runs
        # from the last entry, at the old region's end, into the old frames.
        assert any("corrupted at offset 512" in p for p in problems), problems
        assert crash_everywhere(Design.FIXED, prepare, _grow_by_a_put) == []

    def test_designs_grow_to_the_same_layout(self) -> None:
        layouts = []
        for design in Design:
            memory = Memory.create(MemoryDirectory(), design=design, wal_size=512)
            _puts(2)(memory, Told({}, set()))
            memory.commit()
            memory.grow(2048)
            header = read_header(memory.storage)
            layouts.append((header.wal_size, header.footer_offset, read_frames(memory.storage, header)))
        assert layouts[0] == layouts[1]


class TestBatch:
    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_growth_inside_a_batch(self, design: Design) -> None:
        """M5: memvid's growth reopens the WAL with skip_sync off."""
        memory = Memory.create(MemoryDirectory(), design=design, wal_size=512)
        memory.begin_batch()
        for index in range(10):
            memory.put(bytes([index + 1]) * 16)
        assert memory.header.wal_size > 512
        assert memory.wal.skip_sync is (design is Design.FIXED)
        memory.end_batch()
        assert memory.wal.skip_sync is False

    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_a_crash_in_a_batch_keeps_what_end_batch_acknowledged(self, design: Design) -> None:
        def batch(memory: Memory, told: Told) -> None:
            memory.begin_batch()
            _puts(3)(memory, told)
            memory.end_batch()
            told.acknowledged.update({r.sequence: r.payload for r in memory.wal.pending_records()})
            memory.commit()

        assert crash_everywhere(design, _puts(1), batch) == []


# -- S9.9 the doctor ------------------------------------------------------------------


def _damage_last_payload(memory: Memory) -> None:
    """A media fault: one byte of the last record's payload (faults.md)."""
    position = memory.wal.write_head - 1
    storage = memory.storage
    offset = memory.header.wal_offset + position
    storage.write_at(offset, bytes([storage.read_at(offset, 1)[0] ^ 0xFF]))


class TestDoctor:
    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_intact_records_survive_the_doctor(self, design: Design) -> None:
        """M2: memvid zeroes the region and loses p1, intact and acknowledged."""
        directory = MemoryDirectory()
        memory = Memory.create(directory, design=design, wal_size=4096)
        memory.put(b"p1")
        memory.put(b"p2")
        _damage_last_payload(memory)
        with pytest.raises(WalCorruption):
            Memory.open(directory, design=Design.ORIGINAL)  # memvid cannot open it
        repaired = doctor(directory, design=design)
        if design is Design.FIXED:
            assert repaired.frames() == [(1, b"p1")]  # p2 was damaged: media faults lose data
        else:
            assert repaired.frames() == []

    @pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
    def test_original_reissues_sequences(self, design: Design) -> None:
        """M3: after memvid's doctor the next append is issued 1 again."""
        directory = MemoryDirectory()
        memory = Memory.create(directory, design=design, wal_size=4096)
        memory.put(b"p1")
        memory.commit()
        repaired = doctor(directory, design=design)
        assert repaired.put(b"next") == (1 if design is Design.ORIGINAL else 2)

    def test_original_power_loss_resurrects_applied_records(self) -> None:
        """M3: zeros and the header 0/0 under one sync; the header kept alone."""

        def prepare(memory: Memory, told: Told) -> None:
            _puts(2)(memory, told)
            memory.commit()
            _put(memory, told, b"damaged")
            told.acknowledged.pop(3)  # lost to the media fault, not to the doctor
            _damage_last_payload(memory)

        def run_doctor(memory: Memory, told: Told) -> None:
            memory.close()
            doctor(memory.directory, design=memory.design)

        problems = crash_everywhere(Design.ORIGINAL, prepare, run_doctor)
        assert any("held twice (G2)" in p for p in problems), problems
        assert crash_everywhere(Design.FIXED, prepare, run_doctor) == []


@pytest.mark.planted_bug
def test_crash_check_can_fail() -> None:
    """The crash check finds a planted loss: a commit that forgets to apply."""

    def forgetful_commit(memory: Memory, told: Told) -> None:
        memory.wal.record_checkpoint(memory.header)
        memory._replace(memory.header.copy(), lambda temp: temp.write_at(0, bytes(memory.storage.size())))

    problems = crash_everywhere(Design.FIXED, _puts(2), forgetful_commit)
    assert problems
