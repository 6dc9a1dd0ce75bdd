"""``pytest -k stateful``, sharper where mutants survived it (spec/mutants.md M2):

- a crash machine whose rule builds a header ahead of its records (batch mode,
  then a commit killed at its sync with the header's sector kept and the
  record's lost) and goes on from that image: R4's restart, compared byte for
  byte with the model, where no other machine went;
- a machine that makes a thousand appends since a checkpoint in one step, so
  ``should_checkpoint``'s count trigger is compared with memvid's period;
- ORIGINAL's model against ORIGINAL's reference past its defects: every byte
  compared, the guarantees not checked (they break, as catalogued), so the
  bytes the original writes after a second wrap are held to account;
- a second writer's records found by a rescan that moves the write head: the
  next append must not claim (D6's mark) that they were synced;
- the doctor (S9.9) on a region its entries fill to the last byte, where no
  sentinel ends the walk and the region's end must (spec/mutants.md M6).
"""

from __future__ import annotations

import contextlib
import dataclasses
import mmap
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

import model as m
import reference.wal
from model.wal import valid
from reference import (
    CheckpointFailed,
    Design,
    EmbeddedWal,
    MemoryStorage,
    WalCorruption,
    create_mv2,
    read_header,
    scan_region,
)
from reference.header import WAL_OFFSET, write_header
from reference.wal import ENTRY_HEADER_SIZE
from walcheck import figures
from walcheck.oracle import GuaranteeViolation
from walcheck.sidebyside.crash_machines import build_crash_machine, crash_config
from walcheck.sidebyside.machines import (
    Divergence,
    MachineConfig,
    Result,
    build_machine,
    small_region_config,
)
from walcheck.sidebyside.simdisk import SimulatedCrash
from walcheck.trace import payload_for


def header_ahead(image: bytes) -> bool:
    """The header's checkpoint covers a sequence the region's records do not reach."""
    header = read_header(MemoryStorage(image), clear_legacy_lock=False)
    region = image[WAL_OFFSET : WAL_OFFSET + header.wal_size]
    try:
        found, _ = scan_region(region, Design.ORIGINAL, header.wal_sequence)
    except WalCorruption:
        return False
    return (found[-1].sequence if found else 0) < header.wal_sequence


_CrashBase = build_crash_machine(crash_config(m.Design.FIXED, "StatefulHeaderAheadFixed"))


class StatefulHeaderAheadFixed(_CrashBase):  # type: ignore[misc, valid-type]
    @precondition(lambda self: self._writable())
    @rule(
        payload=st.binary(min_size=1, max_size=120),
        pick=st.integers(0, 2**32 - 1),
        reader_first=st.booleans(),
    )
    def commit_killed_at_its_sync(self, payload: bytes, pick: int, reader_first: bool) -> None:
        """Batch mode, an append, then a commit whose sync never happens: the
        header's write and the record's are both unsynced, and a power-loss
        image keeps the first without the second (spec/defects.md C3). With
        ``reader_first``, a header-ahead image is opened read-only and rescanned
        (S3.8 with R4: the records below the checkpoint are still there, since
        a reader writes no sentinel), then the machine goes on from it."""
        self.set_skip_sync(True)
        if self._append_both(payload).error is not None:
            return
        disk = self.disk

        def dies(*_: object) -> None:
            raise SimulatedCrash("killed at the commit's sync")

        # The disk's own sync, shadowed on this instance for the one call.
        setattr(disk, "sync", dies)  # noqa: B010
        try:
            self.commit()
            return
        except SimulatedCrash:
            pass
        finally:
            delattr(disk, "sync")
        images = [image for image in self._images(pick, torn=False) if self._header_intact(image)]
        self.counters["crashes"] += 1
        outcomes = [self._recover_image(image, "commit killed at its sync") for image in images]
        ahead = [index for index, image in enumerate(images) if header_ahead(image)]
        chosen = ahead[pick % len(ahead)] if ahead else pick % len(images)
        if ahead:
            self.counters[figures.HEADER_AHEAD] += 1
        reader = reader_first and bool(ahead)
        self._restart(images[chosen], *outcomes[chosen], read_only=reader)
        if reader:
            self.records_after(0, 0)


TestStatefulHeaderAheadFixed = StatefulHeaderAheadFixed.TestCase
# CI's time: the planted R4 mutant dies within a few examples (spec/mutants.md M2).
TestStatefulHeaderAheadFixed.settings = settings(settings(), max_examples=min(settings().max_examples, 100))

# memvid's 64 KiB region holds 1,003 entries of one byte below the 75% threshold,
# so the count trigger (1,000 appends) is the one that fires.
BULK_REGION = 64 * 1024


class StatefulThousandAppendsFixed(
    build_machine(  # type: ignore[misc]
        MachineConfig(
            name="StatefulThousandAppendsFixed",
            design=m.Design.FIXED,
            region_sizes=st.just(BULK_REGION),
            initial_sequences=st.just(0),
            payloads=st.binary(min_size=1, max_size=8),
            growth_limit=BULK_REGION,
        )
    )
):
    @precondition(lambda self: self._writable())
    # From 1,000: each append is checked, so the ones before the trigger are too;
    # a draw below it (Hypothesis leans to the least) never reached the count.
    @rule(count=st.integers(1000, 1010))
    def thousand_appends(self, count: int) -> None:
        """``count`` one-byte appends in batch mode, ``should_checkpoint`` held to
        spec S3.7 (75% occupancy or 1,000 appends) on both sides after each."""
        assert self.wal is not None
        self.set_skip_sync(True)
        for index in range(count):
            if self._append_both(bytes([index & 0xFF])).error is not None:
                break
            assert self.state is not None and self.wal is not None
            stats = self.wal.stats()
            expected = (
                stats.pending_bytes / stats.region_size >= 0.75 or stats.appends_since_checkpoint >= 1000
            )
            if stats.appends_since_checkpoint >= 1000:
                self.counters[figures.THOUSAND_APPENDS] += 1
            _agree_three(self.wal.should_checkpoint(), m.should_checkpoint(self.state), expected)
        self.flush()


def _agree_three(reference_says: bool, model_says: bool, spec_says: bool) -> None:
    if not reference_says == model_says == spec_says:
        raise Divergence(
            f"should_checkpoint: reference {reference_says}, model {model_says}, spec S3.7 {spec_says}"
        )


TestStatefulThousandAppendsFixed = StatefulThousandAppendsFixed.TestCase


@pytest.mark.parametrize("design", [m.Design.FIXED, m.Design.ORIGINAL])
def test_stateful_the_thousandth_append_asks_for_a_checkpoint(design: m.Design) -> None:
    """S3.7's count trigger, whatever the machines draw: 1,003 one-byte appends
    on memvid's 64 KiB region, the reference, the model and S3.7 agreeing on
    should_checkpoint after each; the count (1,000) asks before the occupancy
    (75%) does, and a checkpoint clears it. The machine above reaches it only
    when it picks its rule, which a derandomised run of 8 examples need not."""
    storage = MemoryStorage()
    create_mv2(storage, BULK_REGION)
    header = read_header(storage)
    wal = EmbeddedWal.open(storage, header, design=Design(design.value))
    wal.set_skip_sync(True)
    state, _ = m.open_wal(m.initial_state(design, BULK_REGION))
    state = m.set_skip_sync(state, True)
    asked_at = []
    for index in range(1003):
        wal.append_entry(b"x")
        state, outcome = m.append_entry(state, b"x")
        assert not isinstance(outcome, m.WalError), outcome
        stats = wal.stats()
        expected = stats.pending_bytes / stats.region_size >= 0.75 or stats.appends_since_checkpoint >= 1000
        _agree_three(wal.should_checkpoint(), m.should_checkpoint(state), expected)
        if expected:
            asked_at.append(index + 1)
    assert asked_at == [1000, 1001, 1002, 1003]
    assert wal.stats().pending_bytes / BULK_REGION < 0.75
    wal.record_checkpoint(header)
    state, _ = m.record_checkpoint(state)
    _agree_three(wal.should_checkpoint(), m.should_checkpoint(state), False)


# Each example makes thousands of appends: a few examples of a few steps, whatever the profile.
_profile = settings()
TestStatefulThousandAppendsFixed.settings = settings(
    _profile, max_examples=min(_profile.max_examples, 8), stateful_step_count=6
)


_OriginalBase = build_machine(
    dataclasses.replace(
        small_region_config(m.Design.ORIGINAL, "StatefulOriginalBytesAgree"), growth_limit=400
    )
)


class StatefulOriginalBytesAgree(_OriginalBase):  # type: ignore[misc, valid-type]
    """ORIGINAL's model and reference side by side past the defects: the
    guarantees are not checked (a GuaranteeViolation is dropped), every
    comparison of results, state and bytes is."""

    def _settle_open(self, ref: Result, model: Result) -> None:
        try:
            super()._settle_open(ref, model)
        except GuaranteeViolation:
            self.wal = None  # both failed to open, and agreed how

    def _append_both(self, payload: bytes) -> Result:
        if self.wal is None:
            return Result(error=("closed", "a growth's reopen failed", None))  # ends memvid's put
        try:
            return super()._append_both(payload)
        except GuaranteeViolation:
            return Result()  # both appended the same; the oracle objected

    @precondition(lambda self: self._is_open())
    @rule()
    def commit(self) -> None:
        with contextlib.suppress(GuaranteeViolation):
            super().commit()

    @precondition(lambda self: self._is_open())
    @rule()
    def pending(self) -> None:
        with contextlib.suppress(GuaranteeViolation):
            super().pending()

    @precondition(lambda self: self._is_open())
    @rule(back=st.integers(0, 6), anywhere=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    def records_after(self, back: int, anywhere: int | None) -> None:
        with contextlib.suppress(GuaranteeViolation):
            super().records_after(back, anywhere)

    @invariant()
    def reference_and_model_agree(self) -> None:
        with contextlib.suppress(GuaranteeViolation):  # G6 (D3): both wrote past the region, alike
            super().reference_and_model_agree()

    @invariant()
    def another_reader_recovers_every_acknowledged_record(self) -> None:
        """Not here: ORIGINAL's readers lose records, as catalogued."""


TestStatefulOriginalBytesAgree = StatefulOriginalBytesAgree.TestCase
TestStatefulOriginalBytesAgree.settings = settings(settings(), max_examples=min(settings().max_examples, 100))


# Sizes where a walk bound written ``cursor + 48 <= size`` and one written
# with another operator (``cursor ^ 48``, ``cursor | 48``, ...) part at
# ``cursor == size``: 112 and 304 have both bits of 48 set, 96 only its 32.
_FULL_REGION_SIZES = st.one_of(st.sampled_from([112, 304, 96]), st.integers(49, 400))


class StatefulDoctorOnAFullRegionFixed(
    build_machine(  # type: ignore[misc]
        dataclasses.replace(
            small_region_config(m.Design.FIXED, "StatefulDoctorOnAFullRegionFixed"),
            region_sizes=_FULL_REGION_SIZES,
        )
    )
):
    @precondition(lambda self: self._writable())
    @rule()
    def doctor_on_a_full_region(self) -> None:
        """S9.9 on a region whose entries run to its last byte: FIXED writes no
        sentinel when every byte is pending (S3.14), so the doctor's walk ends at
        the region's end, not at a sentinel, and both doctors must take the same
        records there. An entry sized to end at the region's end, after a commit
        when what is pending does not start at 0 (the entry then goes at 0)."""
        assert self.wal is not None
        if not (self.wal.pending_bytes == self.wal.write_head < self.wal.region_size - ENTRY_HEADER_SIZE):
            self.commit()
        wal = self.wal
        assert wal is not None
        start = wal.write_head if wal.pending_bytes == wal.write_head else 0
        if wal.pending_bytes not in (0, wal.write_head) or wal.region_size - start <= ENTRY_HEADER_SIZE:
            return
        length = wal.region_size - start - ENTRY_HEADER_SIZE
        if self._append_both(payload_for(self.counters["appends"], length)).error is not None:
            return  # the sequence is exhausted (D2): both refused alike
        self.counters[figures.DOCTOR_ON_FULL_REGION] += 1
        self.doctor()


TestStatefulDoctorOnAFullRegionFixed = StatefulDoctorOnAFullRegionFixed.TestCase
TestStatefulDoctorOnAFullRegionFixed.settings = settings(
    settings(), max_examples=min(settings().max_examples, 20)
)


REGION = 4096


def _second_writer_then_rescan_and_append(
    storage: MemoryStorage, wal: EmbeddedWal, state: m.State, others: list[bytes], last: bytes
) -> int:
    """spec/faults.md R7's flag after another writer: a second WAL opened on the
    file (the reference's and the model's alike) appends ``others`` in batch
    mode (nothing synced); the first WAL's records_after takes them and moves
    its head; then the first appends ``last``. The two sides must write the
    same bytes, and that record must not carry the mark, which would claim
    the second writer's unsynced bytes below it durable (a power loss tearing
    them would then read as damage, R7, and the file would not open).
    Returns where ``last`` went."""
    second = EmbeddedWal.open(storage, read_header(storage), design=Design.FIXED)
    second.set_skip_sync(True)
    second_state, _ = m.open_wal(dataclasses.replace(state, wal=None))
    second_state = m.set_skip_sync(second_state, True)
    for payload in others:
        second.append_entry(payload)
        second_state, _ = m.append_entry(second_state, payload)
    state = dataclasses.replace(state, disk=second_state.disk)

    wal.records_after(0)
    state, _ = m.records_after(state, 0)
    assert state.wal is not None
    position = wal.write_head
    assert position == state.wal.write_head
    wal.append_entry(last)
    state, _ = m.append_entry(state, last)
    region = storage.read_at(WAL_OFFSET, REGION)
    assert region == state.disk.region.to_bytes()
    reserved = region[position + 12 : position + 16]
    assert reserved != reference.wal.SYNCED_BEFORE_MARK, "the mark claims another writer's unsynced bytes"
    return position


@settings(max_examples=60)
@given(
    first=st.binary(min_size=1, max_size=40),
    others=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4),
    last=st.binary(min_size=1, max_size=40),
)
def test_stateful_rescan_that_moves_the_head_claims_no_sync(
    first: bytes, others: list[bytes], last: bytes
) -> None:
    """spec/faults.md R7, the head moved forward: the first WAL appends a
    record (synced: its flag is set); the second writer's records follow it,
    and the rescan moves the head past them."""
    storage = MemoryStorage()
    wal = EmbeddedWal.open(storage, create_mv2(storage, REGION), design=Design.FIXED)
    wal.append_entry(first)
    state, _ = m.open_wal(m.initial_state(m.Design.FIXED, REGION))
    state, _ = m.append_entry(state, first)
    position = _second_writer_then_rescan_and_append(storage, wal, state, others, last)
    assert position == sum(ENTRY_HEADER_SIZE + len(payload) for payload in (first, *others))


@settings(max_examples=60)
@given(
    first_length=st.integers(2600, 3200),
    other_pick=st.integers(0, 2**16),
    last=st.binary(min_size=1, max_size=40),
)
def test_stateful_rescan_that_moves_the_head_back_claims_no_sync(
    first_length: int, other_pick: int, last: bytes
) -> None:
    """spec/faults.md R7, the head moved back: the first WAL appends a record
    (synced: its flag is set) and checkpoints. The second writer appends one
    entry that does not fit after the head, so it wraps to 0, and ends before
    the first WAL's head: the rescan moves the head back to its end."""
    first = bytes((5 + 3 * i) & 0xFF for i in range(first_length))
    head = ENTRY_HEADER_SIZE + first_length
    # Too long for the space after the head, shorter than the first entry.
    lowest, highest = REGION - head + 1, head - 1
    other = bytes([0x6D]) * (lowest + other_pick % (highest - lowest + 1) - ENTRY_HEADER_SIZE)
    storage = MemoryStorage()
    header = create_mv2(storage, REGION)
    wal = EmbeddedWal.open(storage, header, design=Design.FIXED)
    wal.append_entry(first)
    wal.record_checkpoint(header)
    write_header(storage, header)
    storage.sync()
    state, _ = m.open_wal(m.initial_state(m.Design.FIXED, REGION))
    state, _ = m.append_entry(state, first)
    state, _ = m.record_checkpoint(state)
    state = m.write_header(state)
    position = _second_writer_then_rescan_and_append(storage, wal, state, [other], last)
    assert position == ENTRY_HEADER_SIZE + len(other) < head


@settings(max_examples=60)
@given(
    checkpointed=st.lists(st.binary(min_size=1, max_size=60), min_size=2, max_size=8),
    pending=st.lists(st.binary(min_size=1, max_size=60), max_size=2),
    pick=st.integers(0, 2**16),
)
def test_stateful_damage_behind_checkpointed_marks_is_a_torn_tail(
    checkpointed: list[bytes], pending: list[bytes], pick: int
) -> None:
    """spec/faults.md R7: after a damaged record, only a pending record carrying
    the mark proves the damage durable; checkpointed records behind it carry
    the mark too (each was appended after a sync) and prove nothing. Records
    appended and synced, checkpointed, then some more (pending), and one
    payload byte of a checkpointed record but the last flipped: with a
    pending record after it the open reports WalCorruption at that record;
    with none, the log ends there (R1), which loses nothing the WAL owes.
    The reference and the model, given the same bytes, answer the same."""
    storage = MemoryStorage()
    header = create_mv2(storage, REGION)
    wal = EmbeddedWal.open(storage, header, design=Design.FIXED)
    state, _ = m.open_wal(m.initial_state(m.Design.FIXED, REGION))
    for payload in checkpointed:
        wal.append_entry(payload)
        state, _ = m.append_entry(state, payload)
    wal.record_checkpoint(header)
    write_header(storage, header)
    storage.sync()
    state, _ = m.record_checkpoint(state)
    state = m.write_header(state)
    for payload in pending:
        wal.append_entry(payload)
        state, _ = m.append_entry(state, payload)
    victim = pick % (len(checkpointed) - 1)
    position = sum(ENTRY_HEADER_SIZE + len(payload) for payload in checkpointed[:victim])
    at = position + ENTRY_HEADER_SIZE + pick % len(checkpointed[victim])
    damage = bytes([storage.read_at(WAL_OFFSET + at, 1)[0] ^ 0xFF])
    storage.write_at(WAL_OFFSET + at, damage)
    region = state.disk.region.write(at, m.Foreign(damage), 0, 1)
    closed = dataclasses.replace(
        state,
        wal=None,
        disk=dataclasses.replace(state.disk, region=region, durable_region=region, unsynced=()),
    )

    _, model_error = m.open_wal(closed, read_only=True)
    try:
        EmbeddedWal.open_read_only(storage, read_header(storage), design=Design.FIXED)
    except WalCorruption as error:
        reference_error: tuple[int, str] | None = (error.offset, error.reason)
    else:
        reference_error = None
    model = None if model_error is None else (model_error.offset, model_error.reason)
    assert reference_error == model
    if pending:
        assert model is not None and model[0] == position, "a pending marked record proves the damage"
    else:
        assert model is None, "checkpointed marked records proved a damaged record durable"


def test_stateful_c4_hunt_finds_nothing_on_fixed() -> None:
    """The C4 hunt's shape (regions filled exactly, kills inside a commit) on FIXED:
    D1's fix keeps the write head at the region's end, so nothing is lost."""
    from walcheck.sidebyside.hunts import DEFECT_HUNTS, hunt, hunt_settings

    spec = next(h for h in DEFECT_HUNTS if h.defect == "C4")
    finding = hunt(spec.on_fixed().machine(), hunt_settings(150))
    assert finding is None, finding.render()


def test_stateful_check_with_a_seed_repeats_its_figures() -> None:
    """issue 14: ``walcheck check --seed N`` twice gives the same run."""
    from walcheck.sidebyside.hunts import run_campaign

    first, second = (run_campaign(m.Design.FIXED, examples=12, seconds=None, steps=10, seed=7) for _ in "ab")
    assert first.figures == second.figures and first.figures["steps"] > 0
    other = run_campaign(m.Design.FIXED, examples=12, seconds=None, steps=10, seed=8)
    assert other.figures != first.figures


def test_check_original_hunts_every_defect_in_order() -> None:
    """issue 14: ``walcheck check --design original --seed N`` runs every hunt of
    spec/defects.md (C4 included) one after another in one process, as check
    does, and each finds its own defect."""
    from walcheck.sidebyside.hunts import DEFECT_HUNTS, run_campaign

    report = run_campaign(m.Design.ORIGINAL, examples=300, seconds=None, seed=1)
    assert not report.missed, "\n".join(f.render() for f in report.findings)
    assert report.ok
    assert [f.machine for f in report.findings] == [h.config.name for h in DEFECT_HUNTS]


def test_stateful_hunt_with_a_seed_repeats_itself() -> None:
    """issue 14: a hunt with a seed (each of ``check --design original --seed N``'s
    hunts gets one) finds the same trace with the same figures twice, though it
    remembers recoveries by image inside the run."""
    from walcheck.sidebyside.hunts import DEFECT_HUNTS, hunt, hunt_settings
    from walcheck.sidebyside.machines import WalMachineBase

    spec = next(h for h in DEFECT_HUNTS if h.defect == "C3")
    runs = []
    for _ in "ab":
        WalMachineBase.counters.clear()
        finding = hunt(spec.machine(), hunt_settings(spec.examples, seed=3, steps=spec.steps), seed=3)
        runs.append((finding, dict(WalMachineBase.counters)))
    (first, first_figures), (second, second_figures) = runs
    assert first is not None and spec.found_by(first), first
    assert first == second and first_figures == second_figures


@pytest.mark.parametrize("design", [m.Design.FIXED, m.Design.ORIGINAL])
def test_stateful_payload_length_limit(design: m.Design) -> None:
    """F2.1, S3.4: the length field is a u32, so a payload of 2^32 bytes is
    refused before anything else ("WAL payload too large"), by the model and by
    the reference alike, and one of 2^32 - 1 bytes passes that check and is
    refused by placement in a small region, by both (S3.4: neither copies the
    payload before the append is placed), nothing written. The payloads are
    views of an anonymous mapping: no page is touched. No machine appends
    4 GiB, and mutants of the model's limit and of the reference's survived
    them (spec/mutants.md M4, M13.7)."""
    with mmap.mmap(-1, 2**32) as mapping:
        longest = memoryview(mapping)
        shorter = longest[1:]
        try:
            storage = MemoryStorage()
            create_mv2(storage, 4096)
            wal = EmbeddedWal.open(storage, read_header(storage), design=Design(design.value))
            state, _ = m.open_wal(m.initial_state(design, 4096))
            # The model and the reference take bytes; a view has everything they use of it.
            too_long = cast(bytes, longest)
            with pytest.raises(CheckpointFailed) as refused:
                wal.append_entry(too_long)
            assert refused.value.reason == reference.wal.REASON_PAYLOAD_TOO_LARGE
            after, outcome = m.append_entry(state, too_long)
            assert (
                isinstance(outcome, m.WalError) and outcome.reason == reference.wal.REASON_PAYLOAD_TOO_LARGE
            )
            assert after == state
            just_fits_u32 = cast(bytes, shorter)
            _, outcome = m.append_entry(state, just_fits_u32)
            assert isinstance(outcome, m.WalError) and outcome.reason == reference.wal.REASON_TOO_SMALL
            before = storage.read_at(0, storage.size())
            with pytest.raises(CheckpointFailed) as refused:
                wal.append_entry(just_fits_u32)
            assert refused.value.reason == reference.wal.REASON_TOO_SMALL
            assert storage.read_at(0, storage.size()) == before
        finally:
            shorter.release()
            longest.release()


@pytest.mark.parametrize("design", [m.Design.FIXED, m.Design.ORIGINAL])
def test_stateful_valid_at_the_last_sequence(design: m.Design) -> None:
    """spec S8: ``model.wal.valid``, the predicate both designs' contracts keep,
    holds on a WAL opened at the last sequence, 2^64 - 1 (the model's constant
    itself, and the same number decoded from a header's 8 bytes), after a
    checkpoint there, and after the next append: FIXED refuses it (D2's fix),
    ORIGINAL wraps to 0 (D2). The machines reach that sequence only as
    Hypothesis draws it; this holds the boundary in every run (spec/mutants.md M6)."""
    decoded = int.from_bytes(bytes([0xFF]) * 8, "little")
    for last in (m.SEQUENCE_MAX, decoded):
        state, refused = m.open_wal(m.initial_state(design, 400, wal_sequence=last))
        assert refused is None and state.wal is not None
        assert state.wal.sequence == state.wal.checkpoint_sequence == m.SEQUENCE_MAX
        assert valid(state), f"valid() false at sequence {last}"
        checkpointed, outcome = m.record_checkpoint(state)
        assert outcome is None and valid(checkpointed), "valid() false after a checkpoint at 2^64 - 1"
        after, appended = m.append_entry(state, b"after the last")
        if design is m.Design.FIXED:
            assert isinstance(appended, m.WalError)
            assert appended.reason == reference.wal.REASON_SEQUENCE_EXHAUSTED
            assert after == state
        else:
            assert appended == 0 and after.wal is not None and after.wal.sequence == 0
        assert valid(after), "valid() false after the append at 2^64 - 1"


@pytest.mark.parametrize("left", [1, 2, 47])
def test_stateful_fixed_open_zeroes_a_short_tail(left: int) -> None:
    """S3.14's short tail on FIXED: with 1 to 47 bytes after the write head and
    part of the region not pending, FIXED zeroes those bytes. Its own appends
    never leave the head there (S3.4 step 7), so the machines never reach it;
    a file an older (ORIGINAL) writer left does: its last record ends ``left``
    bytes before the region's end, over the bytes of an earlier pass (ORIGINAL
    zeroes them too, but a crash can come between its entry write and that).
    FIXED's open must zero exactly those bytes, in the model as in the
    reference (spec/mutants.md M6)."""
    size = 400
    first = m.Record(1, payload_for(1, 100), 0)
    last = m.Record(2, payload_for(2, size - first.size - left - ENTRY_HEADER_SIZE), 1)
    assert first.size + last.size == size - left
    earlier_pass = payload_for(9, size)  # the bytes an earlier pass left: letters, no zeros
    image = bytearray(earlier_pass)
    image[: first.size] = first.encoded()
    image[first.size : first.size + last.size] = last.encoded()
    assert image[size - left :] == earlier_pass[size - left :] and 0 not in image[size - left :]

    storage = MemoryStorage()
    create_mv2(storage, size)
    storage.write_at(WAL_OFFSET, bytes(image))
    wal = EmbeddedWal.open(storage, read_header(storage), design=Design.FIXED)
    assert wal.write_head == size - left
    disk = m.caller.crash_image(m.HeaderFields(size, 0, 0), m.Region.from_bytes(bytes(image)))
    state, refused = m.open_wal(m.caller.restart(m.Design.FIXED, disk))
    assert refused is None and state.wal is not None and state.wal.write_head == size - left
    region = storage.read_at(WAL_OFFSET, size)
    assert region[size - left :] == bytes(left), "the reference left the tail"
    assert state.disk.region.to_bytes() == region, "the model's bytes differ from the reference's"
