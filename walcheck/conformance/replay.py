"""Replay (P2.2): send a transcript's requests to a driver, compare every answer,
the file's bytes and (if offered) the driver's state with the model's, and run
the independent oracle on the answers (G1-G6). The first difference raises."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from walcheck.conformance.driver import DriverProcess
from walcheck.conformance.transcript import (
    PREFIX_BYTE,
    REGION_OFFSET,
    SUFFIX_BYTE,
    SUFFIX_SIZE,
    Event,
    Exchange,
    Json,
    Rewrite,
)
from walcheck.oracle import GuaranteeViolation, Oracle

# ---------------------------------------------------------------------------
# Replay (P2.2)
# ---------------------------------------------------------------------------


class ConformanceFailure(AssertionError):
    """The port's answer, bytes or state differ from the model's."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


def _file_bytes(region: bytes, offset: int = REGION_OFFSET, *, short: bool = False) -> bytes:
    """P1.3: the canaries around the region; a short file (S3.2) ends with it."""
    return bytes([PREFIX_BYTE]) * offset + region + (b"" if short else bytes([SUFFIX_BYTE]) * SUFFIX_SIZE)


# P3: what languages add to the OS's message: Rust's " (os error 2)",
# Python's "[Errno 2] " and ": 'path'".
_RUST_OS_ERROR = re.compile(r" \(os error -?\d+\)$")
_PYTHON_OS_ERROR = re.compile(r"^\[Errno -?\d+\] (?P<message>.*?)(?:: '.*'(?: -> '.*')?)?$", re.DOTALL)


def normalise_io_reason(reason: str) -> str:
    """P3: an Io reason as the OS gives it, without a language's decorations."""
    matched = _PYTHON_OS_ERROR.match(reason)
    return _RUST_OS_ERROR.sub("", matched.group("message") if matched else reason)


def _comparable(answer: Json) -> Json:
    """P3: Io answers are compared on the normalised reason."""
    error = answer.get("error")
    if answer.get("ok") is False and isinstance(error, dict) and error.get("kind") == "Io":
        reason = error.get("reason")
        if isinstance(reason, str):
            return {**answer, "error": {**error, "reason": normalise_io_reason(reason)}}
    return answer


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
    short_files: int = 0  # S3.2: Truncate steps
    other_offsets: int = 0  # traces whose region is not at 4096
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
    offset = int(first_open["region_offset"])
    figures.other_offsets += offset != REGION_OFFSET
    checker = _GuaranteeChecker(first_open["checkpoint_sequence"]) if guarantees else None
    supports_state = compare
    for index, event in enumerate(events):
        if isinstance(event, Rewrite):
            path.write_bytes(_file_bytes(event.region, offset, short=event.short))
            if event.damage:
                checker = None  # P2.5: no guarantee covers a damaged file
            if event.note.startswith("power loss") or event.note.startswith("process kill"):
                figures.crash_images += 1
            elif event.note.startswith("growth"):
                figures.growths += 1
            if event.short:
                figures.short_files += 1
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
        if compare and _comparable(answer) != _comparable(event.response):
            raise ConformanceFailure(
                index, f"answer differs from the model's\n  expected {event.response}\n  got      {answer}"
            )
        _compare_file(index, event, path, offset, guarantees=checker is not None, compare=compare)
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


def _compare_file(
    index: int, event: Exchange, path: Path, offset: int, *, guarantees: bool, compare: bool
) -> None:
    data = path.read_bytes()
    region_size = len(event.region)
    prefix_intact = data[:offset] == bytes([PREFIX_BYTE]) * offset
    if event.file_end is not None:
        # S3.2: a short file has no canary after it; it must end where the model says.
        region_size = min(event.file_end, region_size)
        if compare and len(data) < offset + region_size:
            raise ConformanceFailure(
                index, f"the file is {len(data)} bytes; the model's ends at {offset + region_size}"
            )
        suffix_intact = True
    else:
        suffix_intact = data[offset + region_size :] == bytes([SUFFIX_BYTE]) * SUFFIX_SIZE
    if not (prefix_intact and suffix_intact):
        where = "before" if not prefix_intact else "after"
        detail = f"the port changed the file {where} the WAL region (file size now {len(data)})"
        if guarantees:
            raise GuaranteeViolation("G6", detail)
        if compare and not event.outside_writes:
            raise ConformanceFailure(index, detail)
    if not compare:
        return
    region = data[offset : offset + region_size]
    expected = event.region[:region_size]
    if region != expected:
        at = _first_difference(expected, region)
        raise ConformanceFailure(
            index,
            f"region bytes differ from the model's at region offset {at}\n"
            f"  expected {event.region[at : at + 24].hex()}\n"
            f"  got      {region[at : at + 24].hex()}",
        )
