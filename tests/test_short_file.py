"""S3.2: a file shorter than its region, model and reference side by side.

ORIGINAL (memvid's Rust) reads each entry header, then its payload, and fails
with Io "failed to fill whole buffer" only at a read past the file's end; a
log that ends inside the file opens, and its writes lengthen the file. FIXED
reads the region whole and refuses the file at once. For logs built by each
design, the file is cut at every position of the region; the model
(``model.truncate_file``) and the reference must give the same open, the same
records, and after one more append the same bytes and file length.
tests/test_rust_ports.py checks memvid's own code on the same question.
"""

from __future__ import annotations

import pytest

import model as m
from reference.errors import WalError
from reference.header import Header
from reference.storage import MemoryStorage
from reference.wal import Design, EmbeddedWal, WalRecord

SIZE = 256
OFFSET = m.WAL_OFFSET


def _built(design: m.Design) -> m.State:
    """Records 1 [0, 58) and 2 [58, 136), a commit, record 3 [136, 192) and its
    sentinel [192, 240), closed."""
    state = m.initial_state(design, SIZE)
    state, error = m.open_wal(state)
    assert error is None
    for payload in (b"a" * 10, b"b" * 30):
        state, sequence = m.append_entry(state, payload)
        assert isinstance(sequence, int)
    state, _ = m.pending_records(state)
    state, refused = m.record_checkpoint(state)
    assert refused is None
    state = m.write_header(state)
    state, sequence = m.append_entry(state, b"c" * 8)
    assert isinstance(sequence, int)
    return m.close_wal(state)


def _model_outcome(state: m.State) -> tuple[m.State, object]:
    state, error = m.open_wal(state)
    if error is not None:
        return state, (error.kind.value, error.reason)
    state, records = m.pending_records(state)
    assert isinstance(records, list)
    return state, [(r.sequence, r.payload) for r in records]


def _reference_outcome(
    storage: MemoryStorage, header: Header, design: Design
) -> tuple[EmbeddedWal | None, object]:
    try:
        wal = EmbeddedWal.open(storage, header, design=design)
    except WalError as error:
        return None, (error.kind, error.reason)
    records: list[WalRecord] = wal.pending_records()
    return wal, [(r.sequence, r.payload) for r in records]


@pytest.mark.parametrize("design", list(m.Design), ids=lambda d: d.value)
def test_every_cut_of_a_log_opens_alike_in_model_and_reference(design: m.Design) -> None:
    built = _built(design)
    region = built.disk.region.to_bytes()
    fields = built.disk.header
    outcomes: dict[str, int] = {}
    for keep in range(SIZE):
        state, expected = _model_outcome(m.truncate_file(built, keep))
        storage = MemoryStorage(bytes(OFFSET) + region[:keep])
        header = Header(
            wal_size=SIZE,
            wal_offset=OFFSET,
            wal_checkpoint_pos=fields.wal_checkpoint_pos,
            wal_sequence=fields.wal_sequence,
        )
        wal, got = _reference_outcome(storage, header, Design(design.value))
        assert got == expected, keep
        outcomes["opened" if wal is not None else "refused"] = (
            outcomes.get("opened" if wal else "refused", 0) + 1
        )
        if wal is None:
            continue
        # One more append: the same bytes, and the file lengthened alike.
        state, sequence = m.append_entry(state, b"d" * 4)
        assert wal.append_entry(b"d" * 4) == sequence, keep
        assert state.disk.file_end is not None
        assert len(storage.data) == OFFSET + max(keep, state.disk.file_end), keep
        assert bytes(storage.data[OFFSET:]) == state.disk.region.to_bytes()[: len(storage.data) - OFFSET], (
            keep
        )
    if design is m.Design.FIXED:
        assert outcomes == {"refused": SIZE}
    else:
        # Every cut before the sentinel's end passes a read; from 240 on the log opens.
        assert outcomes == {"refused": 240, "opened": 16}


def test_the_original_opens_a_cut_file_whose_log_ends_inside_it() -> None:
    """A fresh region cut after 48 bytes: a whole sentinel, so memvid opens it,
    and its appends lengthen the file; a cut inside the sentinel is an Io error."""
    fresh = m.close_wal(m.open_wal(m.initial_state(m.Design.ORIGINAL, SIZE))[0])
    state, outcome = _model_outcome(m.truncate_file(fresh, 48))
    assert outcome == []
    state, sequence = m.append_entry(state, b"x" * 100)
    assert sequence == 1 and state.disk.file_end == 196
    state, outcome = _model_outcome(m.truncate_file(fresh, 47))
    assert outcome == ("Io", "failed to fill whole buffer")
