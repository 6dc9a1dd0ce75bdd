"""memvid's caller layer on real files (spec/semantics.md S9): the staged
commit, recovery at open, growth, batch mode and the doctor, as memvid does
them (``Design.ORIGINAL``) and as they should be done (``Design.FIXED``).
Every place the two differ is marked ``DIVERGENCE Mn`` (spec/defects.md).

A ``Memory`` is memvid's handle on one ``.mv2`` file: the open file, the
caller's header, the WAL, and the frame store (S9.8) that stands in for
memvid's data segments. All I/O goes through ``Storage`` and ``Directory``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import blake3

from reference.errors import CheckpointFailed, WalCorruption, WalError, WalIoError
from reference.header import Header, read_header, write_header
from reference.mv2 import (
    COPY_CHUNK,
    REASONS_THAT_GROW,
    WAL_SIZE_TINY,
    create_mv2,
    grow_region,
    grown_size,
    write_zeros,
)
from reference.storage import Directory, Storage
from reference.wal import ENTRY_HEADER_SIZE, Design, EmbeddedWal, WalRecord, _entry_at, _Invalid

_FRAME = struct.Struct("<QI")
# A region never grows past this (memvid's u64 doubling fails with "wal_size overflow").
WAL_SIZE_LIMIT = 1 << 40


class FrameStoreDamaged(WalError):
    """The frame store does not match the header's checksum (S9.8)."""

    kind = "InvalidToc"
    display = "Invalid table of contents: {reason}"


def store_start(header: Header) -> int:
    return header.wal_offset + header.wal_size


def _store_bytes(storage: Storage, header: Header) -> bytes:
    """S9.8: the frame store's bytes, checked against the header."""
    start = store_start(header)
    if header.footer_offset < start:
        # A header no commit writes: a store there would lie over the region,
        # and a commit would write its frames over the WAL's records.
        raise FrameStoreDamaged("footer offset before the frame store")
    raw = storage.read_at(start, header.footer_offset - start)
    if len(raw) != header.footer_offset - start:
        raise FrameStoreDamaged("frame store truncated")
    if raw and blake3.blake3(raw).digest() != header.toc_checksum:
        raise FrameStoreDamaged("frame store checksum mismatch")
    return raw


def _frames(raw: bytes) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    cursor = 0
    while cursor < len(raw):
        if cursor + _FRAME.size > len(raw):
            raise FrameStoreDamaged("frame header truncated")
        sequence, length = _FRAME.unpack_from(raw, cursor)
        cursor += _FRAME.size
        frames.append((sequence, raw[cursor : cursor + length]))
        cursor += length
    return frames


def read_frames(storage: Storage, header: Header) -> list[tuple[int, bytes]]:
    """S9.8: the applied records, (sequence, payload), in the order applied."""
    return _frames(_store_bytes(storage, header))


def apply_records(storage: Storage, header: Header, records: list[WalRecord]) -> None:
    """Append the records' frames to the store and point ``header`` at them
    (memvid's apply_records and TOC write). Nothing is synced here."""
    if not records:
        return
    old = _store_bytes(storage, header)
    _frames(old)  # a damaged store is reported, never extended
    new = b"".join(_FRAME.pack(r.sequence, len(r.payload)) + r.payload for r in records)
    storage.write_at(header.footer_offset, new)
    header.footer_offset += len(new)
    header.toc_checksum = blake3.blake3(old + new).digest()


def copy_file(
    source: Storage,
    target: Storage,
    *,
    moved_from: int | None = None,
    growth: int = 0,
    chunk: int = COPY_CHUNK,
) -> None:
    """Copy ``source`` into ``target``; with ``moved_from``, the bytes from
    there on land ``growth`` bytes later and the gap is zeros (FIXED's growth).
    ``chunk`` bounds each read and write, as grow_region's (S3.11): a tuning
    knob, no result depends on it."""
    size = source.size()
    cursor = 0
    while cursor < size:
        data = source.read_at(cursor, min(chunk, size - cursor))
        if moved_from is not None and cursor < moved_from < cursor + len(data):
            data = data[: moved_from - cursor]
        shift = growth if moved_from is not None and cursor >= moved_from else 0
        target.write_at(cursor + shift, data)
        cursor += len(data)
    if moved_from is not None:
        write_zeros(target, moved_from, growth, chunk)


# What a commit does with the records it applies: by default the frame store
# (S9.8); a harness that keeps other bytes after the region passes its own.
Apply = Callable[[Storage, Header, list[WalRecord]], None]


def apply_nothing(storage: Storage, header: Header, records: list[WalRecord]) -> None:
    """For harnesses that check the WAL alone: the records go nowhere."""


class Memory:
    """memvid's ``Memvid`` handle, as far as the WAL is concerned. Use
    ``create`` or ``open``."""

    def __init__(
        self,
        directory: Directory,
        storage: Storage,
        header: Header,
        design: Design,
        apply: Apply = apply_records,
    ) -> None:
        self.directory = directory
        self.storage = storage
        self.header = header
        self.design = design
        self.apply = apply
        # ORIGINAL: the descriptor whose flock memvid keeps for the handle's life
        # (FileLock's clone); it stays on the first inode across commits (M1).
        self._lock_holder: Storage | None = storage
        self.wal = EmbeddedWal.open(storage, header, design=design)
        # Records the open's recovery applied (S9.2).
        self.recovered: list[WalRecord] = []
        # The staged copies' and FIXED growth's chunk (copy_file's knob, S3.11).
        self.copy_chunk = COPY_CHUNK

    @classmethod
    def attach(
        cls,
        directory: Directory,
        storage: Storage,
        header: Header,
        wal: EmbeddedWal,
        design: Design,
        apply: Apply = apply_records,
    ) -> Memory:
        """A handle on a file some other code opened (a test harness that
        drives the WAL itself): the caller operations then work on it."""
        memory = cls.__new__(cls)
        memory.directory, memory.storage, memory.header, memory.design = directory, storage, header, design
        memory.apply = apply
        memory._lock_holder = storage
        memory.wal = wal
        memory.recovered = []
        memory.copy_chunk = COPY_CHUNK
        return memory

    @property
    def fixed(self) -> bool:
        return self.design is Design.FIXED

    # -- S3.1, S9.2 -----------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Directory,
        *,  # Memory.create's options, by name
        design: Design = Design.FIXED,
        wal_size: int = WAL_SIZE_TINY,
        apply: Apply = apply_records,
    ) -> Memory:
        storage = directory.open_path(create=True, follow_renames=design is Design.FIXED)
        header = create_mv2(storage, wal_size)
        return cls(directory, storage, header, design, apply)

    @classmethod
    def open(
        cls, directory: Directory, *, design: Design = Design.FIXED, apply: Apply = apply_records
    ) -> Memory:
        """A writable open, with memvid's recovery (S9.2)."""
        storage = directory.open_path(follow_renames=design is Design.FIXED)
        try:
            memory = cls(directory, storage, read_header(storage), design, apply)
        except BaseException:
            # S9.6: a failed open drops its file, and the lock with it.
            _close(storage)
            raise
        try:
            records = memory.wal.records_after(memory.header.wal_sequence)
            if records:
                if memory.fixed:
                    memory._staged(records)  # DIVERGENCE M4: atomic, as a commit
                else:
                    memory._in_place(records)
                memory.recovered = records
        except BaseException:
            memory.close()
            raise
        return memory

    # -- appends, S9.4 growth -------------------------------------------------

    def put(self, payload: bytes) -> int:
        """memvid's append_wal_entry: append, growing the region when it is
        too small or full (S3.11, S9.4)."""
        while True:
            try:
                return self.wal.append_entry(payload)
            except CheckpointFailed as refused:
                if refused.reason not in REASONS_THAT_GROW:
                    raise
                new_size = grown_size(self.header.wal_size, ENTRY_HEADER_SIZE + len(payload))
                if new_size > WAL_SIZE_LIMIT:
                    raise
                self.grow(new_size)

    def grow(self, new_size: int) -> None:
        skip_sync = self.wal.skip_sync
        if self.fixed:
            # DIVERGENCE M4: the grown file is built beside the old one and
            # renamed over it; a crash leaves one of the two, whole.
            growth = new_size - self.header.wal_size
            header = self.header.copy()
            header.wal_size = new_size
            header.footer_offset += growth  # S9.4: memvid's, whatever footer_offset is
            self._replace(header, lambda temp: self._copy_grown(temp, growth))
            self.wal.set_skip_sync(skip_sync)  # DIVERGENCE M5: a batch stays a batch
        else:
            grow_region(self.storage, self.header, new_size, memvid_order=True)  # M4
            self.wal = EmbeddedWal.open(self.storage, self.header, design=self.design)

    def _copy_grown(self, temp: Storage, growth: int) -> None:
        start = store_start(self.header)
        copy_file(self.storage, temp, moved_from=start, growth=growth, chunk=self.copy_chunk)

    # -- S9.5 batch mode ------------------------------------------------------

    def begin_batch(self, *, skip_sync: bool = True, pre_size: int = 0) -> None:
        if pre_size > self.header.wal_size:
            self.grow(1 << (pre_size - 1).bit_length())
        self.wal.set_skip_sync(skip_sync)

    def end_batch(self) -> None:
        self.wal.flush()
        self.wal.set_skip_sync(False)

    # -- S9.1 staged commit, S9.3 in place -------------------------------------

    def commit(self) -> list[WalRecord]:
        """memvid's commit(): the records applied on a copy renamed over the file."""
        records = self.wal.pending_records()
        if records:
            self._staged(records)
        return records

    def commit_skip_indexes(self) -> list[WalRecord]:
        """memvid's commit_skip_indexes: in place, "not crash-safe" (S9.3)."""
        records = self.wal.pending_records()
        if records:
            if self.fixed:
                self._staged(records)  # DIVERGENCE M4
            else:
                self._in_place(records)
        return records

    def _in_place(self, records: list[WalRecord]) -> None:
        self.apply(self.storage, self.header, records)
        self.wal.record_checkpoint(self.header)
        write_header(self.storage, self.header)
        self.storage.sync()

    def _staged(self, records: list[WalRecord]) -> None:
        header = self.header.copy()

        def build(temp: Storage) -> None:
            copy_file(self.storage, temp, chunk=self.copy_chunk)
            temp.sync()
            staged_wal = EmbeddedWal.open(temp, header, design=self.design)
            self.apply(temp, header, records)
            staged_wal.record_checkpoint(header)

        skip_sync = self.wal.skip_sync
        self._replace(header, build)
        if self.fixed:
            self.wal.set_skip_sync(skip_sync)  # DIVERGENCE M5

    def _replace(self, header: Header, build: Callable[[Storage], None]) -> None:
        """S9.1 steps 2-8: sync the file, build the copy, write its header,
        sync it, rename it over the path, fsync the directory, reopen."""
        try:
            self.storage.sync()
        except OSError as error:
            raise WalIoError(str(error)) from error
        # DIVERGENCE M1: FIXED locks the copy before it takes the path's name.
        name, temp = self.directory.create_temp(lock=self.fixed)
        try:
            build(temp)
            write_header(temp, header)
            temp.sync()
            self.directory.replace(name)
        except BaseException:
            self.directory.discard(name)
            _close(temp)
            raise
        self.directory.sync()
        old = self.storage
        if self.fixed:
            # DIVERGENCE M1: keep the copy's (locked) descriptor, which is the
            # file at the path now; only then let the old file and its lock go.
            self.storage = temp
            self._lock_holder = temp
            _close(old)
        else:
            _close(temp)
            self.storage = self.directory.open_path(lock=False)
            if getattr(old, "locked", False):
                self._lock_holder = old  # memvid's FileLock clone stays on the old inode (M1)
            else:
                _close(old)
        self.header = header
        self.wal = EmbeddedWal.open(self.storage, header, design=self.design)

    # -- S9.9 the doctor ------------------------------------------------------

    def close(self) -> None:
        for storage in {id(s): s for s in (self.storage, self._lock_holder) if s is not None}.values():
            _close(storage)
        self._lock_holder = None

    def frames(self) -> list[tuple[int, bytes]]:
        return read_frames(self.storage, self.header)


def _close(storage: Storage) -> None:
    close = getattr(storage, "close", None)
    if close is not None:
        close()


def doctor(directory: Directory, *, design: Design = Design.FIXED, apply: Apply = apply_records) -> Memory:
    """memvid's doctor on a closed file (S9.9); returns the memory opened
    after the repair, whose ``recovered`` lists the records the repair applied."""
    if design is Design.FIXED:
        return _fixed_doctor(directory, apply)
    storage = directory.open_path()
    try:
        header = read_header(storage)
    except BaseException:
        _close(storage)  # S9.6: a failed open drops its file and its lock
        raise
    try:
        EmbeddedWal.open(storage, header, design=Design.ORIGINAL).pending_records()
    except (WalCorruption, WalIoError):
        # try_recover_from_wal_corruption: zero, header 0/0, one sync (M2, M3).
        write_zeros(storage, header.wal_offset, header.wal_size)
        header.wal_checkpoint_pos = 0
        header.wal_sequence = 0
        write_header(storage, header)
        storage.sync()
    _close(storage)
    memory = Memory.open(directory, design=Design.ORIGINAL, apply=apply)
    # reset_wal, at the end of every repair: zero, sync, header 0/0, sync.
    write_zeros(memory.storage, memory.header.wal_offset, memory.header.wal_size)
    memory.storage.sync()
    memory.header.wal_checkpoint_pos = 0
    memory.header.wal_sequence = 0
    write_header(memory.storage, memory.header)
    memory.storage.sync()
    memory.wal = EmbeddedWal.open(memory.storage, memory.header, design=Design.ORIGINAL)
    return memory


def salvage(region: bytes, wal_sequence: int) -> list[WalRecord]:
    """FIXED's doctor scan (S9.9): every intact record above ``wal_sequence``
    whose sequence is above the last one taken, stepping over invalid entries
    whose length is in range, to the first sentinel or out-of-range length."""
    view = memoryview(region)
    taken: list[WalRecord] = []
    last = wal_sequence
    cursor = 0
    while cursor + ENTRY_HEADER_SIZE <= len(view):
        # Alike model/caller.py's walk on purpose: the model and the reference are
        # written apart, so that comparing them means something.
        entry = _entry_at(view, cursor)
        if entry is None:
            break
        if isinstance(entry, _Invalid):
            if entry.end is None:
                break
            cursor = entry.end
            continue
        if entry.sequence > last:
            taken.append(WalRecord(entry.sequence, entry.payload))
            last = entry.sequence
        cursor += entry.total_size
    return taken


def _fixed_doctor(directory: Directory, apply: Apply) -> Memory:
    storage = directory.open_path(follow_renames=True)
    try:
        header = read_header(storage)
        region = storage.read_at(header.wal_offset, header.wal_size)
    except BaseException:
        _close(storage)  # S9.6: a failed open drops its file and its lock
        raise
    records = salvage(region, header.wal_sequence)
    repaired = header.copy()

    def build(temp: Storage) -> None:
        copy_file(storage, temp)
        write_zeros(temp, header.wal_offset, header.wal_size)
        apply(temp, repaired, records)
        repaired.wal_checkpoint_pos = 0
        # DIVERGENCE M3: the sequence never goes back.
        repaired.wal_sequence = max([header.wal_sequence, *(r.sequence for r in records)])

    # Memory's constructor opens the WAL, which a damaged region may refuse;
    # the repair only needs the directory, the file and the header.
    memory = Memory.attach(directory, storage, header, None, Design.FIXED, apply)  # type: ignore[arg-type]
    try:
        memory._replace(repaired, build)  # DIVERGENCE M2: intact records are applied, atomically
    except BaseException:
        memory.close()
        raise
    memory.recovered = records
    return memory


__all__ = [
    "Apply",
    "FrameStoreDamaged",
    "Memory",
    "apply_nothing",
    "apply_records",
    "copy_file",
    "doctor",
    "read_frames",
    "salvage",
]
