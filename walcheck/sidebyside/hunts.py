"""Running the machines: a budgeted campaign, and the hunts for the original's defects.

``run_campaign`` is the tool's main job (``walcheck check``). ``hunt`` runs one
machine until Hypothesis finds and shrinks a counterexample, and returns it as
a ``Finding``; the defect tests and ``check --design original`` use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import model as m
from walcheck.oracle import GuaranteeViolation
from walcheck.sidebyside.crash_machines import BETWEEN
from walcheck.sidebyside.labels import describe_rule
from walcheck.sidebyside.machines import (
    Divergence,
    InvariantViolation,
    MachineConfig,
    WalMachineBase,
    build_machine,
    memvid_sizes_config,
    remembering,
    small_region_config,
)


@dataclass(frozen=True)
class Finding:
    """A counterexample: a broken guarantee, or a model/reference divergence."""

    machine: str
    kind: str  # "guarantee", "divergence" or "invariant"
    guarantee: str | None
    message: str
    trace: tuple[str, ...]

    def render(self) -> str:
        """The message, then each step: Hypothesis's code, and the vocabulary's words beside it."""
        head = f"{self.machine}: {self.message}"
        return "\n".join([head, *(f"    {_with_words(line)}" for line in self.trace)])


def _with_words(line: str) -> str:
    words = describe_rule(line)
    return line if words is None else f"{line}  # {words}"


@dataclass(frozen=True)
class DefectHunt:
    """Where to look for one catalogued defect of the original (spec/defects.md)."""

    defect: str
    title: str
    guarantee: str
    config: MachineConfig
    # Crash hunts (C1, C2) run a crash machine making only these crashes.
    crash_kinds: frozenset[str] | None = None
    examples: int = 300
    steps: int = 10
    # Guarantees whose violation also counts as finding it (a defect may show
    # first through a consequence).
    also: frozenset[str] = frozenset()
    # The operations a crash inside an operation picks from (None: all of them).
    operations: tuple[str, ...] | None = None

    # C4's hunt: commits (completed or killed) only while the pending entries fill
    # the region, so that no entry ever ends at the region's end behind a
    # checkpointed one, where D1 would strike first.
    commit_when_full: bool = False
    # Crash hunts: where every crash point is checked in place, and what a crash
    # there may leave (CrashMachineBase.crash_points, point_images).
    crash_points: frozenset[str] = frozenset()
    point_images: frozenset[str] = frozenset()
    # The rules the hunt's machine runs (None: all of them). The others cannot
    # bring the defect's state nearer: read-only queries, whose checks the
    # invariants make after every step anyway, and rules this hunt's
    # configuration turns into no-ops. Each rule left out is a step fewer wasted
    # while searching, and a try fewer per step while shrinking (Hypothesis
    # tries every lower rule at every step).
    rules: frozenset[str] | None = None
    # A rule more: ``append_batch``, batch mode turned on and a few appends
    # made in it, none synced (C3's state: records a commit covers that no
    # sync made durable).
    batches: bool = False

    def machine(self) -> type[WalMachineBase]:
        machine: type[WalMachineBase]
        if self.crash_kinds is None:
            machine = build_machine(self.config)
        else:
            from walcheck.sidebyside.crash_machines import CRASH_OPERATIONS, build_crash_machine

            machine = build_crash_machine(
                self.config,
                self.crash_kinds,
                self.operations or CRASH_OPERATIONS,
                crash_points=self.crash_points,
                point_images=self.point_images,
            )
            if self.commit_when_full:
                machine = _committing_when_full(machine)
        if self.batches:
            machine = _batching(machine)
        return machine if self.rules is None else only_rules(machine, self.rules)

    def on_fixed(self) -> DefectHunt:
        """The same hunt on FIXED, which must find nothing: every rule of the
        machine, not only the hunt's (a FIXED machine narrows nothing)."""
        config = dataclasses.replace(self.config, design=m.Design.FIXED, name=self.config.name + "Fixed")
        return dataclasses.replace(self, config=config, rules=None)

    def found_by(self, finding: Finding | None) -> bool:
        """The finding is this defect: its guarantee, and for a defect that needs
        a crash (C1-C5), a crash in its trace (D1 breaks G1 too, without one)."""
        if finding is None or finding.guarantee not in {self.guarantee, *self.also}:
            return False
        if self.crash_kinds is None:
            return True
        # A crash rule in the trace, or a crash point checked in place (its message says where).
        return "after a crash" in finding.message or any(
            line.startswith(CRASH_STEPS) for line in finding.trace
        )


def _original(
    name: str,
    *,
    region_sizes: st.SearchStrategy[int] | None = None,
    initial_sequences: st.SearchStrategy[int] | None = None,
    payloads: st.SearchStrategy[bytes] | None = None,
) -> MachineConfig:
    base = small_region_config(m.Design.ORIGINAL, name)
    return dataclasses.replace(
        base,
        region_sizes=base.region_sizes if region_sizes is None else region_sizes,
        initial_sequences=base.initial_sequences if initial_sequences is None else initial_sequences,
        payloads=base.payloads if payloads is None else payloads,
    )


def _crash_original(name: str, region_size: int | None = None) -> MachineConfig:
    """The crash hunts' shape for ORIGINAL; a region large enough that 40 steps
    never wrap makes C2 unreachable (the C3 hunt)."""
    from walcheck.sidebyside.crash_machines import original_crash_config

    config = original_crash_config(name)
    if region_size is None:
        return config
    return dataclasses.replace(config, region_sizes=st.just(region_size), growth_limit=region_size)


# Each hunt narrows the strategies so that only its own defect is reachable:
# D1 needs an entry ending within 48 bytes of the region end, which 10 appends
# of at most 10 bytes never reach in 4096 bytes; D2 needs a sequence near 2**64;
# D3 a region under 48 bytes; D4 an empty payload. Each runs the rules that
# change the WAL (``rules``), 10 steps an example: every catalogued trace is
# at most 6 steps long, and a short example is found sooner and shrunk sooner.
# The crash hunts check every crash point in place (``crash_points``) instead
# of drawing where to crash: a crash point is no longer a rule the search must
# happen to draw, with the right call number, at the right moment.
_WRITING = frozenset({"append", "commit", "flush", "reopen", "set_skip_sync"})

# A table, its rows alike in shape on purpose: one hunt a catalogued defect, each its own machine and rules.
DEFECT_HUNTS: tuple[DefectHunt, ...] = (
    DefectHunt(
        "D1",
        "the sentinel wraps onto the live log and erases acknowledged records",
        "G1",
        _original(
            "StatefulOriginalD1",
            initial_sequences=st.just(0),
            payloads=st.binary(min_size=1, max_size=300),
        ),
        rules=_WRITING,
    ),
    DefectHunt(
        "D2",
        "the sequence wraps from 2**64-1 to 0",
        "G4",
        _original(
            "StatefulOriginalD2",
            region_sizes=st.just(4096),
            # The last sequences first: one append from the wrap, then two, then three.
            initial_sequences=st.sampled_from([2**64 - 1, 2**64 - 2, 2**64 - 3]),
            payloads=st.binary(min_size=1, max_size=10),
        ),
        rules=_WRITING,
    ),
    DefectHunt(
        "D3",
        "a region smaller than one entry header makes the sentinel write past the region",
        "G6",
        _original("StatefulOriginalD3", region_sizes=st.integers(1, 47), initial_sequences=st.just(0)),
        rules=_WRITING,
    ),
    DefectHunt(
        "D4",
        "an empty payload is acknowledged, then every scan rejects the WAL",
        "G5",
        _original(
            "StatefulOriginalD4",
            region_sizes=st.just(4096),
            initial_sequences=st.just(0),
            payloads=st.binary(min_size=0, max_size=10),
        ),
        rules=_WRITING,
    ),
    DefectHunt(
        "C1",
        "a crash inside an append tears its entry, and no open succeeds",
        "G5",
        # A region that 10 steps never wrap: a lost sentinel (C2) cannot strike first.
        _crash_original("StatefulCrashOriginal", region_size=64 * 12 + 63),
        crash_kinds=frozenset(),
        crash_points=frozenset({"append"}),
        point_images=frozenset({"power_loss", "torn"}),
        rules=_WRITING,
    ),
    DefectHunt(
        "C2",
        "a sentinel lost to power loss brings back the earlier pass",
        "G2",
        # 64·2 + 63 bytes (explore's "wrap"): two entries, a commit, and the third wraps.
        _crash_original("StatefulCrashOriginalPowerLoss", region_size=64 * 2 + 63),
        crash_kinds=frozenset(),
        crash_points=frozenset({BETWEEN}),
        point_images=frozenset({"power_loss"}),
        rules=_WRITING,
        examples=1000,
        also=frozenset({"G3", "G4"}),
    ),
    DefectHunt(
        "C3",
        "a header that outlives the records it covers restarts the sequence below the checkpoint",
        "G3",
        # Power lost only inside a commit: the header's write is the one that
        # must outlive the records. A region 10 steps never wrap (C2).
        _crash_original("StatefulCrashOriginalHeaderAhead", region_size=64 * 12 + 63),
        crash_kinds=frozenset(),
        crash_points=frozenset({"commit"}),
        point_images=frozenset({"power_loss"}),
        rules=_WRITING | {"append_batch"},
        batches=True,
        examples=1000,
    ),
    DefectHunt(
        "C4",
        "the commit's sentinel erases a log that fills the region before the header covers it",
        "G1",
        # spec/explore.md's shortest trace: two 52-byte entries fill 104 bytes
        # exactly; only kills inside a commit, which keep every write, so that a
        # lost sentinel (C2) or a torn entry (C1) cannot strike.
        dataclasses.replace(
            _original(
                "StatefulCrashOriginalExactFit",
                region_sizes=st.sampled_from([104, 156, 208]),
                initial_sequences=st.just(0),
                payloads=st.binary(min_size=4, max_size=4),
            ),
            growth_limit=104,  # no growth: the region stays a whole number of entries
        ),
        crash_kinds=frozenset(),
        crash_points=frozenset({"commit"}),
        point_images=frozenset({"kill"}),
        commit_when_full=True,
        rules=_WRITING,
    ),
    DefectHunt(
        "C5",
        "a record a crash took comes back after its sequence is issued again",
        "G2",
        # Entries of 512 bytes, each in sectors of its own (the region starts
        # at file offset 4096), so that a power loss can keep a later entry and
        # lose an earlier one; a region of 512·12 + 511 bytes, which 10 appends
        # never wrap (C2) and no entry ends within 48 bytes of (D1). The first
        # power loss is a rule the machine goes on from; every image of the
        # second is checked in place. Appends, batches and power losses only:
        # a commit, a flush or a reopen syncs what the first loss must find
        # unsynced, and the search wastes its steps on them.
        dataclasses.replace(
            _crash_original("StatefulCrashOriginalEarlierLife", region_size=512 * 12 + 511),
            # One byte drawn, repeated: 464 drawn bytes a payload make an
            # example too large for Hypothesis to start from.
            payloads=st.integers(0, 255).map(lambda byte: bytes([byte]) * 464),
        ),
        crash_kinds=frozenset({"power_loss"}),
        crash_points=frozenset({BETWEEN}),
        point_images=frozenset({"power_loss"}),
        rules=frozenset({"append", "append_batch", "power_loss"}),
        batches=True,
        examples=1000,
    ),
)


CRASH_STEPS = (
    "state.crash_during(",
    "state.power_loss(",
    "state.kill(",
    "state.io_error(",
    "state.media_fault(",
)


def _full(machine: WalMachineBase) -> bool:
    wal = machine.wal
    return wal is not None and not wal.read_only and wal.pending_bytes == wal.region_size


def _committing_when_full(base: type[WalMachineBase]) -> type[WalMachineBase]:
    from hypothesis.stateful import precondition, rule

    class Machine(base):  # type: ignore[misc, valid-type]
        @precondition(_full)
        @rule()
        def commit(self) -> None:
            super().commit()

        @precondition(_full)
        @rule(calls=st.integers(0, 6), pick=st.integers(0, 2**32 - 1))
        def crash_during(self, calls: int, pick: int) -> None:
            self._crash_during(calls, "commit", b"", pick)

    Machine.__name__ = Machine.__qualname__ = base.__name__
    return Machine


def _batching(base: type[WalMachineBase]) -> type[WalMachineBase]:
    from hypothesis.stateful import precondition, rule

    class Machine(base):  # type: ignore[misc, valid-type]
        @precondition(lambda self: self._writable())
        @rule(payloads=st.lists(base.config.payloads, min_size=1, max_size=3))
        def append_batch(self, payloads: list[bytes]) -> None:
            """Batch mode (S3.13), as memvid's put_many begins: skip_sync on,
            then the appends, unsynced until a flush or a commit's sync."""
            self.set_skip_sync(True)
            for payload in payloads:
                with self._operation("append"):
                    self._append_both(payload)

    Machine.__name__ = Machine.__qualname__ = base.__name__
    return Machine


def only_rules(base: type[WalMachineBase], keep: frozenset[str]) -> type[WalMachineBase]:
    """``base`` running only the rules named in ``keep``. The others stay as
    plain methods (a crash inside a commit still calls ``commit``); Hypothesis
    takes as rules only the methods its decorator marked."""
    from hypothesis.stateful import RULE_MARKER

    rules = {name for name, member in inspect.getmembers(base) if hasattr(member, RULE_MARKER)}
    unknown = keep - rules
    if unknown:
        raise ValueError(f"{base.__name__} has no rules {sorted(unknown)}")

    def plain(name: str) -> Callable[..., object]:
        marked = getattr(base, name)

        def method(self: WalMachineBase, *args: object, **kwargs: object) -> object:
            return marked(self, *args, **kwargs)

        method.__name__ = name
        return method

    namespace: dict[str, object] = {name: plain(name) for name in sorted(rules - keep)}
    machine = type(base.__name__, (base,), namespace)
    machine.__qualname__ = base.__qualname__
    return machine


def fixed_machines() -> list[type[WalMachineBase]]:
    from walcheck.sidebyside.crash_machines import build_crash_machine, crash_config

    return [
        build_machine(small_region_config(m.Design.FIXED, "StatefulSmallRegionFixed")),
        build_machine(memvid_sizes_config(m.Design.FIXED, "StatefulMemvidSizesFixed")),
        build_crash_machine(crash_config(m.Design.FIXED, "StatefulCrashFixed")),
    ]


def hunt_settings(max_examples: int, *, seed: int | None = None, steps: int = 30) -> settings:
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=seed is None,
        report_multiple_bugs=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Hypothesis shrinks one failure for up to five minutes (its engine's
# MAX_SHRINKING_SECONDS). A hunt stops shrinking sooner: its machines are
# narrowed, so what a few seconds of shrinking leaves is already short, and a
# hunt that wandered off to another failure must not hold the run for minutes.
SHRINK_SECONDS = 20.0


@contextlib.contextmanager
def _shrinking_for(seconds: float) -> Iterator[None]:
    from hypothesis.internal.conjecture import engine

    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


def hunt(
    machine: type[WalMachineBase],
    run_settings: settings,
    seed: int | None = None,
    *,
    shrink_seconds: float = SHRINK_SECONDS,
) -> Finding | None:
    """Run ``machine``; return the shrunk counterexample, or None if none was found."""
    test = _seeded(machine, run_settings, seed)
    try:
        with _shrinking_for(shrink_seconds), remembering():
            test()
    except GuaranteeViolation as violation:
        return Finding(machine.__name__, "guarantee", violation.guarantee, str(violation), _trace(violation))
    except Divergence as divergence:
        return Finding(machine.__name__, "divergence", None, str(divergence), _trace(divergence))
    except InvariantViolation as broken:
        return Finding(machine.__name__, "invariant", None, str(broken), _trace(broken))
    return None


def _seeded(machine: type[WalMachineBase], run_settings: settings, seed: int | None) -> Callable[[], None]:
    if seed is None:
        return lambda: run_state_machine_as_test(machine, settings=run_settings)
    # The seed goes on the @given test the machine runs as: on a function that
    # merely calls run_state_machine_as_test, Hypothesis would never see it.
    from hypothesis import seed as hypothesis_seed
    from hypothesis.stateful import get_state_machine_test

    test: Callable[[], None] = hypothesis_seed(seed)(get_state_machine_test(machine, settings=run_settings))
    return test


def _trace(error: BaseException) -> tuple[str, ...]:
    notes = getattr(error, "__notes__", [])
    lines: list[str] = []
    for note in notes:
        for line in str(note).splitlines():
            if line.startswith("Explanation:"):
                return tuple(lines)
            invariant_call = any(
                name in line
                for name in ("another_reader", "reference_and_model", "model_invariants", "crash_points")
            )
            if line.startswith("state.") and invariant_call:
                continue  # invariants run after every step; they add nothing to read
            if line.startswith("Failing test case") or line.strip().startswith("/"):
                continue
            lines.append(line)
    return tuple(lines)


@dataclass
class CampaignReport:
    design: str
    examples: int = 0
    steps: int = 0
    figures: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        if self.design == m.Design.FIXED.value:
            return not self.findings
        divergences = [f for f in self.findings if f.kind != "guarantee"]
        return not self.missed and not divergences


Progress = Callable[[str, int, int, float], None]


def run_campaign(
    design: m.Design,
    *,
    examples: int,
    seconds: float | None,
    steps: int = 40,
    seed: int | None = None,
    progress: Progress | None = None,
) -> CampaignReport:
    """The main job. FIXED: run every machine for the budget; any finding fails.
    ORIGINAL: hunt each catalogued defect; each must be found."""
    started = time.monotonic()
    report = CampaignReport(design=design.value)
    WalMachineBase.counters.clear()
    rng = random.Random(seed)
    if design is m.Design.FIXED:
        machines = fixed_machines()
        deadline = started + seconds if seconds is not None else None
        for machine in machines:
            done = 0
            per_machine = max(1, examples // len(machines))
            batch = min(per_machine, 50)
            while done < per_machine and not report.findings:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                count = min(batch, per_machine - done)
                finding = hunt(machine, hunt_settings(count, seed=0, steps=steps), seed=rng.getrandbits(64))
                done += count
                if progress:
                    progress(machine.__name__, done, per_machine, time.monotonic() - started)
                if finding:
                    report.findings.append(finding)
    else:
        for index, defect in enumerate(DEFECT_HUNTS):
            machine = defect.machine()
            # With --seed each hunt gets a seed of its own from it; without, derandomised.
            hunt_seed = None if seed is None else rng.getrandbits(64)
            finding = hunt(
                machine,
                hunt_settings(max(examples, defect.examples), seed=hunt_seed, steps=defect.steps),
                seed=hunt_seed,
            )
            if progress:
                progress(
                    f"{defect.defect} {machine.__name__}",
                    index + 1,
                    len(DEFECT_HUNTS),
                    time.monotonic() - started,
                )
            if not defect.found_by(finding):
                report.missed.append(defect.defect)
            if finding is not None:
                report.findings.append(finding)
    report.figures = dict(WalMachineBase.counters)
    report.examples = report.figures.get("examples", 0)
    report.steps = report.figures.get("steps", 0)
    report.seconds = time.monotonic() - started
    return report
