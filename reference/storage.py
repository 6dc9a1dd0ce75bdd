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
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        read_only: bool = False,
        lock: bool = False,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.locked = False
        flags = os.O_RDONLY if read_only else os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
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
        chunks: list[bytes] = []
        position = offset
        end = offset + length
        # No file has bytes at or past OFFSET_MAX, and the kernel refuses (EINVAL) a read
        # whose end passes it: the read is short there, as at any end of file.
        while position < min(end, OFFSET_MAX):
            chunk = os.pread(self.fd, min(end, OFFSET_MAX, position + READ_CHUNK_SIZE) - position, position)
            if not chunk:
                break
            chunks.append(chunk)
            position += len(chunk)
        return b"".join(chunks)

    def write_at(self, offset: int, data: bytes) -> None:
        if data and offset + len(data) > OFFSET_MAX:
            # What the kernel reports for a write past the largest file; an
            # OSError, so the WAL reports it as WalIoError like any other.
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(self.path))
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view = view[written:]
            offset += written

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
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = data
        self.writes.append((offset, len(data)))

    def sync(self) -> None:
        self.syncs += 1

    def size(self) -> int:
        return len(self.data)
