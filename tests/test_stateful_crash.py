"""``pytest -k stateful``, with crashes (spec/faults.md): the FIXED design on a
simulated disk that loses power, tears writes and kills the process between
operations and inside them; and the same machine pointed at ORIGINAL, which
must lose its WAL to a torn append (defects.md C1); and ORIGINAL's caller
layer crashed inside its in-place growth, every image held to the model's
(spec/semantics.md S9.11, S9.12); ORIGINAL's power-loss images and its doctor
killed on a copy, held to the model's."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

import model as m
from walcheck.sidebyside.crash_machines import (
    StatefulCrashFixed,
    build_crash_machine,
    original_crash_config,
    original_growth_crash_config,
    pages_crash_config,
)
from walcheck.sidebyside.hunts import DEFECT_HUNTS, hunt, hunt_settings, only_rules
from walcheck.sidebyside.machines import WalMachineBase
from walcheck.sidebyside.simdisk import SimulatedDisk

TestStatefulCrashFixed = StatefulCrashFixed.TestCase

# ORIGINAL's appends, commits, batches and growths, crashed only inside a growth: the
# images its one sync lets a power loss leave, the lost zeros among them (M4), must be
# the model's (caller.grow's crash_images and in_flight); the guarantees hold on the
# kill image it goes on from.
StatefulCrashInsideGrowthOriginal = only_rules(
    build_crash_machine(
        original_growth_crash_config("StatefulCrashInsideGrowthOriginal"), frozenset({"crash_during"})
    ),
    frozenset({"append", "put", "commit", "set_skip_sync", "flush", "reopen", "grow", "crash_inside_caller"}),
)
TestStatefulCrashInsideGrowthOriginal = StatefulCrashInsideGrowthOriginal.TestCase


class StatefulOriginalPredictedCrashes(
    only_rules(  # type: ignore[misc]
        build_crash_machine(original_crash_config("StatefulOriginalPredictedCrashes"), frozenset()),
        frozenset({"append", "put", "commit", "set_skip_sync", "flush", "reopen"}),
    )
):
    """ORIGINAL's durability and its doctor as the model predicts them, without
    going on from a crash (ORIGINAL's crash images break G1-G3 as catalogued,
    C2-C4, M2, M3): after every step the power-loss images of the file, the
    simulated disk's and the model's, are the same (model/crash.py; an ORIGINAL
    append syncs unless in batch mode, S3.13); and a rule kills ORIGINAL's doctor
    on a copy of the file, damaged at one bit or not, where the model's
    caller.doctor says (S9.9, S9.11). The machine goes on undisturbed."""

    @invariant()
    def power_loss_images_are_the_models(self) -> None:
        if self.state is not None and isinstance(self.storage, SimulatedDisk):
            self._model_predicts_power_loss_images()

    @precondition(lambda self: self.state is not None and isinstance(self.storage, SimulatedDisk))
    @rule(
        damage=st.booleans(),
        where_in_region=st.integers(0, 2**16),
        bit=st.integers(0, 7),
        # ORIGINAL's doctor makes 9 to 12 calls to these files (counted on
        # SimulatedDirectory): the draws past a run's count let it finish.
        calls=st.integers(0, 13),
    )
    def doctor_killed_on_a_copy(self, damage: bool, where_in_region: int, bit: int, calls: int) -> None:
        self._doctor_killed_on_a_copy(where_in_region if damage else None, bit, calls)


TestStatefulOriginalPredictedCrashes = StatefulOriginalPredictedCrashes.TestCase


# FIXED on regions past the file's first 8 KiB, with entries of kilobytes, a
# writer in batch mode: appends, commits and flushes only besides the crashes,
# so that thirty steps fill pages and a power loss finds unsynced sectors past
# the first 8 KiB, each sector's versions held to the model's (model/crash.py).
StatefulCrashPagesFixed = only_rules(
    build_crash_machine(pages_crash_config("StatefulCrashPagesFixed")),
    frozenset({"append", "put", "commit", "flush", "power_loss", "kill", "crash_during"}),
)
TestStatefulCrashPagesFixed = StatefulCrashPagesFixed.TestCase


HUNTS = {h.defect: h for h in DEFECT_HUNTS if h.crash_kinds is not None}


@pytest.mark.parametrize("defect", sorted(HUNTS))
def test_stateful_crash_hunt_finds_original_defect(defect: str) -> None:
    """C1: a crash inside an append tears its entry and ORIGINAL's open fails.
    C2: power loss takes the sentinel after a wrapped append; ORIGINAL's scan
    runs on into the earlier pass and its sequence goes back."""
    spec = HUNTS[defect]
    finding = hunt(spec.machine(), hunt_settings(spec.examples, steps=spec.steps))
    assert finding is not None, f"{defect}: ORIGINAL survived every crash"
    # found_by: the defect's guarantee, broken after a crash (a crash point the hunt checked).
    assert finding.kind == "guarantee" and spec.found_by(finding), finding.render()
    assert "after a crash" in finding.message, finding.render()


@pytest.mark.parametrize("defect", sorted(set(HUNTS) - {"C4"}))  # C4's: test_stateful_power.py
def test_stateful_crash_hunt_finds_nothing_on_fixed(defect: str) -> None:
    """Each crash hunt's machine, every crash point checked, on FIXED: R1, R2, R4 hold."""
    finding = hunt(HUNTS[defect].on_fixed().machine(), hunt_settings(100, steps=20))
    assert finding is None, finding.render()


def test_stateful_crash_same_hunt_finds_nothing_on_fixed() -> None:
    config = dataclasses.replace(
        original_crash_config("StatefulCrashOriginalShapeFixed"), design=m.Design.FIXED
    )
    WalMachineBase.counters.clear()
    finding = hunt(build_crash_machine(config), hunt_settings(300))
    assert finding is None, finding.render()
    assert WalMachineBase.counters["crash images checked"] > 1000
