"""Mutants by Cosmic Ray, killed (or not) by ``pytest -k stateful``.

Cosmic Ray mutates a file in place and runs a test command; the run therefore
happens in a copy of the project (``model/``, ``reference/``, ``walcheck/``,
``tests/``, ``spec/``), which the killer imports instead of the installed
tree, so the working tree and anything else running from it never see a
mutant. Cosmic Ray's session database holds the mutants and their outcomes
(``--session`` keeps it for ``cr-report``); a seeded sample of its work items
is run, the rest marked skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from walcheck.mutation.equivalents import (
    Equivalent,
    load_equivalents,
    mutated_lines,
    structural_reason,
)

if TYPE_CHECKING:
    from cosmic_ray.work_item import WorkItem

ROOT = Path(__file__).resolve().parents[2]
# What a run copies: the code, the tests and the files the tests read.
COPIED = ("model", "reference", "walcheck", "tests", "spec", "tools", "pyproject.toml")
# The files mutated by default: the model, the reference and the caller layer
# (reference/mv2.py; model/caller.py once it exists). Left out: package
# __init__ files (re-exports, no logic) and reference/driver.py, the JSON-lines
# driver of the conformance protocol, which the stateful machines never run
# (tests/test_conform.py holds it to account).
MUTATED_DIRECTORIES = ("reference", "model")
NOT_MUTATED = frozenset({"reference/driver.py"})
# The killer's plugin: the mutation profile, and the tests cheapest first
# (walcheck/mutation/pytest_profile.py's KILLER_ORDER).
PROFILE_PLUGIN = "walcheck.mutation.pytest_profile"


def default_files(root: Path = ROOT) -> list[str]:
    files: list[str] = []
    for directory in MUTATED_DIRECTORIES:
        for path in sorted((root / directory).glob("*.py")):
            relative = path.relative_to(root).as_posix()
            if path.name != "__init__.py" and relative not in NOT_MUTATED:
                files.append(relative)
    return files


@dataclass(frozen=True)
class Mutant:
    """One of Cosmic Ray's work items, and what the killer made of it."""

    path: str
    line: int
    operator: str
    occurrence: int
    outcome: str  # "killed", "timeout", "survived", "equivalent", "incompetent"
    seconds: float
    diff: str = ""
    reason: str = ""  # an equivalent mutant's reason (spec/mutants.md)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class FileScore:
    path: str
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, *outcomes: str) -> int:
        return sum(mutant.outcome in outcomes for mutant in self.mutants)

    @property
    def judged(self) -> int:
        """Mutants that count towards the score: not equivalent, not incompetent."""
        return self.count("killed", "timeout", "survived")

    @property
    def killed(self) -> int:
        return self.count("killed", "timeout")


@dataclass
class MutationReport:
    seed: int
    population: int
    baseline_seconds: float
    files: dict[str, FileScore]
    seconds: float = 0.0

    @property
    def mutants(self) -> list[Mutant]:
        return [mutant for score in self.files.values() for mutant in score.mutants]

    @property
    def judged(self) -> int:
        return sum(score.judged for score in self.files.values())

    @property
    def killed(self) -> int:
        return sum(score.killed for score in self.files.values())

    @property
    def score(self) -> float:
        return self.killed / self.judged if self.judged else 1.0

    def survivors(self) -> list[Mutant]:
        return [mutant for mutant in self.mutants if mutant.outcome == "survived"]


Progress = Callable[[str], None]


def killer_command(python: str = sys.executable, select: str = "stateful") -> list[str]:
    return [
        python,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        PROFILE_PLUGIN,
        "-k",
        select,
        "tests",
    ]


def copy_project(destination: Path, root: Path = ROOT) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.egg-info")
    for name in COPIED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / name)


@contextlib.contextmanager
def _inside(copy: Path, profile: str) -> Iterator[None]:
    """Run the killer from the copy: its modules first on the path, the fast profile."""
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "HYPOTHESIS_PROFILE")}
    cwd = os.getcwd()
    os.environ["PYTHONPATH"] = str(copy)
    os.environ["HYPOTHESIS_PROFILE"] = profile
    os.chdir(copy)
    try:
        yield
    finally:
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_mutation(
    *,
    sample: int,
    seed: int,
    files: Sequence[str] | None = None,
    profile: str = "mutation",
    timeout: float | None = None,
    session: Path | None = None,
    progress: Progress | None = None,
    equivalents: Sequence[Equivalent] | None = None,
    select: str = "stateful",
    only: Sequence[Mutant] | None = None,
) -> MutationReport:
    """Run a seeded sample of ``sample`` of Cosmic Ray's mutants of ``files``;
    with ``only``, those mutants instead (a survivor list of an earlier run,
    matched by file, operator and occurrence, and checked to be on the same
    line)."""
    from cosmic_ray.commands.init import init
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    say = progress or (lambda message: None)
    if files is not None:
        chosen_files = list(files)
    elif only is not None:
        chosen_files = sorted({mutant.path for mutant in only})
    else:
        chosen_files = default_files()
    known = list(equivalents) if equivalents is not None else load_equivalents()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="walcheck-mutate-") as scratch:
        copy = Path(scratch) / "project"
        copy.mkdir()
        copy_project(copy)
        database = session if session is not None else Path(scratch) / "session.sqlite"
        command = killer_command(select=select)
        with _inside(copy, profile):
            say("baseline: the killer on the unmutated copy")
            baseline_started = time.monotonic()
            baseline = subprocess.run(command, capture_output=True, text=True, check=False)
            baseline_seconds = time.monotonic() - baseline_started
            if baseline.returncode != 0:
                tail = "\n".join((baseline.stdout + baseline.stderr).splitlines()[:40])
                raise RuntimeError(f"the killer fails on the unmutated project:\n{tail}")
            say(f"baseline passed in {baseline_seconds:.1f} s")
            limit = timeout if timeout is not None else max(120.0, 3 * baseline_seconds)
            with use_db(str(database), WorkDB.Mode.create) as work_db:
                init([copy / name for name in chosen_files], work_db, {})
                items = sorted(
                    work_db.work_items,
                    key=lambda item: (
                        str(item.mutations[0].module_path),
                        item.mutations[0].operator_name,
                        item.mutations[0].occurrence,
                    ),
                )
                population = len(items)
                if only is None:
                    picked = random.Random(seed).sample(items, min(sample, population))
                else:
                    picked = _the_same_mutants(items, only, copy)
                picked_ids = {item.job_id for item in picked}
                work_db.set_multiple_results(
                    [item.job_id for item in items if item.job_id not in picked_ids],
                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED),
                )
                report = MutationReport(seed, population, baseline_seconds, {})
                others = [
                    module.read_text(encoding="utf-8")
                    for directory in ("model", "reference", "walcheck", "tests", "tools")
                    for module in sorted((copy / directory).rglob("*.py"))
                ]
                for index, item in enumerate(picked, 1):
                    spec = item.mutations[0]
                    path = Path(spec.module_path).relative_to(copy).as_posix()
                    source = (copy / path).read_text(encoding="utf-8")
                    why = structural_reason(source, spec.start_pos, spec.end_pos, spec.operator_name, others)
                    if why is not None:
                        # Equivalent by one of M1's classes: not worth a whole run of the killer.
                        work_db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
                        mutant = Mutant(
                            path,
                            spec.start_pos[0],
                            spec.operator_name.removeprefix("core/"),
                            spec.occurrence,
                            "equivalent",
                            0.0,
                            reason=why,
                        )
                        report.files.setdefault(path, FileScore(path)).mutants.append(mutant)
                        say(f"[{index}/{len(picked)}] {mutant.where} {mutant.operator}: equivalent (M1)")
                        continue
                    mutant_started = time.monotonic()
                    result = mutate_and_test(item.mutations, " ".join(command), limit)
                    elapsed = time.monotonic() - mutant_started
                    work_db.set_result(item.job_id, result)
                    diff = result.diff or ""
                    outcome = "incompetent"
                    reason = ""
                    if result.worker_outcome is WorkerOutcome.NORMAL:
                        if result.test_outcome is TestOutcome.SURVIVED:
                            outcome = "survived"
                            match = _equivalent(path, diff, known)
                            if match is not None:
                                outcome, reason = "equivalent", match.reason
                        elif result.test_outcome is TestOutcome.KILLED:
                            outcome = "timeout" if result.output == "timeout" else "killed"
                    mutant = Mutant(
                        path,
                        spec.start_pos[0],
                        spec.operator_name.removeprefix("core/"),
                        spec.occurrence,
                        outcome,
                        elapsed,
                        diff,
                        reason,
                    )
                    report.files.setdefault(path, FileScore(path)).mutants.append(mutant)
                    say(f"[{index}/{len(picked)}] {mutant.where} {mutant.operator}: {outcome} {elapsed:.1f}s")
    report.seconds = time.monotonic() - started
    return report


def _the_same_mutants(items: Sequence[WorkItem], wanted: Sequence[Mutant], copy: Path) -> list[WorkItem]:
    """The work items that make ``wanted`` again: same file, operator and
    occurrence (Cosmic Ray numbers them per operator through the file), and
    the line it mutates still the one the earlier diff removed, wherever
    edits elsewhere moved it."""
    by_key = {
        (
            Path(item.mutations[0].module_path).relative_to(copy).as_posix(),
            item.mutations[0].operator_name.removeprefix("core/"),
            item.mutations[0].occurrence,
        ): item
        for item in items
    }
    picked: list[WorkItem] = []
    for mutant in wanted:
        item = by_key.get((mutant.path, mutant.operator, mutant.occurrence))
        if item is not None and mutant.diff:
            removed, _ = mutated_lines(mutant.diff)
            lines = (copy / mutant.path).read_text(encoding="utf-8").splitlines()
            if lines[item.mutations[0].start_pos[0] - 1].strip() not in removed:
                item = None
        if item is None:
            raise RuntimeError(
                f"{mutant.where} {mutant.operator} #{mutant.occurrence}: the file changed since"
            )
        picked.append(item)
    return picked


def load_mutants(path: Path, outcome: str = "survived") -> list[Mutant]:
    """The mutants of an earlier run's ``--json`` with this outcome."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return [Mutant(**fields) for fields in document["mutants"] if fields["outcome"] == outcome]


def _equivalent(path: str, diff: str, known: Sequence[Equivalent]) -> Equivalent | None:
    removed, added = mutated_lines(diff)
    for equivalent in known:
        if equivalent.matches(path, removed, added):
            return equivalent
    return None


def render(report: MutationReport) -> list[str]:
    """The per-file table, then the survivors with their diffs."""
    lines = [
        f"mutation score of `pytest -k stateful` (Cosmic Ray; {len(report.mutants)} of "
        f"{report.population:,} mutants, seed {report.seed}; "
        f"killer baseline {report.baseline_seconds:.0f} s)",
        "",
        f"{'file':<24}{'sampled':>8}{'killed':>8}{'timeout':>8}{'survived':>9}{'equiv.':>7}"
        f"{'incomp.':>8}{'score':>8}",
    ]
    for path in sorted(report.files):
        score = report.files[path]
        ratio = f"{100 * score.killed / score.judged:.1f}%" if score.judged else "-"
        lines.append(
            f"{path:<24}{len(score.mutants):>8}{score.count('killed'):>8}{score.count('timeout'):>8}"
            f"{score.count('survived'):>9}{score.count('equivalent'):>7}{score.count('incompetent'):>8}"
            f"{ratio:>8}"
        )
    lines.append(
        f"{'all':<24}{len(report.mutants):>8}{'':>8}{'':>8}{len(report.survivors()):>9}{'':>7}{'':>8}"
        f"{100 * report.score:>7.1f}%"
    )
    lines.append(
        f"{report.killed} of {report.judged} non-equivalent mutants killed; {report.seconds:.0f} s "
        f"({report.seconds / max(1, len(report.mutants)):.1f} s a mutant)"
    )
    for mutant in report.survivors():
        lines += ["", f"survived: {mutant.where} {mutant.operator}", *mutant.diff.splitlines()[2:]]
    for mutant in report.mutants:
        if mutant.outcome == "equivalent":
            lines.append(f"equivalent: {mutant.where} {mutant.operator}: {mutant.reason}")
    return lines
