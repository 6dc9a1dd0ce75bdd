"""Stateful machines that fail reads and size queries (spec/faults.md, "The fault
model", "Read and size errors"), and ORIGINAL meeting a failed write (R6).

The rules of walcheck.sidebyside.machines on the simulated disk, without
crashes, plus:

- ``read_error_in_an_open``, ``read_error_in_a_rescan``: the Nth pread
  (``read_at``) or fstat (``size``) of an open, a read-only open,
  ``pending_records`` or ``records_after`` fails with EIO. If it fired, the
  answer must be ``Io`` with the OS's message, with nothing written and the
  WAL's state as before; then the same operation
  without the fault must give the model's answer, and FIXED must go on (R6 is
  for writes and syncs). ORIGINAL never asks the size (memvid's scan reads
  with read_exact), so a size fault must not fire there. A fault that did not
  fire leaves an operation that must agree with the model as usual.
- ``write_error_carried_on`` (ORIGINAL): the entry write of an append fails;
  the append answers ``Io``, nothing is written, and ORIGINAL carries on (R6:
  a flush after it succeeds).

Machines of their own rather than rules of the existing crash machines: a
rule added to a derandomised machine changes every example it draws, and so
which mutants the killer's other checks kill.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

import model as m
from reference.driver import normalise_io_reason
from walcheck.sidebyside.crash_machines import CrashMachineBase, build_crash_machine
from walcheck.sidebyside.machines import (
    Divergence,
    MachineConfig,
    Result,
    _agree,
    _model_result,
    _records,
    _reference_result,
)

# Two rules, the opens and the rescans, so that each is drawn as often as another rule.
OPENS = ("open", "open read-only")
RESCANS = ("pending_records", "records_after")
# What the disk reports (spec/faults.md names EIO for both a pread and an fstat).
READ_ERROR = errno.EIO
READ_FAULTS_INJECTED = "read and size errors injected"
WRITE_ERRORS_CARRIED_ON = "write errors ORIGINAL carried on after"


class ReadFaultMachineBase(CrashMachineBase):
    """The read and size faults' checks (the rules are added by ``build_read_fault_machine``)."""

    def _read_error(self, failing: str, after: int, operation: str) -> None:
        disk, state = self.disk, self.state
        assert state is not None and self.wal is not None
        view, unsynced, calls = disk.view, disk.unsynced, disk.calls

        def queries() -> int:
            return disk.reads if failing == "read" else disk.size_queries

        if failing == "read":
            disk.fail_read(after, READ_ERROR)
        else:
            disk.fail_size(after, READ_ERROR)
        before = queries()
        read_only = operation == "open read-only"
        wal = self.wal
        after_sequence = max(0, self.oracle.last_sequence - 1)
        run: Callable[[], object]
        if operation in OPENS:
            self.wal = None
            self.state = m.close_wal(state)
            run = lambda: self._open_reference(read_only=read_only)  # noqa: E731
        elif operation == "pending_records":
            run = lambda: _records(wal.pending_records())  # noqa: E731
        else:
            run = lambda: _records(wal.records_after(after_sequence))  # noqa: E731
        try:
            ref = _reference_result(run)
        finally:
            disk.disarm()
        fired = queries() - before > after
        if not fired:
            self._without_the_fault(operation, ref, read_only, after_sequence)
            return
        where = f"{operation} whose {failing} {after + 1} failed"
        if failing == "size" and self.design is m.Design.ORIGINAL:
            raise Divergence(f"{where}: ORIGINAL asked the file's size; memvid's scan never does (S3.2)")
        if ref.error is None or ref.error[0] != "Io" or ref.error[2] is not None:
            raise Divergence(f"{where}: answered {ref}, not Io (spec/faults.md, read and size errors)")
        _expect_os_message(where, ref.error[1], READ_ERROR)
        if (disk.view, disk.unsynced, disk.calls) != (view, unsynced, calls):
            raise Divergence(f"{where}: the failed operation wrote or synced")
        self.counters[READ_FAULTS_INJECTED] += 1
        if operation in OPENS:
            # Nothing opened; an open without the fault finds what was there (G1, G5).
            self._open(read_only=read_only)
            return
        # The WAL is as before (the invariants compare it with the model, which
        # did nothing), its rescan without the fault is the model's, and FIXED
        # goes on: R6 follows a failed write or sync only.
        self.pending()
        self.flush()

    def _without_the_fault(self, operation: str, ref: Result, read_only: bool, after_sequence: int) -> None:
        """The fault armed for a call the operation did not make: its answer is the model's."""
        assert self.state is not None
        if operation in OPENS:
            self.state, opened = m.open_wal(self.state, read_only=read_only)
            self._settle_open(ref, _model_result(opened))
            return
        if operation == "pending_records":
            self.state, outcome = m.pending_records(self.state)
        else:
            self.state, outcome = m.records_after(self.state, after_sequence)
        _agree(
            operation, ref, _model_result(outcome if isinstance(outcome, m.WalError) else _records(outcome))
        )
        if ref.error is not None:
            raise Divergence(f"{operation} without the fault failed: {ref.error}")
        assert isinstance(ref.value, list)
        if operation == "pending_records":
            self.oracle.check_pending(ref.value, operation)
        else:
            self.oracle.check_records_after(after_sequence, ref.value)

    def _write_error_carried_on(self, payload: bytes) -> None:
        """R6: ORIGINAL carries on after a failed write (memvid has no R6)."""
        disk = self.disk
        view, unsynced, calls = disk.view, disk.unsynced, disk.calls
        disk.fail_write(0, errno.EIO)
        try:
            appended = self._append_both(payload)
        finally:
            disk.disarm()
        if disk.calls == calls:
            return  # refused before any write: compared with the model as usual
        where = "an append whose entry write failed"
        if appended.error is None or appended.error[0] != "Io":
            raise Divergence(f"{where}: answered {appended}, not Io")
        _expect_os_message(where, appended.error[1], errno.EIO)
        if (disk.view, disk.unsynced) != (view, unsynced):
            raise Divergence(f"{where}: bytes were written")
        self.oracle.in_flight = None  # the append wrote nothing: it did not happen
        self.counters[WRITE_ERRORS_CARRIED_ON] += 1
        self.flush()  # refused, as FIXED would (R6), only if ORIGINAL did not carry on
        # memvid's append had set its write head before the write (a wrap to 0):
        # a reopen, as after any error memvid's caller sees, puts both sides level.
        self._open(read_only=False)


def _expect_os_message(where: str, reason: str, error: int) -> None:
    """S4, porting.md P3: an Io reason is the OS's message (Python's decoration aside)."""
    if normalise_io_reason(reason) != os.strerror(error):
        raise Divergence(f"{where}: Io reason {reason!r}, not the OS's message {os.strerror(error)!r}")


def build_read_fault_machine(config: MachineConfig) -> type[ReadFaultMachineBase]:
    """``build_crash_machine``'s rules for ``config``, without its crashes, and
    the read and size faults; ORIGINAL's machine also fails an append's write."""
    base = build_crash_machine(config, frozenset())

    class Machine(ReadFaultMachineBase, base):  # type: ignore[misc, valid-type]
        # An open makes the header's read, FIXED's size query, a window or
        # more, and perhaps the whole region's read; a rescan all but the first.
        @precondition(lambda self: self._is_open())
        @rule(
            failing=st.sampled_from(["read", "size"]),
            after=st.integers(0, 2),
            operation=st.sampled_from(OPENS),
        )
        def read_error_in_an_open(self, failing: str, after: int, operation: str) -> None:
            self._read_error(failing, after, operation)

        @precondition(lambda self: self._is_open())
        @rule(
            failing=st.sampled_from(["read", "size"]),
            after=st.integers(0, 1),
            operation=st.sampled_from(RESCANS),
        )
        def read_error_in_a_rescan(self, failing: str, after: int, operation: str) -> None:
            self._read_error(failing, after, operation)

        if config.design is m.Design.ORIGINAL:

            @precondition(lambda self: self._writable())
            @rule(payload=config.payloads)
            def write_error_carried_on(self, payload: bytes) -> None:
                self._write_error_carried_on(payload)

    Machine.config = config
    Machine.__name__ = Machine.__qualname__ = config.name
    return Machine
