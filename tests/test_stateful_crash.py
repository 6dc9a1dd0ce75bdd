"""``pytest -k stateful``, with crashes (spec/faults.md): the FIXED design on a
simulated disk that loses power, tears writes and kills the process between
operations and inside them; and the same machine pointed at ORIGINAL, which
must lose its WAL to a torn append (defects.md C1)."""

from __future__ import annotations

import dataclasses

import model as m
from walcheck.campaign import hunt, hunt_settings
from walcheck.crash_machines import StatefulCrashFixed, build_crash_machine, original_crash_config
from walcheck.machines import WalMachineBase

TestStatefulCrashFixed = StatefulCrashFixed.TestCase


def test_stateful_crash_hunt_finds_original_torn_append() -> None:
    """C1: a crash inside an append tears its entry, and ORIGINAL's open fails."""
    machine = build_crash_machine(original_crash_config("StatefulCrashOriginal"))
    finding = hunt(machine, hunt_settings(300))
    assert finding is not None, "ORIGINAL survived every crash"
    assert finding.kind == "guarantee" and finding.guarantee == "G5", finding.render()
    assert any(line.startswith("state.crash_during(") for line in finding.trace), finding.trace


def test_stateful_crash_same_hunt_finds_nothing_on_fixed() -> None:
    config = dataclasses.replace(
        original_crash_config("StatefulCrashOriginalShapeFixed"), design=m.Design.FIXED
    )
    WalMachineBase.counters.clear()
    finding = hunt(build_crash_machine(config), hunt_settings(300))
    assert finding is None, finding.render()
    assert WalMachineBase.counters["crash images checked"] > 1000


def test_stateful_crash_hunt_finds_original_stale_records_after_a_lost_sentinel() -> None:
    """C2: power loss takes the sentinel after a wrapped append; ORIGINAL's scan
    runs on into the earlier pass and its sequence goes back, so the next
    checkpoint does not cover the record it applied."""
    machine = build_crash_machine(
        original_crash_config("StatefulCrashOriginalPowerLoss"), frozenset({"power_loss"})
    )
    finding = hunt(machine, hunt_settings(3000, steps=40))
    assert finding is not None, "ORIGINAL survived every power loss"
    assert finding.kind == "guarantee" and finding.guarantee in {"G2", "G3", "G4"}, finding.render()
    assert any(line.startswith("state.power_loss(") for line in finding.trace), finding.trace
