"""Replay (P2.2): send a transcript's requests to a driver, compare every answer,
the file's bytes and (if offered) the driver's state with the model's, and run
the independent oracle on the answers (G1-G6). The first difference raises."""

from __future__ import annotations

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
