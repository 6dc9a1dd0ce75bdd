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
from model.placement import fixed_open_writes
from reference import Design as RefDesign
from reference import EmbeddedWal, read_header
from reference.header import WAL_OFFSET
from reference.mv2 import create_mv2
from reference.storage import MemoryStorage
from reference.wal import encode_entry
from walcheck.sidebyside.crash_machines import (
    StatefulCrashFixed,
    build_crash_machine,
    original_crash_config,
    original_growth_crash_config,
    pages_crash_config,
)
from walcheck.sidebyside.hunts import DEFECT_HUNTS, hunt, hunt_settings, only_rules
from walcheck.sidebyside.machines import WalMachineBase
from walcheck.sidebyside.scan_reads import ReadLog
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


def _pending(image: bytes, design: m.Design) -> list[tuple[int, bytes]]:
    disk = SimulatedDisk(image)
    wal = EmbeddedWal.open_read_only(disk, read_header(disk), design=RefDesign(design.value))
    return [(r.sequence, r.payload) for r in wal.pending_records()]


@pytest.mark.parametrize("design", [m.Design.ORIGINAL, m.Design.FIXED])
def test_stateful_a_record_a_crash_took_stays_gone(design: m.Design) -> None:
    """C5 (spec/defects.md), R8 (spec/faults.md), the catalogue's trace. Life 1,
    in batch mode: A and B, 512-byte entries in sectors of their own, neither
    acknowledged; a power loss keeps B's sector and loses A's, and recovery
    returns nothing (R1). Life 2 appends C, as large as A, at position 0 with
    sequence 1 again; a power loss keeps C and loses the sentinel after it.
    ORIGINAL's recovery then returns C followed by B, a record of life 1 that
    life 2's recovery did not have: B's bytes were still on the media, and C's
    end met B's start with the sequence after C's. FIXED's open zeroed them
    and synced before its first append: no image brings B back."""
    a, b, c = b"A" * 464, b"B" * 464, b"C" * 464
    disk = SimulatedDisk()
    create_mv2(disk, 512 * 12 + 511)
    disk.sync()
    wal = EmbeddedWal.open(disk, read_header(disk), design=RefDesign(design.value))
    wal.set_skip_sync(True)
    assert (wal.append_entry(a), wal.append_entry(b)) == (1, 2)
    # A's first sector (its header) back to zeros, B's kept.
    lost_a = [
        image
        for image in disk.power_loss_images()
        if image[WAL_OFFSET : WAL_OFFSET + 48] == bytes(48) and image[WAL_OFFSET + 512] == 2
    ]
    assert lost_a, "no power-loss image keeps B and loses A"
    assert _pending(lost_a[0], design) == []
    disk = SimulatedDisk(lost_a[0])
    wal = EmbeddedWal.open(disk, read_header(disk), design=RefDesign(design.value))
    wal.set_skip_sync(True)
    assert wal.append_entry(c) == 1  # issued again: life 1's 1 was never acknowledged
    recovered = [_pending(image, design) for image in disk.power_loss_images()]
    assert [(1, c)] in recovered  # C kept, its sentinel too
    with_b = [records for records in recovered if (2, b) in records]
    if design is m.Design.ORIGINAL:
        assert [(1, c), (2, b)] in with_b, recovered
    else:
        assert with_b == [], with_b


# (name, region size, the region's bytes before the open): one record of 52
# bytes at 0 (head 52), then what lies after it.
_R8_LAYOUTS = [
    ("zeros after the head: the sentinel alone", 400, b""),
    ("one byte inside the sentinel's 48", 400, bytes(13) + b"\x01"),
    ("the sentinel's last byte", 400, bytes(47) + b"\x01"),
    ("the byte after the sentinel", 400, bytes(48) + b"\x01"),
    ("the region's last byte", 400, bytes(400 - 52 - 1) + b"\x01"),
    ("a tail under 48 bytes, its last byte", 52 + 30, bytes(29) + b"\x01"),
    ("a tail under 48 bytes, zeros", 52 + 30, b""),
    ("every byte pending: nothing after the head", 52, b""),
]


@pytest.mark.parametrize(
    ("size", "after"),
    [(size, after) for _, size, after in _R8_LAYOUTS],
    ids=[name for name, _, _ in _R8_LAYOUTS],
)
def test_stateful_a_writable_open_erases_what_lies_after_the_log(size: int, after: bytes) -> None:
    """R8 at its edges, the reference against model.placement.fixed_open_writes
    and the model's open: the writes (one, from the head to the end of the
    sentinel or of the last non-zero byte), the sync (only where a byte after
    the head was not zero), every byte after the head zero, the record kept; a
    read-only open writes nothing."""
    record = encode_entry(1, b"r" * 4)
    region = (record + after).ljust(size, b"\0")
    storage = MemoryStorage()
    header = create_mv2(storage, size)
    storage.write_at(WAL_OFFSET, region)
    before = storage.read_at(0, WAL_OFFSET + size)
    log = ReadLog(MemoryStorage(before))
    EmbeddedWal.open_read_only(log, read_header(log), design=RefDesign.FIXED)
    assert (log.writes, log.syncs) == ([], 0)
    log = ReadLog(MemoryStorage(before))
    header = read_header(log)
    log.writes = []
    EmbeddedWal.open(log, header, design=RefDesign.FIXED)
    head = len(record)
    stale_end = head + len(region[head:].rstrip(b"\0"))
    pending = head if size > head else size
    zeros, sync = fixed_open_writes(head, pending, size, stale_end)
    assert log.writes == [(WAL_OFFSET + start, length) for start, length in zeros]
    assert log.syncs == int(sync) == int(stale_end > head)
    if sync:
        assert zeros[0][0] + zeros[0][1] == max(stale_end, min(head + 48, size))
    now = log.inner.read_at(WAL_OFFSET, size)
    assert now[:head] == record and now[head:] == bytes(size - head)
    state = m.initial_state(m.Design.FIXED, size)
    state = dataclasses.replace(
        state,
        disk=dataclasses.replace(
            state.disk, region=m.Region.from_bytes(region), durable_region=m.Region.from_bytes(region)
        ),
    )
    opened, refused = m.open_wal(state)
    assert refused is None and opened.wal is not None
    assert opened.disk.region.to_bytes() == now
    assert (opened.disk.durable_region.to_bytes() == now) is (sync or region == now)
    assert opened.wal.synced_below_head is sync
