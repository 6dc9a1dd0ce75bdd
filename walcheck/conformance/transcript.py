"""Conformance: drive any implementation that speaks the driver protocol
(spec/porting.md) and compare it with the model.

Three layers, each usable alone:

* ``transcript(trace, design)``: the model, pure, turns a trace of steps into
  the exact requests a runner sends and the answers, region bytes and state a
  conforming port produces (P2). Crash images come from model/crash.py.
* ``replay(transcript, driver, ...)``: send the requests to a driver, compare
  every answer, the file's bytes and (if offered) the driver's state, and run
  the independent oracle on the answers (G1-G6). The first difference raises.
* ``run_conform``: Hypothesis generates traces, replays them, and shrinks the
  first failure to a minimal trace.

The vectors in spec/vectors are transcripts written to JSON (walcheck/conformance/vectors.py).
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import model as m
from model.crash import count_power_loss_regions, power_loss_regions
from walcheck.oracle import GuaranteeViolation, Oracle

PROTOCOL = 1
REGION_OFFSET = m.WAL_OFFSET
PREFIX_BYTE = 0xA5
SUFFIX_BYTE = 0x5A
SUFFIX_SIZE = 64
IMAGES_CONSIDERED = 64  # a crash step picks one of the first 64 power-loss images

Json = dict[str, Any]


# ---------------------------------------------------------------------------
# Traces (P2.1)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Append:
    payload: bytes


@dataclass(frozen=True)
class Commit:
    """memvid's commit: pending, checkpoint, and the header made durable."""


@dataclass(frozen=True)
class RecordsAfter:
    below_sequence: int  # records_after(sequence - below_sequence), at least 0


@dataclass(frozen=True)
class Pending:
    pass


@dataclass(frozen=True)
class Stats:
    pass


@dataclass(frozen=True)
class ShouldCheckpoint:
    pass


@dataclass(frozen=True)
class SkipSync:
    skip: bool


@dataclass(frozen=True)
class Flush:
    pass


@dataclass(frozen=True)
class Reopen:
    read_only: bool = False


@dataclass(frozen=True)
class Crash:
    power_loss: bool  # False: a process kill (every write reached the OS)
    choice: int = 0  # which power-loss image, modulo how many there are


@dataclass(frozen=True)
class Grow:
    by: int


Step = (
    Append
    | Commit
    | RecordsAfter
    | Pending
    | Stats
    | ShouldCheckpoint
    | SkipSync
    | Flush
    | Reopen
    | Crash
    | Grow
)


@dataclass(frozen=True)
class Trace:
    region_size: int
    checkpoint_sequence: int
    steps: tuple[Step, ...]

    def render(self) -> str:
        lines = [f"region_size={self.region_size}, checkpoint_sequence={self.checkpoint_sequence}"]
        lines += [f"  {_render_step(step)}" for step in self.steps]
        return "\n".join(lines)


def _render_step(step: Step) -> str:
    if isinstance(step, Append):
        shown = step.payload if len(step.payload) <= 16 else step.payload[:16] + b"..."
        return f"append({shown!r}, len={len(step.payload)})"
    fields = ", ".join(f"{k}={v!r}" for k, v in vars(step).items())
    return f"{type(step).__name__.lower()}({fields})"


# ---------------------------------------------------------------------------
# Transcripts: what a conforming port answers (P2.2)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request and everything a conforming port shows after it."""

    request: Json
    response: Json
    region: bytes
    state: Json | None  # the volatile fields; None when no WAL is open
    # What the request is for, for the oracle: "" (a plain call), "commit",
    # "reopen", "recover" (the pending records after a crash).
    purpose: str = ""
    # ORIGINAL only (D3): the port wrote past the region, the canary after it is gone.
    outside_writes: bool = False


@dataclass(frozen=True)
class Rewrite:
    """The runner rewrites the file (P1.3) with this region: creation, a crash
    image, or growth."""

    region: bytes
    note: str


Event = Exchange | Rewrite


def _error(error: m.WalError) -> Json:
    body: Json = {"kind": error.kind.value, "reason": error.reason}
    if error.kind is m.ErrorKind.WAL_CORRUPTION and error.offset is not None:
        body["offset"] = error.offset
    return {"ok": False, "error": body}


def _records(records: Sequence[m.Record]) -> Json:
    return {"ok": True, "records": [{"sequence": r.sequence, "payload": r.payload.hex()} for r in records]}


def _volatile(state: m.State) -> Json | None:
    wal = state.wal
    if wal is None:
        return None
    return {
        "write_head": wal.write_head,
        "checkpoint_head": wal.checkpoint_head,
        "pending_bytes": wal.pending_bytes,
        "sequence": wal.sequence,
        "checkpoint_sequence": wal.checkpoint_sequence,
        "appends_since_checkpoint": wal.appends_since_checkpoint,
    }


def _open_request(header: m.HeaderFields, read_only: bool) -> Json:
    """P1.4: the header's WAL fields, as memvid hands them to EmbeddedWal::open."""
    return {
        "op": "open",
        "path": "@",
        "region_offset": REGION_OFFSET,
        "region_size": header.wal_size,
        "checkpoint_pos": header.wal_checkpoint_pos,
        "checkpoint_sequence": header.wal_sequence,
        "read_only": read_only,
    }


class _Transcriber:
    def __init__(self, trace: Trace, design: m.Design) -> None:
        self.state = m.initial_state(design, trace.region_size, wal_sequence=trace.checkpoint_sequence)
        self.events: list[Event] = [Rewrite(self.state.disk.region.to_bytes(), "create: a zeroed region")]

    def exchange(self, request: Json, response: Json, purpose: str = "") -> None:
        disk = self.state.disk
        self.events.append(
            Exchange(
                request,
                response,
                disk.region.to_bytes(),
                _volatile(self.state),
                purpose,
                disk.bytes_written_outside_region > 0,
            )
        )

    def open(self, read_only: bool, purpose: str) -> None:
        request = _open_request(self.state.disk.header, read_only)
        self.state, result = m.open_wal(self.state, read_only=read_only)
        self.exchange(request, _error(result) if isinstance(result, m.WalError) else {"ok": True}, purpose)
        if self.state.wal is not None:
            self.pending(purpose)

    def close(self) -> None:
        self.state = m.close_wal(self.state)
        self.exchange({"op": "close"}, {"ok": True})

    def pending(self, purpose: str = "") -> bool:
        """Ask for the pending records; False if the model's scan failed."""
        self.state, found = m.pending_records(self.state)
        self.exchange(
            {"op": "pending"}, _error(found) if isinstance(found, m.WalError) else _records(found), purpose
        )
        return not isinstance(found, m.WalError)

    def step(self, step: Step) -> None:
        """Apply one step. Steps that need an open WAL are skipped while none
        is (its open failed: the trace goes on at the next reopen or crash)."""
        if self.state.wal is None and not isinstance(step, Reopen | Crash):
            return
        if isinstance(step, Append):
            self.state, sequence = m.append_entry(self.state, step.payload)
            response = (
                _error(sequence) if isinstance(sequence, m.WalError) else {"ok": True, "sequence": sequence}
            )
            self.exchange({"op": "append", "payload": step.payload.hex()}, response)
        elif isinstance(step, Commit):
            if not self.pending("commit"):
                return  # memvid's commit stops when it cannot read the pending records
            self.state, refused = m.record_checkpoint(self.state)
            if isinstance(refused, m.WalError):
                self.exchange({"op": "checkpoint"}, _error(refused), "commit")
                return
            header = self.state.caller_header
            response = {
                "ok": True,
                "checkpoint_pos": header.wal_checkpoint_pos,
                "checkpoint_sequence": header.wal_sequence,
            }
            self.state = m.write_header(self.state)
            self.exchange({"op": "checkpoint"}, response, "commit")
        elif isinstance(step, RecordsAfter):
            after = max(0, self.state.wal.sequence - step.below_sequence) if self.state.wal else 0
            self.state, found = m.records_after(self.state, after)
            response = _error(found) if isinstance(found, m.WalError) else _records(found)
            self.exchange({"op": "records_after", "sequence": after}, response)
        elif isinstance(step, Pending):
            self.pending()
        elif isinstance(step, Stats):
            stats = m.stats(self.state)
            self.exchange(
                {"op": "stats"},
                {
                    "ok": True,
                    "region_size": stats.region_size,
                    "pending_bytes": stats.pending_bytes,
                    "appends_since_checkpoint": stats.appends_since_checkpoint,
                    "sequence": stats.sequence,
                },
            )
        elif isinstance(step, ShouldCheckpoint):
            self.exchange({"op": "should_checkpoint"}, {"ok": True, "value": m.should_checkpoint(self.state)})
        elif isinstance(step, SkipSync):
            self.state = m.set_skip_sync(self.state, step.skip)
            self.exchange({"op": "skip_sync", "skip": step.skip}, {"ok": True})
        elif isinstance(step, Flush):
            self.state = m.flush(self.state)
            self.exchange({"op": "flush"}, {"ok": True})
        elif isinstance(step, Reopen):
            if self.state.wal is not None:
                self.close()
            self.open(step.read_only, "reopen")
        elif isinstance(step, Crash):
            self.crash(step)
        else:
            self.grow(step)

    def crash(self, step: Crash) -> None:
        if self.state.wal is not None:
            self.close()
        disk = self.state.disk
        if step.power_loss:
            count = count_power_loss_regions(disk, REGION_OFFSET)
            index = step.choice % min(count, IMAGES_CONSIDERED)
            image = next(islice(power_loss_regions(disk, REGION_OFFSET), index, None))
            note = f"power loss: image {index} of {count} (spec/porting.md P2.3)"
        else:
            image, note = disk.region, "process kill: every write reached the OS"
        header = disk.header  # durable: every header write is synced (S3.6)
        self.state = replace(
            self.state,
            disk=m.Disk(header=header, region=image, durable_region=image),
            wal=None,
            caller_header=header,
        )
        self.events.append(Rewrite(image.to_bytes(), note))
        self.open(False, "recover")

    def grow(self, step: Grow) -> None:
        """memvid's growth (S3.11), as the model has it; the runner does the
        file's part (P2.4), so the events are: close, the grown region, open."""
        before = self.state
        if before.wal is None or before.wal.read_only:
            return
        size = before.disk.header.wal_size + step.by
        grown, result = m.grow_region(before, size)
        self.close()
        self.events.append(
            Rewrite(
                before.disk.region.grown(size).to_bytes(), f"growth: the region grows to {size} bytes (S3.11)"
            )
        )
        # The runner rewrote the file: only what the reopen wrote outside the region counts.
        outside = grown.disk.bytes_written_outside_region - before.disk.bytes_written_outside_region
        self.state = replace(grown, disk=replace(grown.disk, bytes_written_outside_region=outside))
        request = _open_request(self.state.disk.header, False)
        self.exchange(request, _error(result) if isinstance(result, m.WalError) else {"ok": True}, "reopen")
        if self.state.wal is not None:
            self.pending("reopen")


def transcript(trace: Trace, design: m.Design) -> list[Event]:
    """What a conforming port answers to ``trace``, request by request."""
    transcriber = _Transcriber(trace, design)
    transcriber.open(False, "")
    for step in trace.steps:
        transcriber.step(step)
    if transcriber.state.wal is not None:
        transcriber.close()
    return transcriber.events


# ---------------------------------------------------------------------------
# The driver process (P1.1)
# ---------------------------------------------------------------------------


class DriverFailure(Exception):
    """The driver broke the protocol: no answer in time, not JSON, or it exited."""


class DriverProcess:
    def __init__(self, command: Sequence[str], timeout: float = 10.0) -> None:
        self.command = list(command)
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the driver
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.name = ""
        self.requests = 0

    def start(self) -> None:
        self.stop()
        try:
            self._process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
            )
        except OSError as error:
            raise DriverFailure(f"cannot start {shlex.join(self.command)}: {error}") from error
        self._buffer = b""
        answer = self.request({"op": "hello", "protocol": PROTOCOL})
        if not answer.get("ok") or answer.get("protocol") != PROTOCOL:
            raise DriverFailure(f"the driver does not speak protocol {PROTOCOL}: {answer}")
        self.name = str(answer.get("name", ""))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            self.start()

    def stop(self, *, graceful: bool = True) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if graceful and process.poll() is None and process.stdin is not None:
                process.stdin.write(b'{"op": "quit"}\n')
                process.stdin.flush()
                process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def request(self, request: Json) -> Json:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise DriverFailure("the driver is not running")
        self.requests += 1
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except OSError as error:
            raise DriverFailure(
                f"the driver stopped reading ({error}); stderr: {self.stderr_tail()}"
            ) from error
        line = self._read_line(process)
        try:
            answer = json.loads(line)
        except ValueError as error:
            raise DriverFailure(f"the driver answered a line that is not JSON: {line[:200]!r}") from error
        if not isinstance(answer, dict):
            raise DriverFailure(f"the driver answered {answer!r}, not a JSON object")
        return answer

    def _read_line(self, process: subprocess.Popen[bytes]) -> bytes:
        assert process.stdout is not None
        deadline = time.monotonic() + self.timeout
        descriptor = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.stop(graceful=False)  # a driver that hangs would not read "quit" either
                    raise DriverFailure(f"no answer within {self.timeout:g} s")
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    code = process.wait()
                    self._process = None
                    raise DriverFailure(f"the driver exited (status {code}); stderr: {self.stderr_tail()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


# ---------------------------------------------------------------------------
# Replay (P2.2)
# ---------------------------------------------------------------------------


class ConformanceFailure(AssertionError):
    """The port's answer, bytes or state differ from the model's."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


def _file_bytes(region: bytes) -> bytes:
    return bytes([PREFIX_BYTE]) * REGION_OFFSET + region + bytes([SUFFIX_BYTE]) * SUFFIX_SIZE


def _first_difference(expected: bytes, actual: bytes) -> int:
    for index, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            return index
    return min(len(expected), len(actual))


class _GuaranteeChecker:
    """The oracle fed with the port's answers (spec/semantics.md S5, S6)."""

    def __init__(self, checkpoint_sequence: int) -> None:
        self.oracle = Oracle(initial_sequence=checkpoint_sequence)
        self.skip_sync = False
        self.durable_checkpoint = checkpoint_sequence
        self.commit_records: list[tuple[int, bytes]] = []

    def check(self, event: Exchange, answer: Json) -> None:
        op = event.request["op"]
        request = event.request
        if not answer.get("ok"):
            if op == "open":
                where = "after a crash" if event.purpose == "recover" else "on reopen"
                raise GuaranteeViolation("G5", f"the file did not open {where}: {answer.get('error')}")
            if op in ("pending", "records_after"):
                raise GuaranteeViolation(
                    "G5", f"{op} failed on a file only the WAL wrote: {answer.get('error')}"
                )
            return
        if op == "open":
            self.durable_checkpoint = request["checkpoint_sequence"]
            self.skip_sync = False
        elif op == "append":
            self.oracle.on_append(
                answer["sequence"], bytes.fromhex(request["payload"]), synced=not self.skip_sync
            )
        elif op == "skip_sync":
            self.skip_sync = bool(request["skip"])
        elif op == "flush":
            self.oracle.on_flush()
        elif op in ("pending", "records_after"):
            records = [(r["sequence"], bytes.fromhex(r["payload"])) for r in answer["records"]]
            if op == "records_after":
                self.oracle.check_records_after(request["sequence"], records)
            elif event.purpose == "recover":
                self.oracle.check_after_crash(records, self.durable_checkpoint, "recovery after a crash")
                self.oracle.restart_after_crash(records, self.durable_checkpoint)
            else:
                self.oracle.check_pending(
                    records, "pending_records" + (" after reopen" * (event.purpose == "reopen"))
                )
                self.commit_records = records
        elif op == "checkpoint" and event.purpose == "commit":
            self.oracle.on_commit(self.commit_records)
            self.durable_checkpoint = answer["checkpoint_sequence"]


@dataclass
class ReplayFigures:
    requests: int = 0
    crash_images: int = 0
    growths: int = 0
    state_compared: int = 0


def replay(
    events: Sequence[Event],
    driver: DriverProcess,
    path: Path,
    *,
    guarantees: bool = True,
    compare: bool = True,
    figures: ReplayFigures | None = None,
    shown: list[tuple[Json, Json]] | None = None,
) -> None:
    """Replay ``events`` on ``driver`` over the file at ``path``. Raises
    ConformanceFailure at the first difference from the model (``compare``),
    GuaranteeViolation at the first broken guarantee (``guarantees``), and
    DriverFailure when the driver breaks the protocol. ``shown`` collects
    every request and the port's answer, for the report."""
    figures = figures if figures is not None else ReplayFigures()
    first_open = next(e.request for e in events if isinstance(e, Exchange) and e.request["op"] == "open")
    checker = _GuaranteeChecker(first_open["checkpoint_sequence"]) if guarantees else None
    supports_state = compare
    for index, event in enumerate(events):
        if isinstance(event, Rewrite):
            path.write_bytes(_file_bytes(event.region))
            if event.note.startswith("power loss") or event.note.startswith("process kill"):
                figures.crash_images += 1
            elif event.note.startswith("growth"):
                figures.growths += 1
            continue
        request = dict(event.request)
        if "path" in request:
            request["path"] = str(path)
        answer = driver.request(request)
        figures.requests += 1
        if shown is not None:
            shown.append((event.request, answer))
        if checker is not None:
            checker.check(event, answer)
        if compare and answer != event.response:
            raise ConformanceFailure(
                index, f"answer differs from the model's\n  expected {event.response}\n  got      {answer}"
            )
        _compare_file(index, event, path, guarantees=guarantees, compare=compare)
        if supports_state and event.state is not None:
            state = driver.request({"op": "state"})
            if not state.get("ok") and state.get("error", {}).get("kind") == "Unsupported":
                supports_state = False
                continue
            state.pop("ok", None)
            figures.state_compared += 1
            if state != event.state:
                raise ConformanceFailure(
                    index, f"state differs from the model's\n  expected {event.state}\n  got      {state}"
                )


def _compare_file(index: int, event: Exchange, path: Path, *, guarantees: bool, compare: bool) -> None:
    data = path.read_bytes()
    region_size = len(event.region)
    prefix_intact = data[:REGION_OFFSET] == bytes([PREFIX_BYTE]) * REGION_OFFSET
    suffix_intact = data[REGION_OFFSET + region_size :] == bytes([SUFFIX_BYTE]) * SUFFIX_SIZE
    if not (prefix_intact and suffix_intact):
        where = "before" if not prefix_intact else "after"
        detail = f"the port changed the file {where} the WAL region (file size now {len(data)})"
        if guarantees:
            raise GuaranteeViolation("G6", detail)
        if compare and not event.outside_writes:
            raise ConformanceFailure(index, detail)
    if not compare:
        return
    region = data[REGION_OFFSET : REGION_OFFSET + region_size]
    if region != event.region:
        at = _first_difference(event.region, region)
        raise ConformanceFailure(
            index,
            f"region bytes differ from the model's at region offset {at}\n"
            f"  expected {event.region[at : at + 24].hex()}\n"
            f"  got      {region[at : at + 24].hex()}",
        )


# ---------------------------------------------------------------------------
# Hypothesis-generated traces (P2.1)
# ---------------------------------------------------------------------------

REGION_SIZES = (40, 47, 48, 49, 60, 96, 97, 100, 112, 128, 160, 200, 256, 400)
START_SEQUENCES = (0, 0, 41, m.SEQUENCE_MAX - 1, m.SEQUENCE_MAX - 1, m.SEQUENCE_MAX - 3)


def step_strategy(max_payload: int = 120) -> st.SearchStrategy[Step]:
    # Appends are 4 of the 13 alternatives, in distinct strategies (one_of
    # merges a repeated one), so that traces fill and wrap small regions.
    appends = [
        st.builds(Append, st.binary(min_size=1, max_size=4)),
        st.builds(Append, st.binary(min_size=1, max_size=24)),
        st.builds(Append, st.binary(min_size=25, max_size=max_payload)),
        st.builds(Append, st.binary(max_size=max_payload)),
    ]
    return st.one_of(
        *appends,
        st.just(Commit()),
        st.builds(RecordsAfter, st.integers(0, 3)),
        st.just(Pending()),
        st.sampled_from([Stats(), ShouldCheckpoint()]),
        st.builds(SkipSync, st.booleans()),
        st.just(Flush()),
        st.builds(Reopen, st.booleans()),
        st.builds(Crash, st.booleans(), st.integers(0, IMAGES_CONSIDERED - 1)),
        st.builds(Grow, st.integers(1, 200)),
    )


def trace_strategy(max_steps: int = 30) -> st.SearchStrategy[Trace]:
    return st.builds(
        Trace,
        st.sampled_from(REGION_SIZES),
        st.sampled_from(START_SEQUENCES),
        st.lists(step_strategy(), max_size=max_steps).map(tuple),
    )


@dataclass
class Failure:
    kind: str  # "divergence", "guarantee", "driver"
    message: str
    trace: Trace
    exchanges: list[tuple[Json, Json]]
    expected: Json | None = None

    def render(self) -> str:
        lines = [
            f"{self.kind.upper()}: {self.message}",
            "minimal trace:",
            "  " + self.trace.render().replace("\n", "\n  "),
        ]
        lines.append("requests and the port's answers (> sent, < answered):")
        for request, answer in self.exchanges:
            lines.append(f"  > {_short(request)}")
            lines.append(f"  < {_short(answer)}")
        return "\n".join(lines)


def _short(value: Json) -> str:
    text = json.dumps(value)
    return text if len(text) <= 240 else text[:237] + "..."


@dataclass
class ConformReport:
    command: list[str]
    driver_name: str
    design: str
    guarantees: bool
    examples: int = 0
    figures: ReplayFigures = field(default_factory=ReplayFigures)
    # The distinct failures found, each shrunk on its own (Hypothesis's
    # report_multiple_bugs): one per broken guarantee, divergence or driver fault.
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> Json:
        failures = [
            {
                "kind": failure.kind,
                "message": failure.message,
                "trace": failure.trace.render().splitlines(),
                "exchanges": [{"request": r, "answer": a} for r, a in failure.exchanges],
            }
            for failure in self.failures
        ]
        return {
            "ok": self.ok,
            "command": self.command,
            "driver": self.driver_name,
            "design": self.design,
            "guarantees": self.guarantees,
            "examples": self.examples,
            "requests": self.figures.requests,
            "crash_images": self.figures.crash_images,
            "growths": self.figures.growths,
            "states_compared": self.figures.state_compared,
            "seconds": round(self.seconds, 3),
            "failures": failures,
        }

    def render(self) -> str:
        f = self.figures
        lines = [
            f"conform: {self.driver_name or shlex.join(self.command)} against the {self.design.upper()} model"
            + ("" if self.guarantees else " (guarantees not checked)"),
            f"  {self.examples:,} traces, {f.requests:,} requests, {f.crash_images:,} crash images, "
            f"{f.growths:,} growths, {f.state_compared:,} states compared, {self.seconds:.1f} s",
        ]
        if not self.failures:
            lines.append(
                "  every answer, region byte and state matched the model"
                + ("; guarantees G1-G6 held" if self.guarantees else "")
            )
            lines.append("result: PASS")
        else:
            for number, failure in enumerate(self.failures, start=1):
                lines.append(f"  failure {number} of {len(self.failures)}:")
                lines.append("    " + failure.render().replace("\n", "\n    "))
            lines.append("result: FAIL")
        return "\n".join(lines) + "\n"


def _failure_key(failure: Failure) -> str:
    """Failures count as the same defect when they break the same guarantee at
    the same kind of request (after a crash or not)."""
    if failure.kind != "guarantee":
        return failure.kind
    op = failure.exchanges[-1][0].get("op", "?") if failure.exchanges else "?"
    crash = " after a crash" if "crash" in failure.message else ""
    return f"{failure.message.split(' ', 1)[0]} at {op}{crash}"


def run_conform(
    command: Sequence[str],
    *,
    design: m.Design = m.Design.FIXED,
    examples: int = 200,
    max_steps: int = 30,
    seed: int | None = None,
    guarantees: bool = True,
    timeout: float = 10.0,
    rounds: int = 6,
    progress: Callable[[int, int, float], None] | None = None,
) -> ConformReport:
    """Generate traces with Hypothesis, replay each on the driver, and shrink
    each distinct failure to a minimal trace. Hypothesis stops looking soon
    after its first failure, so the search runs in rounds: each round ignores
    the failures already found (the trace stops there) and looks for new
    ones; it ends after a round that finds nothing new, or after ``rounds``.
    Raises DriverFailure if the driver cannot be started."""
    started = time.monotonic()
    driver = DriverProcess(command, timeout)
    driver.start()
    report = ConformReport(list(command), driver.name, design.value, guarantees)
    known: dict[str, Failure] = {}
    workdir = tempfile.TemporaryDirectory(prefix="walcheck-conform-")
    counter = iter(range(1, 1 << 62))
    try:
        for round_number in range(rounds):
            found = _conform_round(
                driver,
                design,
                report,
                known,
                Path(workdir.name),
                counter,
                examples=examples,
                max_steps=max_steps,
                # Reproducible without a seed too, and a different search each round.
                seed=(seed or 0) + round_number,
                guarantees=guarantees,
                progress=(lambda done, total: progress(done, total, time.monotonic() - started))
                if progress is not None
                else None,
            )
            if not found:
                break
            known.update(found)
    finally:
        driver.stop()
        workdir.cleanup()
    report.failures = [known[key] for key in sorted(known)]
    report.seconds = time.monotonic() - started
    return report


def _conform_round(
    driver: DriverProcess,
    design: m.Design,
    report: ConformReport,
    known: dict[str, Failure],
    workdir: Path,
    counter: Iterator[int],
    *,
    examples: int,
    max_steps: int,
    seed: int,
    guarantees: bool,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Failure]:
    """One Hypothesis run. Returns the new failures, each at its minimal trace:
    Hypothesis replays each distinct failure's minimal example last, so the
    last failure recorded under a key is that key's minimal trace."""
    last_failure: dict[str, Failure] = {}
    done = [0]

    def one_trace(trace: Trace) -> None:
        report.examples += 1
        done[0] += 1
        if progress is not None:
            progress(min(done[0], examples), examples)
        driver.ensure_running()
        path = workdir / f"wal-{next(counter)}.mv2"
        exchanges: list[tuple[Json, Json]] = []
        try:
            replay(
                transcript(trace, design),
                driver,
                path,
                guarantees=guarantees,
                figures=report.figures,
                shown=exchanges,
            )
        except (ConformanceFailure, GuaranteeViolation, DriverFailure) as error:
            if isinstance(error, ConformanceFailure):
                failure = Failure("divergence", error.detail, trace, exchanges)
            elif isinstance(error, GuaranteeViolation):
                failure = Failure("guarantee", str(error), trace, exchanges)
            else:
                failure = Failure("driver", str(error), trace, exchanges)
            key = _failure_key(failure)
            if key in known:
                return  # found in an earlier round: this trace ends here
            last_failure[key] = failure
            raise
        finally:
            _close_quietly(driver)
            path.unlink(missing_ok=True)

    run_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        report_multiple_bugs=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    test = hypothesis_seed(seed)(run_settings(given(trace_strategy(max_steps))(one_trace)))
    try:
        test()
    except (ConformanceFailure, GuaranteeViolation, DriverFailure, ExceptionGroup):
        return last_failure
    return {}


def _close_quietly(driver: DriverProcess) -> None:
    """A failed trace may leave the port's WAL open: close it for the next one."""
    try:
        if driver.running:
            driver.request({"op": "close"})
    except DriverFailure:
        pass
