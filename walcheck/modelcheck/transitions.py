"""The transitions ``walcheck explore`` takes from a state: each an operation
of walcheck/trace.py's vocabulary (what the trace says), what only the state
can say about it (which crash image, the size grown to), and how to run it on
a copy of the node's oracle (walcheck/modelcheck/operations.py).

The runs are closures over the node's state and the images computed for it:
a crash image is enumerated once per node, not again per transition."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import model as m
from model import caller
from walcheck import trace as steps
from walcheck.modelcheck import operations as ops
from walcheck.modelcheck.checks import Broken
from walcheck.modelcheck.configurations import Configuration
from walcheck.modelcheck.report import CHECKPOINT_ERASES, StepBuilder
from walcheck.oracle import Oracle

# Runs a transition on a copy of the node's oracle, filling in the step taken.
Run = Callable[[Oracle, StepBuilder], m.State]

# The doctor's crash images are M3's when their header's checkpoint went back.
DOCTOR_RESET = "doctor"


@dataclass(frozen=True)
class Transition:
    operation: steps.Operation
    run: Run
    # What the operation alone does not say: which crash image, the size grown to.
    detail: str = ""

    @property
    def text(self) -> str:
        """The step's line in a trace: the vocabulary's words, then the detail."""
        words = steps.describe(self.operation)
        return f"{words}, {self.detail}" if self.detail else words


def transitions(
    state: m.State, last_sequence: int, config: Configuration, crashes: bool, conditions: Counter[str]
) -> Iterator[Transition]:
    """Every transition from ``state``, whose oracle has issued up to ``last_sequence``."""
    wal = ops.wal_of(state)
    probe_size = min((size for size in config.payload_sizes if size > 0), default=0)

    def append(payload: bytes) -> Transition:
        return Transition(
            steps.Append(payload), lambda oracle, step: ops.append(state, oracle, payload, step)
        )

    for size in config.payload_sizes:
        yield append(steps.payload_for(last_sequence + 1, size))
    commit = ops.staged_commit if config.caller_layer else ops.commit
    yield Transition(steps.Commit(), lambda oracle, step: commit(state, oracle, step))
    yield Transition(steps.Reopen(), lambda oracle, step: ops.reopen(state, step))
    yield Transition(steps.Pending(), lambda oracle, step: ops.pending(state, oracle, step))
    yield Transition(
        steps.RecordsAfter(0, after=0), lambda oracle, step: ops.records_after(state, oracle, 0, step)
    )
    yield Transition(steps.Flush(), lambda oracle, step: ops.flush(state, oracle, step))
    skip = not wal.skip_sync
    yield Transition(steps.SkipSync(skip), lambda oracle, step: m.set_skip_sync(state, skip))
    size = state.disk.header.wal_size
    new_size = caller.grown_size(size, size + 1)
    if new_size <= config.growth_limit and not config.caller_layer:
        yield Transition(
            steps.Grow(new_size - size),
            lambda oracle, step: ops.grow(state, new_size, step),
            f"to {new_size}",
        )

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
            return ops.recover(
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
            return ops.recover(state, oracle, header, image, written, step, probe_size, conditions)

        return run

    disk = state.disk
    yield Transition(steps.Crash(power_loss=False), crash(disk.header, disk.region, disk.region))
    for choice, (text, image) in enumerate(ops.power_loss_images(disk, keep_current=False), start=1):
        yield Transition(
            steps.Crash(power_loss=True, choice=choice), crash(disk.header, image, disk.region), text
        )
    if config.caller_layer:
        return  # memvid's commit is staged there: its crashes are _caller_transitions'
    # A crash inside memvid's commit, after record_checkpoint: the header write
    # may or may not have reached the disk, and the sync may have persisted
    # any of the unsynced region writes (the sentinels included).
    try:
        inside = ops.commit_stages(state).after_checkpoint
    except Broken:
        return  # the commit itself breaks; its own transition reports it
    assert inside is not None
    old, new = inside.disk.header, inside.caller_header
    erased = ops.erased_by_checkpoint(state, inside)
    headers = [(new, "new", "")] + ([(old, "old", erased)] if old != new else [])
    for header, which, lost in headers:
        for text, image in ops.power_loss_images(inside.disk, keep_current=True):
            yield Transition(
                steps.CrashInside("commit"),
                crash(header, image, inside.disk.region, lost),
                f"header {which} (checkpoint {header.wal_sequence}), region {text}",
            )


def _caller_transitions(
    state: m.State, config: Configuration, crash: Callable[[m.Disk, str], Run] | None
) -> Iterator[Transition]:
    """The caller layer (S9): growth, the doctor and batch mode's end, and a
    crash inside each composite action (its own crash images, model/caller.py)."""
    size = state.disk.header.wal_size
    new_size = caller.grown_size(size, size + 1)
    if new_size <= config.growth_limit:
        yield Transition(
            steps.Grow(new_size - size),
            lambda oracle, step: ops.grow_caller(state, new_size, step),
            f"to {new_size}",
        )
    yield Transition(
        steps.OpenWithRecovery(), lambda oracle, step: ops.open_with_recovery(state, oracle, step)
    )
    yield Transition(steps.Doctor(), lambda oracle, step: ops.doctor(state, oracle, step))
    if ops.wal_of(state).skip_sync:
        yield Transition(steps.EndBatch(), lambda oracle, step: ops.end_batch(state, oracle, step))
    if crash is None:
        return
    staged = caller.staged_commit(state)
    if staged.error is None:
        for number, image in enumerate(staged.crash_images):
            which = "before the rename" if number == 0 else "after the rename"
            yield Transition(steps.CrashInside("commit (staged)"), crash(image, ""), which)
    if new_size <= config.growth_limit:
        for number, image in enumerate(caller.grow(state, new_size).crash_images, start=1):
            yield Transition(
                steps.CrashInside(f"growth to {new_size}"),
                crash(image, ops.growth_loses_zeros(image, state)),
                f"image {number}",
            )
    closed = m.close_wal(state)
    recovery = caller.recover_at_open(closed)
    inside = recovery.in_place.after_checkpoint if recovery.in_place is not None else None
    erased = ops.erased_by_checkpoint(recovery.opened, inside) if inside is not None else ""
    for number, image in enumerate(recovery.crash_images, start=1):
        # In place (ORIGINAL), the second image is the kill between record_checkpoint and the header: C4.
        evidence = CHECKPOINT_ERASES + ":" + erased if erased and number == 2 else ""
        yield Transition(steps.CrashInside("open with recovery"), crash(image, evidence), f"image {number}")
    for number, image in enumerate(caller.doctor(closed).crash_images, start=1):
        yield Transition(steps.CrashInside("the doctor"), crash(image, DOCTOR_RESET), f"image {number}")
