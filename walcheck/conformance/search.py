"""``run_conform``: Hypothesis generates traces (P2.1), replays them on a
driver, and shrinks each distinct failure to a minimal trace, in rounds that
ignore the failures already found."""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import model as m
from walcheck import trace as steps
from walcheck.conformance.driver import DriverFailure, DriverProcess
from walcheck.conformance.replay import ConformanceFailure, ReplayFigures, replay
from walcheck.conformance.transcript import IMAGES_CONSIDERED, REGION_OFFSET, Json, transcript
from walcheck.oracle import GuaranteeViolation

# ---------------------------------------------------------------------------
# Hypothesis-generated traces (P2.1)
# ---------------------------------------------------------------------------

REGION_SIZES = (40, 47, 48, 49, 60, 96, 97, 100, 112, 128, 160, 200, 256, 400)
START_SEQUENCES = (0, 0, 41, m.SEQUENCE_MAX - 1, m.SEQUENCE_MAX - 1, m.SEQUENCE_MAX - 3)
# P1.3: memvid's offset most of the time; one that is not a multiple of the
# 512-byte sector (crash images then straddle sectors differently) and one past it.
REGION_OFFSETS = (REGION_OFFSET, REGION_OFFSET, REGION_OFFSET, REGION_OFFSET + 904, 2 * REGION_OFFSET)


def step_strategy(max_payload: int = 120) -> st.SearchStrategy[steps.Step]:
    # Appends are 4 of the 13 alternatives, in distinct strategies (one_of
    # merges a repeated one), so that traces fill and wrap small regions.
    appends = [
        st.builds(steps.Append, st.binary(min_size=1, max_size=4)),
        st.builds(steps.Append, st.binary(min_size=1, max_size=24)),
        st.builds(steps.Append, st.binary(min_size=25, max_size=max_payload)),
        st.builds(steps.Append, st.binary(max_size=max_payload)),
    ]
    return st.one_of(
        *appends,
        st.just(steps.Commit()),
        st.builds(steps.RecordsAfter, st.integers(0, 3)),
        st.just(steps.Pending()),
        st.sampled_from([steps.Stats(), steps.ShouldCheckpoint()]),
        st.builds(steps.SkipSync, st.booleans()),
        st.just(steps.Flush()),
        st.builds(steps.Reopen, st.booleans()),
        st.builds(steps.Crash, st.booleans(), st.integers(0, IMAGES_CONSIDERED - 1)),
        st.builds(steps.Grow, st.integers(1, 200)),
        # F2.2, F4: entries within a few bytes of the region's size, either side.
        st.builds(steps.AppendNearLimit, st.integers(-3, 52)),
    )


def _with_truncation(drawn: tuple[steps.Step, ...], cut: tuple[int, int] | None) -> tuple[steps.Step, ...]:
    """At most one Truncate (S3.2) per trace, in about one trace in six: it is
    damage, after which the oracle stops, so the rest keep their guarantees."""
    if cut is None:
        return drawn
    at = cut[0] % (len(drawn) + 1)
    return (*drawn[:at], steps.Truncate(cut[1]), *drawn[at:])


def trace_strategy(max_steps: int = 30) -> st.SearchStrategy[steps.Trace]:
    # About one trace in five or six: one_of picks among its alternatives evenly,
    # and these four "no truncation" ones are distinct strategies (one_of merges
    # equal ones). A tuple drawn and mapped to None instead shortened the step
    # lists Hypothesis drew, from about 5.7 steps a trace to 3.6 (measured).
    no_truncation = [st.none(), st.just(None), st.none().map(lambda x: x), st.just(0).map(lambda x: None)]
    truncation = st.one_of(*no_truncation, st.tuples(st.integers(0, max_steps), st.integers(0, 400)))
    return st.builds(
        steps.Trace,
        st.sampled_from(REGION_SIZES),
        st.sampled_from(START_SEQUENCES),
        st.builds(_with_truncation, st.lists(step_strategy(), max_size=max_steps).map(tuple), truncation),
        st.sampled_from(REGION_OFFSETS),
    )


@dataclass
class Failure:
    kind: str  # "divergence", "guarantee", "driver"
    message: str
    trace: steps.Trace
    exchanges: list[tuple[Json, Json]]
    expected: Json | None = None

    def render(self) -> str:
        lines = [
            f"{self.kind.upper()}: {self.message}",
            "minimal trace:",
            "  " + self.trace.render().replace("\n", "\n  "),
        ]
        lines.append("requests and the port's answers (> sent, < answered):")
        for request, answer in self.exchanges:
            lines.append(f"  > {_short(request)}")
            lines.append(f"  < {_short(answer)}")
        return "\n".join(lines)


def _short(value: Json) -> str:
    text = json.dumps(value)
    return text if len(text) <= 240 else text[:237] + "..."


@dataclass
class ConformReport:
    command: list[str]
    driver_name: str
    design: str
    guarantees: bool
    examples: int = 0
    figures: ReplayFigures = field(default_factory=ReplayFigures)
    # The distinct failures found, each shrunk on its own (Hypothesis's
    # report_multiple_bugs): one per broken guarantee, divergence or driver fault.
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> Json:
        failures = [
            {
                "kind": failure.kind,
                "message": failure.message,
                "trace": failure.trace.render().splitlines(),
                "exchanges": [{"request": r, "answer": a} for r, a in failure.exchanges],
            }
            for failure in self.failures
        ]
        return {
            "ok": self.ok,
            "command": self.command,
            "driver": self.driver_name,
            "design": self.design,
            "guarantees": self.guarantees,
            "examples": self.examples,
            "requests": self.figures.requests,
            "crash_images": self.figures.crash_images,
            "growths": self.figures.growths,
            "short_files": self.figures.short_files,
            "other_region_offsets": self.figures.other_offsets,
            "states_compared": self.figures.state_compared,
            "seconds": round(self.seconds, 3),
            "failures": failures,
        }

    def render(self) -> str:
        f = self.figures
        lines = [
            f"conform: {self.driver_name or shlex.join(self.command)} against the {self.design.upper()} model"
            + ("" if self.guarantees else " (guarantees not checked)"),
            f"  {self.examples:,} traces, {f.requests:,} requests, {f.crash_images:,} crash images, "
            f"{f.growths:,} growths, {f.short_files:,} short files, {f.other_offsets:,} traces with the "
            f"region elsewhere than 4096, {f.state_compared:,} states compared, {self.seconds:.1f} s",
        ]
        if not self.failures:
            lines.append(
                "  every answer, region byte and state matched the model"
                + ("; guarantees G1-G6 held" if self.guarantees else "")
            )
            lines.append("result: PASS")
        else:
            for number, failure in enumerate(self.failures, start=1):
                lines.append(f"  failure {number} of {len(self.failures)}:")
                lines.append("    " + failure.render().replace("\n", "\n    "))
            lines.append("result: FAIL")
        return "\n".join(lines) + "\n"


def _failure_key(failure: Failure) -> str:
    """Failures count as the same defect when they break the same guarantee at
    the same kind of request (after a crash or not)."""
    if failure.kind != "guarantee":
        return failure.kind
    op = failure.exchanges[-1][0].get("op", "?") if failure.exchanges else "?"
    crash = " after a crash" if "crash" in failure.message else ""
    return f"{failure.message.split(' ', 1)[0]} at {op}{crash}"


def run_conform(
    command: Sequence[str],
    *,
    design: m.Design = m.Design.FIXED,
    examples: int = 200,
    max_steps: int = 30,
    seed: int | None = None,
    guarantees: bool = True,
    timeout: float = 10.0,
    rounds: int = 6,
    progress: Callable[[int, int, float], None] | None = None,
) -> ConformReport:
    """Generate traces with Hypothesis, replay each on the driver, and shrink
    each distinct failure to a minimal trace. Hypothesis stops looking soon
    after its first failure, so the search runs in rounds: each round ignores
    the failures already found (the trace stops there) and looks for new
    ones; it ends after a round that finds nothing new, or after ``rounds``.
    Raises DriverFailure if the driver cannot be started."""
    started = time.monotonic()
    driver = DriverProcess(command, timeout)
    driver.start()
    report = ConformReport(list(command), driver.name, design.value, guarantees)
    known: dict[str, Failure] = {}
    workdir = tempfile.TemporaryDirectory(prefix="walcheck-conform-")
    counter = iter(range(1, 1 << 62))
    try:
        for round_number in range(rounds):
            found = _conform_round(
                driver,
                design,
                report,
                known,
                Path(workdir.name),
                counter,
                examples=examples,
                max_steps=max_steps,
                # Reproducible without a seed too, and a different search each round.
                seed=(seed or 0) + round_number,
                guarantees=guarantees,
                progress=(lambda done, total: progress(done, total, time.monotonic() - started))
                if progress is not None
                else None,
            )
            if not found:
                break
            known.update(found)
    finally:
        driver.stop()
        workdir.cleanup()
    report.failures = [known[key] for key in sorted(known)]
    report.seconds = time.monotonic() - started
    return report


def _conform_round(
    driver: DriverProcess,
    design: m.Design,
    report: ConformReport,
    known: dict[str, Failure],
    workdir: Path,
    counter: Iterator[int],
    *,
    examples: int,
    max_steps: int,
    seed: int,
    guarantees: bool,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Failure]:
    """One Hypothesis run. Returns the new failures, each at its minimal trace:
    Hypothesis replays each distinct failure's minimal example last, so the
    last failure recorded under a key is that key's minimal trace."""
    last_failure: dict[str, Failure] = {}
    done = [0]

    def one_trace(trace: steps.Trace) -> None:
        report.examples += 1
        done[0] += 1
        if progress is not None:
            progress(min(done[0], examples), examples)
        driver.ensure_running()
        path = workdir / f"wal-{next(counter)}.mv2"
        exchanges: list[tuple[Json, Json]] = []
        try:
            replay(
                transcript(trace, design),
                driver,
                path,
                guarantees=guarantees,
                figures=report.figures,
                shown=exchanges,
            )
        except (ConformanceFailure, GuaranteeViolation, DriverFailure) as error:
            if isinstance(error, ConformanceFailure):
                failure = Failure("divergence", error.detail, trace, exchanges)
            elif isinstance(error, GuaranteeViolation):
                failure = Failure("guarantee", str(error), trace, exchanges)
            else:
                failure = Failure("driver", str(error), trace, exchanges)
            key = _failure_key(failure)
            if key in known:
                return  # found in an earlier round: this trace ends here
            last_failure[key] = failure
            raise
        finally:
            _close_quietly(driver)
            path.unlink(missing_ok=True)

    run_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        report_multiple_bugs=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    test = hypothesis_seed(seed)(run_settings(given(trace_strategy(max_steps))(one_trace)))
    try:
        test()
    except (ConformanceFailure, GuaranteeViolation, DriverFailure, ExceptionGroup):
        return last_failure
    return {}


def _close_quietly(driver: DriverProcess) -> None:
    """A failed trace may leave the port's WAL open: close it for the next one."""
    try:
        if driver.running:
            driver.request({"op": "close"})
    except DriverFailure:
        pass
