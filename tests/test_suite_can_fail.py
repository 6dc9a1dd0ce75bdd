"""The stateful suite must be able to fail: planted bugs (mutants) in the
reference, or in both sides at once, must be caught, each by the check meant
for it. A suite that passed with these bugs in place would prove nothing."""

from __future__ import annotations

from collections.abc import Callable

import blake3
import pytest

import model.placement
import model.region
import model.wal
import reference.wal
from walcheck.sidebyside.hunts import Finding, fixed_machines, hunt, hunt_settings
from walcheck.trace import Append, SkipSync

# What these runs count is the planted bugs' doing, not FIXED's (tests/figures_plugin.py).
pytestmark = pytest.mark.planted_bug


def _hunt_small_region() -> Finding | None:
    machine = fixed_machines()[0]
    return hunt(machine, hunt_settings(300))


def test_stateful_catches_a_reference_writing_other_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    original = reference.wal.encode_entry

    def reserved_byte_set(
        sequence: int, payload: bytes, synced_before: bool = False, *, hasher: blake3.blake3 | None = None
    ) -> bytes:
        encoded = bytearray(original(sequence, payload, synced_before, hasher=hasher))
        encoded[12] = 1  # a reserved byte: memvid ignores it, the model writes 0 or D6's mark there
        return bytes(encoded)

    monkeypatch.setattr(reference.wal, "encode_entry", reserved_byte_set)
    finding = _hunt_small_region()
    assert finding is not None and finding.kind == "divergence", finding
    assert "region bytes differ" in finding.message


def test_stateful_catches_a_reference_losing_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    records_after = reference.wal.EmbeddedWal.records_after

    def drops_last(self: reference.wal.EmbeddedWal, sequence: int) -> list[reference.wal.WalRecord]:
        return records_after(self, sequence)[:-1]

    monkeypatch.setattr(reference.wal.EmbeddedWal, "records_after", drops_last)
    finding = _hunt_small_region()
    # Whichever notices first: the comparison with the model after a rule, or
    # the reader that recovers the file after every step.
    assert finding is not None, "a reference that drops records passed"
    assert finding.kind == "divergence" or finding.guarantee == "G1", finding.render()


def test_stateful_catches_both_sides_dropping_the_unsafe_tail_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model and reference place entries as the original does (keeping FIXED's
    sentinel), so they agree and only the guarantees can notice: G7 (memvid
    opening the file for writing) must."""

    def original_placement(fixed: bool, *heads: int) -> int | str:
        return model.placement.original_place_entry(*heads)

    monkeypatch.setattr(model.wal, "place_entry", original_placement)
    monkeypatch.setattr(reference.wal, "place_entry", original_placement)
    finding = _hunt_small_region()
    assert finding is not None and finding.kind == "guarantee", finding
    assert finding.guarantee == "G7", finding.render()


def test_stateful_catches_both_sides_forgetting_pending_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sides return nothing from pending_records: they agree, the oracle does not."""
    monkeypatch.setattr(model.wal, "_pending_bytes", lambda found, checkpoint: 0)

    def model_pending(state: model.wal.State) -> tuple[model.wal.State, list[model.region.Record]]:
        return state, []

    def reference_pending(self: reference.wal.EmbeddedWal) -> list[reference.wal.WalRecord]:
        return []

    monkeypatch.setattr(model.wal, "pending_records", model_pending)
    monkeypatch.setattr(reference.wal.EmbeddedWal, "pending_records", reference_pending)
    finding = _hunt_small_region()
    assert finding is not None and finding.kind == "guarantee", finding
    assert finding.guarantee == "G1", finding.render()


def test_stateful_catches_a_wal_that_acknowledges_after_a_failed_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """spec/faults.md R6: the crash machine must notice a reference that goes on
    appending after a write or sync failed."""
    from walcheck.sidebyside.crash_machines import StatefulCrashFixed

    monkeypatch.setattr(reference.wal.EmbeddedWal, "_assert_storage_healthy", lambda self: None)
    finding = hunt(StatefulCrashFixed, hunt_settings(300))
    assert finding is not None and finding.guarantee == "R6", finding


def _power_loss_after_an_unsynced_append() -> None:
    """The scenario the check below is for, built step by step rather than
    hoped for from a search: a batch-mode append leaves its sectors unsynced,
    then the power goes. The crash machine compares the power-loss images the
    simulated disk can leave with those the model predicts."""
    from walcheck.sidebyside.crash_machines import StatefulCrashFixed

    machine = StatefulCrashFixed()
    try:
        machine.start(256)
        for step in (SkipSync(True), Append(b"not synced yet")):
            machine.apply(step)
        machine.power_loss(0)
    finally:
        machine.teardown()


def test_the_unsynced_power_loss_scenario_passes_as_it_is() -> None:
    _power_loss_after_an_unsynced_append()


def test_stateful_catches_a_crash_model_that_forgets_unsynced_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """model/crash.py must predict the disk's power-loss images; a crash model
    that only ever offers the durable image must be caught."""
    import walcheck.sidebyside.crash_machines
    from walcheck.sidebyside.machines import Divergence

    def durable_only(disk: model.wal.Disk) -> list[model.region.Region]:
        return [disk.durable_region]

    monkeypatch.setattr(walcheck.sidebyside.crash_machines, "power_loss_regions", durable_only)
    with pytest.raises(Divergence, match="power-loss images: the disk has 2 distinct regions, the model 1"):
        _power_loss_after_an_unsynced_append()


def _damage_proven_by_a_later_mark() -> None:
    """spec/defects.md D6's scenario, built step by step rather than hoped for
    from a derandomised search (whose draws move with the modules imported
    before it): two synced appends, the second marked SYNC, then a bit of the
    first one's payload flipped on the media. The model says the open must
    report WalCorruption at 0 (R7); the crash machine requires the reference
    to say the same."""
    from walcheck.sidebyside.crash_machines import StatefulCrashFixed

    machine = StatefulCrashFixed()
    try:
        machine.start(256)
        for step in (Append(b"acknowledged 1"), Append(b"acknowledged 2")):
            machine.apply(step)
        # The rule the machine's class gains from its configuration (crash kind "media");
        # bit 0 of the first payload byte, past the first sequence's blind spot.
        media_fault: Callable[[str, int, int], None] = getattr(machine, "media_fault")  # noqa: B009
        media_fault("bit flip", 48, 0)
    finally:
        machine.teardown()


def test_the_proven_damage_scenario_passes_as_it_is() -> None:
    _damage_proven_by_a_later_mark()


def test_stateful_catches_a_reference_that_drops_damage_it_can_prove(monkeypatch: pytest.MonkeyPatch) -> None:
    """spec/faults.md R7: the crash machine's media faults must notice a
    reference that ends the log at damage a later marked record proves."""
    from walcheck.sidebyside.machines import Divergence

    monkeypatch.setattr(reference.wal, "_proven_durable", lambda *args: False)
    with pytest.raises(Divergence, match="WalCorruption"):
        _damage_proven_by_a_later_mark()
