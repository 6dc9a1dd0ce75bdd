"""The hunts' power, measured: for each catalogued defect of the original, its
hunt (walcheck/sidebyside/hunts.py) run on seed after seed; how many seeds
found it (mapped to its catalogue entry by the guarantee it breaks), the
median and worst time to a shrunk trace, and the median trace length."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from walcheck.sidebyside.hunts import DEFECT_HUNTS, Finding, hunt, hunt_settings


def trace_steps(finding: Finding) -> int:
    """Operations in a shrunk trace: ``state.NAME(...)`` lines, not the machine's
    construction or teardown."""
    return sum(
        line.startswith("state.") and not line.startswith(("state.teardown(", "state = "))
        for line in finding.trace
    )


@dataclass
class HuntRow:
    defect: str
    seeds: int = 0
    found: int = 0
    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # what the seeds that missed found instead

    def as_dict(self) -> dict[str, object]:
        return {
            "defect": self.defect,
            "seeds": self.seeds,
            "found": self.found,
            "median_seconds": statistics.median(self.seconds) if self.seconds else None,
            "worst_seconds": max(self.seconds) if self.seconds else None,
            "median_steps": statistics.median(self.steps) if self.steps else None,
            "other": self.other,
        }


def measure_hunts(
    seeds: Sequence[int],
    defects: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[HuntRow]:
    rows: list[HuntRow] = []
    for defect in DEFECT_HUNTS:
        if defects is not None and defect.defect not in defects:
            continue
        row = HuntRow(defect.defect)
        for seed in seeds:
            machine = defect.machine()
            started = time.monotonic()
            finding = hunt(machine, hunt_settings(defect.examples, seed=seed, steps=defect.steps), seed=seed)
            elapsed = time.monotonic() - started
            row.seeds += 1
            row.seconds.append(elapsed)
            if defect.found_by(finding):
                assert finding is not None
                row.found += 1
                row.steps.append(trace_steps(finding))
            else:
                row.other.append("nothing" if finding is None else f"{finding.kind} {finding.guarantee}")
            if progress:
                outcome = "found" if defect.found_by(finding) else row.other[-1]
                progress(f"{defect.defect} seed {seed}: {outcome} in {elapsed:.1f} s")
        rows.append(row)
    return rows


def render_hunts(rows: Sequence[HuntRow]) -> str:
    lines = [
        "| defect | seeds that found it | median time | worst time | median trace (steps) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        median = f"{statistics.median(row.seconds):.1f} s" if row.seconds else "-"
        worst = f"{max(row.seconds):.1f} s" if row.seconds else "-"
        steps = f"{statistics.median(row.steps):g}" if row.steps else "-"
        lines.append(f"| {row.defect} | {row.found}/{row.seeds} | {median} | {worst} | {steps} |")
    return "\n".join(lines) + "\n"
