"""Check every crash state of a recording with real readers (issue 11, items 3-4).

``check_recording`` walks every crash point of a recording, every choice the
persistence model allows there (all of them when few, else a seeded sample),
materialises each distinct state as real files, opens it with every reader and
hands what each returns to the oracle the writer's reports before that point
built. A failure is minimised (each call that was dropped is put back while
the same reader still breaks the same guarantee) and kept with its trace: the
crash point, the calls that persisted and those that did not, and what
recovery returned.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from walcheck import figures
from walcheck.real.syscalls.expectations import Expectation, Reader
from walcheck.real.syscalls.replay import Call, Recording
from walcheck.real.syscalls.states import Persistence, PointModel, choices_at, everything, write_state

DEFAULT_EXHAUSTIVE_LIMIT = 256
DEFAULT_SAMPLES_PER_POINT = 64
FAILURES_MINIMISED = 3


@dataclass
class Failure:
    reader: str
    design: str
    guarantee: str
    point: int
    after: str  # the last call completed before the crash
    kept: list[str]
    dropped: list[str]
    returned: str
    promised: bool

    def render(self, shown: int = 8) -> str:
        """The failure; at most ``shown`` calls of each list (the JSON has them all)."""
        lines = [
            f"{self.guarantee} broken for {self.reader}, crash after {self.after}",
            "  persisted (not yet made durable by a sync): " + (_some(self.kept, shown) or "nothing"),
            "  not persisted: " + (_some(self.dropped, shown) or "nothing (a process kill leaves this)"),
            f"  recovery: {self.returned}",
        ]
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        return {
            # Key by key, as CrashReport.as_json below, on purpose: the JSON's names
            # are not the fields' (crash_point).
            "reader": self.reader,
            "design": self.design,
            "guarantee": self.guarantee,
            "crash_point": self.point,
            "after": self.after,
            "persisted": self.kept,
            "not_persisted": self.dropped,
            "recovery": self.returned,
            "promised": self.promised,
        }


def _some(items: Sequence[str], shown: int) -> str:
    head = "; ".join(items[-shown:])  # the last ones are nearest the crash point
    return head if len(items) <= shown else f"({len(items) - shown} earlier ones) ... {head}"


# Alike in shape to killtest/campaign.py's KillReport and modelcheck/report.py's ExploreReport,
# on purpose: each counts its own campaign's work (here crash points and states); none is the other's.
@dataclass
class CrashReport:
    name: str
    seed: int
    calls: int = 0
    points: int = 0
    points_sampled: int = 0
    states_considered: int = 0
    states_checked: int = 0  # distinct by content and by what was acknowledged
    states_before_creation: int = 0
    acknowledged_checked: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reader, "ok" | "G1" ...)
    # The same by the writer's last report before the crash point (what was in flight).
    outcomes_by_phase: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    cut_by_max_states: bool = False
    seconds: float = 0.0

    def count(self, reader: str, outcome: str) -> int:
        return self.outcomes[reader, outcome]

    def broken(self, reader: str) -> dict[str, int]:
        return {o: n for (r, o), n in self.outcomes.items() if r == reader and o != "ok"}

    def promised_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.promised]

    def render(self) -> str:
        lines = [
            f"{self.name}: {self.calls} calls, {self.points} crash points ({self.points_sampled} sampled), "
            f"{self.states_checked:,} distinct crash states checked of {self.states_considered:,} considered "
            f"({self.states_before_creation:,} before the file was complete), "
            f"{self.acknowledged_checked:,} acknowledged records checked, seed {self.seed}, "
            f"{self.seconds:.1f} s" + (" (cut by --max-states)" if self.cut_by_max_states else "")
        ]
        readers = sorted({r for r, _ in self.outcomes})
        for reader in readers:
            broken = self.broken(reader)
            shown = ", ".join(f"{o} {n:,}" for o, n in sorted(broken.items())) or "none broken"
            lines.append(f"  {reader}: ok {self.count(reader, 'ok'):,}; {shown}")
        return "\n".join(lines)

    def write(self, out: TextIO, *, as_json: bool, show_measured: bool = False) -> None:
        """The report on ``out``: as JSON, or the summary and every promised
        failure (with ``show_measured``, the measured ones too, marked so)."""
        if as_json:
            json.dump(self.as_json(), out, indent=2)
            out.write("\n")
            return
        out.write(self.render() + "\n")
        for failure in self.failures:
            if failure.promised or show_measured:
                out.write(failure.render() + ("" if failure.promised else " (measured, not promised)") + "\n")

    def as_json(self) -> dict[str, object]:
        return {
            # Key by key, as Failure.as_json above, on purpose: the JSON's names are
            # not the fields' (crash_points).
            "name": self.name,
            "seed": self.seed,
            "calls": self.calls,
            "crash_points": self.points,
            "crash_points_sampled": self.points_sampled,
            "states_considered": self.states_considered,
            "states_checked": self.states_checked,
            "states_before_creation": self.states_before_creation,
            "acknowledged_checked": self.acknowledged_checked,
            "outcomes": {f"{r}: {o}": n for (r, o), n in sorted(self.outcomes.items())},
            "outcomes_by_last_report": {
                f"{p} | {r}: {o}": n for (p, r, o), n in sorted(self.outcomes_by_phase.items())
            },
            "failures": [f.as_json() for f in self.failures],
            "cut_by_max_states": self.cut_by_max_states,
            "seconds": round(self.seconds, 3),
        }


def scratch_base() -> str | None:
    """Where crash states are materialised: a tmpfs when there is one (/dev/shm),
    because a state is written, fsynced by the probe append and removed thousands
    of times, and on a disk that is most of the time (measured: 9 of 15 s)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _last_call(calls: Sequence[Call], point: int) -> str:
    return calls[point - 1].describe() if point > 0 else "nothing (before the first call)"


def check_recording(
    recording: Recording,
    readers: Sequence[Reader],
    *,
    name: str,
    seed: int = 0,
    exhaustive_limit: int = DEFAULT_EXHAUSTIVE_LIMIT,
    samples_per_point: int = DEFAULT_SAMPLES_PER_POINT,
    max_states: int | None = None,
    expectation: Callable[[], Expectation] = Expectation,
    progress: Callable[[CrashReport], None] | None = None,
    count_figures: bool = False,
    points: Sequence[int] | None = None,
) -> CrashReport:
    """With ``count_figures``, each reader's outcome on each state is counted
    into walcheck.figures where the oracle decided it (spec/persistence.md).
    ``points`` limits the crash points checked (default: all of them)."""
    started = time.perf_counter()
    persistence = Persistence(recording)
    calls = recording.calls
    report = CrashReport(name=name, seed=seed, calls=len(calls), points=len(calls) + 1)
    seen: set[tuple[str, int]] = set()
    minimised: Counter[tuple[str, str]] = Counter()
    oracle_lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="walcheck-crash-", dir=scratch_base()) as scratch:
        directory = Path(scratch) / "state"
        wanted = set(range(len(calls) + 1) if points is None else points)
        for point in range(len(calls) + 1):
            if point > 0 and calls[point - 1].kind == "ack":
                oracle_lines.append(calls[point - 1].text)
            if point not in wanted:
                continue
            phase = _phase(oracle_lines)
            # The oracle does not change while it checks, so one per crash point serves every state.
            expected = _expectation(expectation, oracle_lines)
            if not expected.oracle.acknowledged:
                phase += ", nothing acknowledged yet"
            model = persistence.point_model(point)
            sampled = model.count() > exhaustive_limit
            report.points_sampled += sampled
            rng = random.Random(f"{seed}:{point}")
            for choice in choices_at(
                model, exhaustive_limit=exhaustive_limit, samples=samples_per_point, rng=rng
            ):
                report.states_considered += 1
                state = persistence.materialise(model, choice)
                key = (state.digest, len(oracle_lines))
                if key in seen:
                    continue
                seen.add(key)
                if max_states is not None and report.states_checked >= max_states:
                    report.cut_by_max_states = True
                    break
                report.states_checked += 1
                if not expected.created:
                    report.states_before_creation += 1
                    continue
                write_state(directory, state)
                report.acknowledged_checked += expected.acknowledged()
                where = f"crash after {_last_call(calls, point)}"
                for reader in readers:
                    outcome, detail = expected.check(reader, directory, where)
                    report.outcomes[reader.name, outcome] += 1
                    report.outcomes_by_phase[phase, reader.name, outcome] += 1
                    if count_figures:
                        _count(reader, outcome, expected.acknowledged())
                    if outcome != "ok" and minimised[reader.name, outcome] < FAILURES_MINIMISED:
                        minimised[reader.name, outcome] += 1
                        report.failures.append(
                            _minimise(
                                persistence,
                                model,
                                choice,
                                reader,
                                outcome,
                                detail,
                                expected,
                                where,
                                directory,
                            )
                        )
            if report.cut_by_max_states:
                break
            if progress is not None:
                progress(report)
    report.seconds = time.perf_counter() - started
    return report


_COUNTED: dict[str, tuple[str, dict[str, str]]] = {
    # reader -> (its "checked" count, its failures by guarantee)
    "reference fixed tolerant": (
        figures.REAL_CALL_STATES,
        {"G1": figures.REAL_CALL_LOST, "G5": figures.REAL_CALL_UNOPENABLE, "G2": figures.REAL_CALL_WRONG},
    ),
    "caller fixed read-only": (
        figures.REAL_CALL_STATES,
        {"G1": figures.REAL_CALL_LOST, "G5": figures.REAL_CALL_UNOPENABLE, "G2": figures.REAL_CALL_WRONG},
    ),
    "caller original read-only": (
        "",
        {"G1": figures.REAL_CALL_LOST, "G5": figures.REAL_CALL_UNOPENABLE, "G2": figures.REAL_CALL_WRONG},
    ),
    "reference original tolerant": (
        "",
        {"G1": figures.REAL_CALL_LOST, "G5": figures.REAL_CALL_UNOPENABLE, "G2": figures.REAL_CALL_WRONG},
    ),
}
_MEMVID_FAILURES = {
    "G1": figures.MEMVID_CALL_LOST,
    "G5": figures.MEMVID_CALL_UNOPENABLE,
    "G2": figures.MEMVID_CALL_WRONG,
}


def _count(reader: Reader, outcome: str, acknowledged: int) -> None:
    if reader.design == "port":
        figures.add(figures.CONFORM_RECORDED_STATES, figures.FIXED)
        if outcome != "ok":
            figures.add(figures.CONFORM_RECORDED_BROKEN, figures.FIXED)
        return
    if reader.name.startswith("memvid-sdk"):
        figures.add(figures.MEMVID_CALL_STATES, reader.design)
        if outcome in _MEMVID_FAILURES:
            figures.add(_MEMVID_FAILURES[outcome], reader.design)
        return
    counted = _COUNTED.get(reader.name)
    if counted is None:
        return
    checked, failures = counted
    if checked:
        figures.add(checked, reader.design)
        if outcome == "ok":
            figures.add(figures.REAL_CALL_ACKNOWLEDGED, reader.design, acknowledged)
    if outcome in failures:
        figures.add(failures[outcome], reader.design)


def _phase(lines: Sequence[str]) -> str:
    """The writer's last report before a crash point: what was in flight."""
    if not lines:
        return "(nothing reported)"
    kind = lines[-1].split()[0]
    return lines[-1] if kind == "note" else kind


def _expectation(factory: Callable[[], Expectation], lines: Sequence[str]) -> Expectation:
    expected = factory()
    for line in lines:
        expected.take(line)
    return expected


def _minimise(
    persistence: Persistence,
    model: PointModel,
    choice: tuple[int, ...],
    reader: Reader,
    outcome: str,
    detail: str,
    expected: Expectation,
    where: str,
    directory: Path,
) -> Failure:
    """Put back each dropped piece (a sector's later versions, a size, a name
    call) while the same reader still breaks the same guarantee: what remains
    dropped is needed for the failure."""
    top = everything(model)
    current = list(choice)
    for dimension in range(len(current)):
        if current[dimension] == top[dimension]:
            continue
        trial = list(current)
        trial[dimension] = top[dimension]
        state = persistence.materialise(model, trial)
        write_state(directory, state)
        trial_outcome, trial_detail = expected.check(reader, directory, where)
        if trial_outcome == outcome:
            current, detail = trial, trial_detail
    state = persistence.materialise(model, current)
    write_state(directory, state)  # leave the minimal state behind for a caller that looks
    return Failure(
        reader=reader.name,
        design=reader.design,
        guarantee=outcome,
        point=model.point,
        after=_last_call(persistence.calls, model.point),
        kept=state.kept + _volatile_data_kept(persistence, model, state.dropped),
        dropped=state.dropped,
        returned=detail,
        promised=reader.promised,
    )


def _volatile_data_kept(persistence: Persistence, model: PointModel, dropped: Sequence[str]) -> list[str]:
    """The data calls after each file's last sync that persisted whole."""
    kept: list[str] = []
    for file in model.files.values():
        indexes = sorted({i for s in file.sectors.values() for i in s.calls} | set(file.sizes_calls))
        for index in indexes:
            described = persistence.calls[index].describe()
            if not any(d.startswith(described + ":") for d in dropped):
                kept.append(described)
    return kept
