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

import fcntl
import functools
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import blake3
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import model as m
from model import caller
from reference import Design as RefDesign
from reference import WalError
from reference.caller import FrameStoreDamaged, Memory, apply_records, doctor, read_frames
from reference.header import WAL_OFFSET, Header, read_header
from reference.storage import Directory, FileDirectory, FileStorage, MemoryDirectory, MemoryStorage
from walcheck.sidebyside.machines import Divergence, _agree, _scratch_dir

NAME = "memory.mv2"
# What FileStorage(create=True) and FileDirectory.create_temp give a new file.
CREATED_MODE = 0o644
# The largest region the machine grows to.
GROWTH_LIMIT = 8192


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
        self.memory, self.twin = (
            Memory.create(directory, design=self.ref_design, wal_size=wal_size, apply=apply_records)
            for directory in (self.directory, self.twin_directory)
        )
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
                self.state = caller.grow(self.state, new_size).state
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
    @rule()
    def commit(self) -> None:
        """S9.1: memvid's commit(), staged in both designs."""
        assert self.memory is not None and self.state is not None
        done = caller.staged_commit(self.state)
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
    @rule(skip_sync=st.booleans())
    def begin_batch(self, skip_sync: bool) -> None:
        """S9.5 (without pre-sizing)."""
        assert self.memory is not None and self.state is not None
        self._call("begin_batch", lambda memory: memory.begin_batch(skip_sync=skip_sync), None)
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
        self.state = recovery.state
        self._open_applying(
            "open with recovery",
            lambda directory: Memory.open(directory, design=self.ref_design, apply=apply_records),
            recovery.error,
            "records recovered at open",
            recovery.records,
        )

    @precondition(lambda self: self.state is not None)
    @rule()
    def run_doctor(self) -> None:
        """S9.9: memvid's doctor on the closed file, then the memory it opens."""
        # Shaped as reopen above on purpose: a rule each, their shared part is _open_applying.
        assert self.state is not None
        self._close()
        done = caller.doctor(self._closed_state())
        self.state, refused = m.open_wal(done.state)
        self._open_applying(
            "the doctor",
            lambda directory: doctor(directory, design=self.ref_design, apply=apply_records),
            refused,
            "records the doctor applied",
            done.applied,
        )

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
        _agree("the frame store (S9.8)", frames, self.applied)
        self._a_cut_store_is_damaged(image, header)

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

    @invariant()
    def the_twin_holds_the_same_bytes(self) -> None:
        """MemoryDirectory, given the same calls, holds the same file, byte for
        byte, under the path alone, and its directory sync made that durable."""
        if self.state is None:
            return
        twin = self.twin_directory
        _agree("the twin directory's names", sorted(twin.files), [twin.PATH])
        # Each staged replace: a new temporary name, its rename over the path,
        # the directory synced (S9.1 steps 3, 7); nothing discarded.
        replaces = len(twin.log) // 3
        expected_log = [
            line
            for n in range(replaces)
            for line in (f"create .{twin.PATH}.{n}", f"rename .{twin.PATH}.{n}", "fsync dir")
        ]
        _agree("the twin directory's log", twin.log, expected_log)
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
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                held = True
            else:
                held = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        _agree("the path exclusively locked by the memory", held, expected)


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
