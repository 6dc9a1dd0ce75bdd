"""Conformance: drive any implementation that speaks the driver protocol
(spec/porting.md) and compare it with the model.

Three layers, each usable alone:

* ``transcript(trace, design)`` (this module): the model, pure, turns a trace
  of steps into the exact requests a runner sends and the answers, region
  bytes and state a conforming port produces (P2). Crash images come from
  model/crash.py.
* ``replay(transcript, driver, ...)`` (replay.py, on the driver process of
  driver.py): send the requests to a driver, compare every answer, the file's
  bytes and (if offered) the driver's state, and run the independent oracle on
  the answers (G1-G6). The first difference raises.
* ``run_conform`` (search.py): Hypothesis generates traces, replays them, and
  shrinks the first failure to a minimal trace.

The vectors in spec/vectors are transcripts written to JSON (vectors.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

import model as m
from model import caller
from model.crash import count_power_loss_regions, power_loss_regions

# Every kind of step, by name: the same list as vectors.py's, deliberately (one
# turns each kind into requests, the other writes scenarios of each kind).
from walcheck import trace as steps

PROTOCOL = 1
REGION_OFFSET = m.WAL_OFFSET
PREFIX_BYTE = 0xA5
SUFFIX_BYTE = 0x5A
SUFFIX_SIZE = 64
# The fields a driver answers the ``state`` request with (spec/porting.md P1),
# in protocol order. The protocol's own list, not a slice of the model's
# fields: reordering model.wal.Volatile must not change the protocol.
DRIVER_STATE_FIELDS = (
    "write_head",
    "checkpoint_head",
    "pending_bytes",
    "sequence",
    "checkpoint_sequence",
    "appends_since_checkpoint",
)
IMAGES_CONSIDERED = 64  # a crash step picks one of the first 64 power-loss images

Json = dict[str, Any]


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
    # S3.2: the file ends at this region position (a Truncate, lengthened by
    # the writes since); None: the file holds the region and the canary.
    file_end: int | None = None


@dataclass(frozen=True)
class Rewrite:
    """The runner rewrites the file (P1.3) with this region: creation, a crash
    image, or growth."""

    region: bytes
    note: str
    # S3.2: the file ends after ``region`` (no canary): a Truncate.
    short: bool = False
    # Damage (a Truncate): the oracle's guarantees stop here (P2.5).
    damage: bool = False


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
    return {name: getattr(wal, name) for name in DRIVER_STATE_FIELDS}


def _open_request(header: m.HeaderFields, read_only: bool, region_offset: int = REGION_OFFSET) -> Json:
    """P1.4: the header's WAL fields, as memvid hands them to EmbeddedWal::open."""
    return {
        "op": "open",
        "path": "@",
        "region_offset": region_offset,
        "region_size": header.wal_size,
        "checkpoint_pos": header.wal_checkpoint_pos,
        "checkpoint_sequence": header.wal_sequence,
        "read_only": read_only,
    }


class _Transcriber:
    def __init__(self, trace: steps.Trace, design: m.Design) -> None:
        self.state = m.initial_state(design, trace.region_size, wal_sequence=trace.checkpoint_sequence)
        self.offset = trace.region_offset
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
                disk.file_end,
            )
        )

    def open(self, read_only: bool, purpose: str) -> None:
        request = _open_request(self.state.disk.header, read_only, self.offset)
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

    def step(self, step: steps.Step) -> None:
        """Apply one step. Steps that need an open WAL are skipped while none
        is (its open failed: the trace goes on at the next reopen or crash)."""
        if self.state.wal is None and not isinstance(step, steps.Reopen | steps.Crash | steps.Truncate):
            return
        if isinstance(step, steps.Append):
            self.append(step.payload)
        elif isinstance(step, steps.AppendNearLimit):
            length = max(0, self.state.disk.header.wal_size - 2 * m.ENTRY_HEADER_SIZE + step.delta)
            self.append(bytes((index * 7 + step.delta) & 0xFF for index in range(length)))
        elif isinstance(step, steps.Truncate):
            self.truncate(step)
        elif isinstance(step, steps.Put):
            self.put(step.payload)
        elif isinstance(step, steps.Commit):
            self.commit()
        elif isinstance(step, steps.RecordsAfter):
            if step.after is not None:
                after = step.after
            else:
                after = max(0, self.state.wal.sequence - step.below_sequence) if self.state.wal else 0
            self.state, found = m.records_after(self.state, after)
            response = _error(found) if isinstance(found, m.WalError) else _records(found)
            self.exchange({"op": "records_after", "sequence": after}, response)
        elif isinstance(step, steps.Pending):
            self.pending()
        elif isinstance(step, steps.Stats):
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
        elif isinstance(step, steps.ShouldCheckpoint):
            self.exchange({"op": "should_checkpoint"}, {"ok": True, "value": m.should_checkpoint(self.state)})
        elif isinstance(step, steps.SkipSync):
            self.state = m.set_skip_sync(self.state, step.skip)
            self.exchange({"op": "skip_sync", "skip": step.skip}, {"ok": True})
        elif isinstance(step, steps.Flush):
            self.state = m.flush(self.state)
            self.exchange({"op": "flush"}, {"ok": True})
        elif isinstance(step, steps.Reopen):
            if self.state.wal is not None:
                self.close()
            self.open(step.read_only, "reopen")
        elif isinstance(step, steps.Crash):
            self.crash(step)
        else:
            self.grow(step)

    def append(self, payload: bytes) -> m.WalError | None:
        self.state, sequence = m.append_entry(self.state, payload)
        response = (
            _error(sequence) if isinstance(sequence, m.WalError) else {"ok": True, "sequence": sequence}
        )
        self.exchange({"op": "append", "payload": payload.hex()}, response)
        return sequence if isinstance(sequence, m.WalError) else None

    def truncate(self, step: steps.Truncate) -> None:
        """S3.2: close, cut the file inside the region, open it again."""
        if self.state.wal is not None:
            self.close()
        keep = step.cut % self.state.disk.header.wal_size
        self.state = m.truncate_file(self.state, keep)
        region = self.state.disk.region.to_bytes()[:keep]
        note = f"short file: the file ends at region position {keep} (S3.2)"
        self.events.append(Rewrite(region, note, short=True, damage=True))
        self.open(False, "reopen")

    def put(self, payload: bytes) -> None:
        """memvid's put (S3.11): an append refused for room grows the region
        to memvid's next size (the runner's growth, P2.4) and appends again."""
        refused = self.append(payload)
        if refused is None or refused.reason not in caller.REASONS_THAT_GROW:
            return
        size = self.state.disk.header.wal_size
        self.grow(steps.Grow(caller.grown_size(size, m.ENTRY_HEADER_SIZE + len(payload)) - size))
        if self.state.wal is not None:
            self.append(payload)

    def commit(self) -> None:
        """memvid's commit (model/caller.py), as the runner sends it: a pending
        request, then (if the records could be read) a checkpoint request that
        records the checkpoint and writes the header."""
        done = caller.commit(self.state)
        self.state = done.after_pending
        pending = done.pending
        self.exchange(
            {"op": "pending"},
            _error(pending) if isinstance(pending, m.WalError) else _records(pending),
            "commit",
        )
        if isinstance(pending, m.WalError):
            return  # memvid's commit stops when it cannot read the pending records
        self.state = done.state
        if done.checkpoint_error is not None:
            self.exchange({"op": "checkpoint"}, _error(done.checkpoint_error), "commit")
            return
        header = self.state.caller_header
        response = {
            "ok": True,
            "checkpoint_pos": header.wal_checkpoint_pos,
            "checkpoint_sequence": header.wal_sequence,
        }
        self.exchange({"op": "checkpoint"}, response, "commit")

    def crash(self, step: steps.Crash) -> None:
        if self.state.wal is not None:
            self.close()
        disk = self.state.disk
        if step.power_loss:
            count = count_power_loss_regions(disk, self.offset)
            index = step.choice % min(count, IMAGES_CONSIDERED)
            image = next(islice(power_loss_regions(disk, self.offset), index, None))
            note = f"power loss: image {index} of {count} (spec/porting.md P2.3)"
        else:
            image, note = disk.region, "process kill: every write reached the OS"
        self.state = caller.restart(
            self.state.design, caller.crash_image(disk.header, image), appends_total=self.state.appends_total
        )
        self.events.append(Rewrite(image.to_bytes(), note))
        self.open(False, "recover")

    def grow(self, step: steps.Grow) -> None:
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
        request = _open_request(self.state.disk.header, False, self.offset)
        self.exchange(request, _error(result) if isinstance(result, m.WalError) else {"ok": True}, "reopen")
        if self.state.wal is not None:
            self.pending("reopen")


def transcript(trace: steps.Trace, design: m.Design) -> list[Event]:
    """What a conforming port answers to ``trace``, request by request."""
    transcriber = _Transcriber(trace, design)
    transcriber.open(False, "")
    for step in trace.steps:
        transcriber.step(step)
    if transcriber.state.wal is not None:
        transcriber.close()
    return transcriber.events
