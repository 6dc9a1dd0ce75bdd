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

# An operation: its name and, for append and put, the payload.
Operation = tuple[str, bytes]


def _payload(index: int, length: int) -> bytes:
    return bytes((index * 31 + i) & 0xFF for i in range(length)) or b"\x01"


def _appends(count: int, length: int, first: int = 0) -> list[Operation]:
    return [("append", _payload(first + i, length)) for i in range(count)]


@dataclass(frozen=True)
class Trace:
    name: str
    region_size: int
    operations: tuple[Operation, ...]


# Short traces that reach the places crashes hurt: a wrap, batch mode and its
# flush, a commit, a growth. CI checks all of them on both designs. Every entry
# ends 48 bytes or more before its region's end, so the original's D1 cannot
# strike without a crash: what ORIGINAL breaks here, crashes break.
TRACES: tuple[Trace, ...] = (
    Trace("sync appends, commit, wrap", 383, (*_appends(5, 16), ("commit", b""), *_appends(2, 16, 5))),
    Trace(
        "batch appends, flush, commit",
        512,
        (("skip_sync", b"1"), *_appends(3, 40), ("flush", b""), *_appends(2, 40, 3), ("commit", b"")),
    ),
    Trace("growth by put", 128, (("append", b"x" * 16), ("put", b"y" * 32), ("put", b"z" * 16))),
    Trace(
        "commit in batch mode, then a wrap",
        256,
        (("skip_sync", b"1"), *_appends(2, 56), ("commit", b""), ("skip_sync", b""), *_appends(2, 56, 2)),
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


def _run(machine: CrashMachineBase, operation: Operation) -> None:
    name, payload = operation
    if name == "append":
        machine._append_both(payload)
    elif name == "put":
        machine._put(payload)
    elif name == "commit":
        machine.commit()
    elif name == "flush":
        machine.flush()
    elif name == "skip_sync":
        machine.set_skip_sync(bool(payload))
    else:
        raise ValueError(f"unknown operation {name!r}")


def _storage_calls(trace: Trace, design: m.Design) -> int:
    machine = _machine(design)()
    try:
        machine._create(trace.region_size, 0)
        start = machine.disk.calls
        for operation in trace.operations:
            _run(machine, operation)
            machine.storage = machine.disk  # a growth keeps the same disk
        return machine.disk.calls - start
    finally:
        machine.teardown()


def check_trace(trace: Trace, design: m.Design, report: ExhaustiveReport) -> None:
    """Crash ``trace`` at each of its storage calls and check every image."""
    report.traces += 1
    for crash_at in range(_storage_calls(trace, design) + 1):
        machine = _machine(design)()
        try:
            machine._create(trace.region_size, 0)
            machine.disk.arm_crash(crash_at)
            try:
                for operation in trace.operations:
                    _run(machine, operation)
                where = f"{trace.name}: after the trace"
            except SimulatedCrash:
                where = f"{trace.name}: storage call {crash_at + 1}"
            except (GuaranteeViolation, Divergence, InvariantViolation) as failure:
                report.violations.append(f"{trace.name}: without a crash: {failure}")
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
    traces: Sequence[Trace] = TRACES,
    progress: Callable[[str, int, int], None] | None = None,
) -> ExhaustiveReport:
    report = ExhaustiveReport(design=design.value)
    for index, trace in enumerate(traces):
        check_trace(trace, design, report)
        if progress is not None:
            progress(trace.name, index + 1, len(traces))
    return report
