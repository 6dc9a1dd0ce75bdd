"""memvid's caller layer on a real directory, with its frame store: the
reference's ``Memory`` (reference/caller.py) through ``FileDirectory`` and
``FileStorage`` (reference/storage.py), beside model/caller.py.

The side-by-side machines (machines.py) drive the caller layer on the WAL
alone: their commits apply records to nothing, and only FIXED's paths run.
Here every rule is one of memvid's calls on a ``Memory`` (put with its growth,
commit, commit_skip_indexes, begin and end of a batch, close and the writable
open with its recovery, the doctor), in either design, with the records
applied to the frame store (spec/semantics.md S9.8), and after every step:

- the region and the header on disk, read through the path as a new process
  would, are the model's (every S9 operation, both designs);
- the frame store holds exactly the records applied so far, in order (S9.8);
- the directory holds the path alone: no temporary file outlives an
  operation (S9.1 step 7, S9.7), and the file keeps the mode it was created
  with (S9.7);
- with memvid's locks (``FileDirectory(lock=True)``) the file the path names
  is exclusively locked while a FIXED memory is open (locking.md L5, S9.6);
  ORIGINAL's lock stays on the first inode, so after its first staged
  replace the path is unlocked (M1); without locks nothing is locked.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import functools
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol
from unittest import mock

import blake3
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import model as m
from model import caller
from model.wal import Invalid, entry_at, scan
from reference import Design as RefDesign
from reference import WalError
from reference.caller import FrameStoreDamaged, Memory, apply_records, doctor, read_frames
from reference.errors import InvalidHeader, LockError, WalIoError
from reference.header import WAL_OFFSET, Header, read_header
from reference.mv2 import COPY_CHUNK, grow_region
from reference.storage import Directory, FileDirectory, FileStorage, MemoryDirectory, MemoryStorage
from reference.wal import WalRecord
from walcheck.sidebyside.machines import Divergence, _agree, _scratch_dir
from walcheck.sidebyside.predicates import first_mutable

NAME = "memory.mv2"
# What FileStorage(create=True) and FileDirectory.create_temp give a new file.
CREATED_MODE = 0o644
# The largest region the machine grows to.
GROWTH_LIMIT = 8192
# a_growth_under_a_store_longer_than_the_file_before_it's puts, and at most
# how many it commits: from a region of 4096 bytes (its largest), the store
# passes the 8,192 bytes before its start after 9 (1,012 bytes a frame).
STORE_PAYLOAD = 1000
STORE_ROUNDS = 12
# The chunks of the memories' staged copies and FIXED growth's copy (copy_file's
# knob, S3.11): the default, or less than the header, so that a copy takes many
# steps and one of them is cut where the frame store starts.
COPY_CHUNKS = (COPY_CHUNK, 96, 160, 255)
# A stand-in for memvid's table of contents, which follows the frames.
TABLE_OF_CONTENTS = bytes([0x7E]) * 64
# spec/format.md F2.1: an entry's length field, and its payload after the 48-byte header.
LENGTH_FIELD = slice(8, 12)
# spec/locking.md L1's refusals, spelled out here rather than taken from reference/storage.py.
LOCK_REFUSED = "{path} is locked by another process (wanted {wanted})"
# spec/format.md F1's check of the magic, the first of the header's checks.
MAGIC_MISMATCH = ("InvalidHeader", "magic mismatch")
# spec/semantics.md S3.11's refusal of a growth that does not grow.
GROWTH_REFUSED = "new region size {new} must exceed the current {current}"


def _frozen(result: object) -> None:
    """R0's companion (S7): the caller layer's results are frozen values too."""
    mutable = first_mutable(result)
    if mutable is not None:
        raise Divergence(f"R0: model.caller's result is not frozen: {mutable}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _error(error: WalError) -> tuple[str, str]:
    return (error.kind, error.reason)


def _model_error(error: m.WalError | None) -> tuple[str, str] | None:
    return None if error is None else (error.kind.value, error.reason)


class _Record(Protocol):
    @property
    def sequence(self) -> int: ...
    @property
    def payload(self) -> bytes: ...


def _records(records: Sequence[_Record] | None) -> list[tuple[int, bytes]]:
    return [(r.sequence, r.payload) for r in records or []]


def _comparable(value: object) -> object:
    """A call's value as the two memories can agree on it (records as pairs)."""
    if isinstance(value, list):
        return [(record.sequence, record.payload) for record in value]
    return value


class MemoryFilesBase(RuleBasedStateMachine):
    """One ``Memory`` on a file of its own directory, and the model beside it."""

    design: ClassVar[m.Design]
    locked: ClassVar[bool]

    def __init__(self) -> None:
        super().__init__()
        self.directory_path = _scratch_dir()
        self.path = os.path.join(self.directory_path, NAME)
        self.directory = FileDirectory(self.path, lock=self.locked)
        self.memory: Memory | None = None
        # The same calls on a directory held in memory (the one tests/test_caller.py
        # crashes): whatever FileDirectory writes, MemoryDirectory must write too.
        self.twin_directory = MemoryDirectory()
        self.twin: Memory | None = None
        self.state: m.State | None = None
        # The records applied so far, in order: what the frame store must hold (S9.8).
        self.applied: list[tuple[int, bytes]] = []
        # ORIGINAL's lock stays on the inode it opened (M1): a staged replace unlocks the path.
        self.replaced_since_open = False
        self.mode = CREATED_MODE & ~_umask()
        # Staged replaces that failed and discarded their temporary file (S9.7).
        self.discards = 0
        self.copy_chunk = COPY_CHUNK

    @property
    def ref_design(self) -> RefDesign:
        return RefDesign(self.design.value)

    def teardown(self) -> None:
        self._close()
        shutil.rmtree(self.directory_path, ignore_errors=True)

    # -- the two sides of one call ---------------------------------------------

    def _call(self, what: str, call: Callable[[Memory], object], model_error: m.WalError | None) -> object:
        """The reference's call on the memory and on its twin: each one's error
        (or none) must be the model's, and the twin's value the memory's."""
        assert self.memory is not None and self.twin is not None
        values = [
            self._outcome(what, functools.partial(call, memory), model_error)
            for memory in (self.memory, self.twin)
        ]
        _agree(f"{what} (FileDirectory, MemoryDirectory)", _comparable(values[0]), _comparable(values[1]))
        return values[0]

    def _open(
        self, what: str, opener: Callable[[Directory], Memory], model_error: m.WalError | None
    ) -> tuple[Memory, Memory] | None:
        """A new memory from the directory and its twin from the twin directory."""
        opened = [
            self._outcome(what, functools.partial(opener, directory), model_error)
            for directory in (self.directory, self.twin_directory)
        ]
        if opened[0] is None or opened[1] is None:
            return None
        assert isinstance(opened[0], Memory) and isinstance(opened[1], Memory)
        self.memory, self.twin = opened[0], opened[1]
        self.memory.copy_chunk = self.twin.copy_chunk = self.copy_chunk
        _agree(
            f"{what} (FileDirectory, MemoryDirectory)",
            _records(self.memory.recovered),
            _records(self.twin.recovered),
        )
        return self.memory, self.twin

    def _open_applying(
        self,
        what: str,
        opener: Callable[[Directory], Memory],
        model_error: m.WalError | None,
        applied_what: str,
        model_applied: Sequence[_Record] | None,
    ) -> None:
        """An open that applies what the file holds (recovery at open, the doctor):
        the records it applied compared with the model's and added to the frame store's."""
        opened = self._open(what, opener, model_error)
        if opened is None:
            return
        records = _records(opened[0].recovered)
        _agree(applied_what, records, _records(model_applied))
        self.applied += records
        self.replaced_since_open = False  # a new open takes the lock on the file the path names

    @staticmethod
    def _outcome(what: str, call: Callable[[], object], model_error: m.WalError | None) -> object:
        try:
            value = call()
        except WalError as error:
            _agree(what, _error(error), _model_error(model_error))
            return None
        _agree(what, None, _model_error(model_error))
        return value

    def _writable(self) -> bool:
        return self.memory is not None

    # -- rules -----------------------------------------------------------------

    @initialize(wal_size=st.one_of(st.integers(48, 400), st.sampled_from([48, 96, 256])))
    def create(self, wal_size: int) -> None:
        """S3.1: memvid's create, then the WAL opened (the lock taken, S9.6)."""
        self.copy_chunk = COPY_CHUNKS[wal_size % len(COPY_CHUNKS)]
        self.memory, self.twin = (
            Memory.create(directory, design=self.ref_design, wal_size=wal_size, apply=apply_records)
            for directory in (self.directory, self.twin_directory)
        )
        self.memory.copy_chunk = self.twin.copy_chunk = self.copy_chunk
        self.state, refused = m.open_wal(m.initial_state(self.design, wal_size))
        assert refused is None

    @precondition(_writable)
    @rule(payload=st.binary(min_size=0, max_size=200))
    def put(self, payload: bytes) -> None:
        """memvid's put: append, growing the region when it is full or too small (S9.4)."""
        assert self.memory is not None and self.state is not None
        state, outcome = m.append_entry(self.state, payload)
        while isinstance(outcome, m.WalError) and outcome.reason in caller.REASONS_THAT_GROW:
            # The model's own rule (model/caller.py), the reference's is in Memory.put:
            # the invariants compare the sizes they grow to.
            size = self.state.disk.header.wal_size
            new_size = caller.grown_size(size, m.ENTRY_HEADER_SIZE + len(payload))
            if new_size <= size:
                raise Divergence(f"the model's growth from {size} bytes does not grow: {new_size}")
            # memvid grows to WAL_SIZE_LIMIT; the machine's files stay small.
            assume(new_size <= GROWTH_LIMIT)
            if self.design is m.Design.FIXED:
                growth = caller.grow(self.state, new_size)
                _frozen(growth)
                self.state = growth.state
            else:
                # ORIGINAL grows in place, and the grown region may not open (D1's
                # stray bytes): memvid's put fails there, and its handle with it.
                self.state, reopen_refused = m.grow_region(self.state, new_size)
                if reopen_refused is not None:
                    self._call("put", lambda memory: memory.put(payload), reopen_refused)
                    self._close()
                    return
            state, outcome = m.append_entry(self.state, payload)
        self.state = state
        refused = outcome if isinstance(outcome, m.WalError) else None
        sequence = self._call("put", lambda memory: memory.put(payload), refused)
        if refused is None:
            _agree("put's sequence", sequence, outcome)

    @precondition(_writable)
    @rule(doublings=st.integers(0, 2))
    def put_an_entry_a_power_of_two_times_the_region(self, doublings: int) -> None:
        """S9.4: memvid doubles the region while it is at most the size required
        (``while new_size <= target``, mutation.rs's grow_wal_region), so an entry
        of exactly 2^k times the region grows it to 2^(k+1) times, one past the
        size the entry alone would need. Random payloads meet that equality
        almost never."""
        assert self.state is not None
        entry_size = self.state.disk.header.wal_size << doublings
        if entry_size > GROWTH_LIMIT // 2:
            return
        self.put(bytes([0x5D]) * (entry_size - m.ENTRY_HEADER_SIZE))

    @precondition(_writable)
    @rule()
    def commit(self) -> None:
        """S9.1: memvid's commit(), staged in both designs."""
        assert self.memory is not None and self.state is not None
        done = caller.staged_commit(self.state)
        _frozen(done)
        self.state = done.state
        applied = self._call("commit", Memory.commit, done.error)
        self._applied("commit", applied, done.applied, staged=True)

    @precondition(_writable)
    @rule()
    def commit_skip_indexes(self) -> None:
        """S9.3: in place (ORIGINAL), staged (FIXED, M4)."""
        assert self.memory is not None and self.state is not None
        if self.design is m.Design.FIXED:
            staged = caller.staged_commit(self.state)
            self.state, error, model_applied = staged.state, staged.error, staged.applied
        else:
            in_place = caller.commit(self.state)
            self.state, error, model_applied = in_place.state, in_place.error, in_place.applied
            if model_applied == []:
                # Nothing pending: memvid's commit_skip_indexes returns before the checkpoint.
                self.state = in_place.after_pending
        applied = self._call("commit_skip_indexes", Memory.commit_skip_indexes, error)
        self._applied("commit_skip_indexes", applied, model_applied, staged=self.design is m.Design.FIXED)

    def _applied(
        self, what: str, applied: object, model_applied: list[m.Record] | None, *, staged: bool
    ) -> None:
        if model_applied is None:
            return
        assert isinstance(applied, list)
        records = [(record.sequence, record.payload) for record in applied]
        _agree(f"records {what} applied", records, _records(model_applied))
        self.applied += records
        if records and staged:
            self.replaced_since_open = True

    @precondition(_writable)
    # Exact powers of two too: the one size whose growth is itself, not the next.
    @rule(
        skip_sync=st.booleans(),
        pre_size=st.one_of(
            st.just(0), st.integers(1, GROWTH_LIMIT), st.sampled_from([1 << n for n in range(8, 14)])
        ),
    )
    def begin_batch(self, skip_sync: bool, pre_size: int) -> None:
        """S9.5: with ``wal_pre_size_bytes`` above the region's size, a growth (S9.4)
        to the next power of two first; at or below it, none."""
        assert self.memory is not None and self.state is not None
        size = self.state.disk.header.wal_size
        if pre_size > size:
            # The next power of two at or above pre_size, written apart from the reference's.
            new_size = 1
            while new_size < pre_size:
                new_size *= 2
            if self.design is m.Design.FIXED:
                growth = caller.grow(self.state, new_size)
                _frozen(growth)
                self.state = growth.state
            else:
                # As put's growth: ORIGINAL's grown region may not open (D1), and the call fails.
                self.state, reopen_refused = m.grow_region(self.state, new_size)
                if reopen_refused is not None:
                    self._call(
                        "begin_batch", lambda memory: memory.begin_batch(pre_size=pre_size), reopen_refused
                    )
                    self._close()
                    return
        if skip_sync:
            # memvid's usual call, every option but the size left to its default:
            # both sides' defaults are then held to each other (S9.5: skip_sync on).
            self._call("begin_batch", lambda memory: memory.begin_batch(pre_size=pre_size), None)
            self.state = caller.begin_batch(self.state)
            return
        self._call(
            "begin_batch", lambda memory: memory.begin_batch(skip_sync=skip_sync, pre_size=pre_size), None
        )
        self.state = caller.begin_batch(self.state, skip_sync)

    @precondition(_writable)
    @rule()
    def end_batch(self) -> None:
        """S9.5: one flush, then appends sync again."""
        assert self.memory is not None and self.state is not None
        self._call("end_batch", Memory.end_batch, None)
        self.state = caller.end_batch(self.state)

    @precondition(lambda self: self.state is not None)
    @rule()
    def reopen(self) -> None:
        """Close the memory, then memvid's writable open with its recovery (S9.2)."""
        # Shaped as run_doctor below on purpose: a rule each, their shared part is _open_applying.
        assert self.state is not None
        self._close()
        recovery = caller.recover_at_open(self._closed_state())
        _frozen(recovery)
        self.state = recovery.state
        renames = self._renames()
        self._open_applying(
            "open with recovery",
            lambda directory: Memory.open(directory, design=self.ref_design, apply=apply_records),
            recovery.error,
            "records recovered at open",
            recovery.records,
        )
        if recovery.error is None:
            # S9.2, M4: FIXED commits a recovery staged (a copy renamed over the
            # path), ORIGINAL in place; the twin directory's log shows which.
            _agree(
                "a recovery at open committed staged (S9.2, M4)",
                self._renames() > renames,
                recovery.staged is not None,
            )

    def _renames(self) -> int:
        return sum(line.startswith("rename ") for line in self.twin_directory.log)

    @precondition(lambda self: self.state is not None)
    @rule()
    def run_doctor(self) -> None:
        """S9.9: memvid's doctor on the closed file, then the memory it opens."""
        # Shaped as reopen above on purpose: a rule each, their shared part is _open_applying.
        assert self.state is not None
        self._close()
        done = caller.doctor(self._closed_state())
        _frozen(done)
        self.state, refused = m.open_wal(done.state)
        self._open_applying(
            "the doctor",
            lambda directory: doctor(directory, design=self.ref_design, apply=apply_records),
            refused,
            "records the doctor applied",
            done.applied,
        )

    @precondition(lambda self: self.state is not None)
    @rule(pick=st.integers(0, 2**16), length_out_of_range=st.booleans(), then_doctor=st.booleans())
    def damage_a_record(self, pick: int, length_out_of_range: bool, then_doctor: bool) -> None:
        """Media damage in the middle of the log, then the doctor (S9.9) or the
        writable open (S9.2). A record the doctor's walk takes, with another one
        taken after it, gets a payload byte flipped (the checksum fails, the
        length stays in range: the walk steps over it and takes the records
        after it) or its length made out of range (the walk ends there). The
        file, its twin and the model get the same damage; the records applied
        and the file after are compared as after any open."""
        if self.memory is not None:
            for payload in (b"d" * (1 + pick % 5), b"e" * (1 + pick % 7)):
                self.put(payload)
                if self.memory is None:
                    return  # the put's growth could not reopen (ORIGINAL, D1)
        self._close()
        state = self._closed_state()
        region, wal_sequence = state.disk.region, state.disk.header.wal_sequence
        # Alike model/caller.py's salvage on purpose: that walk returns records, this
        # one keeps where each begins, to pick one to damage; the comparison after
        # the damage is the model's salvage against the reference's.
        taken: list[int] = []  # where the records the doctor's walk takes begin
        cursor, last = 0, wal_sequence
        while cursor + m.ENTRY_HEADER_SIZE <= region.size:
            entry = entry_at(region, cursor)
            if entry is None or (isinstance(entry, Invalid) and entry.end is None):
                break
            if isinstance(entry, Invalid):
                assert entry.end is not None
                cursor = entry.end
                continue
            if entry.sequence > last:
                taken.append(cursor)
                last = entry.sequence
            cursor += entry.size
        if len(taken) < 2:
            return
        position = taken[pick % (len(taken) - 1)]
        if length_out_of_range:
            at, damage = position + LENGTH_FIELD.start, (0xFFFFFFFF).to_bytes(4, "little")
        else:
            at = position + m.ENTRY_HEADER_SIZE
            damage = bytes([region.read(at, 1)[0] ^ 0xFF])
        self._damage(WAL_OFFSET + at, damage)
        damaged = region.write(at, m.Foreign(damage), 0, len(damage))
        disk = dataclasses.replace(state.disk, region=damaged, durable_region=damaged, unsynced=())
        self.state = dataclasses.replace(state, disk=disk)
        if then_doctor:
            self.run_doctor()
        else:
            self.reopen()

    def _damage(self, offset: int, data: bytes) -> None:
        """The same bytes written over the closed file and its twin, made durable."""
        with FileStorage(self.path) as storage:
            storage.write_at(offset, data)
            storage.sync()
        self.twin_directory.files[self.twin_directory.PATH].write_at(offset, data)

    @precondition(lambda self: self.memory is not None)
    @rule()
    def a_table_of_contents_after_the_frames(self) -> None:
        """memvid writes its table of contents after the frames, at
        ``footer_offset`` (S9.8); the reference writes none. Bytes there are not
        the store's: the next commit's checksum covers the store alone, from its
        start to ``footer_offset``, and its frames overwrite them."""
        assert self.memory is not None
        self._damage(self.memory.header.footer_offset, TABLE_OF_CONTENTS)

    @precondition(
        lambda self: (
            self.memory is not None
            and self.state is not None
            and self.state.disk.header.wal_size <= GROWTH_LIMIT // 2
        )
    )
    @rule()
    def a_growth_under_a_store_longer_than_the_file_before_it(self) -> None:
        """S9.4 with more bytes after the region than before its end: puts of
        ``STORE_PAYLOAD`` bytes, each committed, until the frame store is longer
        than the header and the region together, then a put one byte too long
        for the region, so that the growth moves the whole store (ORIGINAL's in
        place, reference/mv2.py's copy from the back, in one chunk here; FIXED's
        copy beside, cut where the store starts). Files this long are the
        ones where a copy's length taken from the wrong end, or a cut made
        twice, loses frames; the invariants read the store after each call."""
        for _ in range(STORE_ROUNDS):
            if self.memory is None:
                return  # a put or commit of ORIGINAL closed it (D1)
            header = self.memory.header
            start = header.wal_offset + header.wal_size
            if header.footer_offset - start > start:
                break
            self.put(bytes([0x5B]) * STORE_PAYLOAD)
            if self.memory is not None:
                self.commit()
        else:
            return  # a commit was refused (an ORIGINAL defect): no store this long
        if self.memory is not None and self.state is not None:
            self.put(bytes([0x5C]) * (self.state.disk.header.wal_size - m.ENTRY_HEADER_SIZE + 1))

    @precondition(lambda self: self.memory is not None and self.applied)
    @rule(pick=st.integers(0, 2**16))
    def commit_over_a_damaged_store(self, pick: int) -> None:
        """S9.8: a frame store whose bytes no longer match the header's checksum is
        reported, never extended: a commit with records to apply fails with
        FrameStoreDamaged, its temporary file discarded (S9.7: the directory
        holds the path alone, the twin's log says "unlink"), the file as it was.
        Then the byte is put back, and the machine goes on."""
        if not self._records_pending(pick):
            return
        assert self.memory is not None and self.twin is not None and self.state is not None
        header = self.memory.header
        start = header.wal_offset + header.wal_size
        at = start + pick % (header.footer_offset - start)
        with FileStorage(self.path, read_only=True) as storage:
            before = storage.read_at(0, storage.size())
        self._damage(at, bytes([before[at] ^ 0xFF]))
        for memory in (self.memory, self.twin):
            try:
                memory.commit()
            except FrameStoreDamaged as error:
                _agree("a commit over a damaged store", error.reason, "frame store checksum mismatch")
            else:
                raise Divergence("a commit extended a frame store whose checksum does not match")
        # The commit failed after its first step, pending_records (S9.1 step 1),
        # which moves the WAL's volatile state (a rescan): the model's is moved alike.
        self.state = caller.staged_commit(self.state).after_pending
        self.discards += 1
        self._damage(at, before[at : at + 1])
        with FileStorage(self.path, read_only=True) as storage:
            if storage.read_at(0, storage.size()) != before:
                raise Divergence("a commit that failed over a damaged store changed the file")

    @precondition(_writable)
    @rule(pick=st.integers(0, 2**16))
    def a_commit_over_a_damaged_record(self, pick: int) -> None:
        """S9.1 step 1 over media damage: one payload byte of a pending record
        flipped in the open file (and its twin, and the model's region), then
        memvid's commit, whose pending_records rescans the region. ORIGINAL's
        scan reports WalCorruption and the commit fails; FIXED's does when a
        pending record carrying the mark follows (R7), and otherwise ends the
        log before the damaged record (R1), and the commit applies the
        records before it. The commit rule compares both sides; the machine
        goes on over the damaged file."""
        if not self._records_pending(pick):
            return
        assert self.state is not None
        disk = self.state.disk
        scanned = scan(disk.region, self.design, disk.header.wal_sequence)
        if isinstance(scanned, m.WalError):
            return
        victims = [s for s in scanned[0] if s.record.sequence > disk.header.wal_sequence and s.record.payload]
        if not victims:
            return
        victim = victims[pick % len(victims)]
        at = victim.position + m.ENTRY_HEADER_SIZE + pick % len(victim.record.payload)
        damage = bytes([disk.region.read(at, 1)[0] ^ 0xFF])
        self._damage(WAL_OFFSET + at, damage)
        region = disk.region.write(at, m.Foreign(damage), 0, 1)
        durable = disk.durable_region.write(at, m.Foreign(damage), 0, 1)
        self.state = dataclasses.replace(
            self.state, disk=dataclasses.replace(disk, region=region, durable_region=durable)
        )
        self.commit()

    @precondition(lambda self: self.state is not None)
    @rule()
    def doctor_over_an_unreadable_header(self) -> None:
        """S9.6: a doctor whose header read fails (F1: the magic damaged) drops its
        file and its lock as it fails: the path is not locked after it. Then the
        header is put back (the invariants read it)."""
        self._close()
        with FileStorage(self.path, read_only=True) as storage:
            magic = storage.read_at(0, 1)
        self._damage(0, bytes([magic[0] ^ 0xFF]))
        for directory in (self.directory, self.twin_directory):
            try:
                doctor(directory, design=self.ref_design, apply=apply_records)
            except InvalidHeader as error:
                _agree("the doctor on an unreadable header", _error(error), MAGIC_MISMATCH)
            else:
                raise Divergence("the doctor repaired a file whose magic is wrong")
            _agree("the path locked after a failed doctor (S9.6)", self._path_locked(), False)
        self._damage(0, magic)

    @precondition(lambda self: self.locked and self.memory is not None and not self.replaced_since_open)
    @rule(read_only=st.booleans())
    def a_second_opener_is_refused(self, read_only: bool) -> None:
        """locking.md L1: while the memory holds the path's exclusive lock, another
        open of it, to write or to read, is refused with L1's reason, and takes nothing."""
        wanted = "a shared lock to read" if read_only else "an exclusive lock to write"
        try:
            FileStorage(self.path, read_only=read_only, lock=True).close()
        except LockError as error:
            _agree(
                "the second opener's refusal",
                error.reason,
                LOCK_REFUSED.format(path=self.path, wanted=wanted),
            )
        else:
            raise Divergence("a second opener took the lock the memory holds")

    def _records_pending(self, pick: int) -> bool:
        """Whether the memory has records pending, after a put when it had none:
        not when that put's growth could not reopen (ORIGINAL, D1), the put was
        refused, or the log cannot be read (ORIGINAL's empty entry, D1)."""
        assert self.state is not None
        if m.pending_records(self.state)[1] == []:
            self.put(b"s" * (1 + pick % 9))
        if self.memory is None or self.twin is None or self.state is None:
            return False
        pending = m.pending_records(self.state)[1]
        return isinstance(pending, list) and bool(pending)

    @precondition(_writable)
    @rule(pick=st.integers(0, 2**16))
    def commit_whose_first_sync_fails(self, pick: int) -> None:
        """S9.1 step 2: the sync of the open file before its copy is made fails
        (EIO, once). The commit fails with WalIoError and the system's message
        and syncs nothing more; it made no temporary file (the twin's log has
        no new line), and the file and the memory's header are as they were.
        The records stay pending: the next commit (the rule above) applies them."""
        if not self._records_pending(pick):
            return
        assert self.memory is not None and self.twin is not None and self.state is not None
        before = self._file_bytes()
        log = list(self.twin_directory.log)
        failure = OSError(errno.EIO, os.strerror(errno.EIO))
        for memory in (self.memory, self.twin):
            header = memory.header.copy()
            with mock.patch.object(memory.storage, "sync", side_effect=failure) as sync:
                try:
                    memory.commit()
                except WalIoError as error:
                    _agree(
                        "a commit whose first sync fails (S9.1 step 2)", _error(error), ("Io", str(failure))
                    )
                else:
                    raise Divergence("a commit went on past a failed sync of its file (S9.1 step 2)")
            _agree("syncs of the file in a commit whose first sync failed", sync.call_count, 1)
            _agree("the memory's header after a commit that failed", memory.header, header)
        # pending_records ran (S9.1 step 1), and moved the WAL's volatile state (a rescan).
        self.state = caller.staged_commit(self.state).after_pending
        _agree("the twin's log after a commit whose first sync failed", self.twin_directory.log, log)
        if self._file_bytes() != before:
            raise Divergence("a commit whose first sync failed changed the file")
        self.commit()

    @precondition(_writable)
    @rule(pick=st.integers(0, 2**16))
    def a_staged_commit_and_the_old_file(self, pick: int) -> None:
        """S9.1, S9.6 (M1): once a staged commit has renamed its copy over the
        path, the file the path named before (held open here) is still locked
        when it is the one ORIGINAL's memory opened and locked (memvid's lock
        clone stays on it); FIXED lets its old file's lock go after the rename,
        and without locks nothing is locked."""
        if not self._records_pending(pick):
            return
        held = self.locked and self.design is m.Design.ORIGINAL and not self.replaced_since_open
        old = os.open(self.path, os.O_RDONLY)
        try:
            self.commit()
            if self.memory is None or os.fstat(old).st_ino == os.stat(self.path).st_ino:
                return  # the commit did not replace the file
            _agree("the file named before a staged commit, locked after it (M1)", self._locked(old), held)
        finally:
            os.close(old)

    @precondition(lambda self: self.state is not None)
    @rule()
    def a_growth_that_does_not_grow(self) -> None:
        """S3.11: reference/mv2.py's grow_region refuses a new size not above the
        region's (the current one, and one byte less) with ValueError, and
        writes nothing."""
        assert self.state is not None
        size = self.state.disk.header.wal_size
        before = self._file_bytes()
        with FileStorage(self.path) as storage:
            header = read_header(storage, clear_legacy_lock=False)
            for new_size in (size, size - 1):
                try:
                    grow_region(storage, header, new_size)
                except ValueError as error:
                    _agree(
                        "a growth that does not grow",
                        str(error),
                        GROWTH_REFUSED.format(new=new_size, current=size),
                    )
                else:
                    raise Divergence(f"a growth from {size} to {new_size} bytes was not refused")
        if self._file_bytes() != before:
            raise Divergence("a refused growth changed the file")

    def _file_bytes(self) -> bytes:
        with FileStorage(self.path, read_only=True) as storage:
            return storage.read_at(0, storage.size())

    def _close(self) -> None:
        for memory in (self.memory, self.twin):
            if memory is not None:
                memory.close()
        self.memory = self.twin = None

    def _closed_state(self) -> m.State:
        assert self.state is not None
        return m.close_wal(self.state) if self.state.wal is not None else self.state

    # -- after every step --------------------------------------------------------

    @invariant()
    def the_file_is_the_models(self) -> None:
        """The header and region on disk, read through the path, are the model's;
        so is the memory's own header."""
        if self.state is None:
            return
        with FileStorage(self.path, read_only=True) as storage:
            header = read_header(storage, clear_legacy_lock=False)
            region = storage.read_at(WAL_OFFSET, header.wal_size)
            frames = read_frames(storage, header)
            image = storage.read_at(0, storage.size())
        disk = self.state.disk
        _agree(
            "header on disk",
            (header.wal_size, header.wal_checkpoint_pos, header.wal_sequence),
            (disk.header.wal_size, disk.header.wal_checkpoint_pos, disk.header.wal_sequence),
        )
        if region != disk.region.to_bytes():
            raise Divergence("region bytes differ")
        if self.memory is not None:
            mine: Header = self.memory.header
            theirs = self.state.caller_header
            _agree(
                "caller header",
                (mine.wal_size, mine.wal_checkpoint_pos, mine.wal_sequence),
                (theirs.wal_size, theirs.wal_checkpoint_pos, theirs.wal_sequence),
            )
            # The store's fields change only at a commit, which writes them: in
            # memory as on disk, byte for byte (F1: a 32-byte checksum).
            _agree(
                "the memory's frame-store fields (S9.8)",
                (mine.footer_offset, mine.toc_checksum),
                (header.footer_offset, header.toc_checksum),
            )
        _agree("the frame store (S9.8)", frames, self.applied)
        if self.memory is not None:
            _agree("the memory's frames (S9.8)", self.memory.frames(), self.applied)
        self._a_cut_store_is_damaged(image, header)
        self._a_damaged_store_is_reported(image, header)

    def _a_cut_store_is_damaged(self, image: bytes, header: Header) -> None:
        """S9.8: a store cut inside its last frame's header, its checksum made to
        match, is reported damaged (a hostile file's; no write of ours leaves one)."""
        if not self.applied:
            return
        start = header.wal_offset + header.wal_size
        last = len(self.applied[-1][1]) + 12
        cut = header.copy()
        cut.footer_offset = header.footer_offset - last + 5
        stored = image[start : cut.footer_offset]
        cut.toc_checksum = blake3.blake3(stored).digest()
        try:
            read_frames(MemoryStorage(image[: cut.footer_offset]), cut)
        except FrameStoreDamaged:
            return
        raise Divergence(f"a frame store cut {last - 5} bytes short of its end was read as whole")

    @staticmethod
    def _a_damaged_store_is_reported(image: bytes, header: Header) -> None:
        """S9.8: a store that ends before ``footer_offset`` (the file cut one byte
        short) reads as truncated, one with a byte changed as failing its
        checksum, and one whose checksum matches but whose last frame's header
        is cut as a truncated frame header. A header whose ``footer_offset``
        lies before the store's start (no commit writes one) is refused: a
        commit would write its frames over the region. Neither a reader nor a
        commit takes any of them as frames, and the commit writes nothing."""
        start, end = header.wal_offset + header.wal_size, header.footer_offset
        cases = [
            (image, dataclasses.replace(header, footer_offset=before), "footer offset before the frame store")
            for before in (start - 1, header.wal_offset)
        ]
        if end >= start:
            cut = b"\x01\x02\x03"  # shorter than a frame's 12-byte header
            torn = dataclasses.replace(
                header,
                footer_offset=end + len(cut),
                toc_checksum=blake3.blake3(image[start:end] + cut).digest(),
            )
            cases.append((image[:end] + cut + image[end:], torn, "frame header truncated"))
        if end > start:
            middle = (start + end) // 2
            flipped = image[:middle] + bytes([image[middle] ^ 0xFF]) + image[middle + 1 :]
            cases.append((image[: end - 1], header, "frame store truncated"))
            cases.append((flipped, header, "frame store checksum mismatch"))
        for damaged, damaged_header, reason in cases:
            storage = MemoryStorage(damaged)
            calls: list[tuple[str, Callable[[], object]]] = [
                ("read", functools.partial(read_frames, storage, damaged_header)),
                (
                    "commit",
                    functools.partial(apply_records, storage, damaged_header, [WalRecord(1, b"frame")]),
                ),
            ]
            for action, call in calls:
                try:
                    call()
                except FrameStoreDamaged as error:
                    _agree(f"a damaged frame store's report to a {action}", error.reason, reason)
                else:
                    raise Divergence(f"a {action} took a damaged frame store as whole ({reason})")
            _agree(f"a commit over a damaged frame store ({reason}): its writes", storage.writes, [])

    @invariant()
    def the_twin_holds_the_same_bytes(self) -> None:
        """MemoryDirectory, given the same calls, holds the same file, byte for
        byte, under the path alone, and its directory sync made that durable."""
        if self.state is None:
            return
        twin = self.twin_directory
        _agree("the twin directory's names", sorted(twin.files), [twin.PATH])
        # Each staged replace: a new temporary name, then its rename over the path and
        # the directory synced (S9.1 steps 3, 7), or, when the copy could not be
        # built, its removal (S9.7); as many removals as failed replaces.
        expected_log: list[str] = []
        replaces = discards = 0
        while len(expected_log) < len(twin.log):
            temp = f".{twin.PATH}.{replaces + discards}"
            if twin.log[len(expected_log) + 1 : len(expected_log) + 2] == [f"unlink {temp}"]:
                expected_log += [f"create {temp}", f"unlink {temp}"]
                discards += 1
            else:
                expected_log += [f"create {temp}", f"rename {temp}", "fsync dir"]
                replaces += 1
        _agree("the twin directory's log", twin.log, expected_log)
        _agree("the twin's discarded copies", discards, self.discards)
        if replaces:
            _agree("the twin directory's durable names", sorted(twin.durable), [twin.PATH])
            _agree(
                "the twin's durable file is its file", twin.durable[twin.PATH] is twin.files[twin.PATH], True
            )
        with FileStorage(self.path, read_only=True) as storage:
            data = storage.read_at(0, storage.size())
        if bytes(twin.files[twin.PATH].data) != data:
            raise Divergence("MemoryDirectory's file differs from FileDirectory's")

    @invariant()
    def the_directory_holds_the_file_alone(self) -> None:
        """No temporary file outlives an operation (S9.1 step 7); the commit
        keeps the file's mode (S9.7)."""
        if self.state is None:
            return
        _agree("the directory's names", sorted(os.listdir(self.directory_path)), [NAME])
        _agree("the file's mode", oct(stat.S_IMODE(os.stat(self.path).st_mode)), oct(self.mode))

    @invariant()
    def the_path_is_locked_as_the_design_locks_it(self) -> None:
        """S9.6, locking.md L5: FIXED holds the exclusive lock on whatever file
        the path names while the memory is open; ORIGINAL's stays on the
        inode it opened (M1); an unlocked directory locks nothing."""
        if self.state is None:
            return
        expected = (
            self.locked
            and self.memory is not None
            and (self.design is m.Design.FIXED or not self.replaced_since_open)
        )
        _agree("the path exclusively locked by the memory", self._path_locked(), expected)

    def _path_locked(self) -> bool:
        """Whether some open file holds an exclusive flock on the file the path names."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return self._locked(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _locked(fd: int) -> bool:
        """Whether another open file holds an exclusive flock on ``fd``'s file."""
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False


def build_file_machine(design: m.Design, *, locked: bool, name: str) -> type[MemoryFilesBase]:
    machine = type(name, (MemoryFilesBase,), {"design": design, "locked": locked})
    machine.__qualname__ = name
    return machine


StatefulFilesFixed = build_file_machine(m.Design.FIXED, locked=False, name="StatefulFilesFixed")
StatefulFilesFixedLocked = build_file_machine(m.Design.FIXED, locked=True, name="StatefulFilesFixedLocked")
StatefulFilesOriginal = build_file_machine(m.Design.ORIGINAL, locked=False, name="StatefulFilesOriginal")
StatefulFilesOriginalLocked = build_file_machine(
    m.Design.ORIGINAL, locked=True, name="StatefulFilesOriginalLocked"
)
