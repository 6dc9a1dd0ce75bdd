"""Crash states of a recording (spec/persistence.md PM2-PM9).

At crash point ``p`` (the first ``p`` calls completed, none after), the disk
holds every call made durable by a sync that completed before ``p``, and any
combination the model allows of the others:

- data (PM3): each 512-byte sector a later write or truncation touched holds
  any of its versions since the file's last sync: the durable one, or the one
  after any of those calls; independently of the other sectors;
- size (PM4): the file's durable size or the size after any later call that
  changed it, independently of the sectors; bytes past what persisted read as
  zeros;
- names (PM5, PM6): each create, mkdir, rename and unlink not yet made durable
  by a sync of its directory persisted or not, independently, each atomic.

``CrashState`` is one such choice; ``crash_states`` enumerates them for every
crash point (every choice when there are at most ``exhaustive_limit``, else
``samples`` random ones from a seeded generator, always with the two extremes),
and ``materialise`` writes one as real files.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from walcheck.real.syscalls.replay import Call, Recording, set_size, write_into

SECTOR = 512
DIRECTORY_CALLS = frozenset({"create", "mkdir", "rename", "unlink", "rmdir"})
DATA_CALLS = frozenset({"write", "truncate"})
FILE_SYNCS = frozenset({"fsync", "fdatasync"})


def parent(path: str) -> str:
    return os.path.dirname(path)


def directories_of(call: Call) -> tuple[str, ...]:
    """The directories whose entries a name call changes (PM5)."""
    if call.kind == "rename":
        return tuple(sorted({parent(call.path), parent(call.target)}))
    return (parent(call.path),)


@dataclass
class SectorVersions:
    """What one sector may hold after a crash: ``versions[0]`` is durable, each
    later one is the sector after the call ``calls[i - 1]`` (an index into the
    recording)."""

    versions: list[bytes]
    calls: list[int]


@dataclass
class FileAtCrash:
    inode: int
    durable: bytes
    sectors: dict[int, SectorVersions]
    sizes: list[int]  # sizes[0] durable, then after each size-changing call in sizes_calls
    sizes_calls: list[int]
    last_sync: int  # the index of the last completed sync of the file, or -1


@dataclass
class PointModel:
    """Everything a crash at one point may leave, before the choice is made."""

    point: int
    files: dict[int, FileAtCrash]
    durable_names: list[Call]  # name calls made durable, in order
    volatile_names: list[Call]  # the others, each kept or not
    initial_names: dict[str, int]
    directories: set[int]

    def choices(self) -> list[int]:
        """How many values each dimension of a choice has: every sector's
        versions, every file's sizes, then each volatile name call (2)."""
        dims: list[int] = []
        for file in self.files.values():
            dims.extend(len(s.versions) for s in file.sectors.values())
            dims.append(len(file.sizes))
        dims.extend(2 for _ in self.volatile_names)
        return dims

    def count(self) -> int:
        total = 1
        for d in self.choices():
            total *= d
        return total


@dataclass(frozen=True)
class CrashState:
    """One crash state: a point and a choice (one index per dimension of
    ``PointModel.choices``; the last index of each is "everything persisted")."""

    point: int
    choice: tuple[int, ...]


@dataclass
class Materialised:
    files: dict[str, bytes]
    directories: list[str]
    digest: str
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


class Persistence:
    """The persistence model applied to one recording."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.calls = recording.calls
        self.initial_names = dict(recording.initial_names)
        self.initial_data = {recording.initial_names[p]: data for p, data in recording.initial.items()}
        self.initial_directories = {recording.initial_names[p] for p in ["", *recording.initial_directories]}

    def point_model(self, point: int) -> PointModel:
        calls = self.calls[:point]
        last_file_sync: dict[int, int] = {}
        last_dir_sync: dict[str, int] = {}
        last_global_sync = -1
        for call in calls:
            if call.kind in FILE_SYNCS:
                last_file_sync[call.inode] = call.index
            elif call.kind == "dirsync":
                last_dir_sync[call.path] = call.index
                # PM7: an fsync of a directory is an fsync of its inode too.
                last_file_sync[call.inode] = call.index
            elif call.kind == "sync":
                last_global_sync = call.index
        directories = {c.inode for c in calls if c.kind == "mkdir"}
        directories |= self.initial_directories

        durable_names: list[Call] = []
        volatile_names: list[Call] = []
        for call in calls:
            if call.kind not in DIRECTORY_CALLS:
                continue
            synced = all(
                max(last_dir_sync.get(d, -1), last_global_sync) > call.index for d in directories_of(call)
            )
            (durable_names if synced else volatile_names).append(call)

        files: dict[int, FileAtCrash] = {}
        by_inode: dict[int, list[Call]] = {}
        for call in calls:
            if call.kind in DATA_CALLS:
                by_inode.setdefault(call.inode, []).append(call)
        inodes = {c.inode for c in calls if c.kind == "create"} | set(self.initial_data)
        for inode in inodes:
            ops = by_inode.get(inode, [])
            sync = max(last_file_sync.get(inode, -1), last_global_sync)
            content = bytearray(self.initial_data.get(inode, b""))
            volatile = [op for op in ops if op.index > sync]
            for op in ops:
                if op.index < sync:
                    _apply(content, op)
            durable = bytes(content)
            sectors: dict[int, SectorVersions] = {}
            sizes, sizes_calls = [len(content)], []
            for op in volatile:
                before = len(content)
                _apply(content, op)
                for sector in _touched(op, before):
                    start = sector * SECTOR
                    now = bytes(content[start : start + SECTOR]).ljust(SECTOR, b"\0")
                    entry = sectors.get(sector)
                    if entry is None:
                        old = durable[start : start + SECTOR].ljust(SECTOR, b"\0")
                        entry = sectors[sector] = SectorVersions([old], [])
                    if now != entry.versions[-1]:
                        entry.versions.append(now)
                        entry.calls.append(op.index)
                if len(content) != sizes[-1]:
                    sizes.append(len(content))
                    sizes_calls.append(op.index)
            # A sector whose every version is equal is not a choice.
            sectors = {k: v for k, v in sectors.items() if len(v.versions) > 1}
            files[inode] = FileAtCrash(inode, durable, sectors, sizes, sizes_calls, sync)
        return PointModel(point, files, durable_names, volatile_names, self.initial_names, directories)

    def materialise(self, model: PointModel, choice: Sequence[int]) -> Materialised:
        """The files and directories of one crash state, with what was kept and dropped."""
        position = 0
        contents: dict[int, bytes] = {}
        kept: list[str] = []
        dropped: list[str] = []
        for inode, file in model.files.items():
            data = bytearray(file.durable)
            dropped_sectors: dict[int, list[int]] = {}
            for sector, versions in file.sectors.items():
                picked = choice[position]
                position += 1
                start = sector * SECTOR
                if start + SECTOR > len(data):
                    data.extend(bytes(start + SECTOR - len(data)))
                data[start : start + SECTOR] = versions.versions[picked]
                for later in versions.calls[picked:]:
                    dropped_sectors.setdefault(later, []).append(sector)
            size_pick = choice[position]
            position += 1
            set_size(data, file.sizes[size_pick])
            contents[inode] = bytes(data)
            for call_index, lost in sorted(dropped_sectors.items()):
                dropped.append(f"{self.calls[call_index].describe()}: sectors {_ranges(lost)} not persisted")
            for call_index in file.sizes_calls[size_pick:]:
                dropped.append(f"{self.calls[call_index].describe()}: size {file.sizes[-1]} not persisted")
        names = dict(model.initial_names)
        for call in model.durable_names:
            _rename_apply(names, call)
        for call in model.volatile_names:
            if choice[position] == 1:
                _rename_apply(names, call)
                kept.append(call.describe())
            else:
                dropped.append(f"{call.describe()}: not persisted")
            position += 1
        files = {
            path: contents.get(number, b"")
            for path, number in sorted(names.items())
            if path and number not in model.directories and number in contents
        }
        directories = sorted(p for p, n in names.items() if p and n in model.directories)
        digest = hashlib.blake2b(digest_size=16)
        for path, content in files.items():
            digest.update(path.encode() + b"\0" + len(content).to_bytes(8, "little") + content)
        for path in directories:
            digest.update(b"d" + path.encode() + b"\0")
        return Materialised(files, directories, digest.hexdigest(), kept, dropped)


def _apply(content: bytearray, op: Call) -> None:
    if op.kind == "write":
        write_into(content, op.offset, op.data)
    else:
        set_size(content, op.size)


def _touched(op: Call, size_before: int) -> range:
    if op.kind == "write":
        return range(op.offset // SECTOR, (op.offset + len(op.data) + SECTOR - 1) // SECTOR)
    if op.size < size_before:  # a shrink zeroes what it cut off
        return range(op.size // SECTOR, (size_before + SECTOR - 1) // SECTOR)
    return range(0)


def _rename_apply(names: dict[str, int], call: Call) -> None:
    """Apply one name call to a crash state's names (PM6: each atomic; a call
    refers to the inode it named when it was made)."""
    inode = call.inode
    if call.kind in ("create", "mkdir"):
        names[call.path] = inode
    elif call.kind == "rename":
        if names.get(call.path) == inode:
            del names[call.path]
        names[call.target] = inode
    elif names.get(call.path) == inode:  # unlink, rmdir
        del names[call.path]


def _ranges(numbers: list[int]) -> str:
    runs: list[str] = []
    for _, group in itertools.groupby(enumerate(sorted(numbers)), key=lambda pair: pair[1] - pair[0]):
        values = [v for _, v in group]
        runs.append(str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return ",".join(runs)


def everything(model: PointModel) -> tuple[int, ...]:
    """The choice that keeps every call: what a process kill leaves (PM8)."""
    return tuple(d - 1 for d in model.choices())


def choices_at(
    model: PointModel, *, exhaustive_limit: int, samples: int, rng: random.Random
) -> Iterator[tuple[int, ...]]:
    """Every choice when there are at most ``exhaustive_limit``; else the two
    extremes and ``samples`` random ones (PM9)."""
    dims = model.choices()
    if model.count() <= exhaustive_limit:
        yield from itertools.product(*(range(d) for d in dims))
        return
    yield tuple(d - 1 for d in dims)
    yield tuple(0 for _ in dims)
    for _ in range(samples):
        yield tuple(rng.randrange(d) for d in dims)


def write_state(directory: Path, state: Materialised) -> None:
    """Materialise a crash state as real files under ``directory`` (emptied first)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for path in state.directories:
        (directory / path).mkdir(parents=True, exist_ok=True)
    for path, data in state.files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
