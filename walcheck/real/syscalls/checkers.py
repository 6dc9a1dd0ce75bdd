"""Readers of a crash state, and what the writer's reports promise there (issue 11, item 4).

A *reader* opens the materialised crash state and returns the pending records
(sequence, payload) and the durable checkpoint, or raises: the reference
(FIXED and ORIGINAL, tolerant and strict recovery; read-only, and writable on a
copy, with one probe append for G3/G4), or memvid-sdk's own open in a
subprocess. An *expectation* rebuilds the oracle (walcheck/oracle.py) from the
acknowledgement lines a writer had written before the crash point; the oracle
alone decides G1, G2 and G5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from reference import Design, EmbeddedWal, FileStorage, Header, Recovery, WalError, read_header
from reference.caller import Memory, read_frames
from reference.storage import FileDirectory
from walcheck.real.syscalls.expectations import Reader, Records, Unopenable


def _read_only(
    file: str, read: Callable[[FileStorage, Header], tuple[Records, int]]
) -> Callable[[Path], tuple[Records, int]]:
    """A reader that opens ``file`` of the state read-only, without clearing a
    legacy lock, and has ``read`` recover it; any failure is ``Unopenable``."""

    def open_state(directory: Path) -> tuple[Records, int]:
        path = directory / file
        if not path.is_file():
            raise Unopenable(f"{file} does not exist")
        try:
            with FileStorage(path, read_only=True) as storage:
                return read(storage, read_header(storage, clear_legacy_lock=False))
        except (WalError, OSError) as error:
            raise Unopenable(f"{type(error).__name__}: {error}") from error

    return open_state


def _reference_open(file: str, design: Design, recovery: Recovery) -> Callable[[Path], tuple[Records, int]]:
    def read(storage: FileStorage, header: Header) -> tuple[Records, int]:
        wal = EmbeddedWal.open_read_only(storage, header, design=design, recovery=recovery)
        return [(r.sequence, r.payload) for r in wal.pending_records()], header.wal_sequence

    return _read_only(file, read)


def _reference_probe(file: str, design: Design) -> Callable[[Path], int | None]:
    def probe(directory: Path) -> int | None:
        copy = directory.parent / f"{directory.name}.probe"
        shutil.copyfile(directory / file, copy)
        try:
            with FileStorage(copy) as storage:
                wal = EmbeddedWal.open(storage, read_header(storage), design=design)
                return wal.append_entry(b"probe")
        except WalError:
            return None  # a full region says nothing about sequences
        finally:
            copy.unlink()

    return probe


def _caller_open(file: str, design: Design) -> Callable[[Path], tuple[Records, int]]:
    """memvid's view through the caller layer, read-only: the frames applied
    (the frame store, S9.8) followed by the WAL's pending records; checkpoint 0,
    so the oracle requires every acknowledged record among them."""

    def read(storage: FileStorage, header: Header) -> tuple[Records, int]:
        frames = read_frames(storage, header)
        wal = EmbeddedWal.open_read_only(storage, header, design=design)
        return frames + [(r.sequence, r.payload) for r in wal.records_after(header.wal_sequence)], 0

    return _read_only(file, read)


def _caller_writable_open(file: str, design: Design) -> Callable[[Path], tuple[Records, int]]:
    """memvid's writable open (recovery at open, S9.2) on a copy of the state."""

    def open_state(directory: Path) -> tuple[Records, int]:
        if not (directory / file).is_file():
            raise Unopenable(f"{file} does not exist")
        copy = directory.parent / f"{directory.name}.caller-copy"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(directory, copy)
        try:
            memory = Memory.open(FileDirectory(copy / file), design=design)
            try:
                pending = [(r.sequence, r.payload) for r in memory.wal.pending_records()]
                return memory.frames() + pending, 0
            finally:
                memory.close()
        except (WalError, OSError) as error:
            raise Unopenable(f"{type(error).__name__}: {error}") from error
        finally:
            shutil.rmtree(copy)

    return open_state


def caller_readers(file: str) -> list[Reader]:
    """The caller layer, both designs: read-only, and writable on a copy."""
    readers = []
    for design in (Design.FIXED, Design.ORIGINAL):
        fixed = design is Design.FIXED
        readers.append(
            Reader(f"caller {design.value} read-only", design.value, fixed, _caller_open(file, design))
        )
        readers.append(
            Reader(
                f"caller {design.value} writable", design.value, fixed, _caller_writable_open(file, design)
            )
        )
    return readers


def reference_readers(file: str) -> list[Reader]:
    """The reference, both designs, both recovery modes."""
    readers = []
    for design in (Design.FIXED, Design.ORIGINAL):
        for recovery in (Recovery.TOLERATE_TORN_TAIL, Recovery.STRICT):
            tolerant = recovery is Recovery.TOLERATE_TORN_TAIL
            readers.append(
                Reader(
                    name=f"reference {design.value} {'tolerant' if tolerant else 'strict'}",
                    design=design.value,
                    promised=design is Design.FIXED and tolerant,
                    open=_reference_open(file, design, recovery),
                    probe=_reference_probe(file, design) if tolerant else None,
                )
            )
    return readers


# -- memvid-sdk's own open, in a subprocess ------------------------------------------------------

MEMVID_READER_SOURCE = r"""
import json, os, sys
os.environ["MEMVID_TELEMETRY"] = "0"
import memvid_sdk
for line in sys.stdin:
    request = json.loads(line)
    try:
        memory = memvid_sdk.use("basic", request["path"], read_only=request["read_only"], enable_lex=False)
        frames = [(f["frame_id"], f["preview"].split("\n")[0]) for f in memory.timeline(limit=100000)]
        memory.close()
        answer = {"frames": sorted(frames)}
    except Exception as error:
        answer = {"error": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


class MemvidReaderProcess:
    """memvid-sdk 2.0.160 opening files, one request per line, in a process of its own
    (MEMVID_TELEMETRY=0), so a crash of the SDK is an answer, not the end of the run."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MEMVID_READER_SOURCE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "MEMVID_TELEMETRY": "0"},
            )
        return self.process

    def frames(self, path: Path, *, read_only: bool) -> list[tuple[int, str]]:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"path": str(path), "read_only": read_only}) + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        if not answer:
            self.process = None
            raise Unopenable("memvid-sdk's process died opening the file")
        decoded = json.loads(answer)
        if "error" in decoded:
            raise Unopenable(decoded["error"])
        return [(int(i), str(text)) for i, text in decoded["frames"]]

    def close(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=30)
            self.process = None


def memvid_readers(file: str, process: MemvidReaderProcess) -> list[Reader]:
    """memvid-sdk's read-only open, and its writable open on a copy (which
    replays pending frames): each frame is a record, sequence frame_id + 1."""

    def opener(read_only: bool) -> Callable[[Path], tuple[Records, int]]:
        def open_state(directory: Path) -> tuple[Records, int]:
            path = directory / file
            if not path.is_file():
                raise Unopenable(f"{file} does not exist")
            if not read_only:
                copy = directory.parent / f"{directory.name}.memvid-copy"
                if copy.exists():
                    shutil.rmtree(copy)
                shutil.copytree(directory, copy)
                path = copy / file
            try:
                frames = process.frames(path, read_only=read_only)
            finally:
                if not read_only:
                    shutil.rmtree(path.parent)
            return [(i + 1, text.encode()) for i, text in frames], 0

        return open_state

    return [
        Reader("memvid-sdk read-only", "original", True, opener(True)),
        Reader("memvid-sdk writable (on a copy)", "original", True, opener(False)),
    ]
