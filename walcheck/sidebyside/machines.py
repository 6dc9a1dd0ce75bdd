"""Stateful machines: the model and the reference side by side, and the oracle.

Each rule runs one operation on both, compares what they returned (values or
errors), and feeds the oracle. After every rule the invariants compare every
state variable, the header, the region's bytes and the bytes outside it, and
check recovery: another reader that opens the file now must find every
acknowledged record (G1, G5).

Two failure kinds, kept apart on purpose:
- ``Divergence``: the reference and the model disagree. A bug in one of them.
- ``GuaranteeViolation``: both agree, and the design breaks a guarantee.
  Expected for ``Design.ORIGINAL`` (spec/defects.md), never for FIXED.

Over 600 lines: the rules (the caller layer's included) and the after-every-step comparison of every
state variable belong to one class, ``WalMachineBase``; the crash rules are
crash_machines.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import model as m
import reference.wal as reference_wal
from model import caller
from model.invariants import violated
from model.placement import (
    fixed_open_writes,
    fixed_sentinel_writes,
    safe_end,
    sentinel_writes,
    valid_heads,
    writes_inside,
    writes_spare_pending,
)
from model.wal import IMPLEMENTATION_FIELDS, valid
from reference import Design as RefDesign
from reference import (
    EmbeddedWal,
    FileStorage,
    Header,
    MemoryStorage,
    WalCorruption,
    WalError,
    commit,
    create_mv2,
    grow_region,
    grown_size,
    read_header,
)
from reference.caller import Memory, apply_nothing
from reference.caller import doctor as reference_doctor
from reference.header import WAL_OFFSET, encode_header
from reference.mv2 import COPY_CHUNK, REASONS_THAT_GROW
from reference.storage import Directory, FileDirectory, Storage
from reference.wal import ENTRY_HEADER_SIZE, SCAN_WINDOW_SIZE, place_entry
from walcheck import figures
from walcheck.oracle import GuaranteeViolation, Oracle
from walcheck.sidebyside.predicates import check_the_checkers, first_mutable
from walcheck.sidebyside.scan_reads import ReadLog, reads_broken, record_ends, walks_disagree
from walcheck.trace import Append, Commit, Flush, Put, SkipSync, Step, payload_for, render_step

# Bytes memvid keeps right after the region (data segments, the TOC). The WAL
# must never touch them (G6); the machine fills them with a pattern to notice,
# and the file ends after them. spec/semantics.md S9.12's bytes, spelled out here
# rather than imported from model/caller.py, whose crash images of a growth that
# loses its zeros must show them.
CANARY = bytes([0xA5]) * 256
# spec/semantics.md S3.1: the region memvid gives a new file (WAL_SIZE_TINY),
# spelled here rather than imported, so that the reference's default is checked.
MEMVID_NEW_FILE_REGION = 64 * 1024


# F1.2's numbers, written here rather than imported from reference/header.py, so that
# a wrong constant there is caught rather than shared by the check.
_LEGACY_LOCK_START, _LEGACY_LOCK_END = 80, 140

# S1.4: the reference's scan windows, a tuning knob no result may depend on.
# 1 MiB windows never cut an entry in regions of a few KiB, so the machines
# scan with small ones, picked by the region size (no draw of its own, so
# every example stays the one it was): cuts in a header, at its end, in a
# payload, and windows of many entries. memvid's 64 KiB regions get 4,096
# bytes (65,536 % 7 == 2): payloads of up to 40,000 bytes still span windows.
# spec/format.md F1: memvid's header is 4096 bytes, spelled out here.
MV2_HEADER_BYTES = 4096
SCAN_WINDOWS = (1, 47, 4096, 48, 49, 100, 257)
# The chunks of a growth's copy and zeros (reference.mv2.grow_region, S3.11's
# knob): the default, or less than the bytes after the region (S9.12's 256),
# so that the copy from the back takes more than one step.
COPY_CHUNKS = (COPY_CHUNK, 96, COPY_CHUNK, 160, 255)


def growth_calls(
    file_end: int, old_end: int, growth: int, chunk: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """S3.11's reads and writes (offset, length) of a growth by ``growth``
    bytes of a region ending at ``old_end`` in a file of ``file_end`` bytes,
    ``chunk`` bytes at most each, before its header write: the bytes after the
    region copied forward from the back, each piece read then written
    ``growth`` bytes on, then the new part zeroed from its start."""
    reads: list[tuple[int, int]] = []
    writes: list[tuple[int, int]] = []
    cursor = file_end
    while cursor > old_end:
        start = max(old_end, cursor - chunk)
        reads.append((start, cursor - start))
        writes.append((start + growth, cursor - start))
        cursor = start
    offset = old_end
    while offset < old_end + growth:
        writes.append((offset, min(chunk, old_end + growth - offset)))
        offset += chunk
    return reads, writes


class Divergence(AssertionError):
    """The reference and the model disagree."""


class InvariantViolation(AssertionError):
    """A model state of the FIXED design breaks an invariant of spec S7."""


@dataclass(frozen=True, slots=True)
class Result:
    """An operation's outcome, comparable across model and reference."""

    value: Any = None
    error: tuple[str, str, int | None] | None = None

    def __str__(self) -> str:
        return f"error {self.error}" if self.error else f"ok {self.value!r}"


def _model_result(outcome: object) -> Result:
    if isinstance(outcome, m.WalError):
        return Result(error=(outcome.kind.value, outcome.reason, outcome.offset))
    return Result(value=outcome)


def _reference_result(call: Callable[[], object]) -> Result:
    try:
        return Result(value=call())
    except WalCorruption as error:
        return Result(error=(error.kind, error.reason, error.offset))
    except WalError as error:
        return Result(error=(error.kind, error.reason, None))


def _records(records: object) -> list[tuple[int, bytes]]:
    assert isinstance(records, list)
    return [(r.sequence, r.payload) for r in records]


def _agree(what: str, reference: object, model: object) -> None:
    if reference != model:
        raise Divergence(f"{what}: reference {reference!r} != model {model!r}")


def _scratch_dir() -> str:
    # tmpfs when there is one: fsync there costs microseconds, not milliseconds.
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="walcheck-", dir=base)


@dataclass(frozen=True)
class MachineConfig:
    """What a machine explores. ``build_machine`` turns one into a machine class."""

    name: str
    design: m.Design
    region_sizes: st.SearchStrategy[int]
    initial_sequences: st.SearchStrategy[int]
    payloads: st.SearchStrategy[bytes]
    # memvid's growth doubles the region; the machine stops growing past this.
    growth_limit: int
    # The caller layer's rules (spec/semantics.md S9): memvid's staged commit,
    # its writable open with recovery, the doctor, end of batch; growth through
    # reference.caller and model/caller.py. The ORIGINAL hunts leave it off, so
    # that each finds only its own defect.
    caller_layer: bool = False
    # spec/semantics.md S7.1: the checks' predicates asked about this machine's
    # states broken on purpose, on the 1st, 2nd, 4th, 8th, ... step of each
    # example (every step would double the machine's time). On in one machine:
    # the states of a small region reach every case.
    checks_the_checkers: bool = False
    # A writer in batch mode from every writable open (S3.13; memvid's bulk
    # ingest): its appends stay unsynced until a commit, a flush or a power
    # loss, so a power loss finds many unsynced sectors to choose among.
    batch_writer: bool = False


# What recovering an image gave, by what was asked ("read": a read-only
# open's pending records; crash_machines: a crash image's whole recovery),
# design and image bytes. Both sides' recovery depends on nothing but the
# bytes, and a hunt meets the same image again and again (every example that
# shares a prefix, every shrinking attempt); the oracle's checks still run
# every time. Only inside ``remembering()`` (a hunt), so that a test that
# plants a bug in the code never reads what the unplanted code found, or
# leaves its own results behind. Bounded: the oldest half goes when full.
_REMEMBERED: dict[tuple[str, m.Design, bytes], object] | None = None
_REMEMBERED_KEPT = 4096


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    global _REMEMBERED
    saved, _REMEMBERED = _REMEMBERED, {}
    try:
        yield
    finally:
        _REMEMBERED = saved


def recall(what: str, design: m.Design, image: bytes) -> object | None:
    return None if _REMEMBERED is None else _REMEMBERED.get((what, design, image))


def remember(what: str, design: m.Design, image: bytes, value: object) -> None:
    if _REMEMBERED is None:
        return
    if len(_REMEMBERED) >= _REMEMBERED_KEPT:
        for old in list(_REMEMBERED)[: _REMEMBERED_KEPT // 2]:
            del _REMEMBERED[old]
    _REMEMBERED[(what, design, image)] = value


class WalMachineBase(RuleBasedStateMachine):
    """Rules and invariants that do not depend on the configuration."""

    config: ClassVar[MachineConfig]
    # Figures for the campaign's summary, across every example of the run.
    counters: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        # What this run adds to the shared counters goes to the suite's figures at teardown.
        self._counters_at_start = Counter(self.counters)
        self.counters["examples"] += 1
        self.directory = _scratch_dir()
        self.path = os.path.join(self.directory, "memory.mv2")
        self.storage: Storage | None = None
        self.header: Header | None = None
        self.wal: EmbeddedWal | None = None
        self.state: m.State | None = None
        self.oracle = Oracle(0)
        # Steps that ended with the WAL open, for S7.1's sampling.
        self._open_steps = 0
        self.scan_window = SCAN_WINDOW_SIZE
        self.copy_chunk = COPY_CHUNK

    @property
    def design(self) -> m.Design:
        return self.config.design

    @property
    def ref_design(self) -> RefDesign:
        return RefDesign(self.design.value)

    def _new_storage(self) -> Storage:
        """Where the file lives: a real file here; crash machines use a simulated disk."""
        return FileStorage(self.path, create=True)

    def _snapshot(self) -> bytes:
        """The whole file as another process would read it now."""
        with FileStorage(self.path, read_only=True) as storage:
            return storage.read_at(0, storage.size())

    def _create(self, region_size: int, initial_sequence: int) -> None:
        """S3.1 then S3.2: memvid creates the file and opens the WAL."""
        self.scan_window = SCAN_WINDOWS[region_size % len(SCAN_WINDOWS)]
        self.copy_chunk = COPY_CHUNKS[region_size % len(COPY_CHUNKS)]
        self.storage = self._new_storage()
        if (region_size, initial_sequence) == (MEMVID_NEW_FILE_REGION, 0):
            # memvid's own new file: the reference's defaults, which must be
            # memvid's (S3.1), while the model is told the size spec/ names.
            self.header = create_mv2(self.storage)
        else:
            self.header = create_mv2(self.storage, region_size, wal_sequence=initial_sequence)
        self.storage.write_at(WAL_OFFSET + region_size, CANARY)
        self.storage.sync()
        self.state = m.initial_state(self.design, region_size, wal_sequence=initial_sequence)
        self.oracle = Oracle(initial_sequence)
        self._open(read_only=False)

    def start(self, region_size: int, initial_sequence: int = 0) -> None:
        """A fixed trace's start (walcheck/sidebyside/exhaustive.py): what the
        ``create`` rule does."""
        self._create(region_size, initial_sequence)

    def apply(self, step: Step) -> None:
        """One step of a fixed trace (walcheck/trace.py), as the rules take it.
        (The same dispatch on the step's kind as the conformance transcript's,
        deliberately: each harness applies a step in its own way.)"""
        if isinstance(step, Append):
            self._append_both(step.payload)
        elif isinstance(step, Put):
            self._put(step.payload)
        elif isinstance(step, Commit):
            self.commit()
        elif isinstance(step, Flush):
            self.flush()
        elif isinstance(step, SkipSync):
            self.set_skip_sync(step.skip)
        else:
            raise ValueError(f"the machines do not take {render_step(step)} in a fixed trace")

    def _put(self, payload: bytes) -> None:
        """memvid's put: append; on "region full" or "too small", grow and retry (S3.11)."""
        # memvid retries until the append succeeds, growing each time; the
        # machine stops at its growth limit.
        result = self._append_both(payload)
        while result.error is not None and result.error[1] in REASONS_THAT_GROW:
            if not self._grow_both(m.ENTRY_HEADER_SIZE + len(payload)):
                return
            result = self._append_both(payload)

    def teardown(self) -> None:
        figures.add_all(self.design, self.counters - self._counters_at_start)
        if isinstance(self.storage, FileStorage):
            self.storage.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers --------------------------------------------------------------

    @contextlib.contextmanager
    def _operation(self, name: str) -> Iterator[None]:
        """Around each operation a rule runs: the crash machines check the
        crash points inside the ones their hunt names."""
        yield

    def _open_reference(self, *, read_only: bool) -> EmbeddedWal:
        """What memvid does to open: read the header (clearing legacy lock bytes), open the WAL."""
        assert self.storage is not None
        self.header = read_header(self.storage)
        opener = EmbeddedWal.open_read_only if read_only else EmbeddedWal.open
        # By name: storage and header may be passed either way (the README's
        # examples pass them by position, as the other callers do).
        return opener(storage=self.storage, header=self.header, design=self.ref_design)

    def _open(self, *, read_only: bool) -> None:
        assert self.state is not None
        self.wal = None
        if self.state.wal is not None:
            self.state = m.close_wal(self.state)
        closed = self.state
        image = None if read_only else self._snapshot()
        ref = _reference_result(lambda: self._open_reference(read_only=read_only))
        self.state, outcome = m.open_wal(self.state, read_only=read_only)
        self._settle_open(ref, _model_result(outcome))
        if image is not None:
            self._open_writes_the_sentinel(image, closed)

    def _open_writes_the_sentinel(self, image: bytes, closed: m.State) -> None:
        """S3.2, S3.14, R8: a writable open writes exactly the zeros, and makes
        exactly the syncs, that model.placement gives for the heads its scan
        found (ORIGINAL: sentinel_writes, through memvid's modulo, no sync;
        FIXED: fixed_open_writes, from the region's bytes after the head), and
        nothing else (not even a write of no bytes, which changes no byte but
        is one more system call and crash point than memvid makes). Checked on
        a copy of the file as it was before the open."""
        scanned, outcome = m.open_wal(closed, read_only=True)
        if isinstance(outcome, m.WalError) or scanned.wal is None:
            return
        wal = scanned.wal
        log = ReadLog(MemoryStorage(image))
        header = read_header(log, clear_legacy_lock=False)
        log.writes = []
        if self.design is m.Design.FIXED:
            after = image[header.wal_offset + wal.write_head : header.wal_offset + wal.region_size]
            stale_end = wal.write_head + len(after.rstrip(b"\0"))
            zeros, sync = fixed_open_writes(wal.write_head, wal.pending_bytes, wal.region_size, stale_end)
        else:
            zeros, _ = sentinel_writes(False, wal.write_head, wal.pending_bytes, wal.region_size)
            sync = False
        expected = [(header.wal_offset + start % wal.region_size, length) for start, length in zeros]
        EmbeddedWal.open(log, header, design=self.ref_design)
        _agree("S3.14, R8: the writes of a writable open", log.writes, expected)
        _agree("R8: the syncs of a writable open", log.syncs, int(sync))

    def _settle_open(self, ref: Result, model: Result) -> None:
        _agree("open", ref.error, model.error)
        if ref.error is not None:
            raise GuaranteeViolation("G5", f"the WAL cannot be opened: {ref.error}")
        assert isinstance(ref.value, EmbeddedWal)
        self.wal = ref.value
        if self.config.batch_writer and not self.wal.read_only:
            self.set_skip_sync(True)

    def _is_open(self) -> bool:
        return self.wal is not None

    def _writable(self) -> bool:
        return self.wal is not None and not self.wal.read_only

    def _append_both(self, payload: bytes) -> Result:
        assert self.wal is not None and self.state is not None
        wal = self.wal
        self.oracle.begin_append(payload)
        placed = place_entry(
            self.design is m.Design.FIXED,
            wal.write_head,
            wal.pending_bytes,
            wal.region_size,
            ENTRY_HEADER_SIZE + len(payload),
        )
        head_before, pending_before = wal.write_head, wal.pending_bytes
        # S1.4: FIXED's append decides its common case (the entry fits at the write
        # head with a whole sentinel after it) without calling place_entry; the
        # calls are counted, because a fast path never taken gives the same answers.
        ruling = reference_wal.place_entry
        placements: list[int] = []

        def counted_place_entry(*arguments: Any) -> int | str:
            placements.append(1)
            return ruling(*arguments)

        reference_wal.place_entry = counted_place_entry  # type: ignore[assignment]
        try:
            ref = _reference_result(lambda: wal.append_entry(payload))
        finally:
            reference_wal.place_entry = ruling
        if self.design is m.Design.FIXED and ref.error is None:
            common = head_before + ENTRY_HEADER_SIZE + len(payload) <= wal.region_size - ENTRY_HEADER_SIZE
            _agree(
                "place_entry calls of an append (S1.4: none in the common case)",
                len(placements),
                0 if common else 1,
            )
        self._count_states(wal, head_before, placed, len(payload), ref)
        if ref.error is not None and ref.error[0] == "Io":
            # An injected I/O error (crash machines only): the model has no
            # storage to fail; the machine treats it as a crash next.
            return ref
        self.oracle.in_flight = None
        appends_before = self.state.appends_total
        self.state, outcome = m.append_entry(self.state, payload)
        _agree("append_entry", ref, _model_result(outcome))
        # S1.5: the model counts every append it makes, so that each record's
        # append_index tells it apart (explore's oracle relies on it).
        _agree(
            "the model's appends_total (S1.5)",
            self.state.appends_total,
            appends_before + (0 if isinstance(outcome, m.WalError) else 1),
        )
        if ref.error is None:
            assert isinstance(ref.value, int)
            self.oracle.on_append(ref.value, payload, synced=not wal.skip_sync)
            self.counters["appends"] += 1
            if self.design is m.Design.FIXED:
                # S3.4: FIXED's append decides most placements in one comparison of its
                # own (the fast path); wherever it went, the reference's place_entry
                # must say so too (ORIGINAL's append asks place_entry itself). Looked
                # up on the module now, so that it is the rule the append's slow path
                # uses (tests/test_suite_can_fail.py swaps it on both sides).
                entry_size = ENTRY_HEADER_SIZE + len(payload)
                ruled = reference_wal.place_entry(
                    True, head_before, pending_before, wal.region_size, entry_size
                )
                entry_end = ruled + entry_size if isinstance(ruled, int) else ruled
                _agree("the write head after the append, as place_entry placed it", wal.write_head, entry_end)
                if isinstance(ruled, int):
                    self._entry_is_encoded(wal, ruled, ref.value, payload)
            if self.design is m.Design.FIXED and isinstance(placed, int):
                self._placement_contracts_hold(
                    head_before, pending_before, wal.region_size, ENTRY_HEADER_SIZE + len(payload), placed
                )
        return ref

    def _directory(self) -> Directory:
        """The directory around the file, for the staged replace (S9.7)."""
        return FileDirectory(self.path)

    def _close_storage(self) -> None:
        """Before the caller layer opens the path again (Memory.open, the doctor)."""
        if isinstance(self.storage, FileStorage):
            self.storage.close()

    def _memory(self) -> Memory:
        """reference.caller's handle on the machine's file, WAL and header. The
        records a commit applies go nowhere: the machine keeps its canary after
        the region, and checks the WAL alone."""
        assert self.storage is not None and self.header is not None and self.wal is not None
        return Memory.attach(
            self._directory(), self.storage, self.header, self.wal, self.ref_design, apply_nothing
        )

    def _adopt(self, memory: Memory) -> None:
        self.storage, self.header, self.wal = memory.storage, memory.header, memory.wal

    def _adopt_opened(
        self, ref: Result, refused: str, what: str, model_applied: list[m.Record], counter: str
    ) -> None:
        """After a recovery at open or the doctor: the memory the reference opened
        adopted, the records it applied compared with the model's and told to the
        oracle; a file that does not open is G5 (``refused`` says after what)."""
        if ref.error is not None:
            self.storage = self._reopen_storage()
            raise GuaranteeViolation("G5", f"{refused}: {ref.error}")
        assert isinstance(ref.value, Memory)
        self._adopt(ref.value)
        applied = _records(ref.value.recovered)
        _agree(what, applied, _records(model_applied))
        if applied:
            self.oracle.on_commit(applied)
        self.counters[counter] += 1

    def _count_states(
        self, wal: EmbeddedWal, head_before: int, placed: int | str, length: int, ref: Result
    ) -> None:
        """State coverage (walcheck/figures.py): the boundary states where the
        catalogued defects live, counted when an append reaches them."""
        size = wal.region_size
        if ref.error is not None:
            reason = ref.error[1]
            if reason == "embedded WAL region full":
                self.counters[figures.STATE_FULL] += 1
            elif reason == "WAL sequence exhausted":
                self.counters[figures.STATE_SEQUENCE_END] += 1
            return
        if isinstance(placed, str):
            return
        end = placed + ENTRY_HEADER_SIZE + length
        if placed == 0 and head_before > 0:
            self.counters[figures.STATE_WRAP] += 1
        if end == size:
            self.counters[figures.STATE_EXACT_END] += 1
        elif size - end < ENTRY_HEADER_SIZE:
            self.counters[figures.STATE_UNDER_48] += 1
        if wal.pending_bytes == size:
            self.counters[figures.STATE_PENDING_FILLS] += 1
        if isinstance(ref.value, int) and ref.value >= 2**64 - 4:
            self.counters[figures.STATE_SEQUENCE_END] += 1

    def _grow_both(self, entry_size: int) -> bool:
        """memvid's growth (S3.11) on both sides, then the reopen it ends with."""
        assert self.storage is not None and self.header is not None and self.state is not None
        new_size = grown_size(self.header.wal_size, entry_size)
        if new_size > self.config.growth_limit:
            return False
        if self.config.caller_layer and self.wal is not None:
            # S9.4: ORIGINAL in place, FIXED built beside and renamed over (M4, M5).
            memory = self._memory()
            memory.grow(new_size)
            self._adopt(memory)
            self.state = caller.grow(self.state, new_size).state
            self.counters["growths"] += 1
            return True
        self.wal = None
        log = ReadLog(self.storage)
        old_end, growth = self.header.wal_offset + self.header.wal_size, new_size - self.header.wal_size
        file_end = self.storage.size()
        grow_region(log, self.header, new_size, chunk=self.copy_chunk)
        expected = growth_calls(file_end, old_end, growth, self.copy_chunk)
        made = (log.reads, log.writes[:-1])
        if made != expected or log.writes[-1][0] != 0:
            raise Divergence(
                f"S3.11: a growth with chunks of {self.copy_chunk} read and wrote {made}"
                f" and then {log.writes[-1]}, not {expected} and then the header at 0"
            )
        ref = _reference_result(lambda: self._open_reference(read_only=False))
        self.state, outcome = m.grow_region(self.state, new_size)
        self._settle_open(ref, _model_result(outcome))
        self.counters["growths"] += 1
        return True

    def _committed(
        self, what: str, ref: Result, error: m.WalError | None, applied: list[m.Record] | None, counter: str
    ) -> None:
        """Both sides' commit compared (the model's ``applied``, or its ``error``);
        the oracle told what a returned commit applied; a WAL it cannot read is G5."""
        _agree(what, ref, _model_result(error) if applied is None else Result(value=_records(applied)))
        if ref.error is None:
            assert isinstance(ref.value, list)
            self.oracle.on_commit(ref.value)
            self.counters[counter] += 1
        elif ref.error[0] == "WalCorruption":
            raise GuaranteeViolation("G5", f"commit could not read the WAL: {ref.error}")

    # -- rules ----------------------------------------------------------------

    @precondition(_is_open)
    @rule()
    def commit(self) -> None:
        """memvid's commit (S3.6): pending_records, record_checkpoint, header write, sync."""
        assert self.wal is not None and self.storage is not None and self.header is not None
        assert self.state is not None
        wal, storage, header = self.wal, self.storage, self.header
        with self._operation("commit"):
            ref = _reference_result(lambda: _records(commit(wal, storage, header)))
        done = caller.commit(self.state)
        self.state = done.state
        self._committed("commit", ref, done.error, done.applied, "commits")

    @precondition(lambda self: self.config.caller_layer and self._writable())
    @rule()
    def staged_commit(self) -> None:
        """memvid's commit() (S9.1): the copy, committed, renamed over the file."""
        assert self.state is not None
        memory = self._memory()
        ref = _reference_result(lambda: _records(memory.commit()))
        self._adopt(memory)
        done = caller.staged_commit(self.state)
        self.state = done.state
        self._committed("staged commit", ref, done.error, done.applied, "staged commits")

    @precondition(lambda self: self.config.caller_layer and self.state is not None)
    @rule()
    def open_with_recovery(self) -> None:
        """memvid's writable open (S9.2): what is pending is applied, in place
        (ORIGINAL) or through a staged replace (FIXED)."""
        assert self.state is not None
        self.wal = None
        self._close_storage()
        ref = _reference_result(
            lambda: Memory.open(self._directory(), design=self.ref_design, apply=apply_nothing)
        )
        recovery = caller.recover_at_open(m.close_wal(self.state) if self.state.wal else self.state)
        self.state = recovery.state
        _agree(
            "open with recovery", ref.error, _model_result(recovery.error).error if recovery.error else None
        )
        self._adopt_opened(
            ref,
            "the WAL cannot be opened",
            "records recovered at open",
            recovery.records or [],
            "recoveries at open",
        )

    @precondition(lambda self: self.config.caller_layer and self.state is not None)
    @rule()
    def doctor(self) -> None:
        """memvid's doctor (S9.9) on the file as it is, then the memory opened again."""
        assert self.state is not None
        self.wal = None
        self._close_storage()
        ref = _reference_result(
            lambda: reference_doctor(self._directory(), design=self.ref_design, apply=apply_nothing)
        )
        done = caller.doctor(m.close_wal(self.state) if self.state.wal else self.state)
        self.state, refused = m.open_wal(done.state)
        _agree("the doctor", ref.error, _model_result(refused).error if refused else None)
        self._adopt_opened(
            ref,
            "the file does not open after the doctor",
            "records the doctor applied",
            done.applied,
            "doctor runs",
        )

    @precondition(lambda self: self.config.caller_layer and self._writable())
    @rule()
    def end_batch(self) -> None:
        """S9.5: memvid's end_batch: one flush, then appends sync again."""
        assert self.state is not None
        memory = self._memory()
        ref = _reference_result(memory.end_batch)
        _agree("end_batch", ref, Result())
        self.state = caller.end_batch(self.state)
        self.oracle.on_flush()

    def _reopen_storage(self) -> Storage:
        """After a refused open: the machine's handle on the file, for its checks."""
        return FileStorage(self.path)

    @precondition(_is_open)
    @rule()
    def pending(self) -> None:
        """S3.9."""
        assert self.wal is not None and self.state is not None
        wal = self.wal
        ref = _reference_result(lambda: _records(wal.pending_records()))
        self.state, outcome = m.pending_records(self.state)
        model = _model_result(outcome if isinstance(outcome, m.WalError) else _records(outcome))
        _agree("pending_records", ref, model)
        if ref.error is not None:
            raise GuaranteeViolation("G5", f"pending_records failed: {ref.error}")
        assert isinstance(ref.value, list)
        self.oracle.check_pending(ref.value, "pending_records")

    @precondition(_is_open)
    @rule(back=st.integers(0, 6), anywhere=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    def records_after(self, back: int, anywhere: int | None) -> None:
        """S3.8, near the current sequence or at any sequence at all."""
        assert self.wal is not None and self.state is not None
        after = anywhere if anywhere is not None else max(0, self.oracle.last_sequence - back)
        wal = self.wal
        ref = _reference_result(lambda: _records(wal.records_after(after)))
        self.state, outcome = m.records_after(self.state, after)
        model = _model_result(outcome if isinstance(outcome, m.WalError) else _records(outcome))
        _agree(f"records_after({after})", ref, model)
        if ref.error is not None:
            raise GuaranteeViolation("G5", f"records_after failed: {ref.error}")
        assert isinstance(ref.value, list)
        self.oracle.check_records_after(after, ref.value)

    # Mostly writable: a read-only WAL disables half the rules until the next reopen.
    @rule(read_only=st.sampled_from([False, False, False, True]))
    def reopen(self, read_only: bool) -> None:
        """Close the WAL and open the file again, as a new process would (S3.2, S3.3)."""
        self._open(read_only=read_only)

    # Only on a real file: the crash machines' simulated disk predicts every header byte.
    @precondition(lambda self: self.state is not None and isinstance(self.storage, FileStorage))
    @rule(
        lock=st.binary(
            min_size=_LEGACY_LOCK_END - _LEGACY_LOCK_START, max_size=_LEGACY_LOCK_END - _LEGACY_LOCK_START
        ),
        reserved=st.binary(min_size=1, max_size=64).filter(any),
    )
    def open_older_file(self, lock: bytes, reserved: bytes) -> None:
        """F1.2: the file as an older memvid left it, lock data in header bytes 80..140
        and bytes past them that memvid never reads. The open's header read clears
        the lock bytes, only them, and leaves the rest as they were."""
        assert self.storage is not None
        self.storage.write_at(_LEGACY_LOCK_START, lock + reserved)
        self.storage.sync()
        read_header(self.storage)  # the first step of memvid's open, checked on its own
        after = self.storage.read_at(_LEGACY_LOCK_START, len(lock) + len(reserved))
        expected = bytes(len(lock)) + reserved
        if after != expected:
            first = next(i for i in range(len(after)) if after[i] != expected[i])
            raise Divergence(f"F1.2: header byte {_LEGACY_LOCK_START + first} after the open's read is wrong")
        self._open(read_only=False)

    @precondition(_is_open)
    @rule(skip=st.booleans())
    def set_skip_sync(self, skip: bool) -> None:
        """S3.13: batch mode on or off."""
        assert self.wal is not None and self.state is not None
        self.wal.set_skip_sync(skip)
        self.state = m.set_skip_sync(self.state, skip)

    @precondition(_is_open)
    @rule()
    def flush(self) -> None:
        """S3.13: the sync that acknowledges a batch."""
        assert self.wal is not None
        wal = self.wal
        with self._operation("flush"):
            ref = _reference_result(wal.flush)
        _agree("flush", ref, Result())
        assert self.state is not None
        self.state = m.flush(self.state)
        self.oracle.on_flush()

    @precondition(_writable)
    @rule()
    def grow(self) -> None:
        """S3.11 on its own: memvid doubling the region before it is full."""
        assert self.header is not None
        with self._operation("grow"):
            self._grow_both(self.header.wal_size + 1)

    # -- invariants -------------------------------------------------------------

    @invariant()
    def reference_and_model_agree(self) -> None:
        if self.state is None or self.storage is None:
            return
        self.counters["steps"] += 1
        state = self.state
        disk_header = read_header(self.storage, clear_legacy_lock=False)
        encoded = len(encode_header(disk_header))
        if encoded != MV2_HEADER_BYTES:
            raise Divergence(f"F1: the header encodes to {encoded} bytes, not {MV2_HEADER_BYTES}")
        _agree(
            "header on disk",
            (disk_header.wal_size, disk_header.wal_checkpoint_pos, disk_header.wal_sequence),
            (
                state.disk.header.wal_size,
                state.disk.header.wal_checkpoint_pos,
                state.disk.header.wal_sequence,
            ),
        )
        if self.header is not None:
            _agree(
                "caller header",
                (self.header.wal_size, self.header.wal_checkpoint_pos, self.header.wal_sequence),
                (
                    state.caller_header.wal_size,
                    state.caller_header.wal_checkpoint_pos,
                    state.caller_header.wal_sequence,
                ),
            )
        size = state.disk.header.wal_size
        region = self.storage.read_at(WAL_OFFSET, size)
        if region != state.disk.region.to_bytes():
            model_bytes = state.disk.region.to_bytes()
            first = next(i for i in range(size) if region[i] != model_bytes[i])
            raise Divergence(f"region bytes differ first at position {first}")
        canary_intact = self.storage.read_at(WAL_OFFSET + size, len(CANARY)) == CANARY
        _agree(
            "nothing written outside the region", canary_intact, state.disk.bytes_written_outside_region == 0
        )
        if not canary_intact:
            raise GuaranteeViolation("G6", "the WAL wrote past the end of its region")
        if self.wal is None:
            _agree("open", None, state.wal)
            return
        wal, v = self.wal, state.wal
        assert v is not None
        _agree(
            "volatile state",
            tuple(getattr(wal, name) for name in IMPLEMENTATION_FIELDS),
            tuple(getattr(v, name) for name in IMPLEMENTATION_FIELDS),
        )
        # The reference's read-only properties for tools and ports, each what the WAL was opened with.
        _agree(
            "the WAL's design, recovery, region offset and storage",
            (wal.design.value, wal.recovery.value, wal.region_offset, wal.storage is self.storage),
            (self.design.value, v.recovery.value, WAL_OFFSET, True),
        )
        stats = wal.stats()
        mutable = first_mutable(stats)
        if mutable is not None:
            raise Divergence(f"S3.10: the reference's stats are not a frozen value: {mutable}")
        _agree(
            "stats",
            (stats.region_size, stats.pending_bytes, stats.appends_since_checkpoint, stats.sequence),
            tuple(vars_of(m.stats(state))),
        )
        _agree("should_checkpoint", wal.should_checkpoint(), m.should_checkpoint(state))

    @invariant()
    def model_invariants_hold(self) -> None:
        """spec S7: the FIXED design keeps I1-I12 in every reachable state. The
        original breaks some of them once a defect strikes; its machines check
        the guarantees instead, and ``model.wal.valid``, which both designs'
        contracts keep (S8): ORIGINAL's shape of it too, at its boundaries
        (sequence 0 and 2^64 - 1, D2's wrap between them)."""
        if self.state is None:
            return
        fixed = self.design is m.Design.FIXED
        disk = self.state.disk
        if not (disk.region.well_formed() and disk.durable_region.well_formed()):
            raise InvariantViolation("R0: the model's region is not tiled by non-empty extents in order")
        mutable = first_mutable(self.state)
        if mutable is not None:
            raise InvariantViolation(f"R0: the model's state is not frozen: {mutable}")
        broken = violated(self.state) if fixed else []
        if broken:
            raise InvariantViolation(f"invariants {', '.join(broken)} broken")
        if not valid(self.state):
            raise InvariantViolation("model.wal.valid, the predicate of the model's contracts, broken")
        if not fixed:
            return
        wal = self.state.wal
        if wal is not None and not valid_heads(wal.write_head, wal.pending_bytes, wal.region_size):
            raise InvariantViolation("I5, I7, I11 as the contracts state them (placement.valid_heads) broken")
        if wal is None or not self.config.checks_the_checkers:
            return
        self._open_steps += 1
        if self._open_steps & (self._open_steps - 1) == 0:
            # S7.1: the predicates just asked must answer "broken" on this state broken.
            self.counters[figures.PREDICATE_ANSWERS] += check_the_checkers(self.state)

    def _entry_is_encoded(self, wal: EmbeddedWal, at: int, sequence: int, payload: bytes) -> None:
        """F2: the entry just written is what the reference's encoder makes of
        the record, asked as its callers outside the WAL ask it (by keyword,
        without the WAL's reused hasher), with the mark the entry carries (D6)."""
        written = wal.storage.read_at(wal.region_offset + at, ENTRY_HEADER_SIZE + len(payload))
        marked = written[12:16] == reference_wal.SYNCED_BEFORE_MARK
        encoded = reference_wal.encode_entry(sequence, payload, synced_before=marked, hasher=None)
        _agree("the entry written, as encode_entry encodes it (F2)", written, encoded)

    def _placement_contracts_hold(
        self, head: int, pending: int, region_size: int, entry_size: int, at: int
    ) -> None:
        """FIXED's placement and sentinel contracts (model/placement.py: CrossHair
        proves them for all inputs), evaluated on this append: the predicates
        they are written in must hold of what the machine just did."""
        end, pending_after = at + entry_size, pending + entry_size
        zeros, _ = fixed_sentinel_writes(end, pending_after, region_size)
        held = {
            "valid_heads before": valid_heads(head, pending, region_size),
            "safe_end": safe_end(end, pending_after, region_size),
            "valid_heads after": valid_heads(end, pending_after, region_size),
            "writes_inside": writes_inside(zeros, region_size),
            "writes_spare_pending": writes_spare_pending(zeros, end, pending_after),
        }
        broken = [name for name, holds in held.items() if not holds]
        if broken:
            raise InvariantViolation(f"placement contracts broken by an append at {at}: {', '.join(broken)}")

    @invariant()
    def another_reader_recovers_every_acknowledged_record(self) -> None:
        """G1, G5: a second reader opening the file now (read-only, as
        ``open_read_only`` does, so it writes nothing) finds exactly the
        unapplied records, whether it runs this design or memvid's."""
        if self.state is None or self.storage is None:
            return
        # memvid itself must read what the FIXED design writes.
        designs = (m.Design.FIXED, m.Design.ORIGINAL) if self.design is m.Design.FIXED else (self.design,)
        image = self._snapshot()
        for design in designs:
            records = self._recover(image, design, G5_reason=f"a {design.value} reader cannot open the WAL")
            self.oracle.check_pending(records, f"a {design.value} reader's recovery")
            self.counters["recoveries checked"] += 1
        if self.design is m.Design.FIXED:
            self._memvid_writer_recovers(image)

    def _recover(self, image: bytes, design: m.Design, *, G5_reason: str) -> list[tuple[int, bytes]]:
        """Open ``image`` read-only with ``design``'s code and return its pending
        records (remembered in a hunt: ``remembering``). The open's scan and
        pending_records' rescan must each read the region as S1.4 says."""
        known = recall("read", design, image)
        if isinstance(known, tuple):
            return list(known)
        storage = ReadLog(MemoryStorage(image))
        header = read_header(storage, clear_legacy_lock=False)
        region = image[header.wal_offset : header.wal_offset + header.wal_size]
        disagreement = walks_disagree(region, header.wal_size, design, header.wal_sequence)
        if disagreement:
            raise Divergence(f"{design.value} reader: {disagreement}")
        scans: list[list[tuple[int, int]]] = []
        try:
            storage.reads = []
            reader = EmbeddedWal.open_read_only(
                storage, header, design=RefDesign(design.value), scan_window=self.scan_window
            )
            scans.append(storage.reads)
            storage.reads = []
            pending = reader.pending_records()
            mutable = first_mutable(pending)
            if mutable is not None:
                raise Divergence(f"S3.9: the reference's records are not frozen values: {mutable}")
            records = _records(pending)
            scans.append(storage.reads)
        except WalError as error:
            raise GuaranteeViolation("G5", f"{G5_reason}: {error}") from error
        ends = record_ends(region, header.wal_size, design, header.wal_sequence)
        opened, rescanned = scans
        broken = ends is not None and reads_broken(
            opened, header.wal_offset, region, header.wal_size, self.scan_window, ends
        )
        # The rescan reads the same bytes with the same window, so the same
        # way; one that read nothing found nothing, and what it returned is the
        # oracle's to judge (a planted pending_records that skips its rescan).
        if not broken and ends is not None and rescanned and rescanned != opened:
            broken = f"S1.4: pending_records' rescan read {rescanned}, the open {opened}"
        if broken:
            raise Divergence(f"{design.value} reader: {broken}")
        remember("read", design, image, tuple(records))
        return records

    def _memvid_writer_recovers(self, image: bytes) -> None:
        """G7: memvid opening a FIXED file for writing (on a copy: its open writes
        a sentinel) recovers every acknowledged record."""
        copy = MemoryStorage(image)
        try:
            writer = EmbeddedWal.open(copy, read_header(copy), design=RefDesign.ORIGINAL)
            records = _records(writer.pending_records())
        except WalError as error:
            raise GuaranteeViolation("G7", f"memvid cannot open the file for writing: {error}") from error
        try:
            self.oracle.check_pending(records, "memvid opening the file for writing")
        except GuaranteeViolation as violation:
            raise GuaranteeViolation("G7", violation.detail) from violation
        self.counters["recoveries checked"] += 1


def vars_of(stats: m.Stats) -> tuple[int, int, int, int]:
    return (stats.region_size, stats.pending_bytes, stats.appends_since_checkpoint, stats.sequence)


def build_machine(config: MachineConfig) -> type[WalMachineBase]:
    """A machine class exploring ``config``: its strategies, its design."""

    class Machine(WalMachineBase):
        @initialize(region_size=config.region_sizes, initial_sequence=config.initial_sequences)
        def create(self, region_size: int, initial_sequence: int) -> None:
            self._create(region_size, initial_sequence)

        @precondition(lambda self: self.wal is not None)
        @rule(payload=config.payloads)
        def append(self, payload: bytes) -> None:
            """S3.4 as the WAL's own caller would use it."""
            with self._operation("append"):
                self._append_both(payload)

        @precondition(lambda self: self.wal is not None and not self.wal.read_only)
        @rule(payload=config.payloads)
        def put(self, payload: bytes) -> None:
            """memvid's put, growing the region when it must."""
            with self._operation("put"):
                self._put(payload)

    Machine.config = config
    Machine.__name__ = Machine.__qualname__ = config.name
    return Machine


def small_region_config(design: m.Design, name: str) -> MachineConfig:
    """Regions of a few hundred bytes: every append is near a boundary."""
    return MachineConfig(
        name=name,
        design=design,
        region_sizes=st.one_of(st.integers(48, 400), st.sampled_from([48, 96, 97, 144, 256])),
        initial_sequences=st.one_of(st.just(0), st.integers(0, 2**64 - 1), st.integers(2**64 - 4, 2**64 - 1)),
        payloads=st.binary(min_size=0, max_size=300),
        growth_limit=2048,
        caller_layer=design is m.Design.FIXED,
    )


def memvid_sizes_config(design: m.Design, name: str) -> MachineConfig:
    """memvid's real sizes: a 64 KiB region that grows by doubling up to 1 MiB,
    payloads from a few bytes to tens of KiB."""
    sizes = st.one_of(st.integers(1, 300), st.integers(300, 4096), st.integers(4096, 40_000))
    return MachineConfig(
        name=name,
        design=design,
        region_sizes=st.just(MEMVID_NEW_FILE_REGION),
        initial_sequences=st.just(0),
        payloads=st.builds(payload_for, st.integers(0, 2**16 - 1), sizes),
        growth_limit=1024 * 1024,
    )


StatefulSmallRegionFixed = build_machine(
    dataclasses.replace(
        small_region_config(m.Design.FIXED, "StatefulSmallRegionFixed"), checks_the_checkers=True
    )
)
StatefulMemvidSizesFixed = build_machine(memvid_sizes_config(m.Design.FIXED, "StatefulMemvidSizesFixed"))
