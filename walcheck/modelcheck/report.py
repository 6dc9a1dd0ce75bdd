"""What an exploration reports: the steps of a trace (with the evidence of
catalogued mechanisms each one showed), violations with their shortest traces,
a configuration's report, the verdict against the catalogue and its text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import model as m
from walcheck.modelcheck.configurations import Configuration

CATALOGUE = ("D1", "D2", "D3", "D4", "C1", "C2", "C3", "C4", "M3", "M4")
UNCATALOGUED = "uncatalogued"
# Evidence of C4, which explore found first (spec/defects.md): the commit's
# sentinel erases the first pending entry before the header covers it.
CHECKPOINT_ERASES = "C4"


# ---------------------------------------------------------------------------
# Steps, violations, the report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """A catalogued defect's mechanism seen at one step (spec/defects.md)."""

    defect: str
    detail: str


@dataclass(frozen=True)
class TakenStep:
    """One step of a trace as taken: the operation in walcheck/trace.py's words
    (``Transition.text``), what it returned, and the evidence it showed."""

    operation: str
    result: str
    evidence: tuple[Evidence, ...] = ()

    def render(self, number: int) -> list[str]:
        lines = [f"{number}. {self.operation}" + (f" -> {self.result}" if self.result else "")]
        lines += [f"     [{e.defect}] {e.detail}" for e in self.evidence]
        return lines


@dataclass
class StepBuilder:
    """A step being taken: filled in as the operation runs, so that a violation
    raised half way still has its operation and what it saw."""

    operation: str
    result: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def seen(self, defect: str, detail: str) -> None:
        if all(e.defect != defect for e in self.evidence):
            self.evidence.append(Evidence(defect, detail))

    def done(self) -> TakenStep:
        return TakenStep(self.operation, self.result, tuple(self.evidence))


@dataclass(frozen=True)
class Violation:
    """A broken guarantee (or, FIXED only, invariant) and its shortest trace:
    the operations after create-and-open, the last one the breaking one."""

    guarantee: str
    detail: str
    catalogue: tuple[str, ...]
    start: TakenStep
    trace: tuple[TakenStep, ...]

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
        def step(s: TakenStep) -> dict[str, object]:
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


# Alike in shape to killtest/campaign.py's KillReport and syscalls/campaign.py's CrashReport,
# on purpose: each counts its own campaign's work (here states and depths); none is the other's.
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
