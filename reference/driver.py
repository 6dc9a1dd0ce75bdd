"""The reference's driver for the conformance protocol (spec/porting.md P1).

    python -m reference.driver                    # the FIXED design
    python -m reference.driver --design original  # memvid's ORIGINAL design

Reads one JSON request per line on stdin, answers one JSON line on stdout.
It is also the example a porter copies: every request maps to one call of the
WAL's API, and every WalError to an ``{"ok": false, "error": ...}`` answer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from reference.errors import WalCorruption, WalError, WalIoError
from reference.header import Header
from reference.storage import FileStorage
from reference.wal import Design, EmbeddedWal, WalRecord

PROTOCOL = 1
Answer = dict[str, Any]


class ProtocolError(Exception):
    """A request the driver cannot carry out, which is no WAL error (P1.2):
    ``Protocol`` for a malformed request, ``NotOpen`` for a WAL request while
    none is open, ``AlreadyOpen`` for an open while one is."""

    def __init__(self, reason: str, kind: str = "Protocol") -> None:
        super().__init__(reason)
        self.kind = kind


# P3: Python decorates the OS's message ("[Errno 2] No such file or directory:
# 'path'"); the protocol carries the message alone, as every language has it.
_PYTHON_OS_ERROR = re.compile(r"^\[Errno -?\d+\] (?P<message>.*?)(?:: '.*'(?: -> '.*')?)?$", re.DOTALL)


def normalise_io_reason(reason: str) -> str:
    """P3: an ``Io`` reason without Python's ``[Errno N]`` and file names."""
    matched = _PYTHON_OS_ERROR.match(reason)
    return matched.group("message") if matched else reason


def _records(records: list[WalRecord]) -> Answer:
    return {"records": [{"sequence": r.sequence, "payload": r.payload.hex()} for r in records]}


def _integer(request: dict[str, Any], name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{name!r} must be a non-negative integer, got {value!r}")
    return value


class Driver:
    def __init__(self, design: Design) -> None:
        self.design = design
        self.wal: EmbeddedWal | None = None
        self.storage: FileStorage | None = None
        self.header: Header | None = None
        self.handlers: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "hello": self.hello,
            "open": self.open,
            "append": lambda r: {"sequence": self._wal().append_entry(bytes.fromhex(r["payload"]))},
            "checkpoint": self.checkpoint,
            "records_after": lambda r: _records(self._wal().records_after(_integer(r, "sequence"))),
            "pending": lambda r: _records(self._wal().pending_records()),
            "stats": self.stats,
            "should_checkpoint": lambda r: {"value": self._wal().should_checkpoint()},
            "skip_sync": self.skip_sync,
            "flush": self.flush,
            "close": self.close,
            "state": self.state,
            "quit": lambda r: {},
        }

    def _wal(self) -> EmbeddedWal:
        if self.wal is None:
            raise ProtocolError("no WAL is open", "NotOpen")
        return self.wal

    def hello(self, request: dict[str, Any]) -> Answer:
        return {"protocol": PROTOCOL, "name": f"memvid-wal-model reference ({self.design.value})"}

    def open(self, request: dict[str, Any]) -> Answer:
        if self.wal is not None:
            raise ProtocolError("open while a WAL is open; close it first", "AlreadyOpen")
        read_only = request.get("read_only")
        if not isinstance(read_only, bool):
            raise ProtocolError(f"'read_only' must be a boolean, got {read_only!r}")
        path = request.get("path")
        if not isinstance(path, str):
            raise ProtocolError(f"'path' must be a string, got {path!r}")
        header = Header(
            wal_size=_integer(request, "region_size"),
            wal_offset=_integer(request, "region_offset"),
            wal_checkpoint_pos=_integer(request, "checkpoint_pos"),
            wal_sequence=_integer(request, "checkpoint_sequence"),
        )
        try:
            storage = FileStorage(path, read_only=read_only)
        except OSError as error:
            # P1.4: a failed open answers its error and leaves nothing open.
            raise WalIoError(error.strerror or str(error)) from error
        try:
            opener = EmbeddedWal.open_read_only if read_only else EmbeddedWal.open
            self.wal = opener(storage, header, design=self.design)
        except BaseException:
            storage.close()
            raise
        self.storage, self.header = storage, header
        return {}

    def checkpoint(self, request: dict[str, Any]) -> Answer:
        """record_checkpoint on the header given at open, and nothing more: the
        runner owns the MV2 header (P1.3), so no header write and no sync here."""
        wal = self._wal()
        assert self.header is not None  # set with the WAL
        wal.record_checkpoint(self.header)
        return {
            "checkpoint_pos": self.header.wal_checkpoint_pos,
            "checkpoint_sequence": self.header.wal_sequence,
        }

    def stats(self, request: dict[str, Any]) -> Answer:
        stats = self._wal().stats()
        return {
            "region_size": stats.region_size,
            "pending_bytes": stats.pending_bytes,
            "appends_since_checkpoint": stats.appends_since_checkpoint,
            "sequence": stats.sequence,
        }

    def skip_sync(self, request: dict[str, Any]) -> Answer:
        wal = self._wal()
        skip = request.get("skip")
        if not isinstance(skip, bool):
            raise ProtocolError(f"'skip' must be a boolean, got {skip!r}")
        wal.set_skip_sync(skip)
        return {}

    def flush(self, request: dict[str, Any]) -> Answer:
        self._wal().flush()
        return {}

    def close(self, request: dict[str, Any]) -> Answer:
        if self.storage is not None:
            self.storage.close()
        self.wal = self.storage = self.header = None
        return {}

    def state(self, request: dict[str, Any]) -> Answer:
        # Deliberately its own list of spec/porting.md's state fields, not
        # walcheck.conformance.transcript.DRIVER_STATE_FIELDS: the reference imports
        # neither the model nor walcheck.
        wal = self._wal()
        return {
            "write_head": wal.write_head,
            "checkpoint_head": wal.checkpoint_head,
            "pending_bytes": wal.pending_bytes,
            "sequence": wal.sequence,
            "checkpoint_sequence": wal.checkpoint_sequence,
            "appends_since_checkpoint": wal.appends_since_checkpoint,
        }

    def answer(self, line: str) -> Answer:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ProtocolError("a request is a JSON object")
            op = request.get("op")
            if not isinstance(op, str):
                raise ProtocolError(f"'op' must be a string, got {op!r}")
            handler = self.handlers.get(op)
            if handler is None:
                return _failure("Unsupported", f"unknown op {request.get('op')!r}")
            return {"ok": True, **handler(request)}
        except WalCorruption as error:
            return _failure(error.kind, error.reason, offset=error.offset)
        except WalIoError as error:
            return _failure(error.kind, normalise_io_reason(error.reason))
        except WalError as error:
            return _failure(error.kind, error.reason)
        except ProtocolError as error:
            return _failure(error.kind, str(error))
        except (ValueError, KeyError, TypeError) as error:
            return _failure("Protocol", f"{type(error).__name__}: {error}")


def _failure(kind: str, reason: str, offset: int | None = None) -> Answer:
    error: dict[str, Any] = {"kind": kind, "reason": reason}
    if offset is not None:
        error["offset"] = offset
    return {"ok": False, "error": error}


def serve(driver: Driver, source: TextIO, sink: TextIO) -> None:
    for line in source:
        if not line.strip():
            continue
        answer = driver.answer(line)
        sink.write(json.dumps(answer) + "\n")
        sink.flush()
        if answer.get("ok") and json.loads(line).get("op") == "quit":
            break
    driver.close({})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference.driver",
        description="Serve the conformance protocol (spec/porting.md) with the reference WAL.",
    )
    parser.add_argument("--design", choices=[d.value for d in Design], default=Design.FIXED.value)
    args = parser.parse_args(argv)
    serve(Driver(Design(args.design)), sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
