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

The operations are walcheck/modelcheck/operations.py; the transitions from a
state, each an operation of walcheck/trace.py's vocabulary, transitions.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace

import model as m
from walcheck.modelcheck.checks import (
    Broken,
    check_state,
    state_evidence,
)
from walcheck.modelcheck.configurations import Configuration
from walcheck.modelcheck.operations import distinct_images, wal_of
from walcheck.modelcheck.report import (
    CATALOGUE,
    ExploreReport,
    StepBuilder,
    TakenStep,
    Violation,
)
from walcheck.modelcheck.transitions import transitions
from walcheck.oracle import Oracle

DEFAULT_MAX_STATES = 200_000


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
    images = frozenset(data for data, _ in distinct_images(disk)) if disk.unsynced else None
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


def _classify(start: TakenStep, trace: Sequence[TakenStep], broken_at: TakenStep) -> tuple[str, ...]:
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
    start: TakenStep
    try:
        if error is not None:
            raise Broken("G5", f"the new file cannot be opened: {error.reason}")
        start_step.result = f"write head {wal_of(root).write_head}"
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
    steps: list[TakenStep] = [start]
    seen: set[Hashable] = {fingerprint(root, oracle)}
    frontier: list[tuple[int, m.State, Oracle]] = [(0, root, oracle)]
    violations: dict[tuple[str, tuple[str, ...]], Violation] = {}

    def trace_to(index: int) -> list[TakenStep]:
        path: list[TakenStep] = []
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
            for transition in transitions(
                state, node_oracle.last_sequence, config, crashes, report.crash_conditions
            ):
                report.transitions += 1
                oracle = _copy(node_oracle)
                step = StepBuilder(transition.text)
                try:
                    successor = transition.run(oracle, step)
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
