"""What must hold in every explored state, read as another process would read
the disk (G1, G2, G5, G6, G7 and, for FIXED, the invariants of spec S7), and
the evidence of catalogued mechanisms a step shows (D1-D4, C1-C3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import model as m
from model import caller
from model.invariants import violated
from walcheck.modelcheck.report import StepBuilder
from walcheck.oracle import GuaranteeViolation, Oracle


class Broken(Exception):
    """A transition broke a guarantee or an invariant; carries its number."""

    def __init__(self, guarantee: str, detail: str) -> None:
        super().__init__(f"{guarantee}: {detail}")
        self.guarantee = guarantee
        self.detail = detail


# ---------------------------------------------------------------------------
# Reading the disk as another process would
# ---------------------------------------------------------------------------


def pairs(records: Sequence[m.Record]) -> list[tuple[int, bytes]]:
    return [(r.sequence, r.payload) for r in records]


def pending_on_open(state: m.State, what: str) -> list[tuple[int, bytes]]:
    """Open the closed ``state`` read-only and read what is pending; a failure is G5."""
    opened, error = m.open_wal(state, read_only=True)
    if error is not None:
        raise Broken("G5", f"{what} cannot open the WAL: {error.reason} at offset {error.offset}")
    _, pending = m.pending_records(opened)
    if isinstance(pending, m.WalError):
        raise Broken("G5", f"{what} cannot scan the WAL: {pending.reason} at offset {pending.offset}")
    return pairs(pending)


def oracle_check(check: Callable[[], None]) -> None:
    try:
        check()
    except GuaranteeViolation as violation:
        raise Broken(violation.guarantee, violation.detail) from violation


def check_state(state: m.State, oracle: Oracle) -> None:
    """What must hold in every state reached: G6; another reader of this
    design opening the file now finds exactly the unapplied records (G1, G2,
    G5); for FIXED, memvid's code opening it for writing does too (G7), and
    the invariants of spec S7 hold."""
    design = state.design
    if state.disk.bytes_written_outside_region:
        raise Broken("G6", f"{state.disk.bytes_written_outside_region} bytes written past the region's end")
    reader = f"a {design.value} reader opening the file now"
    records = pending_on_open(caller.restart(design, state.disk), reader)
    oracle_check(lambda: oracle.check_pending(records, reader))
    if design is m.Design.FIXED:
        writer = caller.restart(m.Design.ORIGINAL, state.disk)
        opened, error = m.open_wal(writer)
        if error is not None:
            raise Broken("G7", f"memvid cannot open the file for writing: {error.reason}")
        _, pending = m.pending_records(opened)
        if isinstance(pending, m.WalError):
            raise Broken("G7", f"memvid cannot scan the file it opened: {pending.reason}")
        try:
            oracle.check_pending(pairs(pending), "memvid opening the file for writing")
        except GuaranteeViolation as violation:
            raise Broken("G7", violation.detail) from violation
        broken = violated(state)
        if broken:
            raise Broken("invariants " + ", ".join(broken), "model/invariants.py: spec S7 broken")


# ---------------------------------------------------------------------------
# Evidence: which catalogued mechanism a step exercised
# ---------------------------------------------------------------------------


def state_evidence(before: m.State, after: m.State, step: StepBuilder) -> None:
    """D1, D3: seen in the state a step leaves. FIXED keeps the write head at
    or after the pending entries (spec S7 I5, I11; model.placement.valid_heads).
    ORIGINAL's falls behind them when it reduces the head modulo the region or
    wraps its sentinel to position 0 (D1), and its sentinel and next entry
    then land on them; only when the whole region is pending does it write
    neither, which is harmless."""
    wal = after.wal
    if (
        after.design is m.Design.ORIGINAL
        and wal is not None
        and wal.write_head < wal.pending_bytes < wal.region_size
    ):
        step.seen(
            "D1",
            f"the write head went to {wal.write_head}, behind {wal.pending_bytes} pending bytes "
            f"(a region of {wal.region_size})",
        )
    outside = after.disk.bytes_written_outside_region - before.disk.bytes_written_outside_region
    if outside > 0:
        step.seen(
            "D3",
            f"a sentinel ran {outside} bytes past the end of a region of {after.disk.header.wal_size} bytes",
        )


def image_evidence(
    region: m.Region, written: m.Region, header: m.HeaderFields, step: StepBuilder
) -> list[str]:
    """C1, C2, C3: the conditions on a crash image that memvid's scan
    mishandles and FIXED's recovery rules answer (spec/faults.md): a partly
    written entry (C1, R1); a record that the log as written (``written``,
    what a process kill would keep) does not hold, brought back because the
    power loss took away the sentinel or the entry that had replaced it (C2,
    R2, R3); records that end below the header's checkpoint (C3, R4).
    Recorded as evidence, and counted on both designs."""
    seen: list[str] = []
    scanned = m.scan(region, m.Design.ORIGINAL, header.wal_sequence)
    if isinstance(scanned, m.WalError):
        seen.append("C1")
        step.seen("C1", f"the image holds a partly written entry at {scanned.offset} ({scanned.reason})")
        return seen
    found, _ = scanned
    as_written = m.scan(written, m.Design.ORIGINAL, header.wal_sequence)
    kept = set() if isinstance(as_written, m.WalError) else {located(s) for s in as_written[0]}
    stale = [s for s in found if located(s) not in kept]
    if stale:
        seen.append("C2")
        step.seen(
            "C2",
            f"a record the log as written no longer holds is back: sequence {stale[0].record.sequence} "
            f"at {stale[0].position}",
        )
    if found and found[-1].record.sequence < header.wal_sequence:
        seen.append("C3")
        step.seen(
            "C3",
            f"the header's checkpoint {header.wal_sequence} survived; the last record left is "
            f"{found[-1].record.sequence}",
        )
    return seen


def located(scanned: m.wal.ScannedRecord) -> tuple[int, int, bytes]:
    return scanned.position, scanned.record.sequence, scanned.record.payload


def append_evidence(before: m.Volatile, payload: bytes, sequence: int, step: StepBuilder) -> None:
    if not payload:
        step.seen("D4", f"an empty payload was written and acknowledged as sequence {sequence}")
    if before.sequence == m.SEQUENCE_MAX:
        step.seen("D2", f"the append after sequence 2**64-1 was issued {sequence}")
