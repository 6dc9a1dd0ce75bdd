"""The one narrow interface between the WAL and the bytes it keeps (spec S1.4).

Every byte the reference reads or writes passes through ``Storage``: read at an
absolute file offset, write at one, sync, and the current size. Tests put a
simulated disk here; production uses ``FileStorage``, which can also take
memvid's advisory lock on the file (spec/locking.md).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from reference.errors import LockError

# The largest offset a file can have (off_t is a signed 64-bit integer). Header
# fields are u64, so a hostile header can name offsets past it; os.pread and
# os.pwrite would raise OverflowError there, which is no OSError.
OFFSET_MAX = 2**63 - 1
# Reads ask the kernel for at most this much at a time. The length of a region
# read comes from the file's own header (wal_size, up to 2**64 - 1), and
# os.pread allocates its whole buffer before reading: one chunk at a time keeps
# memory proportional to the bytes the file really has, not to what it claims.
READ_CHUNK_SIZE = 1 << 20
# The largest MemoryStorage: it holds every byte, so a write far past its end
# (a hostile wal_offset) is refused as a file system refuses a file too large.
# 128 MiB holds twice the region of memvid's largest tier (64 MiB, NOTES.md) with room for
# the rest of the file; zero-filling a gigabyte took 2-3 s, past the hostile tests' deadline.
MEMORY_FILE_MAX = 1 << 27


@runtime_checkable
class Storage(Protocol):
    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; fewer only at the end of the file."""
        ...

    def write_at(self, offset: int, data: bytes) -> None:
        """All of ``data`` at ``offset``, extending the file if needed."""
        ...

    def sync(self) -> None:
        """Make every completed write durable (fsync)."""
        ...

    def size(self) -> int:
        """The file's length in bytes."""
        ...


def lock_refused_reason(path: Path, read_only: bool) -> str:
    """The LockError reason when another open file holds a conflicting flock."""
    wanted = "a shared lock to read" if read_only else "an exclusive lock to write"
    return f"{path} is locked by another process (wanted {wanted})"


class FileStorage:
    """A file on disk, through positional reads and writes and fsync.

    With ``lock=True`` it takes memvid's advisory lock right after opening:
    ``flock(LOCK_EX | LOCK_NB)`` to write, ``flock(LOCK_SH | LOCK_NB)`` with
    ``read_only``, and raises ``LockError`` (closing the file) when another
    open file holds a conflicting lock. Closing releases the lock. Callers that
    share a file with memvid pass ``lock=True``. The default is ``lock=False``
    because flock locks belong to an open file description, not a process: a
    second ``FileStorage`` on the same path in the same process (the stateful
    machines' recovery reader beside the writer) would be refused by the
    first one's lock.

    ``temporary=True`` makes a new file under a name nothing holds, in one
    ``open`` (``O_CREAT | O_EXCL``), without the directory sync of ``create``:
    a temporary file's name is renamed over the path, or removed (S1.4 item 6).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        read_only: bool = False,
        lock: bool = False,
        temporary: bool = False,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.locked = False
        if temporary:
            if read_only:
                raise ValueError(f"{self.path}: a temporary file is made to be written, not read_only")
            # FileExistsError when the name is taken. No directory sync: the name
            # is renamed over the path (then synced, S9.1) or removed.
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
        else:
            flags = os.O_RDONLY if read_only else os.O_RDWR | (os.O_CREAT if create else 0)
        creating = create and not read_only and not self.path.exists()
        # Close-on-exec (S1.4 item 6): Python's os.open asks O_CLOEXEC itself (PEP 446).
        fd = os.open(self.path, flags, 0o644)
        if creating:
            # spec/persistence.md PM5: a new name is durable only once its directory
            # is synced; an fsync of the file does not persist it. Without this, every
            # record acknowledged before the file's first directory sync is lost with
            # the file when the power fails (found by walcheck.real.syscalls, PM12).
            try:
                sync_directory(self.path.parent)
            except BaseException:
                os.close(fd)
                raise
        if lock:
            try:
                take_flock(fd, self.path, read_only=read_only)
            except BaseException:
                # Nothing else refers to the descriptor yet: close it, or it leaks.
                os.close(fd)
                raise
            self.locked = True
        self._fd: int | None = fd

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    def read_at(self, offset: int, length: int) -> bytes:
        fd = self.fd  # a closed storage refuses every call, even one that asks for nothing (S1.4)
        chunks: list[bytes] = []
        position = offset
        end = offset + length
        # No file has bytes at or past OFFSET_MAX, and the kernel refuses (EINVAL) a read
        # whose end passes it: the read is short there, as at any end of file.
        while position < min(end, OFFSET_MAX):
            chunk = os.pread(fd, min(end, OFFSET_MAX, position + READ_CHUNK_SIZE) - position, position)
            if not chunk:
                break
            chunks.append(chunk)
            position += len(chunk)
        return b"".join(chunks)

    def write_at(self, offset: int, data: bytes) -> None:
        fd = self.fd  # a closed storage refuses every call, even one that asks for nothing (S1.4)
        if data and offset + len(data) > OFFSET_MAX:
            # What the kernel reports for a write past the largest file; an
            # OSError, so the WAL reports it as WalIoError like any other.
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(self.path))
        written = os.pwrite(fd, data, offset) if data else 0
        if written == len(data):
            return  # the common case: one system call, no view made (none for no data)
        view = memoryview(data)[written:]
        while view:
            offset += written
            written = os.pwrite(fd, view, offset)
            view = view[written:]

    def sync(self) -> None:
        # fsync, not fdatasync: memvid calls File::sync_all, and growth changes
        # the file's length, which fdatasync need not persist on every system.
        os.fsync(self.fd)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        # Closing the last descriptor of the open file description releases its flock.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.locked = False

    def __enter__(self) -> FileStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sync_directory(directory: Path) -> None:
    """fsync a directory: makes the names created, renamed or removed in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # close-on-exec: PEP 446
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def take_flock(fd: int, path: Path, *, read_only: bool) -> None:
    """memvid's lock (spec/locking.md): shared to read, exclusive to write, never waiting.

    Raises LockError when another open file holds a conflicting lock, or when
    the file system refuses flock altogether."""
    operation = (fcntl.LOCK_SH if read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB
    try:
        # fcntl.flock retries by itself when a signal interrupts it (PEP 475).
        fcntl.flock(fd, operation)
    except BlockingIOError as error:
        raise LockError(lock_refused_reason(path, read_only)) from error
    except OSError as error:
        # ENOLCK, EOPNOTSUPP and the like: no lock could be taken at all, and a
        # caller that asked for one must not go on without it.
        mode = "shared" if read_only else "exclusive"
        raise LockError(f"{path}: cannot take a {mode} lock: {error.strerror}") from error


class MemoryStorage:
    """A file held in memory. Counts syncs and keeps a log of writes, so tests can
    check where the WAL wrote."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.writes: list[tuple[int, int]] = []
        self.syncs = 0

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset : offset + length])

    def write_at(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if not data:
            # As pwrite of no bytes: the file keeps its length (S1.4), and an empty
            # write at a hostile offset allocates nothing. The call is still logged.
            self.writes.append((offset, 0))
            return
        if end > MEMORY_FILE_MAX:
            # A file can be sparse (memvid's writer at a hostile wal_offset makes
            # one, S3.2); a bytearray cannot: no room, as a full disk says.
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), "memory file")
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = data
        self.writes.append((offset, len(data)))

    def sync(self) -> None:
        self.syncs += 1

    def size(self) -> int:
        return len(self.data)


@runtime_checkable
class Directory(Protocol):
    """The directory around one path (spec/semantics.md S9.7): what a staged
    commit needs beyond ``Storage``. Names are the path's own name and the
    temporary names ``create_temp`` hands out."""

    def open_path(self, *, create: bool = False, lock: bool = True, follow_renames: bool = False) -> Storage:
        """Open, read-write, whatever the path names now (with ``create``, an
        empty file if it names nothing); with ``lock``, take
        the exclusive lock (where the directory locks at all); with
        ``follow_renames``, make sure the lock is on the file the path still
        names (locking.md L5)."""
        ...

    def create_temp(self, *, lock: bool = False) -> tuple[str, Storage]:
        """A new empty file beside the path (O_CREAT|O_EXCL), and its name;
        with ``lock``, exclusively locked (where the directory locks at all)."""
        ...

    def replace(self, temp: str) -> None:
        """Rename the temporary file ``temp`` over the path."""
        ...

    def discard(self, temp: str) -> None:
        """Remove the temporary file ``temp``."""
        ...

    def sync(self) -> None:
        """Make the directory's entries durable (fsync the directory)."""
        ...


class FileDirectory:
    """The directory of ``path`` on disk. With ``lock=True`` the files it opens
    or creates take memvid's exclusive flock where the caller asks for it
    (locking.md); with ``lock=False`` (the stateful machines, which open
    readers beside the writer) nothing is locked. ``follow_renames`` is
    FIXED's open (locking.md L5): after the lock is taken, the descriptor must
    still be the file the path names, or the open is retried; memvid's
    (ORIGINAL) keeps the lock on whatever it opened."""

    def __init__(self, path: str | os.PathLike[str], *, lock: bool = False) -> None:
        self.path = Path(path)
        self.lock = lock
        self._temps: dict[str, FileStorage] = {}

    def open_path(
        self, *, create: bool = False, lock: bool = True, follow_renames: bool = False
    ) -> FileStorage:
        lock = lock and self.lock
        for _ in range(OPEN_ATTEMPTS):
            storage = FileStorage(self.path, create=create, lock=lock)
            if not (lock and follow_renames) or _names_the_same_file(storage, self.path):
                return storage
            # The path was renamed over between our open and our lock: the lock
            # is on an unlinked file. Try again on what the path names now.
            storage.close()
        raise LockError(f"{self.path} was replaced {OPEN_ATTEMPTS} times while being opened")

    def create_temp(self, *, lock: bool = False) -> tuple[str, FileStorage]:
        for attempt in range(OPEN_ATTEMPTS):
            name = f".{self.path.name}.{os.getpid()}.{attempt}.{os.urandom(3).hex()}"
            try:
                # One open makes the name and holds it: no window in which another
                # process could put a file of its own under the name.
                storage = FileStorage(self.path.with_name(name), temporary=True, lock=lock and self.lock)
            except FileExistsError:
                continue
            self._temps[name] = storage
            return name, storage
        raise OSError(errno.EEXIST, "no free temporary name", str(self.path))

    def replace(self, temp: str) -> None:
        os.rename(self.path.with_name(temp), self.path)
        storage = self._temps.pop(temp, None)
        if storage is not None:
            storage.path = self.path

    def discard(self, temp: str) -> None:
        storage = self._temps.pop(temp, None)
        if storage is not None:
            storage.close()
        self.path.with_name(temp).unlink(missing_ok=True)

    def sync(self) -> None:
        sync_directory(self.path.parent)


# How often an open or a temporary name is retried before giving up.
OPEN_ATTEMPTS = 100


def _names_the_same_file(storage: FileStorage, path: Path) -> bool:
    held = os.fstat(storage.fd)
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


class MemoryDirectory:
    """A directory held in memory, for tests: the path's file and the
    temporary files, each a ``MemoryStorage``. ``durable`` is the directory
    as of its last ``sync`` (names to files); ``log`` records every rename,
    removal and directory sync in order."""

    PATH = "memory.mv2"

    def __init__(self, data: bytes | None = None) -> None:
        self.files: dict[str, MemoryStorage] = {} if data is None else {self.PATH: MemoryStorage(data)}
        self.durable: dict[str, MemoryStorage] = dict(self.files)
        self.log: list[str] = []
        self._next = 0

    def open_path(
        self, *, create: bool = False, lock: bool = True, follow_renames: bool = False
    ) -> MemoryStorage:
        if create:
            self.files.setdefault(self.PATH, MemoryStorage())
        return self.files[self.PATH]

    def create_temp(self, *, lock: bool = False) -> tuple[str, MemoryStorage]:
        name = f".{self.PATH}.{self._next}"
        self._next += 1
        storage = MemoryStorage()
        self.files[name] = storage
        self.log.append(f"create {name}")
        return name, storage

    def replace(self, temp: str) -> None:
        self.files[self.PATH] = self.files.pop(temp)
        self.log.append(f"rename {temp}")

    def discard(self, temp: str) -> None:
        self.files.pop(temp, None)
        self.log.append(f"unlink {temp}")

    def sync(self) -> None:
        self.durable = dict(self.files)
        self.log.append("fsync dir")
