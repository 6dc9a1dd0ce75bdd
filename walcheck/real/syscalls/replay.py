"""The recorded calls replayed onto a model of the file tree under the root
(spec/persistence.md PM1): what a recording holds (``Call``, ``Recording``),
the tree as the calls leave it, and ``Replayer``, which keeps each process's
descriptor table and turns completed syscalls into calls on files.

Its size (about 500 lines) is ``Replayer``'s: one method per kind of call
strace shows, each beside the descriptor and tree state it changes."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from walcheck.real.syscalls.strace_output import (
    RecordingError,
    Syscall,
    fd_and_path,
    first_number,
    string_argument,
)

# -- What a recording holds -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One disk-changing call, resolved: which file (by inode number of the
    recording, not the kernel's) and what it did. ``kind`` is one of
    ``create``, ``mkdir``, ``write``, ``truncate``, ``fsync``, ``fdatasync``,
    ``dirsync``, ``rename``, ``unlink``, ``rmdir``, ``ack``. ``syscall`` and
    ``line`` say where it came from in the strace output."""

    index: int
    kind: str
    syscall: str
    line: int
    path: str = ""  # relative to the root
    inode: int = -1
    offset: int = 0
    data: bytes = b""
    size: int = 0
    target: str = ""  # rename: the new name
    text: str = ""  # ack: the line

    def describe(self) -> str:
        where = f"#{self.index} {self.syscall}"
        if self.kind == "write":
            return (
                f"{where} {self.path} [{self.offset}, {self.offset + len(self.data)}) {len(self.data)} bytes"
            )
        if self.kind == "truncate":
            return f"{where} {self.path} size {self.size}"
        if self.kind == "rename":
            return f"{where} {self.path} -> {self.target}"
        if self.kind == "ack":
            shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
            return f"{where} ack {shown!r}"
        return f"{where} {self.path or '.'}"


@dataclass
class Recording:
    """What ``record`` saw: the calls, the files present before the program ran
    (their bytes, by relative path), and how long it took."""

    calls: list[Call]
    initial: dict[str, bytes]
    initial_directories: list[str]
    # The recorder's inode number of each path present before the run ("" is the root).
    initial_names: dict[str, int]
    returncode: int
    stderr: str
    seconds_running: float
    seconds_parsing: float
    trace_bytes: int

    @property
    def acks(self) -> list[Call]:
        return [call for call in self.calls if call.kind == "ack"]


# -- The file tree as the calls leave it ------------------------------------------------------


@dataclass
class Inode:
    number: int
    directory: bool
    data: bytearray = field(default_factory=bytearray)


class Tree:
    """Names and contents under the root, after each call: what a process that
    ran without a crash would see."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}  # relative path -> inode number ("" is the root)
        self.inodes: dict[int, Inode] = {}
        self._next = 0
        self.names[""] = self.new_inode(directory=True).number

    def new_inode(self, *, directory: bool) -> Inode:
        inode = Inode(self._next, directory)
        self.inodes[inode.number] = inode
        self._next += 1
        return inode

    def lookup(self, path: str) -> Inode | None:
        number = self.names.get(path)
        return None if number is None else self.inodes[number]

    def files(self) -> dict[str, bytes]:
        return {
            path: bytes(self.inodes[number].data)
            for path, number in self.names.items()
            if not self.inodes[number].directory
        }


def write_into(data: bytearray, offset: int, payload: bytes) -> None:
    end = offset + len(payload)
    if end > len(data):
        data.extend(bytes(end - len(data)))
    data[offset:end] = payload


def set_size(data: bytearray, size: int) -> None:
    if size < len(data):
        del data[size:]
    else:
        data.extend(bytes(size - len(data)))


# -- Replaying the calls ----------------------------------------------------------------------


@dataclass
class OpenFile:
    """An open file description: what ``dup`` shares and ``lseek`` moves."""

    path: str  # absolute, as opened
    inode: Inode | None  # None outside the root
    offset: int = 0
    append: bool = False


class Replayer:
    """Turns completed syscalls into :class:`Call` s, keeping per-process
    descriptor tables (threads share theirs) and the tree's contents."""

    def __init__(self, root: Path, ack_pipe_inode: int | None) -> None:
        self.root = str(root)
        self.tree = Tree()
        self.calls: list[Call] = []
        self.tables: dict[int, dict[int, OpenFile]] = {}
        self.ack_pipe = f"pipe:[{ack_pipe_inode}]" if ack_pipe_inode is not None else None
        self.ack_buffer = b""

    # The paths the recorder cares about: under the root, relative to it.
    def relative(self, path: str | None) -> str | None:
        if path is None:
            return None
        normal = os.path.normpath(path)
        if normal == self.root:
            return ""
        if normal.startswith(self.root + os.sep):
            return normal[len(self.root) + 1 :]
        return None

    def table(self, pid: int) -> dict[int, OpenFile]:
        return self.tables.setdefault(pid, {})

    def emit(self, kind: str, syscall: Syscall, **fields: object) -> None:
        self.calls.append(Call(len(self.calls), kind, syscall.name, syscall.line, **fields))  # type: ignore[arg-type]

    def resolve(self, dir_argument: str, name_argument: str) -> str:
        _, directory = fd_and_path(dir_argument)
        name = string_argument(name_argument).decode("utf-8", "surrogateescape")
        if os.path.isabs(name):
            return name
        if directory is None:
            raise RecordingError(f"cannot resolve {name!r}: its directory descriptor has no path")
        return os.path.join(directory, name)

    def handle(self, call: Syscall) -> None:
        handler = getattr(self, f"on_{call.name}", None)
        if handler is None or call.result is None or call.result < 0:
            return  # failed calls change nothing
        handler(call)

    # -- processes and descriptors --

    def on_clone(self, call: Syscall) -> None:
        assert call.result is not None
        parent = self.table(call.pid)
        shares = any("CLONE_FILES" in argument for argument in call.arguments)
        # A thread may make calls before strace shows its clone returning.
        early = self.tables.get(call.result, {})
        if shares:
            parent.update(early)
        self.tables[call.result] = parent if shares else {**parent, **early}

    on_clone3 = on_clone
    on_fork = on_clone
    on_vfork = on_clone

    def on_close(self, call: Syscall) -> None:
        fd, _ = fd_and_path(call.arguments[0])
        if fd is not None:
            self.table(call.pid).pop(fd, None)

    def _dup(self, call: Syscall, old_argument: str) -> None:
        assert call.result is not None
        old, _ = fd_and_path(old_argument)
        table = self.table(call.pid)
        if old is not None and old in table:
            table[call.result] = table[old]
        else:
            table.pop(call.result, None)

    def on_dup(self, call: Syscall) -> None:
        self._dup(call, call.arguments[0])

    def on_dup2(self, call: Syscall) -> None:
        self._dup(call, call.arguments[0])

    on_dup3 = on_dup2

    def on_fcntl(self, call: Syscall) -> None:
        if len(call.arguments) >= 2 and call.arguments[1] in ("F_DUPFD", "F_DUPFD_CLOEXEC"):
            self._dup(call, call.arguments[0])

    def on_read(self, call: Syscall) -> None:
        assert call.result is not None
        fd, _ = fd_and_path(call.arguments[0])
        open_file = self.table(call.pid).get(fd) if fd is not None else None
        if open_file is not None:
            open_file.offset += call.result

    on_readv = on_read

    def on_lseek(self, call: Syscall) -> None:
        assert call.result is not None
        fd, _ = fd_and_path(call.arguments[0])
        open_file = self.table(call.pid).get(fd) if fd is not None else None
        if open_file is not None:
            open_file.offset = call.result  # lseek returns the new offset

    def _open(self, call: Syscall, path: str, flags: str) -> None:
        assert call.result is not None
        absolute = call.result_path or path
        relative = self.relative(absolute)
        inode: Inode | None = None
        if relative is not None:
            inode = self.tree.lookup(relative)
            if inode is None and "O_CREAT" in flags:
                inode = self.tree.new_inode(directory=False)
                self.tree.names[relative] = inode.number
                self.emit("create", call, path=relative, inode=inode.number)
            elif inode is not None and "O_TRUNC" in flags and not inode.directory and inode.data:
                set_size(inode.data, 0)
                self.emit("truncate", call, path=relative, inode=inode.number, size=0)
            if inode is None:
                raise RecordingError(f"line {call.line}: {relative!r} opened but never created")
        self.table(call.pid)[call.result] = OpenFile(absolute, inode, 0, "O_APPEND" in flags)

    def on_open(self, call: Syscall) -> None:
        self._open(
            call, string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"), call.arguments[1]
        )

    def on_openat(self, call: Syscall) -> None:
        self._open(call, self.resolve(call.arguments[0], call.arguments[1]), call.arguments[2])

    def on_openat2(self, call: Syscall) -> None:
        self._open(call, self.resolve(call.arguments[0], call.arguments[1]), call.arguments[2])

    def on_creat(self, call: Syscall) -> None:
        self._open(
            call, string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"), "O_CREAT|O_TRUNC"
        )

    def on_chdir(self, call: Syscall) -> None:
        pass  # -y resolves AT_FDCWD to the working directory on every call

    def on_mmap(self, call: Syscall) -> None:
        if (
            len(call.arguments) >= 5
            and "PROT_WRITE" in call.arguments[2]
            and "MAP_SHARED" in call.arguments[3]
        ):
            _fd, path = fd_and_path(call.arguments[4])
            if self.relative(path) is not None:
                raise RecordingError(f"line {call.line}: a shared writable mmap of {path}: writes unseen")

    def open_file(self, call: Syscall, argument: str) -> OpenFile | None:
        fd, path = fd_and_path(argument)
        open_file = self.table(call.pid).get(fd) if fd is not None else None
        if open_file is None and self.relative(path) is not None:
            raise RecordingError(f"line {call.line}: descriptor {fd} on {path} was never opened")
        return open_file

    # -- data --

    def _write(self, call: Syscall, open_file: OpenFile | None, offset: int | None, payload: bytes) -> None:
        assert call.result is not None
        if open_file is None:
            return
        payload = payload[: call.result]
        if open_file.inode is None:
            return
        position = offset
        if position is None:
            position = len(open_file.inode.data) if open_file.append else open_file.offset
            open_file.offset = position + len(payload)
        if payload:
            write_into(open_file.inode.data, position, payload)
            relative = self.relative(open_file.path)
            assert relative is not None
            self.emit(
                "write", call, path=relative, inode=open_file.inode.number, offset=position, data=payload
            )

    def on_write(self, call: Syscall) -> None:
        _fd, path = fd_and_path(call.arguments[0])
        if self.ack_pipe is not None and path == self.ack_pipe:
            self._ack(call, string_argument(call.arguments[1])[: call.result])
            return
        self._write(call, self.open_file(call, call.arguments[0]), None, string_argument(call.arguments[1]))

    def _iovec(self, argument: str) -> bytes:
        return b"".join(string_argument(s) for s in re.findall(r'iov_base=("[^"]*"(?:\.\.\.)?)', argument))

    def on_writev(self, call: Syscall) -> None:
        self._write(call, self.open_file(call, call.arguments[0]), None, self._iovec(call.arguments[1]))

    def on_pwrite64(self, call: Syscall) -> None:
        offset = int(call.arguments[3])
        self._write(call, self.open_file(call, call.arguments[0]), offset, string_argument(call.arguments[1]))

    def on_pwritev(self, call: Syscall) -> None:
        offset = int(call.arguments[3])
        self._write(call, self.open_file(call, call.arguments[0]), offset, self._iovec(call.arguments[1]))

    on_pwritev2 = on_pwritev

    def _copy(self, call: Syscall, source: OpenFile | None, source_offset: int | None) -> bytes:
        assert call.result is not None
        if source is None or source.inode is None:
            raise RecordingError(f"line {call.line}: {call.name} from a file outside the root")
        start = source.offset if source_offset is None else source_offset
        if source_offset is None:
            source.offset += call.result
        return bytes(source.inode.data[start : start + call.result])

    def on_copy_file_range(self, call: Syscall) -> None:
        source = self.open_file(call, call.arguments[0])
        target = self.open_file(call, call.arguments[2])
        if target is None or target.inode is None:
            return
        payload = self._copy(call, source, first_number(call.arguments[1]))
        self._write(call, target, first_number(call.arguments[3]), payload)

    def on_sendfile(self, call: Syscall) -> None:
        target = self.open_file(call, call.arguments[0])
        if target is None or target.inode is None:
            return
        payload = self._copy(call, self.open_file(call, call.arguments[1]), first_number(call.arguments[2]))
        self._write(call, target, None, payload)

    def _truncate(self, call: Syscall, inode: Inode | None, relative: str | None, size: int) -> None:
        if inode is None or relative is None:
            return
        set_size(inode.data, size)
        self.emit("truncate", call, path=relative, inode=inode.number, size=size)

    def on_ftruncate(self, call: Syscall) -> None:
        open_file = self.open_file(call, call.arguments[0])
        if open_file is not None:
            self._truncate(call, open_file.inode, self.relative(open_file.path), int(call.arguments[1]))

    def on_truncate(self, call: Syscall) -> None:
        relative = self.relative(string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"))
        inode = self.tree.lookup(relative) if relative is not None else None
        self._truncate(call, inode, relative, int(call.arguments[1]))

    def on_fallocate(self, call: Syscall) -> None:
        open_file = self.open_file(call, call.arguments[0])
        if open_file is None or open_file.inode is None:
            return
        mode, offset, length = call.arguments[1], int(call.arguments[2]), int(call.arguments[3])
        relative = self.relative(open_file.path)
        assert relative is not None
        data = open_file.inode.data
        if "FALLOC_FL_PUNCH_HOLE" in mode or "FALLOC_FL_ZERO_RANGE" in mode:
            end = min(offset + length, len(data)) if "FALLOC_FL_KEEP_SIZE" in mode else offset + length
            if end > offset:
                self._write_zeros(call, open_file, relative, offset, end - offset)
        elif "FALLOC_FL_KEEP_SIZE" not in mode and offset + length > len(data):
            self._truncate(call, open_file.inode, relative, offset + length)

    def _write_zeros(
        self, call: Syscall, open_file: OpenFile, relative: str, offset: int, length: int
    ) -> None:
        assert open_file.inode is not None
        write_into(open_file.inode.data, offset, bytes(length))
        self.emit(
            "write", call, path=relative, inode=open_file.inode.number, offset=offset, data=bytes(length)
        )

    # -- syncs --

    def on_fsync(self, call: Syscall) -> None:
        open_file = self.open_file(call, call.arguments[0])
        if open_file is None or open_file.inode is None:
            return
        relative = self.relative(open_file.path)
        assert relative is not None
        kind = "dirsync" if open_file.inode.directory else call.name
        self.emit(kind, call, path=relative, inode=open_file.inode.number)

    on_fdatasync = on_fsync

    def on_sync(self, call: Syscall) -> None:
        self.emit("sync", call)

    on_syncfs = on_sync

    # -- names --

    def on_rename(self, call: Syscall) -> None:
        self._rename(
            call,
            string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"),
            string_argument(call.arguments[1]).decode("utf-8", "surrogateescape"),
        )

    def on_renameat(self, call: Syscall) -> None:
        self._rename(
            call,
            self.resolve(call.arguments[0], call.arguments[1]),
            self.resolve(call.arguments[2], call.arguments[3]),
        )

    def on_renameat2(self, call: Syscall) -> None:
        flags = call.arguments[4] if len(call.arguments) > 4 else "0"
        if flags not in ("0", "") and "RENAME_NOREPLACE" not in flags:
            raise RecordingError(f"line {call.line}: renameat2 flags {call.arguments[4]} not modelled")
        self.on_renameat(call)

    def _rename(self, call: Syscall, old: str, new: str) -> None:
        old_relative, new_relative = self.relative(old), self.relative(new)
        if old_relative is None and new_relative is None:
            return
        if old_relative is None or new_relative is None:
            raise RecordingError(f"line {call.line}: rename across the root's edge: {old} -> {new}")
        moved = {
            p: n for p, n in self.tree.names.items() if p == old_relative or p.startswith(old_relative + "/")
        }
        for path in moved:
            del self.tree.names[path]
        for path in [p for p in self.tree.names if p == new_relative or p.startswith(new_relative + "/")]:
            del self.tree.names[path]
        for path, number in moved.items():
            self.tree.names[new_relative + path[len(old_relative) :]] = number
        self.emit("rename", call, path=old_relative, target=new_relative, inode=moved.get(old_relative, -1))

    def _unlink(self, call: Syscall, path: str, directory: bool) -> None:
        relative = self.relative(path)
        if relative is None:
            return
        number = self.tree.names.pop(relative, -1)
        self.emit("rmdir" if directory else "unlink", call, path=relative, inode=number)

    def on_unlink(self, call: Syscall) -> None:
        self._unlink(call, string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"), False)

    def on_unlinkat(self, call: Syscall) -> None:
        directory = len(call.arguments) > 2 and "AT_REMOVEDIR" in call.arguments[2]
        self._unlink(call, self.resolve(call.arguments[0], call.arguments[1]), directory)

    def on_rmdir(self, call: Syscall) -> None:
        self._unlink(call, string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"), True)

    def _mkdir(self, call: Syscall, path: str) -> None:
        relative = self.relative(path)
        if relative is None:
            return
        inode = self.tree.new_inode(directory=True)
        self.tree.names[relative] = inode.number
        self.emit("mkdir", call, path=relative, inode=inode.number)

    def on_mkdir(self, call: Syscall) -> None:
        self._mkdir(call, string_argument(call.arguments[0]).decode("utf-8", "surrogateescape"))

    def on_mkdirat(self, call: Syscall) -> None:
        self._mkdir(call, self.resolve(call.arguments[0], call.arguments[1]))

    # -- acknowledgements --

    def _ack(self, call: Syscall, payload: bytes) -> None:
        self.ack_buffer += payload
        while b"\n" in self.ack_buffer:
            line, _, self.ack_buffer = self.ack_buffer.partition(b"\n")
            self.emit("ack", call, text=line.decode())


def seed_tree(replayer: Replayer, files: Mapping[str, bytes], directories: Sequence[str]) -> None:
    for path in directories:
        replayer.tree.names[path] = replayer.tree.new_inode(directory=True).number
    for path, data in files.items():
        inode = replayer.tree.new_inode(directory=False)
        inode.data[:] = data
        replayer.tree.names[path] = inode.number
