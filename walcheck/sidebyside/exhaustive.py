"""Exhaustive crash checking (spec/faults.md): for a short trace of operations,
crash at every storage call in turn and recover every image the fault model
allows there, not a sample: every combination of unsynced sectors (power
loss) and every state of each sector of the write in flight (torn write).

Each trace runs on a crash machine (walcheck/sidebyside/crash_machines.py) driven
directly, so recovery is checked exactly as in the stateful suite: the
design's reader must open the image, the model must recover the same records
from the same bytes, and the oracle must find every acknowledged record and
nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import model as m
from walcheck.oracle import GuaranteeViolation
from walcheck.sidebyside.crash_machines import CrashMachineBase, build_crash_machine, crash_config
from walcheck.sidebyside.machines import Divergence, InvariantViolation
from walcheck.sidebyside.simdisk import SimulatedCrash
from walcheck.trace import Append, Commit, Flush, Put, SkipSync, Step, Trace, payload_for


def _appends(count: int, length: int, first: int = 0) -> list[Step]:
    return [Append(payload_for(first + i, length)) for i in range(count)]


@dataclass(frozen=True)
class CrashScenario:
    """A named trace to crash at every storage call. Its steps are those the
    machines take in a fixed trace (``WalMachineBase.apply``); the trace starts
    at sequence 0."""

    name: str
    trace: Trace


# Short traces that reach the places crashes hurt: a wrap, batch mode and its
# flush, a commit, a growth. CI checks all of them on both designs. Every entry
# ends 48 bytes or more before its region's end, so the original's D1 cannot
# strike without a crash: what ORIGINAL breaks here, crashes break.
TRACES: tuple[CrashScenario, ...] = (
    CrashScenario(
        "sync appends, commit, wrap", Trace(383, 0, (*_appends(5, 16), Commit(), *_appends(2, 16, 5)))
    ),
    CrashScenario(
        "batch appends, flush, commit",
        Trace(512, 0, (SkipSync(True), *_appends(3, 40), Flush(), *_appends(2, 40, 3), Commit())),
    ),
    CrashScenario("growth by put", Trace(128, 0, (Append(b"x" * 16), Put(b"y" * 32), Put(b"z" * 16)))),
    CrashScenario(
        "commit in batch mode, then a wrap",
        Trace(256, 0, (SkipSync(True), *_appends(2, 56), Commit(), SkipSync(False), *_appends(2, 56, 2))),
    ),
)


@dataclass
class ExhaustiveReport:
    design: str
    traces: int = 0
    crash_points: int = 0
    images: int = 0
    violations: list[str] = field(default_factory=list)

    def render(self) -> str:
        return (
            f"exhaustive crash check, design {self.design}: {self.traces} traces, "
            f"{self.crash_points} crash points, {self.images:,} crash images checked, "
            f"{len(self.violations)} violations"
        )


def _machine(design: m.Design) -> type[CrashMachineBase]:
    return build_crash_machine(crash_config(design, f"Exhaustive{design.value.title()}"))


def _storage_calls(scenario: CrashScenario, design: m.Design) -> int:
    machine = _machine(design)()
    try:
        machine.start(scenario.trace.region_size, scenario.trace.checkpoint_sequence)
        start = machine.disk.calls
        for step in scenario.trace.steps:
            machine.apply(step)
            machine.storage = machine.disk  # a growth keeps the same disk
        return machine.disk.calls - start
    finally:
        machine.teardown()


def check_trace(scenario: CrashScenario, design: m.Design, report: ExhaustiveReport) -> None:
    """Crash ``scenario`` at each of its storage calls and check every image."""
    report.traces += 1
    trace = scenario.trace
    for crash_at in range(_storage_calls(scenario, design) + 1):
        machine = _machine(design)()
        try:
            machine.start(trace.region_size, trace.checkpoint_sequence)
            machine.disk.arm_crash(crash_at)
            try:
                for step in trace.steps:
                    machine.apply(step)
                where = f"{scenario.name}: after the trace"
            except SimulatedCrash:
                where = f"{scenario.name}: storage call {crash_at + 1}"
            except (GuaranteeViolation, Divergence, InvariantViolation) as failure:
                report.violations.append(f"{scenario.name}: without a crash: {failure}")
                continue
            machine.disk.disarm()
            report.crash_points += 1
            disk = machine.disk
            images = [*disk.power_loss_images(), *disk.torn_images(), disk.kill_image()]
            for image in images:
                if not machine._header_intact(image):
                    continue
                try:
                    machine._recover_image(image, where)
                except (GuaranteeViolation, Divergence, InvariantViolation) as failure:
                    report.violations.append(f"{where}: {failure}")
                report.images += 1
        finally:
            machine.teardown()


def run_exhaustive(
    design: m.Design,
    traces: Sequence[CrashScenario] = TRACES,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExhaustiveReport:
    report = ExhaustiveReport(design=design.value)
    for index, scenario in enumerate(traces):
        check_trace(scenario, design, report)
        if progress is not None:
            progress(scenario.name, index + 1, len(traces))
    return report
