"""Record a real program's file-system calls with strace (spec/persistence.md PM1).

``record(argv, root)`` runs ``argv`` under ``strace -f -qq -y -xx -s 2**29`` and
turns its output, in order, into the calls that change what is on disk under
``root`` (``Call``: strace_output.py parses the lines, replay.py replays them),
with the bytes each write carried, and the lines the program wrote to its
acknowledgement pipe (the descriptor named by
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
(replay.py's ``Tree``) and takes the copied bytes from the source file at that point.
At the end it compares that replay with the real files: a program that changed a
file in a way the trace does not show (``mmap``, say) is refused
(``RecordingError``), not checked on a wrong premise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from walcheck.real.syscalls.replay import Recording, Replayer, seed_tree
from walcheck.real.syscalls.strace_output import RecordingError, parse_trace

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
