"""The test suite's figures: what a run checked, counted where the checking happens.

Tests and machines add named counts, per design, to the active registry; the
pytest plugin (tests/figures_plugin.py) prints ``render(RUN, PLANTED)`` at the
end of every run, failed or not. Every count is incremented where the work it
names was done: a crash image once the oracle has accepted it, a hostile file
once its outcome was checked, a failure where it was detected. Nothing is
computed from settings. Hypothesis's replays of saved examples and its
shrinking run examples again; those runs are counted like any other.

Tests that plant a bug on purpose (marked ``planted_bug``) count into
``PLANTED`` instead of ``RUN``: the failures they make the suite find are not
FIXED's, and a green run must show FIXED's failure counts at zero.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Concatenate, Final, ParamSpec, Protocol, TypeVar

from walcheck.oracle import GuaranteeViolation, Oracle

FIXED: Final = "fixed"
ORIGINAL: Final = "original"

# Counts the crash machines keep in WalMachineBase.counters (walcheck/sidebyside/machines.py,
# walcheck/sidebyside/crash_machines.py); each machine hands its own to the registry at teardown.
EXAMPLES: Final = "examples"
STEPS: Final = "steps"
READER_RECOVERIES: Final = "recoveries checked"
KILLS_SIMULATED: Final = "kills"
POWER_CUTS: Final = "crashes"
TORN_IMAGES: Final = "torn-write images"
IO_ERRORS: Final = "I/O errors injected"
MEDIA_FAULTS: Final = "media faults injected"
PREDICTED_IMAGE_SETS: Final = "power-loss image sets predicted by the model"
# State coverage (issue 15): counted where a machine reaches the state.
HEADER_AHEAD: Final = "header ahead of the records"
THOUSAND_APPENDS: Final = "1,000 appends since a checkpoint"
DOCTOR_ON_FULL_REGION: Final = "doctor runs on a region its entries fill to the last byte"
STATE_WRAP: Final = "appends that wrapped to position 0"
STATE_EXACT_END: Final = "appends ending exactly at the region's end"
STATE_UNDER_48: Final = "appends leaving 1 to 47 bytes before the region's end"
STATE_FULL: Final = "appends refused: region full"
STATE_PENDING_FILLS: Final = "appends after which the pending entries fill the region"
STATE_SEQUENCE_END: Final = "appends at a sequence of 2^64 - 4 or more (or refused as exhausted)"
STATE_GROWTHS: Final = "growths"
STATE_BATCH_POWER_LOSS: Final = "power losses in batch mode"
STATE_R7_PROVEN: Final = "media faults reported as WalCorruption (R7)"
# spec/semantics.md S7.1: answers of violated, valid and both sides' scans on broken states.
PREDICATE_ANSWERS: Final = "predicate answers on broken states checked (S7.1)"
# The open's refusals (walcheck/sidebyside/damaged_files.py): counted where the
# refusal is compared.
DAMAGED_HEADERS_REFUSED: Final = "damaged headers refused as F1.3 says"
SHORT_FILES_REFUSED: Final = "short files refused alike (S3.2)"
SHORT_FILES_OPENED: Final = "short files opened alike (S3.2)"

# Counted by ``counted_crash_recovery``, image by image.
CRASH_IMAGES_CHECKED: Final = "crash images recovered and checked"
MEDIA_IMAGES_CHECKED: Final = "media-damaged images recovered and checked"
ACKNOWLEDGED_RECOVERED: Final = "acknowledged records recovered after a crash"
CRASH_LOST: Final = "crash images losing acknowledged records"
CRASH_UNOPENABLE: Final = "crash images left unopenable"
CRASH_WRONG: Final = "crash images returning wrong records"
CRASH_OTHER_VIOLATION: Final = "crash images breaking another guarantee"
CRASH_DIVERGENCE: Final = "crash images the reference and the model recover differently"

# Counted by tests/test_exhaustive_crash.py from walcheck.sidebyside.exhaustive's report.
EXHAUSTIVE_CRASH_POINTS: Final = "exhaustive crash points"
EXHAUSTIVE_IMAGES: Final = "exhaustive crash images"

# Counted by tests/test_kill.py, file by file, as run_kill_campaign checks them.
KILLS_REAL: Final = "SIGKILLs of a real writer"
KILLED_FILES_CHECKED: Final = "killed writers' files checked"
KILL_ACKNOWLEDGED_CHECKED: Final = "acknowledged records checked after a SIGKILL"
KILLED_FILES_LOSING: Final = "killed writers' files losing acknowledged records"
KILLED_FILES_UNOPENABLE: Final = "killed writers' files left unopenable"
KILLED_FILES_WRONG: Final = "killed writers' files returning wrong payloads"
KILLED_FILES_ORIGINAL_UNOPENABLE: Final = "killed writers' files memvid's code cannot open"

# Counted by tests/test_hostile.py, file by file, once the outcome was checked.
HOSTILE_READ_ONLY_ERROR: Final = "hostile files opened read-only: typed WalError"
HOSTILE_READ_ONLY_RECORDS: Final = "hostile files opened read-only: records returned"
HOSTILE_WRITABLE_ERROR: Final = "hostile files opened for writing: typed WalError"
HOSTILE_WRITABLE_COMPLETE: Final = "hostile files opened for writing: appended and checkpointed"
# Counted by tests/test_hostile_inspect.py, input by input, once the outcome was checked:
# mutations of files memvid-sdk wrote.
MUTATED_INSPECTED: Final = "mutated memvid files inspected"
MUTATED_OPENED: Final = "mutated memvid files read by every reader"

# Counted by tests/test_conform.py and tests/test_vectors.py from walcheck.conformance.replay's figures,
# once a run or a vector passed (spec/porting.md).
CONFORM_TRACES: Final = "conform: traces a driver passed"
CONFORM_REQUESTS: Final = "conform: requests compared with the model"
CONFORM_CRASH_IMAGES: Final = "conform: crash images a driver recovered"
VECTORS_REPLAYED: Final = "conformance vectors a driver replayed"

# Counted by walcheck.real.syscalls.campaign, state by state, as each reader's outcome is
# checked by the oracle (spec/persistence.md): the reference's own writer's recorded calls
# (FIXED: FIXED's tolerant reader; ORIGINAL: memvid's design reading the same states), and
# memvid-sdk's recorded calls read back by memvid-sdk.
REAL_CALL_STATES: Final = "recorded-call crash states checked"
REAL_CALL_ACKNOWLEDGED: Final = "acknowledged records checked in recorded-call crash states"
REAL_CALL_LOST: Final = "recorded-call crash states losing acknowledged records"
REAL_CALL_UNOPENABLE: Final = "recorded-call crash states left unopenable"
REAL_CALL_WRONG: Final = "recorded-call crash states returning wrong records"
MEMVID_CALL_STATES: Final = "memvid-sdk recorded-call crash states checked"
MEMVID_CALL_LOST: Final = "memvid-sdk recorded-call crash states losing acknowledged documents"
MEMVID_CALL_UNOPENABLE: Final = "memvid-sdk recorded-call crash states left unopenable"
MEMVID_CALL_WRONG: Final = "memvid-sdk recorded-call crash states returning wrong documents"
# walcheck conform --recorded-crashes: a driver's recorded calls, each state opened by the driver.
CONFORM_RECORDED_STATES: Final = "conform --recorded-crashes: crash states a driver opened"
CONFORM_RECORDED_BROKEN: Final = "conform --recorded-crashes: crash states breaking a promise"

# The failures a FIXED crash recovery must never show, crash images and killed files alike.
FAILURES: Final = (
    (CRASH_LOST, KILLED_FILES_LOSING),
    (CRASH_UNOPENABLE, KILLED_FILES_UNOPENABLE),
    (CRASH_WRONG, KILLED_FILES_WRONG),
)


class Figures:
    """Counts by (name, design value)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, name: str, design: str, amount: int = 1) -> None:
        if amount < 0:
            raise ValueError(f"{name}: a count only grows, not by {amount}")
        self.counts[name, design] += amount

    def get(self, name: str, design: str) -> int:
        return self.counts[name, design]

    def total(self, names: Sequence[str], design: str) -> int:
        return sum(self.get(name, design) for name in names)

    def as_rows(self) -> list[tuple[str, str, int]]:
        """The counts as plain rows, for a process that hands them to another."""
        return [(name, design, amount) for (name, design), amount in sorted(self.counts.items())]

    def add_rows(self, rows: Sequence[Sequence[str | int]]) -> None:
        for name, design, amount in rows:
            self.add(str(name), str(design), int(amount))


RUN = Figures()
PLANTED = Figures()
_active = RUN


def add(name: str, design: Enum | str, amount: int = 1) -> None:
    """Count ``amount`` of ``name`` for ``design`` (an enum of model or reference, or its value)."""
    _active.add(name, design.value if isinstance(design, Enum) else design, amount)


def add_all(design: Enum | str, counts: Mapping[str, int]) -> None:
    for name, amount in counts.items():
        add(name, design, amount)


@contextmanager
def counting_into(registry: Figures) -> Iterator[Figures]:
    """Counts made inside the block go to ``registry``."""
    global _active
    previous, _active = _active, registry
    try:
        yield registry
    finally:
        _active = previous


# -- Crash images -------------------------------------------------------------------------------


class RecoveringMachine(Protocol):
    """What ``counted_crash_recovery`` needs of a crash machine."""

    oracle: Oracle

    @property
    def design(self) -> Enum: ...


Recovered = tuple[list[tuple[int, bytes]], int]
Machine = TypeVar("Machine", bound=RecoveringMachine)
Arguments = ParamSpec("Arguments")

# Which failure a guarantee's violation on a crash image is (spec/semantics.md S6).
_FAILURE_OF_GUARANTEE: Final = {"G1": CRASH_LOST, "G5": CRASH_UNOPENABLE, "G2": CRASH_WRONG}


def counted_crash_recovery(
    recover_image: Callable[Concatenate[Machine, Arguments], Recovered],
) -> Callable[Concatenate[Machine, Arguments], Recovered]:
    """Wraps a crash machine's ``_recover_image(image, where, *, media_damage=False)``,
    which raises on the first failure it finds and returns (records, checkpoint) when the
    reference's recovery agrees with the model's and the oracle accepts it. Counts the
    image as checked, with the acknowledged records it held, or the failure: G1 lost, G5
    unopenable, G2 wrong records, another guarantee, or a model/reference divergence.
    Media-damaged images count apart, and not their failures: such damage may lose
    records, and the open may report it (spec/faults.md)."""

    @functools.wraps(recover_image)
    def counted(machine: Machine, /, *args: Arguments.args, **kwargs: Arguments.kwargs) -> Recovered:
        media_damage = bool(kwargs.get("media_damage", False))
        try:
            records, checkpoint = recover_image(machine, *args, **kwargs)
        except GuaranteeViolation as violation:
            if not media_damage:
                add(_FAILURE_OF_GUARANTEE.get(violation.guarantee, CRASH_OTHER_VIOLATION), machine.design)
            raise
        # walcheck.sidebyside.machines.Divergence, mostly (importing it here would be circular), or
        # another assertion of the machine's about the model.
        except AssertionError:
            if not media_damage:
                add(CRASH_DIVERGENCE, machine.design)
            raise
        if media_damage:
            add(MEDIA_IMAGES_CHECKED, machine.design)
            return records, checkpoint
        oracle = machine.oracle
        acknowledged = {(a.sequence, a.payload) for a in oracle.appended[: oracle.acknowledged]}
        add(CRASH_IMAGES_CHECKED, machine.design)
        add(ACKNOWLEDGED_RECOVERED, machine.design, sum(record in acknowledged for record in records))
        return records, checkpoint

    return counted


# -- The table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table: ``label`` and the counts of ``cells``, joined by " / "."""

    label: str
    cells: tuple[tuple[str, str], ...]

    def values(self, figures: Figures) -> list[int]:
        return [figures.get(name, design) for name, design in self.cells]


def _row(label: str, design: str, *names: str) -> Row:
    return Row(label, tuple((name, design) for name in names))


def _both(label: str, name: str) -> Row:
    """``name`` for FIXED, then for ORIGINAL."""
    return Row(label, ((name, FIXED), (name, ORIGINAL)))


def _each(label: str, *names: str) -> tuple[Row, Row]:
    """The row for FIXED, then the row for ORIGINAL; ``label`` has a {design} in it."""
    fixed, original = (_row(label.format(design=d.upper()), d, *names) for d in (FIXED, ORIGINAL))
    return fixed, original


# The caller layer (spec/semantics.md S9): counted by the machines' rules and
# tests/test_caller.py's crash check.
CALLER_STAGED_COMMITS = "staged commits"
CALLER_RECOVERIES_AT_OPEN = "recoveries at open"
CALLER_DOCTOR_RUNS = "doctor runs"
CALLER_CRASHES_INSIDE = "crashes inside the caller layer"
CALLER_CRASH_IMAGES = "caller-layer crash images checked"
DOCTORS_KILLED_ON_A_COPY = "doctors killed on a copy, the file left the model's"

ROWS: Final = (
    *_each("stateful machine runs / steps ({design})", EXAMPLES, STEPS),
    _both("second reader's recoveries after a step (FIXED / ORIGINAL)", READER_RECOVERIES),
    _both("crash images recovered, reference = model, checked (FIXED / ORIGINAL)", CRASH_IMAGES_CHECKED),
    *_each("exhaustive: crash points / images ({design})", EXHAUSTIVE_CRASH_POINTS, EXHAUSTIVE_IMAGES),
    _both("power-loss image sets predicted by the model (FIXED / ORIGINAL)", PREDICTED_IMAGE_SETS),
    _row(
        "S7.1: the checks' predicates asked about broken states, answers checked (FIXED)",
        FIXED,
        PREDICATE_ANSWERS,
    ),
    *(
        _both(f"states reached: {label} (FIXED / ORIGINAL)", name)
        for label, name in (
            ("a wrap to position 0", STATE_WRAP),
            ("an entry ending exactly at the region's end", STATE_EXACT_END),
            ("fewer than 48 bytes left after an entry", STATE_UNDER_48),
            ("an append refused, region full", STATE_FULL),
            ("pending entries filling the region exactly", STATE_PENDING_FILLS),
            ("growth", STATE_GROWTHS),
            ("a sequence within 4 of 2^64 - 1", STATE_SEQUENCE_END),
            ("a power loss in batch mode", STATE_BATCH_POWER_LOSS),
            ("a header ahead of the records", HEADER_AHEAD),
            ("an R7 mark proving damage", STATE_R7_PROVEN),
            ("1,000 appends since a checkpoint", THOUSAND_APPENDS),
            ("a doctor run on a region its entries fill to the last byte", DOCTOR_ON_FULL_REGION),
            ("a damaged header refused as F1.3 says", DAMAGED_HEADERS_REFUSED),
            ("a file shorter than its region refused", SHORT_FILES_REFUSED),
            ("a file shorter than its region opened", SHORT_FILES_OPENED),
        )
    ),
    _row(
        "caller layer (FIXED machines): staged commits / recoveries at open / doctor runs / crashes inside",
        FIXED,
        *(CALLER_STAGED_COMMITS, CALLER_RECOVERIES_AT_OPEN, CALLER_DOCTOR_RUNS, CALLER_CRASHES_INSIDE),
    ),
    _both(
        "caller layer: crash images checked by tests/test_caller.py (FIXED / ORIGINAL)", CALLER_CRASH_IMAGES
    ),
    _both(
        "caller layer: doctors killed on a copy, the file left the model's (FIXED / ORIGINAL)",
        DOCTORS_KILLED_ON_A_COPY,
    ),
    _row(
        "stateful crashes (FIXED): process kills / power cuts / torn-write images",
        FIXED,
        *(KILLS_SIMULATED, POWER_CUTS, TORN_IMAGES),
    ),
    _row(
        "faults injected (FIXED): I/O errors / media faults / damaged images checked",
        FIXED,
        *(IO_ERRORS, MEDIA_FAULTS, MEDIA_IMAGES_CHECKED),
    ),
    _row("SIGKILLs of a real writer / files checked (FIXED)", FIXED, KILLS_REAL, KILLED_FILES_CHECKED),
    _row(
        "acknowledged records checked after crashes (FIXED): simulated / SIGKILL",
        FIXED,
        *(ACKNOWLEDGED_RECOVERED, KILL_ACKNOWLEDGED_CHECKED),
    ),
    *_each(
        "hostile files opened read-only ({design}): typed error / records",
        *(HOSTILE_READ_ONLY_ERROR, HOSTILE_READ_ONLY_RECORDS),
    ),
    *_each(
        "hostile files opened for writing ({design}): typed error / completed",
        *(HOSTILE_WRITABLE_ERROR, HOSTILE_WRITABLE_COMPLETE),
    ),
    _row("mutated memvid files: inspected / read by every reader", FIXED, MUTATED_INSPECTED, MUTATED_OPENED),
    _row(
        "conform, reference driver (FIXED): traces / requests / crash images",
        FIXED,
        *(CONFORM_TRACES, CONFORM_REQUESTS, CONFORM_CRASH_IMAGES),
    ),
    _both("conformance vectors replayed by the reference's drivers (FIXED / ORIGINAL)", VECTORS_REPLAYED),
    _row(
        "killed files memvid's own code cannot open (G7, counted only)",
        FIXED,
        KILLED_FILES_ORIGINAL_UNOPENABLE,
    ),
    # The crash issue's three zeros; a crash image's failure, then a killed writer's file's.
    *(
        _row(f"{what} (FIXED, reference): images / killed files", FIXED, *names)
        for what, names in zip(
            ("acknowledged records lost", "WALs left unopenable by a crash", "wrong payloads returned"),
            FAILURES,
            strict=True,
        )
    ),
    _row(
        "recorded real calls, reference's writer (FIXED): crash states / acknowledged checked",
        FIXED,
        *(REAL_CALL_STATES, REAL_CALL_ACKNOWLEDGED),
    ),
    *_each(
        "recorded real calls, reference's writer ({design} reader): lost / unopenable / wrong",
        *(REAL_CALL_LOST, REAL_CALL_UNOPENABLE, REAL_CALL_WRONG),
    ),
    _row(
        "conform --recorded-crashes, drivers' own recovery: crash states / promises broken",
        FIXED,
        *(CONFORM_RECORDED_STATES, CONFORM_RECORDED_BROKEN),
    ),
    _row(
        "memvid-sdk's recorded calls, read by memvid-sdk: states x readers / lost / unopenable / wrong",
        ORIGINAL,
        *(MEMVID_CALL_STATES, MEMVID_CALL_LOST, MEMVID_CALL_UNOPENABLE, MEMVID_CALL_WRONG),
    ),
    _row(
        "crash images: other guarantee broken / reference != model (FIXED)",
        FIXED,
        *(CRASH_OTHER_VIOLATION, CRASH_DIVERGENCE),
    ),
    _row(
        "ORIGINAL, for contrast: images losing records / unopenable / wrong",
        ORIGINAL,
        *(crash_image for crash_image, _ in FAILURES),
    ),
)

TITLE: Final = "walcheck figures"
NOTES: Final = (
    "Counts include every example Hypothesis ran: new ones, replays of saved ones, and shrinking.",
    "Lost / unopenable / wrong count crash recoveries (one crash image, or one SIGKILLed",
    "writer's file) where the oracle or the kill checker found that failure; any FIXED one fails",
    "its test. Tests marked planted_bug count apart, on the last line.",
)


def _failures(figures: Figures, design: str) -> list[int]:
    return [figures.total(names, design) for names in FAILURES]


def render(run: Figures, planted: Figures) -> list[str]:
    """The table's lines, without its title."""
    cells = [(row.label, " / ".join(f"{value:,}" for value in row.values(run))) for row in ROWS]
    planted_failures = [
        fixed + original
        for fixed, original in zip(_failures(planted, FIXED), _failures(planted, ORIGINAL), strict=True)
    ]
    cells.append(
        (
            "with planted bugs: recoveries losing records / unopenable / wrong",
            " / ".join(f"{value:,}" for value in planted_failures),
        )
    )
    width = max(len(label) for label, _ in cells) + 2
    value_width = max(len(value) for _, value in cells)
    lines = [f"{label:<{width}}{value:>{value_width}}" for label, value in cells]
    return [*lines, *NOTES]
