"""Record a real program's file-system calls with strace (spec/persistence.md PM1).

``record(argv, root)`` runs ``argv`` under ``strace -f -qq -y -xx -s 2**29`` and
turns its output, in order, into the calls that change what is on disk under
``root`` (:class:`Call`), with the bytes each write carried, and the lines the
program wrote to its acknowledgement pipe (the descriptor named by
``WALCHECK_ACK_FD`` in its environment), ordered against them.

Why these options (measured on this machine, spec/persistence.md PM1):

- ``-xx`` prints every string, data and paths alike, as ``\\xNN``: no quoting
  rules to undo, and ``bytes.fromhex`` decodes a 16 MiB write in well under a
  second. ``-e write=all`` (hexdump blocks) gives the same bytes in 25 % more text and
  is slower to produce and to parse.
- ``-s 2**29``: strace copies as many bytes as the call carried, up to this, so
  a write is recorded whole; a write the recorder finds shortened (strace's
  ``...``) is an error, never silently cut.
- ``-y`` decorates every descriptor, ``AT_FDCWD`` included, with the path it
  refers to, so ``openat``/``renameat`` relative to a directory descriptor
  resolve without tracking the working directory; the recorder still keeps its
  own descriptor table, because memvid writes one file through several
  descriptors (clones sharing an offset) with ``lseek`` then ``write``.
- ``-f`` follows threads (memvid's index builders) and joins their
  ``<unfinished ...>`` / ``<... resumed>`` halves; a call takes effect, in the
  recorded order, where it completed.

``copy_file_range`` and ``sendfile`` move bytes inside the kernel; strace shows
none. The recorder keeps every file's contents as the calls leave them
(:class:`Tree`) and takes the copied bytes from the source file at that point.
At the end it compares that replay with the real files: a program that changed a
file in a way the trace does not show (``mmap``, say) is refused
(:class:`RecordingError`), not checked on a wrong premise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ACK_FD_VARIABLE = "WALCHECK_ACK_FD"


class Reporter:
    """The writer's side of the acknowledgement protocol: one line, one write, on
    the descriptor ``ACK_FD_VARIABLE`` names (stdout without it)."""

    def __init__(self) -> None:
        self.fd = int(os.environ.get(ACK_FD_VARIABLE, sys.stdout.fileno()))

    def __call__(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


# strace 6.1 refuses -s 2**30; 2**29 (512 MiB in one call) is far above any write seen.
STRING_LIMIT = 2**29
# Calls that change the disk or the descriptor table; everything else is not traced
# (fewer stops, a smaller trace). Reads are not needed: the recorder knows each file's bytes.
TRACED_CALLS = (
    "open,openat,openat2,creat,close,dup,dup2,dup3,fcntl,lseek,"
    "write,writev,pwrite64,pwritev,pwritev2,ftruncate,truncate,fallocate,"
    "fsync,fdatasync,sync,syncfs,rename,renameat,renameat2,unlink,unlinkat,"
    "mkdir,mkdirat,rmdir,copy_file_range,sendfile,clone,clone3,fork,vfork,"
    "mmap,msync,chdir,read,readv"
)
# read and readv move a descriptor's offset, and memvid reads then writes through one
# descriptor: they are traced, raw (no buffer printed, so no data copied), for their results.
RAW_CALLS = "read,readv"
STRACE_OPTIONS = (
    "-f",
    "-qq",
    "-y",
    "-xx",
    "-s",
    str(STRING_LIMIT),
    "-e",
    f"trace={TRACED_CALLS}",
    "-e",
    f"raw={RAW_CALLS}",
)


class RecordingError(RuntimeError):
    """The trace cannot be turned into calls faithfully (a truncated string, a
    call the recorder does not understand on a file under the root, a replay
    that does not match the files the program left)."""


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


# -- Parsing strace's output ------------------------------------------------------------------

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^([a-z0-9_]+)\((.*)$", re.S)
_RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$", re.S)
_RESULT = re.compile(r" = (-?\d+|0x[0-9a-f]+|\?)(?:<([^>]*)>)?(.*)$", re.S)
_FD_PATH = re.compile(r"^(0x[0-9a-f]+|-?\d+|AT_FDCWD)(?:<([^>]*)>)?(?:\(deleted\))?$")


def decode_hex_string(text: str) -> bytes:
    r"""A ``-xx`` string without its quotes: ``\x41\x42`` -> b"AB"."""
    try:
        decoded = bytes.fromhex(text.replace("\\x", ""))
    except ValueError:
        decoded = b""
    # Every byte is four characters, each "\\x" introducing one: nothing else slipped through.
    if len(text) != 4 * len(decoded) or text.count("\\x") != len(decoded):
        raise RecordingError(f"not a -xx string: {text[:80]!r}")
    return decoded


_TOKEN = re.compile(r'"[^"]*"(?:\.\.\.)?|[^",(){}<>\[\]]+|.', re.S)


def split_arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call (strings hold no commas
    or quotes under ``-xx``; brackets, braces and ``<path>`` decorations nest).
    A string is one token, so a 16 MiB write costs one regex step, not 64 M."""
    parts: list[str] = []
    depth = 0
    start = 0
    for token in _TOKEN.finditer(text):
        char = token.group(0)
        if len(char) != 1:
            continue
        if char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start : token.start()].strip())
            start = token.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


@dataclass(frozen=True, slots=True)
class Syscall:
    pid: int
    name: str
    arguments: list[str]
    result: int | None
    result_path: str | None
    line: int


def parse_trace(text: str) -> list[Syscall]:
    """strace ``-f -qq -y -xx`` output -> completed calls, in completion order,
    each call's ``<unfinished ...>`` half joined to its ``<... resumed>`` half."""
    unfinished: dict[int, tuple[str, int]] = {}
    calls: list[Syscall] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        matched = _LINE.match(raw)
        if matched is None:
            continue
        pid, body = int(matched.group(1)), matched.group(2)
        if body.startswith(("---", "+++")):
            continue
        resumed = _RESUMED.match(body)
        if resumed is not None:
            start = unfinished.pop(pid, None)
            if start is None:
                continue  # its start was before tracing began
            body, line = start[0] + resumed.group(2), start[1]
        else:
            line = number
        if body.endswith(" <unfinished ...>"):
            unfinished[pid] = (body[: -len(" <unfinished ...>")], line)
            continue
        call = _CALL.match(body)
        if call is None:
            continue
        name, rest = call.group(1), call.group(2)
        # The result follows the last " = " (strings never hold one under -xx), after the
        # closing parenthesis and, on a resumed line, strace's padding.
        equals = rest.rfind(" = ")
        close = len(rest[:equals].rstrip()) - 1 if equals > 0 else -1
        result = _RESULT.match(rest, equals) if close >= 0 and rest[close] == ")" else None
        if result is None:
            continue  # a call that never returned (the process exited inside it)
        value = result.group(1)
        returned: int | None = None if value == "?" else int(value, 0)
        path = (
            decode_hex_string(result.group(2)).decode("utf-8", "surrogateescape") if result.group(2) else None
        )
        calls.append(Syscall(pid, name, split_arguments(rest[:close]), returned, path, line))
    return calls


def _string(argument: str) -> bytes:
    if argument.endswith("..."):
        raise RecordingError(f"strace shortened a string ({len(argument)} characters): raise -s")
    if not (argument.startswith('"') and argument.endswith('"')):
        raise RecordingError(f"expected a string, got {argument[:80]!r}")
    return decode_hex_string(argument[1:-1])


def _fd_and_path(argument: str) -> tuple[int | None, str | None]:
    matched = _FD_PATH.match(argument.strip())
    if matched is None:
        raise RecordingError(f"expected a descriptor, got {argument[:80]!r}")
    fd = None if matched.group(1) == "AT_FDCWD" else int(matched.group(1), 0)
    path = (
        decode_hex_string(matched.group(2)).decode("utf-8", "surrogateescape") if matched.group(2) else None
    )
    return fd, path


def _first_number(argument: str) -> int | None:
    """``NULL`` -> None; ``[4096]`` or ``[4096 => 8192]`` -> 4096."""
    if argument == "NULL":
        return None
    matched = re.search(r"-?\d+", argument)
    if matched is None:
        raise RecordingError(f"expected a number, got {argument[:80]!r}")
    return int(matched.group(0))


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
        _, directory = _fd_and_path(dir_argument)
        name = _string(name_argument).decode("utf-8", "surrogateescape")
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
        fd, _ = _fd_and_path(call.arguments[0])
        if fd is not None:
            self.table(call.pid).pop(fd, None)

    def _dup(self, call: Syscall, old_argument: str) -> None:
        assert call.result is not None
        old, _ = _fd_and_path(old_argument)
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
        fd, _ = _fd_and_path(call.arguments[0])
        open_file = self.table(call.pid).get(fd) if fd is not None else None
        if open_file is not None:
            open_file.offset += call.result

    on_readv = on_read

    def on_lseek(self, call: Syscall) -> None:
        assert call.result is not None
        fd, _ = _fd_and_path(call.arguments[0])
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
        self._open(call, _string(call.arguments[0]).decode("utf-8", "surrogateescape"), call.arguments[1])

    def on_openat(self, call: Syscall) -> None:
        self._open(call, self.resolve(call.arguments[0], call.arguments[1]), call.arguments[2])

    def on_openat2(self, call: Syscall) -> None:
        self._open(call, self.resolve(call.arguments[0], call.arguments[1]), call.arguments[2])

    def on_creat(self, call: Syscall) -> None:
        self._open(call, _string(call.arguments[0]).decode("utf-8", "surrogateescape"), "O_CREAT|O_TRUNC")

    def on_chdir(self, call: Syscall) -> None:
        pass  # -y resolves AT_FDCWD to the working directory on every call

    def on_mmap(self, call: Syscall) -> None:
        if (
            len(call.arguments) >= 5
            and "PROT_WRITE" in call.arguments[2]
            and "MAP_SHARED" in call.arguments[3]
        ):
            _fd, path = _fd_and_path(call.arguments[4])
            if self.relative(path) is not None:
                raise RecordingError(f"line {call.line}: a shared writable mmap of {path}: writes unseen")

    def open_file(self, call: Syscall, argument: str) -> OpenFile | None:
        fd, path = _fd_and_path(argument)
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
        _fd, path = _fd_and_path(call.arguments[0])
        if self.ack_pipe is not None and path == self.ack_pipe:
            self._ack(call, _string(call.arguments[1])[: call.result])
            return
        self._write(call, self.open_file(call, call.arguments[0]), None, _string(call.arguments[1]))

    def _iovec(self, argument: str) -> bytes:
        return b"".join(_string(s) for s in re.findall(r'iov_base=("[^"]*"(?:\.\.\.)?)', argument))

    def on_writev(self, call: Syscall) -> None:
        self._write(call, self.open_file(call, call.arguments[0]), None, self._iovec(call.arguments[1]))

    def on_pwrite64(self, call: Syscall) -> None:
        offset = int(call.arguments[3])
        self._write(call, self.open_file(call, call.arguments[0]), offset, _string(call.arguments[1]))

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
        payload = self._copy(call, source, _first_number(call.arguments[1]))
        self._write(call, target, _first_number(call.arguments[3]), payload)

    def on_sendfile(self, call: Syscall) -> None:
        target = self.open_file(call, call.arguments[0])
        if target is None or target.inode is None:
            return
        payload = self._copy(call, self.open_file(call, call.arguments[1]), _first_number(call.arguments[2]))
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
        relative = self.relative(_string(call.arguments[0]).decode("utf-8", "surrogateescape"))
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
            _string(call.arguments[0]).decode("utf-8", "surrogateescape"),
            _string(call.arguments[1]).decode("utf-8", "surrogateescape"),
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
        self._unlink(call, _string(call.arguments[0]).decode("utf-8", "surrogateescape"), False)

    def on_unlinkat(self, call: Syscall) -> None:
        directory = len(call.arguments) > 2 and "AT_REMOVEDIR" in call.arguments[2]
        self._unlink(call, self.resolve(call.arguments[0], call.arguments[1]), directory)

    def on_rmdir(self, call: Syscall) -> None:
        self._unlink(call, _string(call.arguments[0]).decode("utf-8", "surrogateescape"), True)

    def _mkdir(self, call: Syscall, path: str) -> None:
        relative = self.relative(path)
        if relative is None:
            return
        inode = self.tree.new_inode(directory=True)
        self.tree.names[relative] = inode.number
        self.emit("mkdir", call, path=relative, inode=inode.number)

    def on_mkdir(self, call: Syscall) -> None:
        self._mkdir(call, _string(call.arguments[0]).decode("utf-8", "surrogateescape"))

    def on_mkdirat(self, call: Syscall) -> None:
        self._mkdir(call, self.resolve(call.arguments[0], call.arguments[1]))

    # -- acknowledgements --

    def _ack(self, call: Syscall, payload: bytes) -> None:
        self.ack_buffer += payload
        while b"\n" in self.ack_buffer:
            line, _, self.ack_buffer = self.ack_buffer.partition(b"\n")
            self.emit("ack", call, text=line.decode())


def snapshot(root: Path) -> tuple[dict[str, bytes], list[str]]:
    """The files (bytes by relative path) and directories under ``root``."""
    files: dict[str, bytes] = {}
    directories: list[str] = []
    for directory, subdirectories, names in os.walk(root):
        relative = os.path.relpath(directory, root)
        prefix = "" if relative == "." else relative + "/"
        directories.extend(prefix + name for name in sorted(subdirectories))
        for name in sorted(names):
            files[prefix + name] = Path(directory, name).read_bytes()
    return files, directories


def seed_tree(replayer: Replayer, files: Mapping[str, bytes], directories: Sequence[str]) -> None:
    for path in directories:
        replayer.tree.names[path] = replayer.tree.new_inode(directory=True).number
    for path, data in files.items():
        inode = replayer.tree.new_inode(directory=False)
        inode.data[:] = data
        replayer.tree.names[path] = inode.number


def strace_path() -> str | None:
    return shutil.which("strace")


def record(
    argv: Sequence[str],
    root: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: Path | None = None,
    keep_trace: Path | None = None,
) -> Recording:
    """Run ``argv`` under strace with ``WALCHECK_ACK_FD`` set to a pipe the
    program writes its acknowledgement lines to, and return its calls under
    ``root`` (which must exist; its files before the run are the starting
    state). ``keep_trace`` keeps strace's output there. Raises RecordingError
    when the trace and the files disagree."""
    strace = strace_path()
    if strace is None:
        raise RecordingError("strace is not installed (Debian: apt-get install strace)")
    root = root.resolve()
    initial, initial_directories = snapshot(root)
    read_end, write_end = os.pipe()
    ack_inode = os.fstat(write_end).st_ino
    with tempfile.TemporaryDirectory(prefix="walcheck-strace-") as scratch:
        trace_path = Path(scratch) / "trace"
        child_env = {**(os.environ if env is None else env), ACK_FD_VARIABLE: str(write_end)}
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                [strace, *STRACE_OPTIONS, "-o", str(trace_path), "--", *argv],
                env=child_env,
                pass_fds=(write_end,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=cwd,
            )
        finally:
            os.close(write_end)
        # The harness does not need the lines from the pipe (the trace has them);
        # it drains it so that a chatty program never blocks.
        with os.fdopen(read_end, "rb") as pipe:
            while pipe.read(65536):
                pass
        _, stderr = process.communicate(timeout=timeout)
        running = time.perf_counter() - started
        if not trace_path.exists():
            raise RecordingError(f"strace wrote no trace: {stderr.decode(errors='replace')[-1500:]}")
        text = trace_path.read_text(encoding="ascii", errors="replace")
        if keep_trace is not None:
            shutil.copyfile(trace_path, keep_trace)
    started = time.perf_counter()
    replayer = Replayer(root, ack_inode)
    seed_tree(replayer, initial, initial_directories)
    initial_names = dict(replayer.tree.names)
    for call in parse_trace(text):
        replayer.handle(call)
    parsing = time.perf_counter() - started
    final, _ = snapshot(root)
    replayed = replayer.tree.files()
    if final != replayed:
        differing = sorted(set(final) ^ set(replayed) | {p for p in final if replayed.get(p) != final[p]})
        raise RecordingError(
            f"the replayed calls do not reproduce the files the program left: {differing[:5]} "
            f"(exit {process.returncode}; {stderr.decode(errors='replace')[-1500:]})"
        )
    return Recording(
        calls=replayer.calls,
        initial=initial,
        initial_directories=initial_directories,
        initial_names=initial_names,
        returncode=process.returncode,
        stderr=stderr.decode(errors="replace"),
        seconds_running=running,
        seconds_parsing=parsing,
        trace_bytes=len(text),
    )
