"""The invariants of spec/semantics.md S7 as one predicate over a model state.

``violated(state)`` names every invariant the state breaks. The FIXED design
keeps all of them in every reachable state; the ORIGINAL breaks some after its
defects strike (spec/defects.md says which). Pure: no I/O.
"""

from __future__ import annotations

from itertools import pairwise

from model.format import SEQUENCE_MAX
from model.wal import Design, State, WalError, scan


def violated(state: State) -> list[str]:
    """The numbers of the S7 invariants that ``state`` breaks, in order."""
    broken: list[str] = []
    header = state.disk.header
    region = state.disk.region
    if region.size != header.wal_size:
        broken.append("I1")
    if state.disk.bytes_written_outside_region != 0:
        broken.append("I2")
    checkpoint = state.wal.checkpoint_sequence if state.wal is not None else header.wal_sequence
    scanned = scan(region, state.design, checkpoint)
    if isinstance(scanned, WalError):
        broken.append("I3")
        return broken
    found, scan_end = scanned
    sequences = [s.record.sequence for s in found]
    if any(b != a + 1 for a, b in pairwise(sequences)):
        broken.append("I4")
    wal = state.wal
    if wal is None:
        return broken
    if not 0 <= wal.write_head <= wal.region_size:
        broken.append("I5")
    if state.design is Design.FIXED and wal.write_head != scan_end and not wal.read_only:
        broken.append("I6")
    if not 0 <= wal.pending_bytes <= wal.region_size:
        broken.append("I7")
    pending = sum(s.total_size for s in found if s.record.sequence > wal.checkpoint_sequence)
    if pending != wal.pending_bytes:
        broken.append("I8")
    last = sequences[-1] if sequences else wal.checkpoint_sequence
    if wal.sequence != max(last, wal.checkpoint_sequence) or wal.sequence > SEQUENCE_MAX:
        broken.append("I9")
    if wal.checkpoint_sequence > wal.sequence:
        broken.append("I10")
    above = [s.record.sequence > wal.checkpoint_sequence for s in found]
    if above != sorted(above):
        broken.append("I11")
    if not 0 <= wal.checkpoint_head < wal.region_size:
        broken.append("I12")
    return broken
