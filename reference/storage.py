"""The one narrow interface between the WAL and the bytes it keeps (spec S1.4).

Every byte the reference reads or writes passes through ``Storage``: read at an
absolute file offset, write at one, sync, and the current size. Tests put a
simulated disk here; production uses ``FileStorage``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable


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


class FileStorage:
    """A file on disk, through positional reads and writes and fsync."""

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = False, read_only: bool = False
    ) -> None:
        self.path = Path(path)
        flags = os.O_RDONLY if read_only else os.O_RDWR | (os.O_CREAT if create else 0)
        self._fd: int | None = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        self.read_only = read_only

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    def read_at(self, offset: int, length: int) -> bytes:
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0:
            chunk = os.pread(self.fd, remaining, offset + length - remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def write_at(self, offset: int, data: bytes) -> None:
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
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
