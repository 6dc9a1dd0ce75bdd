"""The storage interface on its own: ``FileStorage`` and ``MemoryStorage``
against a pure model of a file (spec/semantics.md S1.4's contract, items 1-5),
and ``FileDirectory`` against a model of its directory (S9.7's calls, items
1-3), with the operating system's rarer answers injected at seams.

The other machines reach the storage only through the WAL and the caller
layer, which never read past a file's end, write near the largest offset,
meet a short ``pwrite``, a failed directory sync, a file system without
``flock``, a path renamed over mid-open or a temporary name already taken.
Here each of those is a rule, and each rule's outcome is the one the spec
states, exact to the error's number, text and file name, and to the system
calls made.

The numbers the spec states are spelled out here rather than imported from
reference/storage.py, so that a mutant of the reference's constant disagrees.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import reference.storage as storage_module
from reference.errors import LockError
from reference.storage import FileDirectory, FileStorage, MemoryStorage
from walcheck.sidebyside.machines import Divergence, _agree

OFFSET_MAX = 2**63 - 1  # S1.4: the largest off_t
MEMORY_FILE_MAX = 1 << 27  # S1.4 item 2: MemoryStorage's largest file
READ_CHUNK = 1 << 20  # S1.4 item 1: what one pread asks for at most
OPEN_ATTEMPTS = 100  # S9.7 items 1 and 2
# A read whose answer would be longer is cut to this length: a sparse file of
# 16 TiB is never read whole, and reads of several chunks stay possible.
READ_CAP = 2 * READ_CHUNK + 64
# Up to this size the whole file is compared after every step.
WHOLE_COMPARE = 1 << 16
EFBIG_TEXT = "File too large"


@functools.cache
def largest_file_size(directory: str) -> int:
    """The largest size a file can have in ``directory``: the smallest offset at
    which a one-byte ``pwrite`` fails with EFBIG, found by bisection on a
    scratch file (OFFSET_MAX when none below it fails). The kernel's answer,
    measured rather than assumed (S1.4 item 2 states this machine's)."""
    fd, scratch = tempfile.mkstemp(dir=directory)
    try:
        low, high = 0, OFFSET_MAX  # a write at low succeeds; one at high fails or is OFFSET_MAX
        while high - low > 1:
            middle = (low + high) // 2
            try:
                os.pwrite(fd, b"x", middle)
            except OSError as error:
                if error.errno != errno.EFBIG:
                    raise
                high = middle
            else:
                low = middle
            os.ftruncate(fd, 0)
        return high
    finally:
        os.close(fd)
        os.unlink(scratch)


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _left_open(before: set[str]) -> list[str]:
    """The descriptors open now that were not open ``before``."""
    return sorted(_open_descriptors() - before)


@dataclass
class FileModel:
    """A file as its size and the writes that made it, oldest first; a byte no
    write covers reads as zero (a sparse file, or MemoryStorage's fill)."""

    size: int = 0
    writes: list[tuple[int, bytes]] = field(default_factory=list)

    def answer_length(self, offset: int, length: int) -> int:
        return max(0, min(offset + length, self.size) - offset)

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        if end <= offset:
            return b""
        out = bytearray(end - offset)
        for start, data in self.writes:
            low, high = max(start, offset), min(start + len(data), end)
            if low < high:
                out[low - offset : high - offset] = data[low - start : high - start]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        if data:
            self.writes.append((offset, data))
            self.size = max(self.size, offset + len(data))


def expected_preads(offset: int, length: int, size: int) -> list[tuple[int, int]]:
    """S1.4 item 1: the (offset, length asked) of each pread of a FileStorage read."""
    calls: list[tuple[int, int]] = []
    position, stop = offset, min(offset + length, OFFSET_MAX)
    while position < stop:
        asked = min(stop, position + READ_CHUNK) - position
        calls.append((position, asked))
        got = min(asked, max(0, size - position))
        if got == 0:
            break
        position += got
    return calls


@dataclass(frozen=True)
class WriteOutcome:
    """What S1.4 item 2 says a write does: the pwrite calls (offset, length
    asked), how many bytes from the start of the data land, and the error."""

    calls: list[tuple[int, int]]
    written: int
    error: tuple[int, str, str | None] | None  # errno, strerror, filename


def expected_file_write(
    path: Path, offset: int, length: int, largest: int, shorts: list[int]
) -> WriteOutcome:
    """FileStorage's write of ``length`` bytes at ``offset`` on a file system
    whose largest file is ``largest``, the first pwrites cut to ``shorts``."""
    if length == 0:
        return WriteOutcome([], 0, None)
    if offset + length > OFFSET_MAX:
        return WriteOutcome([], 0, (errno.EFBIG, EFBIG_TEXT, str(path)))
    calls: list[tuple[int, int]] = []
    position, left, cuts = offset, length, iter(shorts)
    while left:
        calls.append((position, left))
        if position >= largest:
            return WriteOutcome(calls, position - offset, (errno.EFBIG, EFBIG_TEXT, None))
        done = min(left, largest - position, next(cuts, left))
        position, left = position + done, left - done
    return WriteOutcome(calls, length, None)


class _PwriteLog:
    """os.pwrite as the test sees it: logs each call and cuts the first ones short."""

    def __init__(self, shorts: list[int]) -> None:
        self.real = os.pwrite
        self.shorts = list(shorts)
        self.calls: list[tuple[int, int]] = []

    def __call__(self, fd: int, data: Any, offset: int) -> int:
        self.calls.append((offset, len(data)))
        if self.shorts:
            data = memoryview(data)[: self.shorts.pop(0)]
        return self.real(fd, data, offset)


class _PreadLog:
    """os.pread, logged; a read that asks more often than S1.4 allows is stopped
    (a loop that never ends would otherwise hang the killer)."""

    def __init__(self, limit: int) -> None:
        self.real = os.pread
        self.limit = limit
        self.calls: list[tuple[int, int]] = []

    def __call__(self, fd: int, length: int, offset: int) -> bytes:
        self.calls.append((offset, length))
        if len(self.calls) > self.limit:
            raise Divergence(f"read_at made more preads than S1.4 allows: {self.calls[:8]}...")
        return self.real(fd, length, offset)


@dataclass
class FileSide:
    """One FileStorage on a real file and its model."""

    name: str
    path: Path
    largest: int
    storage: FileStorage
    model: FileModel = field(default_factory=FileModel)
    closed: bool = False


def _refused(error: BaseException) -> tuple[object, ...]:
    if isinstance(error, OSError):
        return (type(error).__name__, error.errno, error.strerror, error.filename)
    return (type(error).__name__, str(error))


# Where a rule's offset is taken from: the start, the file's end, the limits;
# "to ..." anchors put the end of the call (offset + length) there instead.
ANCHORS = (
    "zero",
    "zero",
    "end",
    "end",
    "end",
    "largest",
    "to largest",
    "offset max",
    "to offset max",
    "2**64",
    "memory max",
    "to memory max",
)
DELTAS = st.one_of(
    st.just(0),
    st.integers(-3, 3),
    st.integers(-70, 70),
    st.sampled_from([-READ_CHUNK - 1, -READ_CHUNK, -2 * READ_CHUNK - 5, READ_CHUNK]),
)
LENGTHS = st.one_of(
    st.integers(0, 80),
    st.sampled_from([READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 2 * READ_CHUNK + 5, OFFSET_MAX, 2**64]),
)
# Short counts for the first pwrites of a write: a few bytes each, so that a
# write is often cut more than once, or anything up to a write's length.
SHORTS = st.one_of(
    st.lists(st.integers(1, 3), min_size=2, max_size=3), st.lists(st.integers(1, 63), max_size=3)
)


class StatefulStorage(RuleBasedStateMachine):
    """FileStorage in /tmp (and /dev/shm where there is one) and MemoryStorage,
    the same calls on each, each against its own model (S1.4)."""

    def __init__(self) -> None:
        super().__init__()
        self.directories = [tempfile.mkdtemp(prefix="walcheck-storage-")]
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            self.directories.append(tempfile.mkdtemp(prefix="walcheck-storage-", dir="/dev/shm"))
        self.files: list[FileSide] = []
        for directory in self.directories:
            path = Path(directory) / "file"
            self.files.append(
                FileSide(directory, path, largest_file_size(directory), FileStorage(path, create=True))
            )
        self.memory = MemoryStorage()
        self.memory_model = FileModel()
        self.memory_log: list[tuple[int, int]] = []
        self.memory_syncs = 0
        self.created = 0

    def teardown(self) -> None:
        for side in self.files:
            side.storage.close()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)

    def _offset(self, anchor: str, delta: int, model: FileModel, largest: int, length: int) -> int:
        if anchor.startswith("to "):
            return max(0, self._offset(anchor[3:], delta, model, largest, length) - length)
        base = {
            "zero": 0,
            "end": model.size,
            "largest": largest,
            "offset max": OFFSET_MAX,
            "2**64": 2**64,
            "memory max": MEMORY_FILE_MAX,
        }[anchor]
        return max(0, base + delta)

    # -- writes ------------------------------------------------------------------

    @rule(
        anchor=st.sampled_from(ANCHORS),
        delta=DELTAS,
        data=st.one_of(st.just(b""), st.binary(min_size=1, max_size=64)),
        shorts=SHORTS,
    )
    def write_at(self, anchor: str, delta: int, data: bytes, shorts: list[int]) -> None:
        self._write(anchor, delta, data, shorts)

    @rule(
        limit=st.sampled_from(["largest", "offset max", "memory max"]),
        past=st.integers(-1, 1),
        data=st.binary(min_size=1, max_size=8),
    )
    def write_across_a_limit(self, limit: str, past: int, data: bytes) -> None:
        """A write ending one byte before a limit, at it, or one byte past it:
        the boundaries S1.4 item 2 states, drawn as often as any other write."""
        self._write(f"to {limit}", past, data, [])

    def _write(self, anchor: str, delta: int, data: bytes, shorts: list[int]) -> None:
        # The injected short counts stand for a kernel's short pwrite: the ones
        # the data is long enough to be cut at (a count below what is left).
        for side in self.files:
            if side.closed:
                continue
            offset = self._offset(anchor, delta, side.model, side.largest, len(data))
            expected = expected_file_write(side.path, offset, len(data), side.largest, shorts)
            log = _PwriteLog(shorts)
            error: BaseException | None = None
            with mock.patch.object(os, "pwrite", log):
                try:
                    side.storage.write_at(offset, data)
                except Exception as raised:  # compared with the spec's outcome below
                    error = raised
            what = f"{side.name}: write_at({offset}, {len(data)} bytes) cut to {shorts}"
            _agree(f"{what}: pwrite calls (S1.4 item 2)", log.calls, expected.calls)
            got = None if error is None else _refused(error)
            want = None if expected.error is None else ("OSError", *expected.error)
            _agree(f"{what}: the outcome", got, want)
            side.model.write(offset, data[: expected.written])
        offset = self._offset(anchor, delta, self.memory_model, MEMORY_FILE_MAX, len(data))
        refused = bool(data) and offset + len(data) > MEMORY_FILE_MAX
        error = None
        try:
            self.memory.write_at(offset, data)
        except Exception as raised:
            error = raised
        want_memory = ("OSError", errno.EFBIG, EFBIG_TEXT, "memory file") if refused else None
        _agree(
            f"MemoryStorage.write_at({offset}, {len(data)} bytes)",
            None if error is None else _refused(error),
            want_memory,
        )
        if not refused:
            self.memory_model.write(offset, data)
            self.memory_log.append((offset, len(data)))

    # -- reads -------------------------------------------------------------------

    @rule(anchor=st.sampled_from(ANCHORS), delta=DELTAS, length=LENGTHS)
    def read_at(self, anchor: str, delta: int, length: int) -> None:
        for side in self.files:
            if side.closed:
                continue
            offset = self._offset(anchor, delta, side.model, side.largest, length)
            asked = READ_CAP if side.model.answer_length(offset, length) > READ_CAP else length
            calls = expected_preads(offset, asked, side.model.size)
            log = _PreadLog(len(calls))
            with mock.patch.object(os, "pread", log):
                got = side.storage.read_at(offset, asked)
            what = f"{side.name}: read_at({offset}, {asked})"
            _agree(f"{what}: pread calls (S1.4 item 1)", log.calls, calls)
            _agree(f"{what}: bytes", got, side.model.read(offset, asked))
        offset = self._offset(anchor, delta, self.memory_model, MEMORY_FILE_MAX, length)
        asked = READ_CAP if self.memory_model.answer_length(offset, length) > READ_CAP else length
        _agree(
            f"MemoryStorage.read_at({offset}, {asked})",
            self.memory.read_at(offset, asked),
            self.memory_model.read(offset, asked),
        )

    @rule()
    def sync(self) -> None:
        for side in self.files:
            if not side.closed:
                side.storage.sync()
        self.memory.sync()
        self.memory_syncs += 1

    # -- closing -----------------------------------------------------------------

    @rule(which=st.integers(0, 1), twice=st.booleans())
    def close(self, which: int, twice: bool) -> None:
        side = self.files[which % len(self.files)]
        side.storage.close()
        if twice:
            side.storage.close()  # S1.4 item 4: a second close does nothing
        side.closed = True
        message = f"{side.path} is closed"
        calls: list[tuple[str, Callable[[], object]]] = [
            ("read_at(0, 0)", lambda: side.storage.read_at(0, 0)),
            ("read_at(0, 10)", lambda: side.storage.read_at(0, 10)),
            ("read_at past OFFSET_MAX", lambda: side.storage.read_at(OFFSET_MAX + 1, 10)),
            ("write_at(0, b'')", lambda: side.storage.write_at(0, b"")),
            ("write_at(0, b'x')", lambda: side.storage.write_at(0, b"x")),
            ("write_at past OFFSET_MAX", lambda: side.storage.write_at(OFFSET_MAX, b"xy")),
            ("sync()", side.storage.sync),
            ("size()", side.storage.size),
            ("fd", lambda: side.storage.fd),
        ]
        for what, call in calls:
            try:
                call()
            except ValueError as error:
                _agree(f"{side.name}: a closed storage's {what} (S1.4 item 4)", str(error), message)
            else:
                raise Divergence(f"{side.name}: a closed storage's {what} did not raise ValueError")

    @precondition(lambda self: any(side.closed for side in self.files))
    @rule()
    def reopen(self) -> None:
        for side in self.files:
            if side.closed:
                side.storage = FileStorage(side.path)
                side.closed = False

    # -- opening, with the OS's failures injected ------------------------------------

    @rule(fails=st.booleans(), exists=st.booleans(), create=st.booleans())
    def create_with_a_directory_sync(self, fails: bool, exists: bool, create: bool) -> None:
        """S1.4 item 5: a new path's directory is synced once; a failed sync
        closes the descriptor and raises the sync's own error. Without
        ``create`` (the default) a missing path is the OS's FileNotFoundError,
        and nothing is made or synced."""
        directory = Path(self.directories[0])
        self.created += 1
        path = directory / f"created-{self.created}"
        if exists:
            path.write_bytes(b"there")
        injected = OSError(errno.EIO, os.strerror(errno.EIO), str(directory))
        synced: list[Path] = []

        def sync_directory(where: Path) -> None:
            synced.append(where)
            if fails:
                raise injected

        before = _open_descriptors()
        opened: FileStorage | None = None
        raised: Exception | None = None
        with (
            mock.patch.object(storage_module, "sync_directory", sync_directory),
            _opens_watched() as descriptors,
        ):
            try:
                opened = FileStorage(path, create=True) if create else FileStorage(path)
            except Exception as error:
                raised = error
        _none_inherited(f"FileStorage({path.name}, create={create})", descriptors)
        made = create and not exists
        _agree(
            f"directory syncs of FileStorage({path.name}, create={create})",
            synced,
            [directory] if made else [],
        )
        if opened is not None:
            _agree("the opened file's size", opened.size(), 5 if exists else 0)
            opened.close()
        _agree("the descriptors held after the open (S1.4 item 5)", _left_open(before), [])
        if not create and not exists:
            _agree(
                "the error raised",
                _refused(raised) if raised else None,
                ("FileNotFoundError", errno.ENOENT, os.strerror(errno.ENOENT), str(path)),
            )
            _agree("a file at the missing path after the open without create", path.exists(), False)
            return
        _agree("the error raised", raised, injected if fails and made else None)
        _agree("the file at the path", path.read_bytes(), b"there" if exists else b"")
        path.unlink()

    @rule(
        refusal=st.sampled_from([errno.ENOLCK, errno.EOPNOTSUPP]),
        read_only=st.booleans(),
        refused=st.booleans(),
    )
    def lock(self, refusal: int, read_only: bool, refused: bool) -> None:
        """locking.md L1: a file system that refuses flock refuses the open."""
        side = self.files[0]
        injected = OSError(refusal, os.strerror(refusal))
        taken: list[int] = []

        def flock(fd: int, operation: int) -> None:
            taken.append(operation)
            if refused:
                raise injected

        before = _open_descriptors()
        raised: Exception | None = None
        with mock.patch.object(fcntl, "flock", flock), _opens_watched() as descriptors:
            try:
                FileStorage(side.path, read_only=read_only, lock=True).close()
            except Exception as error:
                raised = error
        _none_inherited(f"FileStorage(read_only={read_only}, lock=True)", descriptors)
        wanted = (fcntl.LOCK_SH if read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB
        _agree("the flock asked for (L1)", taken, [wanted])
        _agree("the descriptors held after the open (S1.4 item 5)", _left_open(before), [])
        if not refused:
            _agree("a lock taken", raised, None)
            return
        mode = "shared" if read_only else "exclusive"
        message = f"{side.path}: cannot take a {mode} lock: {os.strerror(refusal)}"
        _agree(
            "the refusal (L1)",
            (type(raised).__name__, getattr(raised, "reason", None)),
            ("LockError", message),
        )
        assert raised is not None
        _agree("the refusal's cause (L1)", raised.__cause__, injected)

    # -- after every step ------------------------------------------------------------

    @invariant()
    def files_are_their_models(self) -> None:
        for side in self.files:
            if side.closed:
                continue
            _agree(f"{side.name}: size()", side.storage.size(), side.model.size)
            if side.model.size <= WHOLE_COMPARE:
                _agree(f"{side.name}: the file", side.path.read_bytes(), side.model.read(0, side.model.size))
            else:
                tail = max(0, side.model.size - 64)
                _agree(
                    f"{side.name}: the file's last bytes",
                    side.storage.read_at(tail, 64),
                    side.model.read(tail, 64),
                )
        _agree("MemoryStorage.size()", self.memory.size(), self.memory_model.size)
        _agree("MemoryStorage's log of writes", self.memory.writes, self.memory_log)
        _agree("MemoryStorage's syncs", self.memory.syncs, self.memory_syncs)
        if self.memory_model.size <= WHOLE_COMPARE:
            _agree(
                "MemoryStorage's bytes",
                bytes(self.memory.data),
                self.memory_model.read(0, self.memory_model.size),
            )


# -- the directory ---------------------------------------------------------------------

NAME = "memory.mv2"
# "rename an older once": the file renamed over the path was made before the
# path's own (a lower inode), so only an exact comparison of (device, inode)
# tells the two apart.
RACES = ("none", "rename once", "rename always", "remove once", "rename an older once")
SPARES = 3


@contextmanager
def _flock_seam(race: str, path: Path, replacement: Callable[[], Path]) -> Iterator[list[int]]:
    """take_flock, with the path renamed over (or removed) just before the lock,
    as another process would: on the first call, or on every call."""
    real = storage_module.take_flock
    calls: list[int] = []

    def take_flock(fd: int, where: Path, *, read_only: bool) -> None:
        calls.append(fd)
        renames_once = race in ("rename once", "rename an older once")
        if race == "rename always" or (renames_once and len(calls) == 1):
            os.rename(replacement(), path)
        elif race == "remove once" and len(calls) == 1:
            path.unlink()
        real(fd, where, read_only=read_only)

    with mock.patch.object(storage_module, "take_flock", take_flock):
        yield calls


@contextmanager
def _colliding_open(directory: Path, collisions: int) -> Iterator[list[str]]:
    """os.open, with the first ``collisions`` exclusive creations of a
    temporary name beside the path answered FileExistsError."""
    real = os.open
    tried: list[str] = []

    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        where = Path(path)
        if flags & os.O_EXCL and where.parent == directory and where.name.startswith(f".{NAME}."):
            tried.append(where.name)
            if len(tried) <= collisions:
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(where))
        return real(path, flags, mode, dir_fd=dir_fd)

    with mock.patch.object(os, "open", open_):
        yield tried


@contextmanager
def _opens_watched() -> Iterator[list[tuple[str, bool]]]:
    """os.open, noting each path it opens and whether a program the process
    ``exec``s would inherit the descriptor (S1.4 item 6) at any time it was
    watched: when opened, when closed, and at the end of the watch."""
    real_open, real_close = os.open, os.close
    opened: list[tuple[str, bool]] = []
    live: dict[int, int] = {}  # descriptor -> its entry in opened

    def look(fd: int) -> None:
        path, inherited = opened[live[fd]]
        opened[live[fd]] = (path, inherited or os.get_inheritable(fd))

    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        live[fd] = len(opened)
        opened.append((os.fspath(path), False))
        look(fd)
        return fd

    def close(fd: int) -> None:
        if fd in live:
            look(fd)
            del live[fd]
        real_close(fd)

    with mock.patch.object(os, "open", open_), mock.patch.object(os, "close", close):
        yield opened
        for fd in list(live):
            look(fd)


def _none_inherited(what: str, opened: list[tuple[str, bool]]) -> None:
    _agree(
        f"{what}: descriptors a program it execs would inherit (S1.4 item 6)",
        [path for path, inherited in opened if inherited],
        [],
    )


@contextmanager
def _directory_syncs() -> Iterator[list[Path]]:
    real = storage_module.sync_directory
    synced: list[Path] = []

    def sync_directory(directory: Path) -> None:
        synced.append(directory)
        real(directory)

    with mock.patch.object(storage_module, "sync_directory", sync_directory):
        yield synced


class StatefulDirectory(RuleBasedStateMachine):
    """FileDirectory against a model of its directory: names and bytes (S9.7)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(
            tempfile.mkdtemp(
                prefix="walcheck-directory-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
            )
        )
        self.path = self.root / NAME
        self.directory = FileDirectory(self.path)
        self.names: dict[str, bytes] = {}  # the model: every name in the directory
        self.temps: dict[str, FileStorage] = {}
        self.made = 0
        self.spares: list[Path] = []

    @initialize(lock=st.booleans())
    def start(self, lock: bool) -> None:
        self.directory = FileDirectory(self.path, lock=lock)
        # Made before the path's file, for "rename an older once".
        self.spares = [self._new_file("older") for _ in range(SPARES)]

    def teardown(self) -> None:
        for storage in self.temps.values():
            storage.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _new_file(self, prefix: str) -> Path:
        """A file of distinct bytes beside the path, as another process makes one."""
        self.made += 1
        path = self.root / f"{prefix}-{self.made}"
        path.write_bytes(f"{prefix} {self.made}".encode())
        self.names[path.name] = path.read_bytes()
        return path

    def _older_replacement(self) -> Path:
        made = self.spares.pop() if self.spares else self._new_file("other")
        self.names[NAME] = self.names.pop(made.name)
        return made

    def _replacement(self) -> Path:
        made = self._new_file("other")
        # renamed over the path at once by the seam
        self.names[NAME] = self.names.pop(made.name)
        return made

    @rule(
        create=st.booleans(),
        lock=st.booleans(),
        follow=st.booleans(),
        race=st.sampled_from(RACES),
        directory_locks=st.booleans(),
    )
    def open_path(self, create: bool, lock: bool, follow: bool, race: str, directory_locks: bool) -> None:
        self._open_path(create, lock, follow, race, directory_locks)

    @rule(create=st.booleans(), follow=st.booleans(), race=st.sampled_from(RACES[1:]))
    def open_path_while_another_renames(self, create: bool, follow: bool, race: str) -> None:
        # The races matter only to a locking open: drawn as often as the rest.
        self._open_path(create, True, follow, race, True)

    def _open_path(self, create: bool, lock: bool, follow: bool, race: str, directory_locks: bool) -> None:
        # open_path keeps nothing in its FileDirectory: a new one, locking or not, sees the same names.
        directory = FileDirectory(self.path, lock=directory_locks)
        locks = lock and directory_locks
        exists = NAME in self.names
        first = self.names.get(NAME, b"")
        if create:
            self.names.setdefault(NAME, b"")  # made by the first open, before any race
        before = _open_descriptors()
        raised: Exception | None = None
        opened: FileStorage | None = None
        replacement = self._older_replacement if race == "rename an older once" else self._replacement
        with _flock_seam(race, self.path, replacement) as calls, _opens_watched() as descriptors:
            try:
                opened = directory.open_path(create=create, lock=lock, follow_renames=follow)
            except (OSError, LockError) as error:
                raised = error
        if race == "remove once" and calls:
            self.names.pop(NAME, None)
        what = f"open_path(create={create}, lock={lock}, follow_renames={follow}), {race}, {directory_locks}"
        # S9.7 item 1, what must have happened:
        want_error: tuple[str, int | None] | None
        if not exists and not create:
            want_calls, want_error, want_bytes = 0, ("FileNotFoundError", errno.ENOENT), None
        elif not locks or race == "none":
            want_calls, want_error, want_bytes = int(locks), None, first
        elif not follow:
            want_calls, want_error, want_bytes = 1, None, first  # the first file opened, locked
        elif race in ("rename once", "rename an older once"):
            want_calls, want_error, want_bytes = 2, None, self.names[NAME]
        elif race == "rename always":
            want_calls, want_error, want_bytes = OPEN_ATTEMPTS, ("LockError", None), None
        elif create:  # removed once: the next open creates the path anew
            self.names[NAME] = b""
            want_calls, want_error, want_bytes = 2, None, b""
        else:
            want_calls, want_error, want_bytes = 1, ("FileNotFoundError", errno.ENOENT), None
        _agree(f"{what}: locks taken", len(calls), want_calls)
        got_error = None if raised is None else (type(raised).__name__, getattr(raised, "errno", None))
        _agree(f"{what}: the error", got_error, want_error)
        if isinstance(raised, LockError):
            _agree(
                f"{what}: the reason",
                raised.reason,
                f"{self.path} was replaced {OPEN_ATTEMPTS} times while being opened",
            )
        if opened is not None:
            _agree(f"{what}: the file opened", opened.read_at(0, 1 << 10), want_bytes)
            _agree(f"{what}: locked", opened.locked, locks)
            opened.close()
        _agree(f"{what}: the descriptors held after it", _left_open(before), [])
        _none_inherited(what, descriptors)

    @rule(lock=st.booleans(), collisions=st.sampled_from([0, 0, 1, 3, OPEN_ATTEMPTS - 1, OPEN_ATTEMPTS]))
    def create_temp(self, lock: bool, collisions: int) -> None:
        before = _open_descriptors()
        with (
            _opens_watched() as descriptors,
            _colliding_open(self.root, collisions) as tried,
            _directory_syncs() as synced,
        ):
            try:
                name, temp = self.directory.create_temp(lock=lock)
            except OSError as error:
                refused: OSError | None = error
            else:
                refused = None
        what = f"create_temp with {collisions} names taken"
        _none_inherited(what, descriptors)
        # S1.4 item 6: the temporary name becomes durable by the rename, or never.
        _agree(f"{what}: directory syncs", synced, [])
        if collisions >= OPEN_ATTEMPTS:
            _agree(f"{what}: names tried", len(tried), OPEN_ATTEMPTS)
            assert refused is not None, f"{what}: no error"
            _agree(
                f"{what}: the error (S9.7 item 2)",
                _refused(refused),
                ("FileExistsError", errno.EEXIST, "no free temporary name", str(self.path)),
            )
            _agree(f"{what}: the descriptors held", _left_open(before), [])
            return
        _agree(f"{what}: the error", refused, None)
        _agree(f"{what}: names tried", len(tried), collisions + 1)
        pattern = rf"\.{re.escape(NAME)}\.{os.getpid()}\.{collisions}\.[0-9a-f]{{6}}"
        if re.fullmatch(pattern, name) is None:
            raise Divergence(f"{what}: the name {name!r} is not {pattern}")
        _agree(f"{what}: the storage's path", temp.path, self.root / name)
        _agree(f"{what}: locked", temp.locked, lock and self.directory.lock)
        _agree(f"{what}: its size", temp.size(), 0)
        _agree(f"{what}: a program it execs inherits it (S1.4 item 6)", os.get_inheritable(temp.fd), False)
        if collisions == 0:
            # S1.4 item 6: a temporary file to read only is refused, and makes nothing.
            taken = self.root / f"{name}.read-only"
            try:
                FileStorage(taken, temporary=True, read_only=True).close()
            except ValueError as error:
                _agree(
                    "a read-only temporary file's refusal",
                    str(error),
                    f"{taken}: a temporary file is made to be written, not read_only",
                )
            else:
                raise Divergence("FileStorage(temporary=True, read_only=True) was not refused")
            _agree("a refused temporary file", taken.exists(), False)
        self.names[name] = b""
        self.temps[name] = temp

    @precondition(lambda self: self.temps)
    @rule(pick=st.integers(0, 100), data=st.binary(min_size=1, max_size=40))
    def write_a_temp(self, pick: int, data: bytes) -> None:
        name = sorted(self.temps)[pick % len(self.temps)]
        self.temps[name].write_at(0, data)
        self.names[name] = data + self.names[name][len(data) :]

    def _temp_name(self, pick: int, known: bool) -> str:
        if known and self.temps:
            return sorted(self.temps)[pick % len(self.temps)]
        # A temporary file this FileDirectory never handed out (another process's).
        return self._new_file(f".{NAME}.foreign").name

    @rule(pick=st.integers(0, 100), known=st.booleans())
    def replace(self, pick: int, known: bool) -> None:
        name = self._temp_name(pick, known)
        temp = self.temps.pop(name, None)
        self.directory.replace(name)
        self.names[NAME] = self.names.pop(name)
        if temp is not None:
            # S9.7 item 3: it stays open, on the path's file now.
            _agree("a replaced temporary storage's path", temp.path, self.path)
            _agree("a replaced temporary storage's bytes", temp.read_at(0, 1 << 10), self.names[NAME])
            temp.close()

    @rule(pick=st.integers(0, 100), known=st.booleans(), there=st.booleans())
    def discard(self, pick: int, known: bool, there: bool) -> None:
        name = self._temp_name(pick, known)
        temp = self.temps.pop(name, None)
        if temp is None and not there:
            (self.root / name).unlink()
            del self.names[name]
        self.directory.discard(name)
        self.names.pop(name, None)
        if temp is not None:
            try:
                temp.size()
            except ValueError:
                pass
            else:
                raise Divergence("a discarded temporary storage is still open (S9.7 item 3)")

    @rule()
    def sync(self) -> None:
        with _opens_watched() as descriptors:
            self.directory.sync()
        _agree("the directories a sync opened", [path for path, _ in descriptors], [str(self.root)])
        _none_inherited("a directory sync", descriptors)

    @precondition(lambda self: any(not name.startswith(".") for name in self.names))
    @rule(pick=st.integers(0, 100))
    def sync_a_file_as_its_directory(self, pick: int) -> None:
        """S1.4 item 6: sync_directory refuses a path that is no directory, rather
        than fsync a file and report the directory synced."""
        files = sorted(name for name in self.names if not name.startswith("."))
        path = self.root / files[pick % len(files)]
        before = _open_descriptors()
        try:
            storage_module.sync_directory(path)
        except NotADirectoryError as error:
            _agree(
                "sync_directory of a file: the error",
                (error.errno, error.filename),
                (errno.ENOTDIR, str(path)),
            )
        else:
            raise Divergence(f"sync_directory({path.name}), a file, did not raise NotADirectoryError")
        _agree("sync_directory of a file: the descriptors held after it", _left_open(before), [])

    @invariant()
    def directory_is_its_model(self) -> None:
        on_disk = {path.name: path.read_bytes() for path in self.root.iterdir()}
        _agree("the directory's names and bytes", on_disk, self.names)
