"""``walcheck explore``: a bounded, breadth-first, exhaustive model checker over
the model (spec/explore.md).

From a small starting configuration (a region size, a few payload sizes, a
starting sequence) it applies every operation to every state it has reached,
up to a depth: appends of each payload size, memvid's commit, reopen,
pending_records, records_after, flush, batch mode on and off, growth, and
crashes (a process kill, every distinct power-loss image between operations,
and every image of a crash inside a commit). Each state is a model state plus
the oracle's knowledge (walcheck/oracle.py); equal states are explored once,
by a canonical fingerprint. Breadth first, so the first violation found of
each kind has a shortest trace.

After every transition: the oracle's guarantees (G1-G4 through the oracle, G5
every open and scan succeeds, G6 nothing written outside the region, G7 for
FIXED: memvid's code opening the file for writing recovers every record),
and for FIXED the invariants of spec S7 (model/invariants.py). Each violation
is mapped to the catalogue (spec/defects.md) from the evidence its trace
holds, or called uncatalogued.

Pure model: nothing here touches a file or the reference implementation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TextIO

import model as m
from model.crash import SECTOR_SIZE, power_loss_regions
from model.format import PAYLOAD_LEN_MAX, WAL_OFFSET
from model.invariants import violated
from reference.mv2 import grown_size
from walcheck.oracle import GuaranteeViolation, Oracle

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2

CATALOGUE = ("D1", "D2", "D3", "D4", "C1", "C2", "C3", "C4")
UNCATALOGUED = "uncatalogued"
# Evidence of C4, which explore found first (spec/defects.md): the commit's
# sentinel erases the first pending entry before the header covers it.
CHECKPOINT_ERASES = "C4"

DEFAULT_MAX_STATES = 200_000


# ---------------------------------------------------------------------------
# Configurations: where the exploration starts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """A starting point: memvid creates a file with a region of ``region_size``
    bytes whose header says ``start_sequence``, and opens it. ``expects`` are
    the catalogued defects of ORIGINAL this configuration is built to reach
    within ``depth`` (the check of the exit code); FIXED must break nothing."""

    name: str
    region_size: int
    payload_sizes: tuple[int, ...]
    start_sequence: int = 0
    # Growth doubles the region (memvid's grown_size) while it stays within this.
    max_region: int | None = None
    depth: int = 6
    expects: frozenset[str] = frozenset()
    purpose: str = ""

    @property
    def growth_limit(self) -> int:
        return self.region_size if self.max_region is None else self.max_region

    def describe(self) -> str:
        sizes = ", ".join(str(size) for size in self.payload_sizes)
        growth = f", grows to {self.growth_limit}" if self.growth_limit > self.region_size else ""
        start = f", sequence starts at {self.start_sequence}" if self.start_sequence else ""
        return f"region {self.region_size}{growth}, payloads of {sizes} bytes{start}"


# Entry sizes are 48 + payload. The boundary cases: a region below one entry
# header (D3); entries that fill a region exactly, and ones that leave fewer
# than 48 bytes (D1); the empty payload (D4); a sequence one below the last
# (D2); 64-byte entries in a region of 64k + 63 bytes, which wraps without
# ever leaving fewer than 48 bytes, so that only crashes can break it (C2,
# C3); an entry across the boundary of two 512-byte sectors (C1).
CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration(
        "under-header",
        40,
        (1,),
        depth=10,
        expects=frozenset({"D3"}),
        purpose="a region smaller than one entry header",
    ),
    Configuration(
        "exact-fit",
        104,
        (4, 16),
        max_region=208,
        depth=8,
        expects=frozenset({"D1", "C4"}),
        purpose="two 52-byte entries fill the region exactly; a 64-byte one leaves 40 bytes",
    ),
    Configuration(
        "empty-payload",
        160,
        (0, 16),
        depth=10,
        expects=frozenset({"D4"}),
        purpose="the empty payload next to one that wraps",
    ),
    Configuration(
        "sequence-end",
        175,
        (8,),
        start_sequence=2**64 - 2,
        depth=10,
        expects=frozenset({"D2"}),
        purpose="the last two sequences; 56-byte entries wrap a 175-byte region",
    ),
    Configuration(
        "wrap",
        191,
        (16,),
        depth=10,
        expects=frozenset({"C2", "C3"}),
        purpose="64-byte entries in 64*2+63 bytes: wraps, never within 48 bytes of the end",
    ),
    Configuration(
        "two-sectors",
        611,
        (500,),
        depth=9,
        expects=frozenset({"C1"}),
        purpose="a 548-byte entry spans the region's first two 512-byte sectors",
    ),
)

CONFIGURATIONS_BY_NAME = {config.name: config for config in CONFIGURATIONS}


def payload_for(sequence: int, size: int) -> bytes:
    """The payload of an append of ``size`` bytes expected to get ``sequence``:
    deterministic, so that two paths appending the same records reach the same
    bytes (and the same state); different for each sequence and size."""
    seed = (sequence * 37 + size * 11) & 0xFF
    return bytes((seed + 7 * i + 1) & 0xFF for i in range(size))


# ---------------------------------------------------------------------------
# Steps, violations, the report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """A catalogued defect's mechanism seen at one step (spec/defects.md)."""

    defect: str
    detail: str


@dataclass(frozen=True)
class Step:
    operation: str
    result: str
    evidence: tuple[Evidence, ...] = ()

    def render(self, number: int) -> list[str]:
        lines = [f"{number}. {self.operation}" + (f" -> {self.result}" if self.result else "")]
        lines += [f"     [{e.defect}] {e.detail}" for e in self.evidence]
        return lines


@dataclass
class _StepBuilder:
    """A step being taken: filled in as the operation runs, so that a violation
    raised half way still has its operation and what it saw."""

    operation: str
    result: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def seen(self, defect: str, detail: str) -> None:
        if all(e.defect != defect for e in self.evidence):
            self.evidence.append(Evidence(defect, detail))

    def done(self) -> Step:
        return Step(self.operation, self.result, tuple(self.evidence))


@dataclass(frozen=True)
class Violation:
    """A broken guarantee (or, FIXED only, invariant) and its shortest trace:
    the operations after create-and-open, the last one the breaking one."""

    guarantee: str
    detail: str
    catalogue: tuple[str, ...]
    start: Step
    trace: tuple[Step, ...]

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.guarantee, self.catalogue

    @property
    def label(self) -> str:
        return ", ".join(self.catalogue) if self.catalogue else UNCATALOGUED

    def render(self) -> list[str]:
        lines = [f"{self.guarantee} ({self.label}), trace of {len(self.trace)} operations: {self.detail}"]
        lines += ["  " + line for line in self.start.render(0)]
        for number, step in enumerate(self.trace, start=1):
            lines += ["  " + line for line in step.render(number)]
        return lines

    def as_json(self) -> dict[str, object]:
        def step(s: Step) -> dict[str, object]:
            return {
                "operation": s.operation,
                "result": s.result,
                "evidence": [{"defect": e.defect, "detail": e.detail} for e in s.evidence],
            }

        return {
            "guarantee": self.guarantee,
            "catalogue": list(self.catalogue) or [UNCATALOGUED],
            "detail": self.detail,
            "length": len(self.trace),
            "start": step(self.start),
            "trace": [step(s) for s in self.trace],
        }


@dataclass
class ExploreReport:
    design: str
    config: Configuration
    depth_bound: int
    max_states: int
    crashes: bool
    states: int = 0
    transitions: int = 0
    # Every state at this depth or less was reached and checked.
    depth_complete: int = 0
    # The deepest state stored.
    depth_reached: int = 0
    # No new state at some depth: everything reachable was explored.
    exhausted: bool = False
    cut_by_max_states: bool = False
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)
    violating_transitions: int = 0
    # Crash images on which memvid's scan meets a C1/C2/C3 condition (FIXED
    # must survive them; their count shows the exploration reached them).
    crash_conditions: Counter[str] = field(default_factory=Counter)

    @property
    def found(self) -> set[str]:
        return {defect for v in self.violations for defect in v.catalogue}

    @property
    def uncatalogued(self) -> list[Violation]:
        return [v for v in self.violations if not v.catalogue]

    def bound_text(self) -> str:
        if self.transitions == 0 and self.violations:
            return "the start itself breaks a guarantee; a broken state is not explored further"
        if self.exhausted:
            return f"frontier exhausted at depth {self.depth_reached}: every reachable state explored"
        if self.cut_by_max_states:
            return (
                f"cut by --max-states {self.max_states:,}: complete to depth {self.depth_complete}, "
                f"part of depth {self.depth_reached}"
            )
        return f"complete to depth {self.depth_complete} (the bound)"

    def as_json(self) -> dict[str, object]:
        return {
            "design": self.design,
            "config": self.config.name,
            "region_size": self.config.region_size,
            "payload_sizes": list(self.config.payload_sizes),
            "start_sequence": self.config.start_sequence,
            "growth_limit": self.config.growth_limit,
            "crashes": self.crashes,
            "depth_bound": self.depth_bound,
            "depth_complete": self.depth_complete,
            "depth_reached": self.depth_reached,
            "exhausted": self.exhausted,
            "cut_by_max_states": self.cut_by_max_states,
            "max_states": self.max_states,
            "states": self.states,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "violating_transitions": self.violating_transitions,
            "defects_found": sorted(self.found),
            "expected_on_original": sorted(self.config.expects),
            "crash_conditions": dict(self.crash_conditions),
            "violations": [v.as_json() for v in self.violations],
        }


class _Broken(Exception):
    """A transition broke a guarantee or an invariant; carries its number."""

    def __init__(self, guarantee: str, detail: str) -> None:
        super().__init__(f"{guarantee}: {detail}")
        self.guarantee = guarantee
        self.detail = detail


# ---------------------------------------------------------------------------
# Reading the disk as another process would
# ---------------------------------------------------------------------------


def _closed(design: m.Design, disk: m.Disk) -> m.State:
    return m.State(design=design, disk=disk, wal=None, caller_header=disk.header)


def _pairs(records: Sequence[m.Record]) -> list[tuple[int, bytes]]:
    return [(r.sequence, r.payload) for r in records]


def _pending_on_open(state: m.State, what: str) -> list[tuple[int, bytes]]:
    """Open the closed ``state`` read-only and read what is pending; a failure is G5."""
    opened, error = m.open_wal(state, read_only=True)
    if error is not None:
        raise _Broken("G5", f"{what} cannot open the WAL: {error.reason} at offset {error.offset}")
    _, pending = m.pending_records(opened)
    if isinstance(pending, m.WalError):
        raise _Broken("G5", f"{what} cannot scan the WAL: {pending.reason} at offset {pending.offset}")
    return _pairs(pending)


def _oracle_check(check: Callable[[], None]) -> None:
    try:
        check()
    except GuaranteeViolation as violation:
        raise _Broken(violation.guarantee, violation.detail) from violation


def _check_state(state: m.State, oracle: Oracle) -> None:
    """What must hold in every state reached: G6; another reader of this
    design opening the file now finds exactly the unapplied records (G1, G2,
    G5); for FIXED, memvid's code opening it for writing does too (G7), and
    the invariants of spec S7 hold."""
    design = state.design
    if state.disk.bytes_written_outside_region:
        raise _Broken("G6", f"{state.disk.bytes_written_outside_region} bytes written past the region's end")
    reader = f"a {design.value} reader opening the file now"
    records = _pending_on_open(_closed(design, state.disk), reader)
    _oracle_check(lambda: oracle.check_pending(records, reader))
    if design is m.Design.FIXED:
        writer = _closed(m.Design.ORIGINAL, state.disk)
        opened, error = m.open_wal(writer)
        if error is not None:
            raise _Broken("G7", f"memvid cannot open the file for writing: {error.reason}")
        _, pending = m.pending_records(opened)
        if isinstance(pending, m.WalError):
            raise _Broken("G7", f"memvid cannot scan the file it opened: {pending.reason}")
        try:
            oracle.check_pending(_pairs(pending), "memvid opening the file for writing")
        except GuaranteeViolation as violation:
            raise _Broken("G7", violation.detail) from violation
        broken = violated(state)
        if broken:
            raise _Broken("invariants " + ", ".join(broken), "model/invariants.py: spec S7 broken")


# ---------------------------------------------------------------------------
# Evidence: which catalogued mechanism a step exercised
# ---------------------------------------------------------------------------


def _state_evidence(before: m.State, after: m.State, step: _StepBuilder) -> None:
    """D1, D3: seen in the state a step leaves. FIXED keeps the write head at
    or after the pending entries (spec S7 I5, I11; model.placement.valid_heads).
    ORIGINAL's falls behind them when it reduces the head modulo the region or
    wraps its sentinel to position 0 (D1), and its sentinel and next entry
    then land on them; only when the whole region is pending does it write
    neither, which is harmless."""
    wal = after.wal
    if (
        after.design is m.Design.ORIGINAL
        and wal is not None
        and wal.write_head < wal.pending_bytes < wal.region_size
    ):
        step.seen(
            "D1",
            f"the write head went to {wal.write_head}, behind {wal.pending_bytes} pending bytes "
            f"(a region of {wal.region_size})",
        )
    outside = after.disk.bytes_written_outside_region - before.disk.bytes_written_outside_region
    if outside > 0:
        step.seen(
            "D3",
            f"a sentinel ran {outside} bytes past the end of a region of {after.disk.header.wal_size} bytes",
        )


def _image_evidence(
    region: m.Region, written: m.Region, header: m.HeaderFields, step: _StepBuilder
) -> list[str]:
    """C1, C2, C3: the conditions on a crash image that memvid's scan
    mishandles and FIXED's recovery rules answer (spec/faults.md): a partly
    written entry (C1, R1); a record that the log as written (``written``,
    what a process kill would keep) does not hold, brought back because the
    power loss took away the sentinel or the entry that had replaced it (C2,
    R2, R3); records that end below the header's checkpoint (C3, R4).
    Recorded as evidence, and counted on both designs."""
    seen: list[str] = []
    scanned = m.scan(region, m.Design.ORIGINAL, header.wal_sequence)
    if isinstance(scanned, m.WalError):
        seen.append("C1")
        step.seen("C1", f"the image holds a partly written entry at {scanned.offset} ({scanned.reason})")
        return seen
    found, _ = scanned
    as_written = m.scan(written, m.Design.ORIGINAL, header.wal_sequence)
    kept = set() if isinstance(as_written, m.WalError) else {_located(s) for s in as_written[0]}
    stale = [s for s in found if _located(s) not in kept]
    if stale:
        seen.append("C2")
        step.seen(
            "C2",
            f"a record the log as written no longer holds is back: sequence {stale[0].record.sequence} "
            f"at {stale[0].position}",
        )
    if found and found[-1].record.sequence < header.wal_sequence:
        seen.append("C3")
        step.seen(
            "C3",
            f"the header's checkpoint {header.wal_sequence} survived; the last record left is "
            f"{found[-1].record.sequence}",
        )
    return seen


def _located(scanned: m.wal.ScannedRecord) -> tuple[int, int, bytes]:
    return scanned.position, scanned.record.sequence, scanned.record.payload


def _append_evidence(before: m.Volatile, payload: bytes, sequence: int, step: _StepBuilder) -> None:
    if not payload:
        step.seen("D4", f"an empty payload was written and acknowledged as sequence {sequence}")
    if before.sequence == m.SEQUENCE_MAX:
        step.seen("D2", f"the append after sequence 2**64-1 was issued {sequence}")


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def _wal(state: m.State) -> m.Volatile:
    assert state.wal is not None
    return state.wal


def _shown(records: Sequence[tuple[int, bytes]]) -> str:
    return "[" + ", ".join(f"{s}:{len(p)}B" for s, p in records) + "]"


def _append(state: m.State, oracle: Oracle, size: int, step: _StepBuilder) -> m.State:
    before = _wal(state)
    payload = payload_for(oracle.last_sequence + 1, size)
    after, outcome = m.append_entry(state, payload)
    if isinstance(outcome, m.WalError):
        step.result = f"refused: {outcome.reason}"
        return after
    _append_evidence(before, payload, outcome, step)
    synced = not before.skip_sync
    step.result = f"sequence {outcome}" + ("" if synced else ", not synced")
    _oracle_check(lambda: oracle.on_append(outcome, payload, synced=synced))
    return after


def _commit_prefix(state: m.State) -> tuple[m.State, list[tuple[int, bytes]]]:
    """memvid's commit up to the header write: pending_records, record_checkpoint."""
    state, pending = m.pending_records(state)
    if isinstance(pending, m.WalError):
        raise _Broken("G5", f"commit cannot read the WAL: {pending.reason} at offset {pending.offset}")
    state, checkpoint = m.record_checkpoint(state)
    assert checkpoint is None, checkpoint  # only a read-only WAL refuses, and explore opens for writing
    return state, _pairs(pending)


def _commit(state: m.State, oracle: Oracle, step: _StepBuilder) -> m.State:
    state, records = _commit_prefix(state)
    state = m.write_header(state)
    _oracle_check(lambda: oracle.on_commit(records))
    step.result = f"applied {_shown(records)}, checkpoint {state.disk.header.wal_sequence}"
    return state


def _reopen(state: m.State, step: _StepBuilder) -> m.State:
    opened, error = m.open_wal(m.close_wal(state))
    if error is not None:
        raise _Broken("G5", f"reopen failed: {error.reason} at offset {error.offset}")
    step.result = f"sequence {_wal(opened).sequence}, {_wal(opened).pending_bytes} bytes pending"
    return opened


def _pending(state: m.State, oracle: Oracle, step: _StepBuilder) -> m.State:
    state, pending = m.pending_records(state)
    if isinstance(pending, m.WalError):
        raise _Broken("G5", f"pending_records failed: {pending.reason} at offset {pending.offset}")
    records = _pairs(pending)
    step.result = _shown(records)
    _oracle_check(lambda: oracle.check_pending(records, "pending_records"))
    return state


def _records_after(state: m.State, oracle: Oracle, after: int, step: _StepBuilder) -> m.State:
    state, found = m.records_after(state, after)
    if isinstance(found, m.WalError):
        raise _Broken("G5", f"records_after({after}) failed: {found.reason} at offset {found.offset}")
    records = _pairs(found)
    step.result = _shown(records)
    _oracle_check(lambda: oracle.check_records_after(after, records))
    return state


def _grow(state: m.State, new_size: int, step: _StepBuilder) -> m.State:
    grown, error = m.grow_region(state, new_size)
    if error is not None:
        raise _Broken("G5", f"the reopen after growth failed: {error.reason} at offset {error.offset}")
    step.result = f"region {new_size} bytes"
    return grown


def _describe_image(image: bytes, durable: bytes, current: bytes) -> str:
    """Which version of each 512-byte sector (model/crash.py) the image holds,
    for the sectors the unsynced writes changed."""
    if image == current:
        return "every write kept"
    if image == durable:
        return "every unsynced write lost"
    parts: list[str] = []
    first = WAL_OFFSET // SECTOR_SIZE
    last = (WAL_OFFSET + len(current) - 1) // SECTOR_SIZE
    for sector in range(first, last + 1):
        start = max(0, sector * SECTOR_SIZE - WAL_OFFSET)
        end = min(len(current), start + SECTOR_SIZE)
        if current[start:end] == durable[start:end]:
            continue
        if image[start:end] == current[start:end]:
            version = "as written"
        elif image[start:end] == durable[start:end]:
            version = "as last synced"
        else:
            version = "an earlier unsynced version"
        parts.append(f"region [{start},{end}) {version}")
    return "; ".join(parts)


def _recover(
    before: m.State,
    oracle: Oracle,
    header: m.HeaderFields,
    image: m.Region,
    written: m.Region,
    step: _StepBuilder,
    probe_size: int,
    conditions: Counter[str],
) -> m.State:
    """memvid restarting on a crash image: recovery must open it (G5) and
    return every acknowledged unapplied record and nothing else (G1, G2:
    ``Oracle.check_after_crash``); the first append after it must take the
    next sequence (G3, G4: ``check_next_sequence``, probed on a copy). The
    explored successor is the image opened for writing, the oracle restarted
    on what it recovered (``restart_after_crash``)."""
    design = before.design
    for condition in _image_evidence(image, written, header, step):
        conditions[condition] += 1
    closed = m.initial_state(
        design,
        header.wal_size,
        wal_sequence=header.wal_sequence,
        wal_checkpoint_pos=header.wal_checkpoint_pos,
        region=image,
    )
    where = "recovery after the crash"
    records = _pending_on_open(closed, where)
    checkpoint = header.wal_sequence
    _oracle_check(lambda: oracle.check_after_crash(records, checkpoint, where))
    opened, error = m.open_wal(closed)
    if error is not None:
        raise _Broken("G5", f"after the crash the WAL cannot be opened for writing: {error.reason}")
    step.result = f"recovered {_shown(records)}"
    if probe_size > 0:
        _, sequence = m.append_entry(opened, payload_for(oracle.last_sequence + 1, probe_size))
        if not isinstance(sequence, m.WalError):
            _append_evidence(_wal(opened), b"probe", sequence, step)
            step.result += f", next append gets {sequence}"
            _oracle_check(
                lambda: oracle.check_next_sequence(sequence, records, checkpoint, "after the crash")
            )
    oracle.restart_after_crash(records, checkpoint)
    return replace(opened, appends_total=before.appends_total)


def _distinct_images(disk: m.Disk) -> list[tuple[bytes, m.Region]]:
    """Every region a power loss can leave (model/crash.py), once per distinct bytes."""
    images: dict[bytes, m.Region] = {}
    for region in power_loss_regions(disk):
        images.setdefault(region.to_bytes(), region)
    return list(images.items())


# What runs a transition on a copy of the node's oracle, and the transition: its operation's text and that.
Run = Callable[[Oracle, _StepBuilder], m.State]
Transition = tuple[str, Run]


def _transitions(
    state: m.State, config: Configuration, crashes: bool, conditions: Counter[str]
) -> Iterator[Transition]:
    wal = _wal(state)
    probe_size = min((size for size in config.payload_sizes if size > 0), default=0)

    def append(size: int) -> Run:
        return lambda oracle, step: _append(state, oracle, size, step)

    for size in config.payload_sizes:
        yield f"append {size} bytes", append(size)
    yield "commit", lambda oracle, step: _commit(state, oracle, step)
    yield "reopen", lambda oracle, step: _reopen(state, step)
    yield "pending_records", lambda oracle, step: _pending(state, oracle, step)
    yield "records_after(0)", lambda oracle, step: _records_after(state, oracle, 0, step)
    yield "flush", lambda oracle, step: _flush(state, oracle, step)
    skip = not wal.skip_sync
    yield (
        "batch mode on (skip_sync)" if skip else "batch mode off",
        lambda oracle, step: m.set_skip_sync(state, skip),
    )
    size = state.disk.header.wal_size
    new_size = grown_size(size, size + 1)
    if new_size <= config.growth_limit:
        yield f"grow to {new_size}", lambda oracle, step: _grow(state, new_size, step)
    if not crashes:
        return

    def crash(header: m.HeaderFields, image: m.Region, written: m.Region, erased: str = "") -> Run:
        def run(oracle: Oracle, step: _StepBuilder) -> m.State:
            if erased:
                step.seen(CHECKPOINT_ERASES, erased)
            return _recover(state, oracle, header, image, written, step, probe_size, conditions)

        return run

    disk = state.disk
    yield "process kill (every write reached the OS)", crash(disk.header, disk.region, disk.region)
    for text, image in _power_loss_images(disk, keep_current=False):
        yield f"power loss, {text}", crash(disk.header, image, disk.region)
    # A crash inside memvid's commit, after record_checkpoint: the header write
    # may or may not have reached the disk, and the sync may have persisted
    # any of the unsynced region writes (the sentinels included).
    try:
        inside, _ = _commit_prefix(state)
    except _Broken:
        return  # the commit itself breaks; its own transition reports it
    old, new = inside.disk.header, inside.caller_header
    erased = _erased_by_checkpoint(state, inside)
    headers = [(new, "new", "")] + ([(old, "old", erased)] if old != new else [])
    for header, which, lost in headers:
        for text, image in _power_loss_images(inside.disk, keep_current=True):
            yield (
                f"crash inside commit: header {which} (checkpoint {header.wal_sequence}), region {text}",
                crash(header, image, inside.disk.region, lost),
            )


def _erased_by_checkpoint(before: m.State, inside: m.State) -> str:
    """Evidence of a mechanism spec/defects.md does not catalogue: the writes
    of memvid's commit before its header write (pending_records' and
    record_checkpoint's sentinels) took pending records out of the log while
    the header on disk does not cover them yet."""
    checkpoint = _wal(before).checkpoint_sequence
    was = m.scan(before.disk.region, before.design, checkpoint)
    now = m.scan(inside.disk.region, before.design, checkpoint)
    if isinstance(was, m.WalError) or isinstance(now, m.WalError):
        return ""
    kept = {_located(s) for s in now[0]}
    gone = [s.record.sequence for s in was[0] if s.record.sequence > checkpoint and _located(s) not in kept]
    if not gone:
        return ""
    return (
        f"the commit's sentinel took pending records {gone} out of the log before the header that "
        f"covers them was written (write head {_wal(inside).checkpoint_head})"
    )


def _power_loss_images(disk: m.Disk, *, keep_current: bool) -> list[tuple[str, m.Region]]:
    """The distinct regions a power loss can leave, described; the current view
    (what a process kill keeps) only if ``keep_current``."""
    current = disk.region.to_bytes()
    durable = disk.durable_region.to_bytes()
    images = [(data, region) for data, region in _distinct_images(disk) if data != current]
    if keep_current:
        images.insert(0, (current, disk.region))
    return [
        (f"image {number} of {len(images)}: {_describe_image(data, durable, current)}", region)
        for number, (data, region) in enumerate(images, start=1)
    ]


def _flush(state: m.State, oracle: Oracle, step: _StepBuilder) -> m.State:
    oracle.on_flush()
    step.result = "everything synced"
    return m.flush(state)


# ---------------------------------------------------------------------------
# The fingerprint
# ---------------------------------------------------------------------------


def fingerprint(state: m.State, oracle: Oracle) -> Hashable:
    """What decides every future of a node, and nothing else: the header, the
    region's bytes (not the model's provenance of them), the set of regions a
    power loss could leave now (which is what the unsynced writes decide: the
    order and repetition of writes that leave the same images do not matter),
    the bytes written outside, the caller's header, the volatile fields, and
    the oracle's knowledge. ``appends_total`` and the records'
    ``append_index`` are history and are left out."""
    disk = state.disk
    images = frozenset(data for data, _ in _distinct_images(disk)) if disk.unsynced else None
    knowledge = (
        oracle.initial_sequence,
        tuple(oracle.appended),
        oracle.applied,
        oracle.acknowledged,
        frozenset(oracle.issued),
    )
    return (
        disk.header,
        disk.region.to_bytes(),
        images,
        disk.bytes_written_outside_region,
        state.caller_header,
        state.wal,
        knowledge,
    )


def _copy(oracle: Oracle) -> Oracle:
    return replace(oracle, appended=list(oracle.appended), issued=set(oracle.issued))


# ---------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------


def _classify(start: Step, trace: Sequence[Step], broken_at: Step) -> tuple[str, ...]:
    """The catalogued defects whose mechanism the trace shows nearest to the
    break: the breaking step's evidence if it has any (a crash image's
    condition, an append's), else that of the latest earlier step with any.
    Empty (uncatalogued) when that evidence names no catalogued defect."""
    for step in (broken_at, *reversed(trace), start):
        if step.evidence:
            named = {e.defect for e in step.evidence}
            return tuple(defect for defect in CATALOGUE if defect in named)
    return ()


ProgressCallback = Callable[[str, int, int, int, float, bool], None]


def explore(
    design: m.Design,
    config: Configuration,
    *,
    depth: int | None = None,
    max_states: int = DEFAULT_MAX_STATES,
    crashes: bool = True,
    progress: ProgressCallback | None = None,
) -> ExploreReport:
    """Breadth-first search from ``config``'s start to ``depth`` operations
    (the configuration's own depth by default), at most ``max_states`` states.
    ``progress(config, depth, states, transitions, seconds, level_done)``."""
    bound = config.depth if depth is None else depth
    report = ExploreReport(
        design=design.value, config=config, depth_bound=bound, max_states=max_states, crashes=crashes
    )
    started = time.monotonic()
    oracle = Oracle(config.start_sequence)
    created = m.initial_state(design, config.region_size, wal_sequence=config.start_sequence)
    start_step = _StepBuilder(
        f"create a region of {config.region_size} bytes"
        + (f" with sequence {config.start_sequence}" if config.start_sequence else "")
        + ", open it"
    )
    root, error = m.open_wal(created)
    start: Step
    try:
        if error is not None:
            raise _Broken("G5", f"the new file cannot be opened: {error.reason}")
        start_step.result = f"write head {_wal(root).write_head}"
        _state_evidence(created, root, start_step)
        _check_state(root, oracle)
    except _Broken as broken:
        start = start_step.done()
        report.violations.append(
            Violation(broken.guarantee, broken.detail, _classify(start, (), start), start, ())
        )
        report.states = 1
        report.seconds = time.monotonic() - started
        return report
    start = start_step.done()
    # Stored nodes: their parent and the step that reached them (for traces).
    parents: list[int] = [-1]
    steps: list[Step] = [start]
    seen: set[Hashable] = {fingerprint(root, oracle)}
    frontier: list[tuple[int, m.State, Oracle]] = [(0, root, oracle)]
    violations: dict[tuple[str, tuple[str, ...]], Violation] = {}

    def trace_to(index: int) -> list[Step]:
        path: list[Step] = []
        while index > 0:
            path.append(steps[index])
            index = parents[index]
        return path[::-1]

    last_progress = 0.0
    level = 0
    while frontier and level < bound and not report.cut_by_max_states:
        level += 1
        next_frontier: list[tuple[int, m.State, Oracle]] = []
        for index, state, node_oracle in frontier:
            for operation, run in _transitions(state, config, crashes, report.crash_conditions):
                report.transitions += 1
                oracle = _copy(node_oracle)
                step = _StepBuilder(operation)
                try:
                    successor = run(oracle, step)
                    _state_evidence(state, successor, step)
                    key = fingerprint(successor, oracle)
                    if key in seen:
                        continue
                    seen.add(key)
                    _check_state(successor, oracle)
                except _Broken as broken:
                    report.violating_transitions += 1
                    done = step.done()
                    before = trace_to(index)
                    violation = Violation(
                        broken.guarantee,
                        broken.detail,
                        _classify(start, before, done),
                        start,
                        (*before, done),
                    )
                    violations.setdefault(violation.key, violation)
                    continue
                parents.append(index)
                steps.append(step.done())
                next_frontier.append((len(steps) - 1, successor, oracle))
                report.depth_reached = level
                if len(seen) >= max_states:
                    report.cut_by_max_states = True
                    break
                now = time.monotonic()
                if progress is not None and now - last_progress >= 0.25:
                    last_progress = now
                    progress(config.name, level, len(seen), report.transitions, now - started, False)
            if report.cut_by_max_states:
                break
        if not report.cut_by_max_states:
            report.depth_complete = level
            if progress is not None:
                progress(config.name, level, len(seen), report.transitions, time.monotonic() - started, True)
        frontier = next_frontier
    report.exhausted = not frontier and not report.cut_by_max_states
    report.states = len(seen)
    report.violations = list(violations.values())
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------
# Verdict, rendering, the command line
# ---------------------------------------------------------------------------


def matches_catalogue(reports: Sequence[ExploreReport]) -> bool:
    """Exit 0's condition. FIXED: nothing broken. ORIGINAL: every violation is
    a catalogued defect, each named configuration's expected defects are found,
    and at least one defect is found."""
    for report in reports:
        if report.design == m.Design.FIXED.value:
            if report.violations:
                return False
        elif report.uncatalogued or not report.config.expects <= report.found:
            return False
    originals = [r for r in reports if r.design == m.Design.ORIGINAL.value]
    return not originals or any(r.found for r in originals)


def render(report: ExploreReport) -> str:
    config = report.config
    lines = [
        f"{config.name} [{report.design}]: {config.describe()}" + ("" if report.crashes else ", no crashes"),
        f"  {report.states:,} distinct states, {report.transitions:,} transitions, "
        f"{report.seconds:.1f} s; {report.bound_text()}",
    ]
    if report.crash_conditions:
        shown = ", ".join(f"{name} {count:,}" for name, count in sorted(report.crash_conditions.items()))
        lines.append(f"  crash images where memvid's scan meets a catalogued condition: {shown}")
    if not report.violations:
        lines.append("  no guarantee broken" + ("" if report.design == "fixed" else " (ORIGINAL!)"))
    else:
        lines.append(
            f"  {len(report.violations)} distinct violations ({report.violating_transitions:,} "
            f"violating transitions); defects found: {', '.join(sorted(report.found)) or 'none'}"
        )
        if report.design == m.Design.ORIGINAL.value:
            missed = sorted(config.expects - report.found)
            if missed:
                lines.append(f"  EXPECTED BUT NOT FOUND: {', '.join(missed)}")
        for violation in sorted(report.violations, key=lambda v: (len(v.trace), v.guarantee)):
            marker = "  FINDING " if report.design == "fixed" or not violation.catalogue else "  "
            rendered = violation.render()
            lines.append(marker + rendered[0])
            lines += ["    " + line for line in rendered[1:]]
    return "\n".join(lines)


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}") from error
    if not sizes or any(size < 0 or size > PAYLOAD_LEN_MAX for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be 0 .. 2**32-1: {text!r}")
    return tuple(sorted(set(sizes)))


def _sequence(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= m.SEQUENCE_MAX:
        raise argparse.ArgumentTypeError(f"must be 0 .. 2**64-1, got {value}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--design",
        choices=[*(d.value for d in m.Design), "both"],
        default="fixed",
        help="which design to explore (default: fixed)",
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=list(CONFIGURATIONS_BY_NAME),
        metavar="NAME",
        help="a named starting configuration; repeatable (default: all; see --list-configs)",
    )
    parser.add_argument("--list-configs", action="store_true", help="list the named configurations and exit")
    parser.add_argument(
        "--region-size",
        type=_at_least(1),
        action="append",
        metavar="BYTES",
        help="explore from this region size instead of the named configurations; repeatable",
    )
    parser.add_argument(
        "--payload-sizes",
        type=_sizes,
        default=(1, 16),
        metavar="N,N,...",
        help="with --region-size: the payload sizes appended (default: 1,16)",
    )
    parser.add_argument(
        "--start-sequence",
        type=_sequence,
        default=0,
        help="with --region-size: the header's wal_sequence at creation (default: 0)",
    )
    parser.add_argument(
        "--max-region",
        type=_at_least(1),
        default=None,
        help="with --region-size: growth doubles the region up to this size (default: no growth)",
    )
    parser.add_argument(
        "--depth",
        type=_at_least(0),
        default=None,
        help="operations after create-and-open (default: each configuration's own; 6 with --region-size)",
    )
    parser.add_argument(
        "--max-states",
        type=_at_least(1),
        default=DEFAULT_MAX_STATES,
        help=f"stop a configuration after this many distinct states (default: {DEFAULT_MAX_STATES:,})",
    )
    parser.add_argument("--no-crashes", action="store_true", help="explore without crashes")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


DESCRIPTION = (
    "Bounded exhaustive exploration of the model, as a model checker does it: every sequence of "
    "operations (appends of a few payload sizes, commit, reopen, pending_records, records_after, "
    "flush, batch mode, growth, process kill, every power-loss image, crashes inside a commit) up to "
    "a depth, from small starting configurations, breadth first so that each counterexample is a "
    "shortest one. Prints the number of distinct states, the bound reached, and the trace of every "
    "broken guarantee, mapped to spec/defects.md. Exit 0: the result matches the catalogue (FIXED: "
    "nothing broken; ORIGINAL: only catalogued defects, and each configuration's expected ones); "
    "1: it does not; 2: bad usage."
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``explore`` to ``walcheck``'s subcommands; ``run`` executes it."""
    parser = commands.add_parser(
        "explore", help="bounded breadth-first exhaustive exploration of the model", description=DESCRIPTION
    )
    _add_arguments(parser)


def _configurations(args: argparse.Namespace) -> list[Configuration]:
    if args.region_size:
        return [
            Configuration(
                f"region-{size}",
                size,
                args.payload_sizes,
                start_sequence=args.start_sequence,
                max_region=args.max_region,
                depth=6,
            )
            for size in args.region_size
        ]
    names = args.config or list(CONFIGURATIONS_BY_NAME)
    return [CONFIGURATIONS_BY_NAME[name] for name in dict.fromkeys(names)]


class _Progress:
    """States, depth and rate on stderr: one line rewritten at most four times
    a second on a terminal, a line per completed depth level otherwise."""

    def __init__(self, err: TextIO, design: str, quiet: bool) -> None:
        self.err, self.design, self.quiet = err, design, quiet
        self.tty = err.isatty()

    def __call__(
        self, config: str, depth: int, states: int, transitions: int, seconds: float, done: bool
    ) -> None:
        if self.quiet:
            return
        rate = states / seconds if seconds > 0 else 0.0
        line = (
            f"  {config} [{self.design}]: depth {depth}{' done' if done else ''}, {states:,} states, "
            f"{transitions:,} transitions, {rate:,.0f} states/s"
        )
        if self.tty:
            self.err.write("\r" + line.ljust(100))
        elif done:
            self.err.write(line + "\n")
        self.err.flush()

    def finish(self) -> None:
        if self.tty and not self.quiet:
            self.err.write("\r" + " " * 100 + "\r")
            self.err.flush()


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if args.list_configs:
        for config in CONFIGURATIONS:
            expects = ", ".join(sorted(config.expects))
            out.write(
                f"{config.name}: {config.describe()}; depth {config.depth}; ORIGINAL expects {expects}\n"
                f"    {config.purpose}\n"
            )
        return EXIT_OK
    if args.region_size and args.config:
        err.write("walcheck explore: --region-size and --config exclude each other\n")
        return EXIT_USAGE
    if args.max_region is not None and not args.region_size:
        err.write("walcheck explore: --max-region needs --region-size\n")
        return EXIT_USAGE
    designs = list(m.Design) if args.design == "both" else [m.Design(args.design)]
    reports: list[ExploreReport] = []
    for design in designs:
        progress = _Progress(err, design.value, args.quiet)
        for config in _configurations(args):
            reports.append(
                explore(
                    design,
                    config,
                    depth=args.depth,
                    max_states=args.max_states,
                    crashes=not args.no_crashes,
                    progress=progress,
                )
            )
            progress.finish()
            if not args.json:
                out.write(render(reports[-1]) + "\n")
                out.flush()
    ok = matches_catalogue(reports)
    if args.json:
        json.dump({"ok": ok, "reports": [r.as_json() for r in reports]}, out, indent=2)
        out.write("\n")
    else:
        out.write("result: " + ("OK, matches spec/defects.md" if ok else "MISMATCH") + "\n")
    return EXIT_OK if ok else EXIT_MISMATCH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walcheck.modelcheck.search", description=DESCRIPTION)
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
