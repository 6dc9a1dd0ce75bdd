"""``pytest -k stateful``, with crashes (spec/faults.md): the FIXED design on a
simulated disk that loses power, tears writes and kills the process between
operations and inside them; and the same machine pointed at ORIGINAL, which
must lose its WAL to a torn append (defects.md C1); and ORIGINAL's caller
layer crashed inside its in-place growth, every image held to the model's
(spec/semantics.md S9.11, S9.12)."""

from __future__ import annotations

import dataclasses

import pytest

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
