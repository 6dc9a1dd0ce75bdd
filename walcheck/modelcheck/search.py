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

Over 600 lines: the operations, the caller layer's transitions and the
breadth-first search share their closures over a node's state. Splitting the
operations out (as walcheck/trace.py's vocabulary) is left for after the
caller layer's work here settles.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import replace

import model as m
from model import caller
from model.crash import SECTOR_SIZE, power_loss_regions
from model.format import WAL_OFFSET
from walcheck.modelcheck.checks import (
    Broken,
    append_evidence,
    check_state,
    image_evidence,
    located,
    oracle_check,
    pairs,
    pending_on_open,
    state_evidence,
)
from walcheck.modelcheck.configurations import Configuration
from walcheck.modelcheck.report import (
    CATALOGUE,
    CHECKPOINT_ERASES,
    ExploreReport,
    Step,
    StepBuilder,
    Violation,
)
from walcheck.oracle import Oracle
from walcheck.trace import payload_for

DEFAULT_MAX_STATES = 200_000


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def _wal(state: m.State) -> m.Volatile:
    assert state.wal is not None
    return state.wal


def _shown(records: Sequence[tuple[int, bytes]]) -> str:
    return "[" + ", ".join(f"{s}:{len(p)}B" for s, p in records) + "]"


def _append(state: m.State, oracle: Oracle, size: int, step: StepBuilder) -> m.State:
    before = _wal(state)
    payload = payload_for(oracle.last_sequence + 1, size)
    after, outcome = m.append_entry(state, payload)
    if isinstance(outcome, m.WalError):
        step.result = f"refused: {outcome.reason}"
        return after
    append_evidence(before, payload, outcome, step)
    synced = not before.skip_sync
    step.result = f"sequence {outcome}" + ("" if synced else ", not synced")
    oracle_check(lambda: oracle.on_append(outcome, payload, synced=synced))
    return after


def _commit_stages(state: m.State) -> caller.Commit:
    """memvid's commit (model/caller.py); a commit that cannot read the WAL is G5."""
    done = caller.commit(state)
    if isinstance(done.pending, m.WalError):
        pending = done.pending
        raise Broken("G5", f"commit cannot read the WAL: {pending.reason} at offset {pending.offset}")
    # Only a read-only WAL refuses record_checkpoint, and explore opens for writing.
    assert done.committed is not None, done.checkpoint_error
    return done


def _commit(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    done = _commit_stages(state)
    assert done.committed is not None and done.applied is not None
    state, records = done.committed, pairs(done.applied)
    oracle_check(lambda: oracle.on_commit(records))
    step.result = f"applied {_shown(records)}, checkpoint {state.disk.header.wal_sequence}"
    return state


def _reopen(state: m.State, step: StepBuilder) -> m.State:
    opened, error = m.open_wal(m.close_wal(state))
    if error is not None:
        raise Broken("G5", f"reopen failed: {error.reason} at offset {error.offset}")
    step.result = f"sequence {_wal(opened).sequence}, {_wal(opened).pending_bytes} bytes pending"
    return opened


def _pending(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    state, pending = m.pending_records(state)
    if isinstance(pending, m.WalError):
        raise Broken("G5", f"pending_records failed: {pending.reason} at offset {pending.offset}")
    records = pairs(pending)
    step.result = _shown(records)
    oracle_check(lambda: oracle.check_pending(records, "pending_records"))
    return state


def _records_after(state: m.State, oracle: Oracle, after: int, step: StepBuilder) -> m.State:
    state, found = m.records_after(state, after)
    if isinstance(found, m.WalError):
        raise Broken("G5", f"records_after({after}) failed: {found.reason} at offset {found.offset}")
    records = pairs(found)
    step.result = _shown(records)
    oracle_check(lambda: oracle.check_records_after(after, records))
    return state


def _grow(state: m.State, new_size: int, step: StepBuilder) -> m.State:
    grown, error = m.grow_region(state, new_size)
    if error is not None:
        raise Broken("G5", f"the reopen after growth failed: {error.reason} at offset {error.offset}")
    step.result = f"region {new_size} bytes"
    return grown


def _staged_commit(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's commit() (S9.1): the copy, committed, renamed over the file."""
    done = caller.staged_commit(state)
    if done.error is not None:
        raise Broken("G5", f"commit cannot read the WAL: {done.error.reason} at offset {done.error.offset}")
    assert done.applied is not None
    records = pairs(done.applied)
    oracle_check(lambda: oracle.on_commit(records))
    step.result = (
        f"applied {_shown(records)} on a copy, renamed over; checkpoint {done.state.disk.header.wal_sequence}"
    )
    return done.state


def _open_with_recovery(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's writable open (S9.2): close, open, apply what is pending."""
    recovery = caller.recover_at_open(m.close_wal(state))
    if recovery.error is not None:
        raise Broken(
            "G5", f"the open cannot recover: {recovery.error.reason} at offset {recovery.error.offset}"
        )
    records = pairs(recovery.records or [])
    if records:
        oracle_check(lambda: oracle.on_commit(records))
    step.result = f"applied {_shown(records)}" + (" in place" if recovery.in_place is not None else "")
    return recovery.state


def _grow_caller(state: m.State, new_size: int, step: StepBuilder) -> m.State:
    grown = caller.grow(state, new_size).state
    step.result = f"region {new_size} bytes" + (
        ", built beside and renamed over" if state.design is m.Design.FIXED else ", in place"
    )
    return grown


def _doctor(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    """memvid's doctor on the file as it is (S9.9), then the memory opened again."""
    before = state.disk.header.wal_sequence
    done = caller.doctor(m.close_wal(state))
    opened, error = m.open_wal(done.state)
    if error is not None:
        raise Broken("G5", f"the file does not open after the doctor: {error.reason}")
    records = pairs(done.applied)
    if records:
        oracle_check(lambda: oracle.on_commit(records))
    after = done.state.disk.header.wal_sequence
    if after < max(before, oracle.last_sequence):
        step.seen(
            "M3", f"the doctor wrote wal_sequence {after}; sequences up to {oracle.last_sequence} were issued"
        )
    step.result = f"applied {_shown(records)}, wal_sequence {after}"
    return opened


def _end_batch(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
    oracle.on_flush()
    step.result = "flushed; appends sync again"
    return caller.end_batch(state)


def _growth_loses_zeros(image: m.Disk, before: m.State) -> str:
    """M4's evidence: a crash image of an in-place growth with the new size and
    what lay after the region still in the new part."""
    old_size, new_size = before.disk.header.wal_size, image.header.wal_size
    if new_size == old_size or image.region.read(old_size, new_size - old_size) == bytes(new_size - old_size):
        return ""
    scanned = m.scan(image.region, before.design, image.header.wal_sequence)
    if not isinstance(scanned, m.WalError) and scanned[1] <= old_size:
        return ""  # a sentinel ends the log before the new part: nothing reads the data there
    return (
        f"the header names a {image.header.wal_size}-byte region; "
        "its new part still holds the data that lay after the old one"
    )


# The doctor's crash images are M3's when their header's checkpoint went back.
DOCTOR_RESET = "doctor"


def _caller_transitions(
    state: m.State, config: Configuration, crash: Callable[[m.Disk, str], Run] | None
) -> Iterator[Transition]:
    """The caller layer (S9): growth, the doctor and batch mode's end, and a
    crash inside each composite action (its own crash images, model/caller.py)."""
    size = state.disk.header.wal_size
    new_size = caller.grown_size(size, size + 1)
    if new_size <= config.growth_limit:
        yield f"grow to {new_size}", lambda oracle, step: _grow_caller(state, new_size, step)
    yield (
        "open with recovery (memvid's writable open)",
        lambda oracle, step: _open_with_recovery(state, oracle, step),
    )
    yield "doctor", lambda oracle, step: _doctor(state, oracle, step)
    if _wal(state).skip_sync:
        yield "end batch (flush, sync on)", lambda oracle, step: _end_batch(state, oracle, step)
    if crash is None:
        return
    staged = caller.staged_commit(state)
    if staged.error is None:
        for number, image in enumerate(staged.crash_images):
            which = "before the rename" if number == 0 else "after the rename"
            yield f"crash inside commit (staged), {which}", crash(image, "")
    if new_size <= config.growth_limit:
        for number, image in enumerate(caller.grow(state, new_size).crash_images, start=1):
            yield (
                f"crash inside growth to {new_size}, image {number}",
                crash(image, _growth_loses_zeros(image, state)),
            )
    closed = m.close_wal(state)
    recovery = caller.recover_at_open(closed)
    inside = recovery.in_place.after_checkpoint if recovery.in_place is not None else None
    erased = _erased_by_checkpoint(recovery.opened, inside) if inside is not None else ""
    for number, image in enumerate(recovery.crash_images, start=1):
        # In place (ORIGINAL), the second image is the kill between record_checkpoint and the header: C4.
        evidence = CHECKPOINT_ERASES + ":" + erased if erased and number == 2 else ""
        yield f"crash inside open with recovery, image {number}", crash(image, evidence)
    for number, image in enumerate(caller.doctor(closed).crash_images, start=1):
        yield f"crash inside the doctor, image {number}", crash(image, DOCTOR_RESET)


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
    step: StepBuilder,
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
    for condition in image_evidence(image, written, header, step):
        conditions[condition] += 1
    closed = caller.restart(design, caller.crash_image(header, image))
    where = "recovery after the crash"
    records = pending_on_open(closed, where)
    checkpoint = header.wal_sequence
    oracle_check(lambda: oracle.check_after_crash(records, checkpoint, where))
    opened, error = m.open_wal(closed)
    if error is not None:
        raise Broken("G5", f"after the crash the WAL cannot be opened for writing: {error.reason}")
    step.result = f"recovered {_shown(records)}"
    if probe_size > 0:
        _, sequence = m.append_entry(opened, payload_for(oracle.last_sequence + 1, probe_size))
        if not isinstance(sequence, m.WalError):
            append_evidence(_wal(opened), b"probe", sequence, step)
            step.result += f", next append gets {sequence}"
            oracle_check(lambda: oracle.check_next_sequence(sequence, records, checkpoint, "after the crash"))
    oracle.restart_after_crash(records, checkpoint)
    return replace(opened, appends_total=before.appends_total)


def _distinct_images(disk: m.Disk) -> list[tuple[bytes, m.Region]]:
    """Every region a power loss can leave (model/crash.py), once per distinct bytes."""
    images: dict[bytes, m.Region] = {}
    for region in power_loss_regions(disk):
        images.setdefault(region.to_bytes(), region)
    return list(images.items())


# What runs a transition on a copy of the node's oracle, and the transition: its operation's text and that.
Run = Callable[[Oracle, StepBuilder], m.State]
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
    if config.caller_layer:
        yield "commit", lambda oracle, step: _staged_commit(state, oracle, step)
    else:
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
    new_size = caller.grown_size(size, size + 1)
    if new_size <= config.growth_limit and not config.caller_layer:
        yield f"grow to {new_size}", lambda oracle, step: _grow(state, new_size, step)

    def crash_into(image: m.Disk, evidence: str = "") -> Run:
        def run(oracle: Oracle, step: StepBuilder) -> m.State:
            if evidence == DOCTOR_RESET:
                if image.header.wal_sequence < oracle.last_sequence:
                    step.seen(
                        "M3",
                        f"the doctor's header says checkpoint {image.header.wal_sequence}; sequences up "
                        f"to {oracle.last_sequence} were issued: applied records look lost",
                    )
            elif evidence.startswith(CHECKPOINT_ERASES + ":"):
                step.seen(CHECKPOINT_ERASES, evidence.partition(":")[2])
            elif evidence:
                step.seen("M4", evidence)
            return _recover(
                state, oracle, image.header, image.region, image.region, step, probe_size, conditions
            )

        return run

    if config.caller_layer:
        yield from _caller_transitions(state, config, crash_into if crashes else None)
    if not crashes:
        return

    def crash(header: m.HeaderFields, image: m.Region, written: m.Region, erased: str = "") -> Run:
        def run(oracle: Oracle, step: StepBuilder) -> m.State:
            if erased:
                step.seen(CHECKPOINT_ERASES, erased)
            return _recover(state, oracle, header, image, written, step, probe_size, conditions)

        return run

    disk = state.disk
    yield "process kill (every write reached the OS)", crash(disk.header, disk.region, disk.region)
    for text, image in _power_loss_images(disk, keep_current=False):
        yield f"power loss, {text}", crash(disk.header, image, disk.region)
    if config.caller_layer:
        return  # memvid's commit is staged there: its crashes are _caller_transitions'
    # A crash inside memvid's commit, after record_checkpoint: the header write
    # may or may not have reached the disk, and the sync may have persisted
    # any of the unsynced region writes (the sentinels included).
    try:
        inside = _commit_stages(state).after_checkpoint
    except Broken:
        return  # the commit itself breaks; its own transition reports it
    assert inside is not None
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
    kept = {located(s) for s in now[0]}
    gone = [s.record.sequence for s in was[0] if s.record.sequence > checkpoint and located(s) not in kept]
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


def _flush(state: m.State, oracle: Oracle, step: StepBuilder) -> m.State:
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
    start_step = StepBuilder(
        f"create a region of {config.region_size} bytes"
        + (f" with sequence {config.start_sequence}" if config.start_sequence else "")
        + ", open it"
    )
    root, error = m.open_wal(created)
    start: Step
    try:
        if error is not None:
            raise Broken("G5", f"the new file cannot be opened: {error.reason}")
        start_step.result = f"write head {_wal(root).write_head}"
        state_evidence(created, root, start_step)
        check_state(root, oracle)
    except Broken as broken:
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
                step = StepBuilder(operation)
                try:
                    successor = run(oracle, step)
                    state_evidence(state, successor, step)
                    key = fingerprint(successor, oracle)
                    if key in seen:
                        continue
                    seen.add(key)
                    check_state(successor, oracle)
                except Broken as broken:
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
