"""Stateful machines that crash: the rules of walcheck.sidebyside.machines on a simulated
disk (walcheck/sidebyside/simdisk.py), plus rules that kill the process or cut the power
between operations or in the middle of one (spec/faults.md).

After a crash every image the fault model allows (all of them when there are
few, a sample otherwise) is recovered by a reader of the machine's design, and
the oracle checks it: every acknowledged record is there, nothing else is (G1,
G2), and the file opens (G5). The model, given the same bytes, must recover
the same records. The machine then goes on from one of the images, as memvid
would after a restart.

Just over 500 lines: the crash rules are one class, ``CrashMachineBase``,
sharing its bookkeeping of the images and the restart from one; the machines
built from it (``build_crash_machine``, ``crash_config``) close the module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import random
from collections.abc import Callable, Iterator
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

import model as m
from model import caller
from model.crash import count_power_loss_regions, power_loss_regions, single_sector_regions
from reference import Design as RefDesign
from reference import EmbeddedWal, WalError, grown_size, read_header, scan_region
from reference.caller import apply_nothing
from reference.caller import doctor as reference_doctor
from reference.header import WAL_OFFSET
from reference.storage import MemoryStorage, Storage
from walcheck import figures
from walcheck.oracle import GuaranteeViolation
from walcheck.sidebyside.machines import (
    CANARY,
    Divergence,
    MachineConfig,
    WalMachineBase,
    _agree,
    _model_result,
    _reference_result,
    build_machine,
    recall,
    remember,
)
from walcheck.sidebyside.simdisk import (
    SimulatedCrash,
    SimulatedDirectory,
    SimulatedDisk,
    flip_bit,
    overwrite,
    truncated,
)

# Images checked after one crash: every one when there are at most this many,
# a sample of this many (always with the durable image and the full view) otherwise.
IMAGES_PER_CRASH = 24


CRASH_KINDS = frozenset({"kill", "power_loss", "crash_during", "torn", "io_error", "media"})
# Not in CRASH_KINDS: "kill_during", a process killed inside an operation with
# every write it made kept (no power loss); the C4 hunt makes only those.
CRASH_OPERATIONS = ("append", "put", "commit", "grow", "flush")
# In ``crash_points``: the state after every step, as a crash between operations finds it.
BETWEEN = "between operations"


class CrashMachineBase(WalMachineBase):
    """The rules of WalMachineBase on a SimulatedDisk, and crashes."""

    # Which crashes the machine makes: a hunt for one of ORIGINAL's crash
    # defects narrows them so that only that defect is reachable.
    crash_kinds: ClassVar[frozenset[str]] = CRASH_KINDS
    # Where a hunt checks every crash point, as a crash there would leave the
    # file, without crashing: after every storage call of the operations named
    # here (a torn write is the one just made), and after every step for BETWEEN. What a crash there may
    # leave: POINT_IMAGES's kinds. Nothing for the FIXED machines, which crash
    # for real and go on from the images.
    crash_points: ClassVar[frozenset[str]] = frozenset()
    point_images: ClassVar[frozenset[str]] = frozenset()

    def _new_storage(self) -> Storage:
        self.simdir = SimulatedDirectory()
        return self.simdir.path

    def _directory(self) -> SimulatedDirectory:
        return self.simdir

    def _close_storage(self) -> None:
        pass  # the simulated file stays where the directory holds it

    def _reopen_storage(self) -> Storage:
        return self.simdir.path

    def _snapshot(self) -> bytes:
        return self.disk.view

    @property
    def disk(self) -> SimulatedDisk:
        assert isinstance(self.storage, SimulatedDisk)
        return self.storage

    # -- every crash point, checked in place --------------------------------------

    @contextlib.contextmanager
    def _operation(self, name: str) -> Iterator[None]:
        if name not in self.crash_points or not isinstance(self.storage, SimulatedDisk):
            yield
            return
        disk = self.disk
        start = disk.calls

        def check() -> None:
            self._check_crash_point(f"inside {name}, after its storage call {disk.calls - start}")

        disk.after_call = check
        try:
            yield
        finally:
            disk.after_call = None

    @invariant()
    def crash_points_between_operations(self) -> None:
        if BETWEEN in self.crash_points and isinstance(self.storage, SimulatedDisk):
            self._check_crash_point("between operations")

    def _check_crash_point(self, where: str) -> None:
        """What a crash here would leave, each image recovered and checked
        (G1, G2, G5, and the next sequence, G3 and G4) as after a real crash; the
        machine itself goes on undisturbed."""
        disk = self.disk
        if "power_loss" in self.point_images:
            kind = "power loss"
            images = self._images(disk.calls, torn="torn" in self.point_images)
        else:
            kind, images = "process kill", [disk.kill_image()]
        for image in dict.fromkeys(images):
            if self._header_intact(image):
                self._recover_image(image, f"{kind} {where}")
        self.counters["crash points checked"] += 1

    # -- crash handling ---------------------------------------------------------

    def _images(self, pick: int, *, torn: bool) -> list[bytes]:
        rng = random.Random(pick)
        disk = self.disk
        count = disk.count_power_loss_images()
        limit = None if count <= IMAGES_PER_CRASH else IMAGES_PER_CRASH
        images = list(disk.power_loss_images(limit=limit, rng=rng))
        if torn and disk.count_torn_images() > 0:
            torn_limit = None if disk.count_torn_images() <= IMAGES_PER_CRASH else IMAGES_PER_CRASH
            torn_images = list(disk.torn_images(rng=rng, limit=torn_limit))
            self.counters[figures.TORN_IMAGES] += len(torn_images)
            images.extend(torn_images)
        images.append(disk.kill_image())
        return images

    def _model_state_of(self, image: bytes) -> m.State:
        """A closed model WAL of this design over the region and header of ``image``."""
        header = read_header(MemoryStorage(image), clear_legacy_lock=False)
        fields = m.HeaderFields(header.wal_size, header.wal_checkpoint_pos, header.wal_sequence)
        region = m.Region.from_bytes(image[WAL_OFFSET : WAL_OFFSET + header.wal_size])
        return caller.restart(self.design, caller.crash_image(fields, region))

    def _header_intact(self, image: bytes) -> bool:
        """Out of scope (spec/faults.md): a torn MV2 header. memvid keeps one
        copy of it, without a checksum, in the file's first sector; if a torn
        write garbles that sector no WAL can help. Such images are counted and
        skipped."""
        try:
            read_header(MemoryStorage(image), clear_legacy_lock=False)
        except WalError:
            self.counters["torn headers skipped (out of scope)"] += 1
            return False
        return True

    @figures.counted_crash_recovery
    def _recover_image(
        self, image: bytes, where: str, *, media_damage: bool = False
    ) -> tuple[list[tuple[int, bytes]], int]:
        """Recovery of one crash image by this design's code, checked against the
        model on the same bytes and against the oracle."""
        storage = MemoryStorage(image)
        header = read_header(storage, clear_legacy_lock=False)
        known = None if media_damage else recall("crash image", self.design, image)
        if not isinstance(known, tuple):
            reason = f"after a crash ({where}) the WAL cannot be opened"
            records = self._recover(image, self.design, G5_reason=reason)
            state, error = m.open_wal(self._model_state_of(image), read_only=True)
            if error is not None:
                raise Divergence(f"the model cannot open a crash image the reference opens: {error}")
            state, pending = m.pending_records(state)
            assert isinstance(pending, list)
            _agree("recovery of a crash image", records, [(r.sequence, r.payload) for r in pending])
            next_sequence = None if media_damage else self._next_sequence(image)
            if not media_damage:
                remember("crash image", self.design, image, (tuple(records), next_sequence))
        else:
            records, next_sequence = list(known[0]), known[1]
        self.oracle.check_after_crash(
            records, header.wal_sequence, f"recovery after a crash ({where})", media_damage=media_damage
        )
        if next_sequence is not None:
            self.oracle.check_next_sequence(
                next_sequence, records, header.wal_sequence, f"after a crash ({where})"
            )
        self.counters["crash images checked"] += 1
        return records, header.wal_sequence

    def _next_sequence(self, image: bytes) -> int | None:
        """Open a copy of the image for writing, as memvid would after the
        restart, and append once: the sequence it gets must be new (G3, G4),
        which the oracle checks. None when the append is refused (a full
        region says nothing about sequences). Neither the open nor the append
        may write past the region (G6): the restart paths (R4's among them)
        place the write head anew."""
        probe = MemoryStorage(image)
        header = read_header(probe)
        after_region = image[header.wal_offset + header.wal_size :]
        try:
            wal = EmbeddedWal.open(probe, header, design=RefDesign(self.design.value))
            sequence: int | None = wal.append_entry(b"probe")
        except WalError:
            sequence = None
        if probe.read_at(header.wal_offset + header.wal_size, len(after_region)) != after_region:
            raise GuaranteeViolation("G6", "a restart from a crash image wrote past the end of its region")
        return sequence

    def _crash(self, pick: int, where: str, *, torn: bool) -> None:
        if self.wal is not None and self.wal.skip_sync:
            self.counters[figures.STATE_BATCH_POWER_LOSS] += 1
        images = [image for image in self._images(pick, torn=torn) if self._header_intact(image)]
        self.counters["crashes"] += 1
        outcomes = [self._recover_image(image, where) for image in images]
        chosen = pick % len(images)
        self._restart(images[chosen], *outcomes[chosen])

    def _restart(
        self,
        image: bytes,
        records: list[tuple[int, bytes]],
        durable_checkpoint: int,
        *,
        read_only: bool = False,
    ) -> None:
        """memvid starting again on the crash image (a reader, with ``read_only``)."""
        header = read_header(MemoryStorage(image), clear_legacy_lock=False)
        canary_at = WAL_OFFSET + header.wal_size
        if image[canary_at:] != CANARY:
            # A crash inside memvid's growth can keep the new header and lose the
            # move of the data after the region, or keep the move under the old
            # header (the data then twice in the file): memvid's data segments, not
            # the WAL's (out of scope, spec/faults.md). The file is put back as
            # S9.12 lays it out, the test's marker right after the region, then its end.
            self.counters["data segments moved by a torn growth (out of scope)"] += 1
            image = image[:canary_at].ljust(canary_at, b"\0") + CANARY
        self.simdir = SimulatedDirectory(image)
        self.storage = self.simdir.path
        self.wal = None
        self.state = self._model_state_of(image)
        self.oracle.restart_after_crash(records, durable_checkpoint)
        self._open(read_only=read_only)

    def _run_until_crash(self, calls: int, operation: Callable[[], object]) -> bool:
        """Run ``operation`` with the process dying at storage call ``calls + 1``.
        True if it died (the operation's effects on the oracle never happened)."""
        self.disk.arm_crash(calls)
        try:
            operation()
        except SimulatedCrash:
            return True
        finally:
            self.disk.disarm()
        return False

    def _io_error(self, failing: str, calls: int, operation: str, payload: bytes, pick: int) -> None:
        """R6: a write or sync fails with EIO or ENOSPC (a failed sync after
        persisting some of the writes it covered). FIXED must acknowledge
        nothing more until reopened; then the machine restarts as after a crash
        at that point, since the process can no longer trust its view."""
        disk, wal = self.disk, self.wal
        assert wal is not None
        error = random.Random(pick).choice([errno.EIO, errno.ENOSPC])
        if failing == "write":
            disk.fail_write(calls, error)
        else:
            # The writes unsynced when the sync runs: those now, and an append's entry.
            at_sync = len(disk.unsynced) + (1 if operation == "append" else 0)
            persisted = [i for i in range(at_sync) if (pick >> i) & 1]
            disk.fail_sync(calls, persisted=persisted, error=error)
        failed: bool
        if operation == "append":
            appended = self._append_both(payload)
            failed = appended.error is not None and appended.error[0] == "Io"
        else:
            result = _reference_result(wal.flush)
            failed = result.error is not None
            if not failed:
                self.oracle.on_flush()
                assert self.state is not None
                self.state = m.flush(self.state)  # R7: the flush sets the WAL's flag on both sides
        disk.disarm()
        if not failed:
            return
        self.counters["I/O errors injected"] += 1
        if self.design is m.Design.FIXED:
            for attempt in (lambda: wal.append_entry(b"after a failed sync"), wal.flush):
                refused = _reference_result(attempt)
                if refused.error is None or refused.error[0] != "Io":
                    raise GuaranteeViolation("R6", f"after an I/O error the WAL went on: {refused}")
        self._crash(pick, f"I/O error ({os.strerror(error)}) in a {failing} during {operation}", torn=False)

    def _media_fault(self, kind: str, where_in_region: int, pick: int) -> None:
        """Damage to data already on the media: a flipped bit, a foreign write
        over the region, or the file cut short. Acknowledged records hit by it
        are lost; no damaged record may come back as data. The file opens, or
        the open reports the damage where the model says it must (R7). The
        damaged image is a copy: the machine goes on with the undamaged disk."""
        image = self.disk.durable
        header = read_header(MemoryStorage(image), clear_legacy_lock=False)
        position = WAL_OFFSET + where_in_region % header.wal_size
        if kind == "bit flip":
            if position - WAL_OFFSET < 8:
                # Blind spot of memvid's format: the digest covers the payload
                # only. FIXED's continuity rule (R2) catches a damaged sequence
                # anywhere but in the first record of the region, whose sequence
                # field is its first 8 bytes (spec/faults.md).
                self.counters["bit flips in a first record's sequence skipped"] += 1
                return
            damaged = flip_bit(image, position * 8 + pick % 8)
        elif kind == "foreign write":
            damaged = overwrite(image, position, random.Random(pick).randbytes(1 + pick % 64))
        else:
            damaged = truncated(image, position)
        self.counters["media faults injected"] += 1
        if kind == "truncation":
            # A file cut inside its region cannot be read whole: memvid's
            # read_exact fails, and so does the reference, with an I/O error.
            # That is a clear error, not data; the machine stops here.
            try:
                self._recover(damaged, self.design, G5_reason="truncated")
            except GuaranteeViolation as refused:
                if "failed to fill whole buffer" not in str(refused):
                    raise
                return
            raise GuaranteeViolation("G2", "a region cut short was read as if whole")
        where = f"{kind} at file offset {position}"
        if not self._damage_reported(damaged, image, where):
            self._recover_image(damaged, where, media_damage=True)
        # The machine does not go on from the damaged file: a timeline that
        # lost acknowledged records has nothing left to check.

    def _damage_reported(self, damaged: bytes, undamaged: bytes, where: str) -> bool:
        """R7: when the model, given the damaged bytes, says the open must
        report WalCorruption, the reference must report the same, at the
        offset of a record the damage changed in the undamaged log (outside
        its reserved bytes, which no scan's decision reads). False when the
        model predicts a recovery, which the caller then checks."""
        header = read_header(MemoryStorage(damaged), clear_legacy_lock=False)
        region = damaged[WAL_OFFSET : WAL_OFFSET + header.wal_size]
        _, predicted = m.open_wal(self._model_state_of(damaged), read_only=True)
        if predicted is None:
            return False
        storage = MemoryStorage(damaged)
        reported = _reference_result(
            lambda: EmbeddedWal.open_read_only(storage, header, design=RefDesign(self.design.value))
        )
        expected = (predicted.kind.value, predicted.reason, predicted.offset)
        _agree(f"open after a {where}", reported.error, expected)
        if predicted.kind is not m.ErrorKind.WAL_CORRUPTION or predicted.offset is None:
            raise GuaranteeViolation("G5", f"after a {where} the WAL cannot be opened: {predicted}")
        before = undamaged[WAL_OFFSET : WAL_OFFSET + header.wal_size]
        records, _ = scan_region(before, RefDesign(self.design.value), header.wal_sequence)
        hit = [
            record.position
            for record in records
            if any(
                before[i] != region[i]
                for i in range(record.position, record.position + record.total_size)
                if not record.position + 12 <= i < record.position + 16
            )
        ]
        if predicted.offset not in hit:
            raise GuaranteeViolation(
                "R7", f"after a {where} the open reported offset {predicted.offset}; damaged records at {hit}"
            )
        self.counters[figures.STATE_R7_PROVEN] += 1
        return True

    # -- rules ---------------------------------------------------------------------

    @precondition(lambda self: "kill" in self.crash_kinds)
    @rule(pick=st.integers(0, 2**32 - 1))
    def kill(self, pick: int) -> None:
        """Process kill between operations: everything that reached the OS survives."""
        self._kill("process kill")

    def _kill(self, where: str) -> None:
        image = self.disk.kill_image()
        records, checkpoint = self._recover_image(image, where)
        self.counters["kills"] += 1
        self._restart(image, records, checkpoint)

    @precondition(lambda self: "power_loss" in self.crash_kinds)
    @rule(pick=st.integers(0, 2**32 - 1))
    def power_loss(self, pick: int) -> None:
        """Power loss between operations: any subset of the unsynced sectors survives.
        The model predicts the images (model/crash.py): when there are few
        enough to list, the model's regions and the disk's must be the same set."""
        self._model_predicts_power_loss_images()
        self._crash(pick, "power loss between operations", torn=False)

    def _model_predicts_power_loss_images(self) -> None:
        assert self.state is not None
        disk = self.disk
        # The count first (walcheck conform picks its image by it): one more than
        # the writes touching it, multiplied over every sector unsynced writes touched.
        _agree(
            "how many power-loss images",
            disk.count_power_loss_images(),
            count_power_loss_regions(self.state.disk),
        )
        size = self.state.disk.header.wal_size
        # Then each sector's versions alone, in order: linear in the writes, so
        # checked on every disk, however many images the product makes.
        one_sector_disk = [image[WAL_OFFSET : WAL_OFFSET + size] for image in disk.single_sector_images()]
        one_sector_model = [region.to_bytes() for region in single_sector_regions(self.state.disk)]
        if one_sector_disk != one_sector_model:
            differ = [
                i
                for i, pair in enumerate(zip(one_sector_disk, one_sector_model, strict=False))
                if pair[0] != pair[1]
            ]
            raise Divergence(
                f"power-loss images with one sector not durable: the disk has {len(one_sector_disk)},"
                f" the model {len(one_sector_model)}; the first to differ: {differ[:1] or 'none shared'}"
            )
        self.counters["power-loss sector versions predicted by the model"] += len(one_sector_model)
        if disk.count_power_loss_images() > IMAGES_PER_CRASH:
            return
        from_disk = {image[WAL_OFFSET : WAL_OFFSET + size] for image in disk.power_loss_images()}
        from_model = {region.to_bytes() for region in power_loss_regions(self.state.disk)}
        if from_disk != from_model:
            raise Divergence(
                f"power-loss images: the disk has {len(from_disk)} distinct regions, the model "
                f"{len(from_model)}, {len(from_disk & from_model)} in common"
            )
        self.counters["power-loss image sets predicted by the model"] += 1

    def _crash_during(self, calls: int, operation: str, payload: bytes, pick: int) -> None:
        """The process dies inside an operation, at its (calls+1)-th write or
        sync; the power goes with it: unsynced sectors survive or not, and the
        write in flight may be torn."""
        operations: dict[str, Callable[[], object]] = {
            "append": lambda: self._append_both(payload),
            "put": lambda: self._put(payload),
            "commit": self.commit,
            "grow": self.grow,
            "flush": self.flush,
        }
        if self._run_until_crash(calls, operations[operation]):
            where = f"during {operation}, storage call {calls + 1}"
            if "crash_during" not in self.crash_kinds:
                self._kill(f"process kill {where}")  # kill_during: the OS keeps every write
                return
            torn = "torn" in self.crash_kinds
            self._crash(pick, where, torn=torn)

    def _crash_inside_caller(self, calls: int, operation: str, pick: int) -> None:
        """The process dies inside one of the caller layer's composite actions
        (S9), at its (calls+1)-th call to any file of the directory or to the
        directory itself; the power goes with it. The files the path may name
        then (spec/persistence.md PM5, PM6) keep their synced bytes, or (a kill)
        every write, and ORIGINAL's file, grown in place, any version of each
        sector; each image must be one the model predicts (model/caller.py's
        crash_images and a growth's in_flight, or a power loss of the file as
        it was; spec/semantics.md S9.11)."""
        assert self.state is not None
        state = self.state
        predicted: Callable[[], tuple[m.Disk, ...]]
        run: Callable[[], object]
        if operation == "staged commit":
            predicted, run = (lambda: caller.staged_commit(state).crash_images), self.staged_commit
        elif operation == "growth":
            assert self.header is not None
            new_size = grown_size(self.header.wal_size, self.header.wal_size + 1)
            if new_size > self.config.growth_limit:
                return
            predicted, run = (lambda: _growth_images(state, new_size)), self.grow
        elif operation == "open with recovery":
            predicted, run = (
                (lambda: caller.recover_at_open(m.close_wal(state)).crash_images),
                self.open_with_recovery,
            )
        else:
            predicted, run = (lambda: caller.doctor(m.close_wal(state)).crash_images), self.doctor
        expected = {(d.header, d.region.to_bytes()) for d in predicted()}
        expected |= {(state.disk.header, r.to_bytes()) for r in power_loss_regions(state.disk)}
        directory = self.simdir
        directory.arm_crash(calls)
        try:
            run()
        except SimulatedCrash:
            pass
        else:
            return
        finally:
            directory.disarm()
        images = [directory.path.view] + [disk.durable for disk in directory.files_after_power_loss()]
        if self.design is m.Design.ORIGINAL:
            # In place: the path's file loses any of the growth's sectors (a sample of them).
            in_place = list(directory.path.power_loss_images(limit=IMAGES_PER_CRASH, rng=random.Random(pick)))
            self.counters["power-loss images of an in-place growth"] += len(in_place)
            images += in_place
        images = [image for image in dict.fromkeys(images) if self._header_intact(image)]
        for image in images:
            header = read_header(MemoryStorage(image), clear_legacy_lock=False)
            fields = m.HeaderFields(header.wal_size, header.wal_checkpoint_pos, header.wal_sequence)
            if (fields, image[WAL_OFFSET : WAL_OFFSET + header.wal_size]) not in expected:
                raise Divergence(f"a crash inside {operation} left a file the model does not predict")
        self.counters["crashes inside the caller layer"] += 1
        where = f"inside {operation}, directory call {calls + 1}"
        if self.design is m.Design.ORIGINAL:
            # ORIGINAL's images may break G5 as catalogued (M4: the zeros lost under the
            # new header); the machine recovers and goes on from the kill's alone.
            images = images[:1]
        outcomes = [self._recover_image(image, where) for image in images]
        chosen = pick % len(images)
        self._restart(images[chosen], *outcomes[chosen])

    def _doctor_killed_on_a_copy(self, damaged_at: int | None, bit: int, calls: int) -> None:
        """memvid's doctor (S9.9) on a copy of the file as a new process finds it,
        one bit of its region flipped at ``damaged_at`` (or intact), the process
        killed at the doctor's (calls+1)-th call to the directory or its files: a
        kill keeps every write (PM5), and the file left must be one of the
        model's ``caller.doctor(...).crash_images``; a doctor that finishes must
        leave the model's repaired file, and open or refuse as the model's does.
        The machine's own file is untouched: ORIGINAL's repair loses records as
        catalogued (M2, M3), and no timeline goes on from it."""
        assert self.state is not None
        state = m.close_wal(self.state) if self.state.wal is not None else self.state
        image = self.disk.view
        if damaged_at is not None:
            offset = WAL_OFFSET + damaged_at % state.disk.header.wal_size
            image = flip_bit(image, offset * 8 + bit)
            region = m.Region.from_bytes(image[WAL_OFFSET : WAL_OFFSET + state.disk.header.wal_size])
            state = dataclasses.replace(
                state, disk=dataclasses.replace(state.disk, region=region, durable_region=region)
            )
        done = caller.doctor(state)
        directory = SimulatedDirectory(image)
        directory.arm_crash(calls)
        killed = False
        try:
            ref = _reference_result(
                lambda: reference_doctor(directory, design=self.ref_design, apply=apply_nothing)
            )
        except SimulatedCrash:
            killed = True
        finally:
            directory.disarm()
        left = directory.path.view
        header = read_header(MemoryStorage(left), clear_legacy_lock=False)
        found = (
            m.HeaderFields(header.wal_size, header.wal_checkpoint_pos, header.wal_sequence),
            left[WAL_OFFSET : WAL_OFFSET + header.wal_size],
        )
        damage = "a damaged" if damaged_at is not None else "an intact"
        if killed:
            if found not in {(d.header, d.region.to_bytes()) for d in done.crash_images}:
                raise Divergence(
                    f"the doctor killed at call {calls + 1} on {damage} file left one"
                    " the model does not predict"
                )
            self.counters[figures.DOCTORS_KILLED_ON_A_COPY] += 1
            return
        _, refused = m.open_wal(done.state)
        _agree("the doctor on a copy", ref.error, _model_result(refused).error if refused else None)
        _agree(
            f"the file the doctor leaves, on {damage} file",
            found,
            (done.state.disk.header, done.state.disk.region.to_bytes()),
        )


def _growth_images(state: m.State, new_size: int) -> tuple[m.Disk, ...]:
    """The files the model says a crash inside ``caller.grow`` can leave: its
    crash_images and, in place (ORIGINAL), every power-loss region of the file
    in flight under the new header (S9.4, S9.12)."""
    growth = caller.grow(state, new_size)
    if growth.in_flight is None:
        return growth.crash_images
    header = growth.in_flight.header
    in_flight = (caller.crash_image(header, region) for region in power_loss_regions(growth.in_flight))
    return (*growth.crash_images, *in_flight)


# The composite actions a crash machine crashes inside (S9). ORIGINAL only its
# growth: its in-place recovery at open and doctor write the region and the
# header under one sync too, and a power loss there leaves sector mixes (the
# header kept, the sentinel or the zeros not) that the model's crash_images,
# whole files (spec/explore.md), do not list; and their images break G1-G3 as
# catalogued (C4, M2, M3), so no machine can go on from them. Its doctor is
# killed on a copy instead (``_doctor_killed_on_a_copy``), every write kept.
CALLER_CRASHES = {
    m.Design.FIXED: ("staged commit", "growth", "open with recovery", "doctor"),
    m.Design.ORIGINAL: ("growth",),
}


def build_crash_machine(
    config: MachineConfig,
    kinds: frozenset[str] = CRASH_KINDS,
    operations: tuple[str, ...] = CRASH_OPERATIONS,
    *,
    crash_points: frozenset[str] = frozenset(),
    point_images: frozenset[str] = frozenset(),
) -> type[CrashMachineBase]:
    """``build_machine``'s rules for ``config``, on a crashing disk; a crash inside
    an operation picks one of ``operations``; every crash point of
    ``crash_points`` is checked in place (``CrashMachineBase.crash_points``)."""
    base = build_machine(config)

    class Machine(CrashMachineBase, base):  # type: ignore[misc, valid-type]
        @precondition(
            lambda self: bool({"crash_during", "kill_during"} & self.crash_kinds) and self._writable()
        )
        @rule(
            calls=st.integers(0, 6),
            operation=st.sampled_from(operations),
            payload=config.payloads,
            pick=st.integers(0, 2**32 - 1),
        )
        def crash_during(self, calls: int, operation: str, payload: bytes, pick: int) -> None:
            self._crash_during(calls, operation, payload, pick)

        @precondition(lambda self: "media" in self.crash_kinds and self._writable())
        @rule(
            kind=st.sampled_from(["bit flip", "foreign write", "truncation"]),
            where_in_region=st.integers(0, 2**16),
            pick=st.integers(0, 2**32 - 1),
        )
        def media_fault(self, kind: str, where_in_region: int, pick: int) -> None:
            self._media_fault(kind, where_in_region, pick)

        @precondition(lambda self: "io_error" in self.crash_kinds and self._writable())
        @rule(
            failing=st.sampled_from(["write", "sync"]),
            calls=st.integers(0, 3),
            operation=st.sampled_from(["append", "flush"]),
            payload=config.payloads,
            pick=st.integers(0, 2**32 - 1),
        )
        def io_error(self, failing: str, calls: int, operation: str, payload: bytes, pick: int) -> None:
            self._io_error(failing, calls, operation, payload, pick)

        @precondition(
            lambda self: self.config.caller_layer and "crash_during" in self.crash_kinds and self._writable()
        )
        @rule(
            # ORIGINAL's growth makes four calls on these files (the move, the zeros, the
            # header, the sync): every draw crashes inside it, one in four at its sync.
            calls=st.integers(0, 8 if config.design is m.Design.FIXED else 3),
            operation=st.sampled_from(CALLER_CRASHES[config.design]),
            pick=st.integers(0, 2**32 - 1),
        )
        def crash_inside_caller(self, calls: int, operation: str, pick: int) -> None:
            self._crash_inside_caller(calls, operation, pick)

    Machine.config = config
    Machine.crash_kinds = kinds
    Machine.crash_points = crash_points
    Machine.point_images = point_images
    Machine.__name__ = Machine.__qualname__ = config.name
    return Machine


def crash_config(design: m.Design, name: str) -> MachineConfig:
    """Regions of a few hundred bytes, so that crashes land on wraps and on the
    region's boundaries; the sequence starts at 0."""
    return MachineConfig(
        name=name,
        design=design,
        region_sizes=st.one_of(st.integers(96, 700), st.sampled_from([383, 512])),
        initial_sequences=st.just(0),
        payloads=st.binary(min_size=1, max_size=200),
        growth_limit=4096,
        caller_layer=design is m.Design.FIXED,
    )


def _patterned(length: int, start: int) -> bytes:
    # Every byte differs from its neighbours, so a sector copied from the wrong
    # offset of its source shows (a payload of one repeated byte would not).
    return bytes((start + 7 * index) & 0xFF for index in range(length))


def pages_crash_config(name: str) -> MachineConfig:
    """Regions of one page and more, so that the region reaches past the
    file's first 8 KiB (sectors 16 and on, where a sector's region offset
    and its file offset differ in more than one bit), entries of kilobytes
    that cross several sector boundaries, and a writer in batch mode, so that
    a power loss finds many of them unsynced. The payloads are made, not
    drawn byte by byte: two of them fill a page."""
    return dataclasses.replace(
        crash_config(m.Design.FIXED, name),
        region_sizes=st.sampled_from([4096 + 383, 2 * 4096 + 65]),
        # Lengths 96 or 48 bytes short of a multiple of 512 too: an append's one
        # write (entry and sentinel) then ends on a sector boundary now and then.
        payloads=st.builds(
            _patterned,
            st.one_of(st.integers(1200, 3000), st.sampled_from([1024 - 96, 1536 - 48, 2048 - 96, 2560 - 48])),
            st.integers(0, 255),
        ),
        growth_limit=4 * 4096,
        batch_writer=True,
    )


def original_crash_config(name: str) -> MachineConfig:
    """For ORIGINAL: entries of exactly 64 bytes in a region of 64k + 63 bytes
    never end within 48 bytes of the region's end, so D1 cannot strike and
    every counterexample is a crash's doing."""
    return MachineConfig(
        name=name,
        design=m.Design.ORIGINAL,
        region_sizes=st.sampled_from([64 * 5 + 63, 64 * 8 + 63]),
        initial_sequences=st.just(0),
        payloads=st.binary(min_size=16, max_size=16),
        growth_limit=64 * 5 + 63,  # no growth: doubling would break the 64k + 63 shape
    )


def original_growth_crash_config(name: str) -> MachineConfig:
    """ORIGINAL's caller layer crashed inside its in-place growth (S9.4, M4),
    in original_crash_config's shape: 64-byte entries never end within 48
    bytes of the end of a region of 64k + 63 bytes, nor of one grown from it
    up to three times (64k + 62, + 60, + 56), so D1 cannot strike."""
    return dataclasses.replace(
        original_crash_config(name),
        region_sizes=st.sampled_from([64 * 2 + 63, 64 * 5 + 63]),
        growth_limit=4 * (64 * 5 + 63),
        caller_layer=True,
    )


StatefulCrashFixed = build_crash_machine(crash_config(m.Design.FIXED, "StatefulCrashFixed"))
