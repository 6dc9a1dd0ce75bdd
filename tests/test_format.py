"""spec/format.md, checked: every test names the section it holds to account.

The worked example (F5) is run on the reference and on the model, and the hex
dumps printed here must appear verbatim in spec/format.md, so the document
cannot drift from the code. The real files in tests/data were written by
memvid-sdk 2.0.160 ("Real files").

Long (over 1,000 lines) because spec/format.md is: one group of tests per
section, in the document's order, so that each section's checks are found
where the section's number says.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

import model as m
import model.format as mf
import reference as r
from reference import header as rh
from reference import wal as rw

DATA = Path(__file__).parent / "data"
REAL_FILES = sorted(DATA.glob("*.mv2"))
FORMAT_MD = Path(__file__).resolve().parents[1] / "spec" / "format.md"
HEADER_SIZE = 4096
REGION_SIZE = 256
ZERO_HEADER = bytes(48)


def dump(data: bytes, start: int = 0) -> str:
    """The hex dump format of spec/format.md F5: decimal position, 16 bytes a row."""
    return "\n".join(
        f"{start + i:03d}  " + " ".join(f"{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)
    )


def format_md() -> str:
    return FORMAT_MD.read_text(encoding="utf-8")


def region_of(storage: r.MemoryStorage, size: int = REGION_SIZE) -> bytes:
    return bytes(storage.data[HEADER_SIZE : HEADER_SIZE + size])


def ref_commit(wal: r.EmbeddedWal, storage: r.MemoryStorage, header: r.Header) -> list[int]:
    return [record.sequence for record in r.commit(wal, storage, header)]


def model_commit(state: m.State) -> tuple[m.State, list[int]]:
    state, records = m.pending_records(state)
    assert isinstance(records, list)
    state, error = m.record_checkpoint(state)
    assert error is None
    return m.write_header(state), [record.sequence for record in records]


def model_append(state: m.State, payload: bytes) -> tuple[m.State, int | m.WalError]:
    return m.append_entry(state, payload)


def model_region(state: m.State) -> bytes:
    return state.disk.region.to_bytes()


def model_write_head(state: m.State) -> int:
    assert state.wal is not None
    return state.wal.write_head


def model_pending(state: m.State) -> tuple[m.State, list[tuple[int, bytes]]]:
    state, records = m.pending_records(state)
    assert isinstance(records, list)
    return state, [(record.sequence, record.payload) for record in records]


# ---------------------------------------------------------------------------
# F5: the worked example
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One row of the F5.1 table, as observed on the reference."""

    label: str
    result: int | str | list[int] | None
    writes: list[tuple[int, int] | str]
    write_head: int
    pending_bytes: int
    sequence: int
    checkpoint_pos: int
    checkpoint_sequence: int


# The F5.1 table, transcribed. ("header" is the 4096-byte write at file offset 0.)
F5_TABLE: list[Step] = [
    Step("open", None, [(0, 48)], 0, 0, 0, 0, 0),
    Step("append A*100", 1, [(0, 148), (148, 196)], 148, 148, 1, 0, 0),
    Step("commit", [1], [(148, 196), (148, 196), "header"], 148, 0, 1, 148, 1),
    Step("append B*12", 2, [(148, 208), (208, 256)], 208, 60, 2, 148, 1),
    Step("append C*40", "embedded WAL region full", [], 208, 60, 2, 148, 1),
    Step("commit", [2], [(208, 256), (208, 256), "header"], 208, 0, 2, 208, 2),
    Step("append C*40", 3, [(0, 88), (88, 136)], 88, 88, 3, 208, 2),
    Step("commit", [3], [(88, 136), (88, 136), "header"], 88, 0, 3, 88, 3),
]
F5_OPERATIONS: list[bytes | None] = [b"A" * 100, None, b"B" * 12, b"C" * 40, None, b"C" * 40, None]

RECORD_1_HEADER = """\
000  01 00 00 00 00 00 00 00 64 00 00 00 00 00 00 00
016  34 95 f7 ff 20 bb 0c fc 08 0d 36 58 20 7a d9 2c
032  3b 76 e9 62 ab 0b 80 dc 0a ab 35 d3 fa 15 52 dc"""

FILE_HEADER_AFTER_STEP_8 = """\
000  4d 56 32 00 01 02 02 01 00 11 00 00 00 00 00 00
016  00 10 00 00 00 00 00 00 00 01 00 00 00 00 00 00
032  58 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00"""


def _region_writes(storage: r.MemoryStorage, since: int) -> list[tuple[int, int] | str]:
    out: list[tuple[int, int] | str] = []
    for offset, length in storage.writes[since:]:
        if offset == 0 and length == HEADER_SIZE:
            out.append("header")
        else:
            out.append((offset - HEADER_SIZE, offset - HEADER_SIZE + length))
    return out


@dataclass
class RefRun:
    storage: r.MemoryStorage
    header: r.Header
    wal: r.EmbeddedWal
    steps: list[Step]
    regions: list[bytes]  # region bytes after each step


def run_f5_reference(design: r.Design) -> RefRun:
    """F5 steps 0..8 on the reference, recording each step as an F5.1 row."""
    storage = r.MemoryStorage()
    header = r.create_mv2(storage, REGION_SIZE)
    assert storage.size() == HEADER_SIZE + REGION_SIZE
    since = len(storage.writes)
    wal = r.EmbeddedWal.open(storage, header, design=design)
    steps: list[Step] = []
    regions: list[bytes] = []

    def record(label: str, result: int | str | list[int] | None, since: int) -> None:
        on_disk = r.decode_header(bytes(storage.data[:HEADER_SIZE]))
        steps.append(
            Step(
                label,
                result,
                _region_writes(storage, since),
                wal.write_head,
                wal.pending_bytes,
                wal.sequence,
                on_disk.wal_checkpoint_pos,
                on_disk.wal_sequence,
            )
        )
        regions.append(region_of(storage))

    record("open", None, since)
    for operation in F5_OPERATIONS:
        since = len(storage.writes)
        result: int | str | list[int]
        if operation is None:
            result = ref_commit(wal, storage, header)
            record("commit", result, since)
            continue
        try:
            result = wal.append_entry(operation)
        except r.CheckpointFailed as error:
            result = error.reason
        record(f"append {operation[:1].decode()}*{len(operation)}", result, since)
    return RefRun(storage, header, wal, steps, regions)


def _one_write_per_append(steps: list[Step]) -> list[Step]:
    """F5.1 as FIXED writes it (spec/defects.md D5): an append's entry and the
    sentinel after it are one write; the bytes are the same."""
    merged = []
    for step in steps:
        writes = step.writes
        if step.label.startswith("append") and len(writes) == 2:
            first, second = writes
            assert isinstance(first, tuple) and isinstance(second, tuple) and first[1] == second[0]
            writes = [(first[0], second[1])]
        merged.append(dataclasses.replace(step, writes=writes))
    return merged


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f5_1_table_matches_reference(design: r.Design) -> None:
    """F5.1: every row of the table (writes, write_head, pending_bytes, sequence,
    header on disk) is what the reference does, in both designs."""
    run = run_f5_reference(design)
    expected = F5_TABLE if design is r.Design.ORIGINAL else _one_write_per_append(F5_TABLE)
    assert run.steps == expected


_RANGE_OR_HEADER = re.compile(r"`\[(\d+), (\d+)\)`( twice)?|header")


def _doc_writes(cell: str) -> list[tuple[int, int] | str]:
    writes: list[tuple[int, int] | str] = []
    for match in _RANGE_OR_HEADER.finditer(cell):
        if match.group(0) == "header":
            writes.append("header")
            continue
        span = (int(match.group(1)), int(match.group(2)))
        writes.extend([span, span] if match.group(3) else [span])
    return writes


def _doc_rows(first_cell: str, width: int) -> list[list[str]]:
    """The rows of the doc's tables that have ``width`` cells, the first one ``first_cell``."""
    rows = []
    for line in format_md().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == width and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_f5_1_table_in_the_doc() -> None:
    """F5.1: the doc's table rows 1..8 say what F5_TABLE (checked against the
    reference above) says: writes, write_head, pending_bytes, sequence, header."""
    for number, step in enumerate(F5_TABLE, start=1):
        rows = _doc_rows(str(number), 7)
        assert len(rows) == 1, number
        _, operation, writes, write_head, pending, sequence, on_disk = rows[0]
        assert _doc_writes(writes) == step.writes, number
        assert [int(write_head), int(pending), int(sequence)] == [
            step.write_head,
            step.pending_bytes,
            step.sequence,
        ], number
        assert on_disk == f"{step.checkpoint_pos} / {step.checkpoint_sequence}", number
        if isinstance(step.result, str):
            assert step.result in operation
        elif isinstance(step.result, int):
            assert f"returns {step.result}" in operation


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f5_1_hex_dumps_are_in_the_doc(design: r.Design) -> None:
    """F5.1: the dumps in the doc are the reference's bytes."""
    run = run_f5_reference(design)
    doc = format_md()
    after_step_2 = run.regions[1]
    assert dump(after_step_2[:48]) == RECORD_1_HEADER
    assert after_step_2[:48] == r.encode_entry(1, b"A" * 100)[:48]
    assert RECORD_1_HEADER in doc
    assert dump(run.regions[-1]) in doc  # the whole region after step 8
    assert dump(bytes(run.storage.data[:48])) == FILE_HEADER_AFTER_STEP_8
    assert FILE_HEADER_AFTER_STEP_8 in doc
    assert bytes(run.storage.data[48:HEADER_SIZE]) == bytes(HEADER_SIZE - 48)


def test_f5_1_header_fields_after_step_8() -> None:
    """F5.1 / F1.1: the decoded header after step 8, as the doc lists it."""
    run = run_f5_reference(r.Design.FIXED)
    header = r.decode_header(bytes(run.storage.data[:HEADER_SIZE]))
    assert (header.footer_offset, header.wal_offset, header.wal_size) == (4352, 4096, 256)
    assert (header.wal_checkpoint_pos, header.wal_sequence) == (88, 3)
    assert header.toc_checksum == bytes(32)


def test_f4_stale_bytes_after_the_wrap_are_never_read() -> None:
    """F4 / F5.1 step 7: after the wrap, record 2 is intact behind the sentinel
    but no scan returns it; wal_checkpoint_pos (208) lies beyond the scan end (88).
    F3.1: if the unsynced sentinel is lost, the stale "A"s at 88 fail the scan."""
    run = run_f5_reference(r.Design.FIXED)
    after_step_7 = run.regions[6]
    # D6: FIXED marked record 2, appended after record 1's sync (F2.1).
    assert after_step_7[148:208] == r.encode_entry(2, b"B" * 12, synced_before=True)
    assert after_step_7[136:148] == b"A" * 12
    assert after_step_7[88:136] == ZERO_HEADER
    found, end = r.scan_region(after_step_7)
    assert [(s.position, s.sequence, s.payload) for s in found] == [(0, 3, b"C" * 40)]
    assert end == 88
    assert run.steps[6].checkpoint_pos == 208
    # A crash here: a reopen from the header on disk after step 7 (208 / 2)
    # finds record 3 pending.
    at_step_7 = r.Header(wal_size=REGION_SIZE, footer_offset=HEADER_SIZE + REGION_SIZE)
    at_step_7.wal_checkpoint_pos, at_step_7.wal_sequence = 208, 2
    storage = r.MemoryStorage(r.encode_header(at_step_7) + after_step_7)
    on_disk = r.read_header(storage)
    assert (on_disk.wal_checkpoint_pos, on_disk.wal_sequence) == (208, 2)
    reopened = r.EmbeddedWal.open_read_only(storage, on_disk)
    assert reopened.pending_records() == [r.WalRecord(3, b"C" * 40)]
    # The same crash with the (unsynced) sentinel lost: row B1 at 88.
    without_sentinel = after_step_7[:88] + run.regions[5][88:136] + after_step_7[136:]
    assert without_sentinel[88:136] == b"A" * 48
    with pytest.raises(r.WalCorruption) as caught:
        r.scan_region(without_sentinel)
    assert (caught.value.offset, caught.value.reason) == (88, "wal record length invalid")
    scanned = m.scan(m.Region.from_bytes(without_sentinel), m.Design.ORIGINAL, 0)
    assert scanned == m.WalError(m.ErrorKind.WAL_CORRUPTION, "wal record length invalid", 88)


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f5_2_step_9(design: r.Design) -> None:
    """F5.2 / F3.2 / F4: at write head 88 a 148-byte entry would leave 20 bytes.
    ORIGINAL writes it there and puts the sentinel on record 3, losing record 4
    (D1); FIXED finds it does not fit and, nothing being pending, wraps to 0."""
    run = run_f5_reference(design)
    before = run.regions[-1]
    since = len(run.storage.writes)
    assert run.wal.append_entry(b"D" * 100) == 4
    region = region_of(run.storage)
    writes = _region_writes(run.storage, since)
    assert run.wal.pending_bytes == 148
    doc = format_md()
    assert dump(region) in doc
    (row,) = _doc_rows(design.name, 5)
    assert _doc_writes(row[1]) == writes
    assert [int(row[2]), int(row[3])] == [run.wal.write_head, run.wal.pending_bytes]
    record_4 = r.encode_entry(4, b"D" * 100, synced_before=design is r.Design.FIXED)  # D6
    if design is r.Design.ORIGINAL:
        assert writes == [(88, 236), (236, 256), (0, 48)]
        assert run.wal.write_head == 0
        assert region == ZERO_HEADER + before[48:88] + record_4 + bytes(20)
        assert r.scan_region(region) == ([], 0)
        assert run.wal.pending_records() == []
    else:
        assert writes == [(0, 196)]  # D5: the entry and its sentinel in one write
        assert run.wal.write_head == 148
        assert region == record_4 + ZERO_HEADER + before[196:]
        assert region[196:208] == b"B" * 12
        found, end = r.scan_region(region)
        assert [(s.position, s.sequence) for s in found] == [(0, 4)]
        assert end == 148
        assert run.wal.pending_records() == [r.WalRecord(4, b"D" * 100)]


@pytest.mark.parametrize("design", list(m.Design), ids=lambda d: d.value)
def test_f5_model_gives_the_same_bytes(design: m.Design) -> None:
    """F5: the model, run through the same steps, writes the same region bytes
    and the same header fields as the reference, step by step, through step 9."""
    run = run_f5_reference(r.Design(design.value))
    state = m.initial_state(design, REGION_SIZE)
    state, error = m.open_wal(state)
    assert error is None
    assert model_region(state) == run.regions[0]
    for index, operation in enumerate(F5_OPERATIONS, start=1):
        expected = run.steps[index]
        if operation is None:
            state, sequences = model_commit(state)
            assert sequences == expected.result
        else:
            state, result = model_append(state, operation)
            if isinstance(result, m.WalError):
                assert result.reason == expected.result
            else:
                assert result == expected.result
        assert model_region(state) == run.regions[index], expected.label
        assert model_write_head(state) == expected.write_head
        assert state.wal is not None
        assert state.wal.pending_bytes == expected.pending_bytes
        disk_header = state.disk.header
        assert (disk_header.wal_checkpoint_pos, disk_header.wal_sequence) == (
            expected.checkpoint_pos,
            expected.checkpoint_sequence,
        )
    # Step 9, the F3.2 boundary.
    run.wal.append_entry(b"D" * 100)
    state, result = model_append(state, b"D" * 100)
    assert result == 4
    assert model_region(state) == region_of(run.storage)
    assert model_write_head(state) == run.wal.write_head
    state, pending = model_pending(state)
    assert pending == [(w.sequence, w.payload) for w in run.wal.pending_records()]


# ---------------------------------------------------------------------------
# F2: entries
# ---------------------------------------------------------------------------


def test_f2_1_entry_header_size_is_the_sum_of_its_fields() -> None:
    """F2.1: 8 + 4 + 4 + 32, in the reference and the model."""
    assert rw.ENTRY_HEADER_SIZE == mf.ENTRY_HEADER_SIZE == m.ENTRY_HEADER_SIZE == 8 + 4 + 4 + 32 == 48
    assert (mf.SEQUENCE_SIZE, mf.LENGTH_SIZE, mf.RESERVED_SIZE) == (8, 4, 4)


@given(
    sequence=st.integers(min_value=0, max_value=2**64 - 1),
    payload=st.binary(max_size=300),
)
def test_f2_entry_layout_and_round_trip(sequence: int, payload: bytes) -> None:
    """F2.1, F2.2, F2.4: both codecs write the same bytes at the same offsets,
    reserved zero, blake3 of the payload only; decoding gives the fields back."""
    raw = r.encode_entry(sequence, payload)
    assert raw == mf.encode_entry(sequence, payload)
    assert len(raw) == mf.entry_size(len(payload)) == 48 + len(payload)
    assert raw[0:8] == struct.pack("<Q", sequence)
    assert raw[8:12] == struct.pack("<I", len(payload))
    assert raw[12:16] == bytes(4)
    assert raw[16:48] == blake3.blake3(payload).digest()
    assert raw[48:] == payload
    decoded = mf.decode_entry_header(raw[:48])
    assert decoded == mf.EntryHeader(sequence, len(payload), bytes(4), blake3.blake3(payload).digest())
    assert decoded.is_sentinel == (sequence == 0 and not payload)


@given(
    sequence=st.integers(min_value=0, max_value=2**64 - 1),
    payload=st.binary(max_size=100),
    reserved=st.binary(min_size=4, max_size=4),
)
def test_f2_scan_of_one_entry(sequence: int, payload: bytes, reserved: bytes) -> None:
    """F2.2, F2.5, F3.1: one entry then a sentinel. A non-empty payload is a record
    whatever its sequence (0 included) and whatever the reserved bytes hold; an
    empty one is the sentinel (sequence 0) or an invalid length."""
    entry = bytearray(r.encode_entry(sequence, payload))
    entry[12:16] = reserved
    region = bytes(entry) + ZERO_HEADER
    ref_outcome: object
    try:
        found, end = r.scan_region(region)
        ref_outcome = ([(s.sequence, s.payload) for s in found], end)
    except r.WalCorruption as error:
        ref_outcome = (error.offset, error.reason)
    scanned = m.scan(m.Region.from_bytes(region), m.Design.ORIGINAL, 0)
    model_outcome: object
    if isinstance(scanned, m.WalError):
        model_outcome = (scanned.offset, scanned.reason)
    else:
        model_outcome = ([(s.record.sequence, s.record.payload) for s in scanned[0]], scanned[1])
    if payload:
        expected: object = ([(sequence, payload)], 48 + len(payload))
    elif sequence == 0:
        expected = ([], 0)
    else:
        expected = (0, "wal record length invalid")
    assert ref_outcome == expected
    assert model_outcome == expected


# ---------------------------------------------------------------------------
# F3.4: the scan's decision, as a table kept as data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Predicates:
    header_fits: bool  # cursor + 48 <= size
    is_sentinel: bool  # sequence == 0 and length == 0
    length_invalid: bool  # length == 0 or cursor + 48 + length > size
    checksum_ok: bool  # blake3(payload) == checksum


@dataclass(frozen=True)
class Row:
    name: str
    header_fits: bool | None  # None: "-", the predicate does not matter
    is_sentinel: bool | None
    length_invalid: bool | None
    checksum_ok: bool | None
    outcome: str  # "end", "corrupt:<reason>", "accept"

    def matches(self, p: Predicates) -> bool:
        pairs = (
            (self.header_fits, p.header_fits),
            (self.is_sentinel, p.is_sentinel),
            (self.length_invalid, p.length_invalid),
            (self.checksum_ok, p.checksum_ok),
        )
        return all(want is None or want == have for want, have in pairs)


# The table of spec/format.md F3.4.
SCAN_DECISION: tuple[Row, ...] = (
    Row("E1", False, None, None, None, "end"),
    Row("E2", True, True, None, None, "end"),
    Row("B1", True, False, True, None, "corrupt:wal record length invalid"),
    Row("B2", True, False, False, False, "corrupt:wal record checksum mismatch"),
    Row("A", True, False, False, True, "accept"),
)


def decide(p: Predicates) -> Row:
    matching = [row for row in SCAN_DECISION if row.matches(p)]
    assert len(matching) == 1, (p, matching)
    return matching[0]


def test_f3_4_every_combination_matches_exactly_one_row() -> None:
    """F3.4: the rows are exclusive and exhaustive over the four predicates."""
    for values in itertools.product((False, True), repeat=4):
        decide(Predicates(*values))


def test_f3_4_table_in_doc_is_the_table_here() -> None:
    """F3.4: the doc's rows, transcribed, are SCAN_DECISION."""
    doc = format_md()
    symbol = {True: "yes", False: "no", None: "-"}
    for row in SCAN_DECISION:
        cells = [row.header_fits, row.is_sentinel, row.length_invalid, row.checksum_ok]
        prefix = f"| {row.name:<3} | " + " | ".join(f"{symbol[c]:<3}" for c in cells) + " | "
        assert prefix in doc, prefix
        if row.outcome.startswith("corrupt:"):
            assert f'reason: "{row.outcome.removeprefix("corrupt:")}"' in doc


def predicates_at(region: bytes, cursor: int) -> Predicates:
    """F3.4's predicates computed from bytes, independently of both scanners."""
    size = len(region)
    if cursor + 48 > size:
        return Predicates(False, False, False, False)
    sequence, length = struct.unpack_from("<QI", region, cursor)
    length_invalid = length == 0 or cursor + 48 + length > size
    payload = region[cursor + 48 : cursor + 48 + length]
    checksum_ok = not length_invalid and blake3.blake3(payload).digest() == region[cursor + 16 : cursor + 48]
    return Predicates(True, sequence == 0 and length == 0, length_invalid, checksum_ok)


FIRST = r.encode_entry(1, b"first-record")  # a valid record at 0; the case starts at 60
CURSOR = len(FIRST)
assert CURSOR == 60


def _header(sequence: int, length: int, payload: bytes, *, reserved: bytes = bytes(4)) -> bytes:
    return struct.pack("<QI", sequence, length) + reserved + blake3.blake3(payload).digest()


# Named regions: a valid record at 0, then the header under test at position 60.
SCAN_CASES: dict[str, bytes] = {
    "header does not fit (47 bytes left)": FIRST + b"\xee" * 47,
    "zero sentinel": FIRST + ZERO_HEADER + b"\xee" * 30,
    "sentinel with garbage in its other 36 bytes": FIRST + bytes(12) + b"\xee" * 36 + b"\xee" * 10,
    "length 0, sequence 5": FIRST + _header(5, 0, b"") + b"\xee" * 10,
    "length 0, sequence 5, a wrong checksum": FIRST + _header(5, 0, b"x") + b"\xee" * 10,
    "length overruns the region by one": FIRST + _header(5, 11, b"x" * 11) + b"x" * 10,
    "length u32 max": FIRST + _header(5, 2**32 - 1, b"") + b"\xee" * 10,
    "checksum mismatch": FIRST + _header(5, 10, b"y" * 10) + b"x" * 10 + ZERO_HEADER,
    "valid, ends exactly at the region end": FIRST + _header(5, 10, b"x" * 10) + b"x" * 10,
    "valid, reserved bytes not zero": FIRST + _header(5, 10, b"x" * 10, reserved=b"\xff" * 4) + b"x" * 10,
    "valid with sequence 0": FIRST + _header(0, 10, b"x" * 10) + b"x" * 10 + ZERO_HEADER,
    "valid, then 20 garbage bytes": FIRST + _header(7, 3, b"abc") + b"abc" + b"\xee" * 20,
}


def _scan_outcomes(region: bytes) -> Iterator[tuple[str, object]]:
    try:
        found, end = r.scan_region(region)
        yield "reference", ([(s.position, s.sequence, s.payload) for s in found], end)
    except r.WalCorruption as error:
        yield "reference", (error.offset, error.reason)
    scanned = m.scan(m.Region.from_bytes(region), m.Design.ORIGINAL, 0)
    if isinstance(scanned, m.WalError):
        yield "model", (scanned.offset, scanned.reason)
    else:
        found_m, end_m = scanned
        yield "model", ([(s.position, s.record.sequence, s.record.payload) for s in found_m], end_m)


@pytest.mark.parametrize("name", list(SCAN_CASES))
def test_f3_4_scanners_follow_the_table(name: str) -> None:
    """F3.4 (with F2.4, F2.5, F3.1): at position 60 the reference and the model do
    what the table row matching the bytes says."""
    region = SCAN_CASES[name]
    row = decide(predicates_at(region, CURSOR))
    first = (0, 1, b"first-record")
    if row.outcome == "end":
        expected: object = ([first], CURSOR)
    elif row.outcome == "accept":
        sequence, length = struct.unpack_from("<QI", region, CURSOR)
        payload = region[CURSOR + 48 : CURSOR + 48 + length]
        after = CURSOR + 48 + length
        # Every accepting case is followed by the end of the log (E1 or E2).
        assert decide(predicates_at(region, after)).outcome == "end"
        expected = ([first, (CURSOR, sequence, payload)], after)
    else:
        expected = (CURSOR, row.outcome.removeprefix("corrupt:"))
    for scanner, outcome in _scan_outcomes(region):
        assert outcome == expected, scanner


def test_f3_4_cases_cover_every_row() -> None:
    """F3.4: the concrete cases above reach every row of the table."""
    reached = {decide(predicates_at(region, CURSOR)).name for region in SCAN_CASES.values()}
    assert reached == {row.name for row in SCAN_DECISION}


# ---------------------------------------------------------------------------
# F3.2, F3.3: the boundary cases, both designs, reference and model
# ---------------------------------------------------------------------------


@dataclass
class Pair:
    """The reference and the model side by side on one fresh 256-byte region."""

    design: r.Design
    storage: r.MemoryStorage
    header: r.Header
    wal: r.EmbeddedWal
    state: m.State

    @staticmethod
    def create(design: r.Design, stale: bytes = b"") -> Pair:
        storage = r.MemoryStorage()
        header = r.create_mv2(storage, REGION_SIZE)
        initial = bytes(REGION_SIZE - len(stale)) + stale
        storage.write_at(HEADER_SIZE, initial)
        wal = r.EmbeddedWal.open(storage, header, design=design)
        state = m.initial_state(m.Design(design.value), REGION_SIZE, region=m.Region.from_bytes(initial))
        state, error = m.open_wal(state)
        assert error is None
        return Pair(design, storage, header, wal, state)

    def append(self, payload: bytes) -> int:
        sequence = self.wal.append_entry(payload)
        self.state, result = model_append(self.state, payload)
        assert result == sequence
        self.check()
        return sequence

    def commit(self) -> list[int]:
        sequences = ref_commit(self.wal, self.storage, self.header)
        self.state, model_sequences = model_commit(self.state)
        assert model_sequences == sequences
        self.check()
        return sequences

    def pending(self) -> list[tuple[int, bytes]]:
        records = [(w.sequence, w.payload) for w in self.wal.pending_records()]
        self.state, model_records = model_pending(self.state)
        assert model_records == records
        self.check()
        return records

    @property
    def region(self) -> bytes:
        return region_of(self.storage)

    def check(self) -> None:
        assert model_region(self.state) == self.region
        assert model_write_head(self.state) == self.wal.write_head
        on_disk = r.decode_header(bytes(self.storage.data[:HEADER_SIZE]))
        assert (on_disk.wal_checkpoint_pos, on_disk.wal_sequence) == (
            self.state.disk.header.wal_checkpoint_pos,
            self.state.disk.header.wal_sequence,
        )


def _region_with(*entries: tuple[int, bytes], tail: bytes = b"") -> bytes:
    """A 256-byte region: the entries back to back from 0, zeros, then ``tail``."""
    body = b"".join(r.encode_entry(sequence, payload) for sequence, payload in entries)
    return body + bytes(REGION_SIZE - len(body) - len(tail)) + tail


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_2_append_would_leave_fewer_than_48_bytes(design: r.Design) -> None:
    """F3.2, F4 check 3: an entry of 236 bytes in a 256-byte region. ORIGINAL
    writes it, zeroes the 20 stale bytes, puts the sentinel at 0 and loses the
    record (D1); FIXED refuses it as too small and writes nothing."""
    pair = Pair.create(design, stale=b"\xee" * 56)  # stale bytes at [200, 256)
    payload = b"p" * 188
    if design is r.Design.FIXED:
        before = pair.region
        with pytest.raises(r.CheckpointFailed) as caught:
            pair.wal.append_entry(payload)
        assert caught.value.reason == "embedded WAL region too small for entry"
        pair.state, result = model_append(pair.state, payload)
        assert isinstance(result, m.WalError) and result.reason == caught.value.reason
        assert pair.region == before
        pair.check()
        return
    assert pair.append(payload) == 1
    region = pair.region
    assert region[48:236] == payload
    assert region[236:256] == bytes(20)
    assert region[:48] == ZERO_HEADER
    assert pair.wal.write_head == 0
    assert pair.pending() == []


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_2_fixed_never_ends_an_entry_in_the_last_47_bytes(design: r.Design) -> None:
    """F3.2, F4 check 6: at write head 60, an entry ending at 236. With a record
    pending, FIXED says "region full" (ORIGINAL writes it and loses both records);
    with nothing pending, FIXED wraps to 0."""
    pair = Pair.create(design)
    pair.append(b"a" * 12)  # [0, 60)
    payload = b"p" * 128  # entry of 176: would end at 236
    if design is r.Design.ORIGINAL:
        assert pair.append(payload) == 2
        assert pair.region[:48] == ZERO_HEADER
        assert pair.region[60:236] == r.encode_entry(2, payload)
        assert pair.pending() == []
        return
    with pytest.raises(r.CheckpointFailed) as caught:
        pair.wal.append_entry(payload)
    assert caught.value.reason == "embedded WAL region full"
    pair.state, result = model_append(pair.state, payload)
    assert isinstance(result, m.WalError) and result.reason == caught.value.reason
    pair.check()
    assert pair.commit() == [1]
    assert pair.append(payload) == 2
    assert pair.region[:176] == r.encode_entry(2, payload, synced_before=True)  # D6: after 1's sync
    assert pair.region[176:224] == ZERO_HEADER
    assert pair.wal.write_head == 176
    assert pair.pending() == [(2, payload)]


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_2_open_with_the_scan_end_in_the_last_47_bytes(design: r.Design) -> None:
    """F3.2: a region whose log ends at 236 (one record, stale bytes after it).
    Opening zeroes the tail in both designs; ORIGINAL then puts the sentinel at 0
    and loses the pending record, FIXED writes nothing more and keeps it."""
    payload = b"p" * 188
    region = _region_with((1, payload), tail=b"\xee" * 20)
    storage = r.MemoryStorage()
    header = r.create_mv2(storage, REGION_SIZE)
    storage.write_at(HEADER_SIZE, region)
    wal = r.EmbeddedWal.open(storage, header, design=design)
    state = m.initial_state(m.Design(design.value), REGION_SIZE, region=m.Region.from_bytes(region))
    state, error = m.open_wal(state)
    assert error is None
    after = region_of(storage)
    assert model_region(state) == after
    assert model_write_head(state) == wal.write_head
    assert after[236:] == bytes(20)
    if design is r.Design.ORIGINAL:
        assert after[:48] == ZERO_HEADER
        assert wal.write_head == 0
        assert wal.pending_records() == []
    else:
        assert after[:236] == region[:236]
        assert wal.write_head == 236
        assert wal.pending_records() == [r.WalRecord(1, payload)]


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_3_entry_would_end_at_the_region_end(design: r.Design) -> None:
    """F3.3: after a commit at 148, an entry of 108 would end at 256. ORIGINAL
    writes it, sets write_head 0 and puts the sentinel on record 1, so record 2
    is lost (D1). FIXED: it does not fit, nothing is pending, so it wraps to 0."""
    pair = Pair.create(design)
    pair.append(b"A" * 100)
    assert pair.commit() == [1]
    assert pair.append(b"E" * 60) == 2
    region = pair.region
    if design is r.Design.ORIGINAL:
        assert region[148:256] == r.encode_entry(2, b"E" * 60)
        assert pair.wal.write_head == 0
        assert region[:48] == ZERO_HEADER
        assert pair.pending() == []
        return
    assert region[:108] == r.encode_entry(2, b"E" * 60, synced_before=True)  # D6
    assert region[108:156] == ZERO_HEADER
    assert pair.wal.write_head == 108
    assert pair.pending() == [(2, b"E" * 60)]


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_3_pending_bytes_fill_the_region(design: r.Design) -> None:
    """F3.3, the exception: one entry of exactly 256 bytes. No sentinel is written
    in either design and the record at 0 survives. ORIGINAL's write head is 0,
    FIXED's is 256; FIXED's checkpoint stores wal_checkpoint_pos 0 and the next
    append wraps."""
    pair = Pair.create(design)
    payload = b"q" * (REGION_SIZE - 48)
    pair.append(payload)
    assert pair.region == r.encode_entry(1, payload)
    assert pair.pending() == [(1, payload)]
    if design is r.Design.ORIGINAL:
        assert pair.wal.write_head == 0
        return
    assert pair.wal.write_head == REGION_SIZE
    assert pair.commit() == [1]
    assert (pair.header.wal_checkpoint_pos, pair.header.wal_sequence) == (0, 1)
    assert r.scan_region(pair.region)[1] == REGION_SIZE
    assert pair.wal.write_head == REGION_SIZE
    assert pair.append(b"F" * 10) == 2
    assert pair.region[:58] == r.encode_entry(2, b"F" * 10, synced_before=True)  # D6
    assert pair.region[58:106] == ZERO_HEADER
    assert pair.wal.write_head == 58


@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_f3_3_open_with_the_scan_end_at_the_region_end(design: r.Design) -> None:
    """F3.3: a region holding record 1 (checkpointed) at [0, 148) and record 2
    (pending) at [148, 256). ORIGINAL's open puts the sentinel at 0 and loses
    record 2; FIXED's keeps write_head 256 and writes nothing."""
    region = _region_with((1, b"A" * 100), (2, b"E" * 60))
    assert len(region) == REGION_SIZE
    storage = r.MemoryStorage()
    header = r.create_mv2(storage, REGION_SIZE)
    header.wal_checkpoint_pos, header.wal_sequence = 148, 1
    r.write_header(storage, header)
    storage.write_at(HEADER_SIZE, region)
    since = len(storage.writes)
    wal = r.EmbeddedWal.open(storage, header, design=design)
    state = m.initial_state(
        m.Design(design.value),
        REGION_SIZE,
        wal_sequence=1,
        wal_checkpoint_pos=148,
        region=m.Region.from_bytes(region),
    )
    state, error = m.open_wal(state)
    assert error is None
    assert model_region(state) == region_of(storage)
    assert model_write_head(state) == wal.write_head
    if design is r.Design.ORIGINAL:
        assert _region_writes(storage, since) == [(0, 48)]
        assert wal.write_head == 0
        assert wal.pending_records() == []
    else:
        assert _region_writes(storage, since) == []
        assert wal.write_head == REGION_SIZE
        assert wal.pending_records() == [r.WalRecord(2, b"E" * 60)]


# ---------------------------------------------------------------------------
# F1: the MV2 header
# ---------------------------------------------------------------------------


def valid_header_bytes() -> bytearray:
    header = r.Header(
        wal_size=65536,
        footer_offset=70000,
        wal_checkpoint_pos=1234,
        wal_sequence=7,
        toc_checksum=bytes(range(32)),
    )
    return bytearray(r.encode_header(header))


def _corrupt_magic(raw: bytearray) -> None:
    raw[0:4] = b"MV3\x00"


def _corrupt_version(raw: bytearray) -> None:
    raw[4:6] = b"\x02\x01"  # 0x0102: the version stored big-endian


def _corrupt_spec_bytes(raw: bytearray) -> None:
    raw[7] = 0


def _corrupt_wal_offset(raw: bytearray) -> None:
    raw[16:24] = struct.pack("<Q", 4095)


def _corrupt_wal_size(raw: bytearray) -> None:
    raw[24:32] = bytes(8)


# F1.3, in the order the checks run.
DECODE_CHECKS: list[tuple[str, Callable[[bytearray], None]]] = [
    ("magic mismatch", _corrupt_magic),
    ("unsupported version", _corrupt_version),
    ("spec byte mismatch", _corrupt_spec_bytes),
    ("wal_offset precedes data region", _corrupt_wal_offset),
    ("wal_size must be non-zero", _corrupt_wal_size),
]


def test_f1_1_field_offsets() -> None:
    """F1.1: every field at its offset, little-endian; version bytes 01 02."""
    raw = bytes(valid_header_bytes())
    assert raw[0:4] == b"MV2\x00"
    assert raw[4:6] == b"\x01\x02"
    assert raw[6:8] == b"\x02\x01"
    assert struct.unpack_from("<QQQQQ", raw, 8) == (70000, 4096, 65536, 1234, 7)
    assert raw[48:80] == bytes(range(32))
    assert raw[80:] == bytes(HEADER_SIZE - 80)
    assert len(raw) == HEADER_SIZE


def test_f1_3_decode_reasons_in_the_doc() -> None:
    """F1.3: the doc lists the reasons in this order."""
    doc = format_md()
    positions = [doc.index(f"| `{reason}` |") for reason, _ in DECODE_CHECKS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("index", range(len(DECODE_CHECKS)), ids=[reason for reason, _ in DECODE_CHECKS])
def test_f1_3_each_decode_check(index: int) -> None:
    """F1.3: one bad field gives its own reason."""
    reason, corrupt = DECODE_CHECKS[index]
    raw = valid_header_bytes()
    corrupt(raw)
    with pytest.raises(r.InvalidHeader) as caught:
        r.decode_header(bytes(raw))
    assert caught.value.reason == reason


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(range(len(DECODE_CHECKS)), 2)))
def test_f1_3_earlier_check_wins(first: int, second: int) -> None:
    """F1.3: with two bad fields, the earlier check decides the reason."""
    raw = valid_header_bytes()
    DECODE_CHECKS[first][1](raw)
    DECODE_CHECKS[second][1](raw)
    with pytest.raises(r.InvalidHeader) as caught:
        r.decode_header(bytes(raw))
    assert caught.value.reason == DECODE_CHECKS[first][0]


def test_f1_3_decode_ignores_unchecked_fields_and_bytes_past_80() -> None:
    """F1.3: footer_offset, checkpoint fields, toc_checksum and bytes 80..4096 are
    not checked; wal_checkpoint_pos may exceed wal_size."""
    raw = valid_header_bytes()
    raw[32:40] = struct.pack("<Q", 2**64 - 1)
    raw[80:HEADER_SIZE] = b"\xee" * (HEADER_SIZE - 80)
    header = r.decode_header(bytes(raw))
    assert header.wal_checkpoint_pos == 2**64 - 1
    assert r.encode_header(header)[80:] == bytes(HEADER_SIZE - 80)


def test_f1_3_short_file() -> None:
    """F1.3: a file shorter than 4096 bytes fails reading, before decoding."""
    with pytest.raises(r.WalIoError) as caught:
        r.read_header(r.MemoryStorage(bytes(valid_header_bytes()[:4000])))
    assert caught.value.reason == "failed to fill whole buffer"


ENCODE_CHECKS: list[tuple[str, dict[str, object]]] = [
    ("magic mismatch", {"magic": b"MV3\x00"}),
    ("unsupported version", {"version": 0x0102}),
    ("wal_offset precedes data region", {"wal_offset": 4095}),
    ("wal_size must be non-zero", {"wal_size": 0}),
]


def _header_with(**changes: object) -> r.Header:
    header = r.decode_header(bytes(valid_header_bytes()))
    for name, value in changes.items():
        setattr(header, name, value)
    return header


@pytest.mark.parametrize("index", range(len(ENCODE_CHECKS)), ids=[reason for reason, _ in ENCODE_CHECKS])
def test_f1_4_each_encode_check(index: int) -> None:
    """F1.4: encode validates magic, version, wal_offset, wal_size, in that order."""
    reason, changes = ENCODE_CHECKS[index]
    with pytest.raises(r.InvalidHeader) as caught:
        r.encode_header(_header_with(**changes))
    assert caught.value.reason == reason
    # Together with every later bad field, this one still wins.
    later: dict[str, object] = {}
    for _, more in ENCODE_CHECKS[index:]:
        later.update(more)
    with pytest.raises(r.InvalidHeader) as caught:
        r.encode_header(_header_with(**later))
    assert caught.value.reason == reason


VALID_HEADERS = st.builds(
    r.Header,
    footer_offset=st.integers(0, 2**64 - 1),
    wal_offset=st.integers(4096, 2**64 - 1),
    wal_size=st.integers(1, 2**64 - 1),
    wal_checkpoint_pos=st.integers(0, 2**64 - 1),
    wal_sequence=st.integers(0, 2**64 - 1),
    toc_checksum=st.binary(min_size=32, max_size=32),
)


@given(header=VALID_HEADERS)
def test_f1_4_encode_decode_round_trip(header: r.Header) -> None:
    """F1.1, F1.4: decode(encode(h)) == h; spec bytes from the constants; zeros past 80."""
    raw = r.encode_header(header)
    assert len(raw) == HEADER_SIZE
    assert raw[6:8] == b"\x02\x01"
    assert raw[80:] == bytes(HEADER_SIZE - 80)
    assert r.decode_header(raw) == header


@given(header=VALID_HEADERS)
def test_a_header_copy_is_equal_and_apart(header: r.Header) -> None:
    """record_checkpoint writes into the header it is given: a commit's copy must
    not write into the memory's own."""
    copy = header.copy()
    assert copy == header and copy is not header
    copy.wal_sequence ^= 1
    assert copy != header


LOCK_BYTES = b"\xaa" * 60


def test_f1_2_legacy_lock_bytes_cleared_and_written_back() -> None:
    """F1.2: non-zero bytes 80..140 are zeroed and the header written back at 0,
    without a sync; bytes 140..4096 are left alone."""
    raw = valid_header_bytes()
    raw[80:140] = LOCK_BYTES
    raw[140:150] = b"\xbb" * 10
    storage = r.MemoryStorage(bytes(raw) + bytes(100))
    header = r.read_header(storage)
    assert header == r.decode_header(bytes(valid_header_bytes()))
    assert storage.writes == [(0, HEADER_SIZE)]
    assert storage.syncs == 0
    assert storage.data[80:140] == bytes(60)
    assert storage.data[140:150] == b"\xbb" * 10
    assert storage.data[:80] == raw[:80]


def test_f1_2_no_write_when_lock_bytes_are_zero_or_clearing_is_off() -> None:
    """F1.2: nothing is written when bytes 80..140 are zero, nor with
    clear_legacy_lock=False."""
    clean = r.MemoryStorage(bytes(valid_header_bytes()))
    r.read_header(clean)
    assert clean.writes == []
    raw = valid_header_bytes()
    raw[80:140] = LOCK_BYTES
    storage = r.MemoryStorage(bytes(raw))
    header = r.read_header(storage, clear_legacy_lock=False)
    assert header.wal_size == 65536
    assert storage.writes == []
    assert bytes(storage.data) == bytes(raw)


# ---------------------------------------------------------------------------
# Real files (memvid-sdk 2.0.160)
# ---------------------------------------------------------------------------


def test_real_files_are_present() -> None:
    assert [p.name for p in REAL_FILES] == ["a_one_put.mv2", "d_small_puts.mv2"]


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_file_header_round_trip(path: Path) -> None:
    """Real files, F1.1, F1.4: encode(decode(x)) == x on the first 4096 bytes."""
    raw = path.read_bytes()[:HEADER_SIZE]
    assert raw[:8] == bytes.fromhex("4d56320001020201")
    assert raw[80:] == bytes(HEADER_SIZE - 80)
    header = r.decode_header(raw)
    assert header.wal_offset == rh.WAL_OFFSET == 4096
    assert r.encode_header(header) == raw


# The "Real files" table of spec/format.md.
REAL_FILE_TABLE = {
    "a_one_put.mv2": (65536, 1591, 2),
    "d_small_puts.mv2": (262144, 217330, 160),
}


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("design", list(r.Design), ids=lambda d: d.value)
def test_real_file_scan(path: Path, design: r.Design, tmp_path: Path) -> None:
    """Real files, F2.3, F3.1: a read-only open of a copy finds sequences 1..N with
    no gap, the last equal to wal_sequence, the scan end equal to
    wal_checkpoint_pos, reserved bytes zero, zeros to the region end; the file is
    unchanged; the model's scan finds the same records."""
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    original = path.read_bytes()
    with r.FileStorage(copy) as storage:
        header = r.read_header(storage)
        wal = r.EmbeddedWal.open_read_only(storage, header, design=design)
        records = wal.records_after(0)
        write_head = wal.write_head
    assert copy.read_bytes() == original
    assert [w.sequence for w in records] == list(range(1, len(records) + 1))
    assert records[-1].sequence == header.wal_sequence
    assert write_head == header.wal_checkpoint_pos
    assert (header.wal_size, header.wal_checkpoint_pos, len(records)) == REAL_FILE_TABLE[path.name]
    assert header.wal_size % 65536 == 0 and (header.wal_size // 65536).bit_count() == 1

    region = original[header.wal_offset : header.wal_offset + header.wal_size]
    found, end = r.scan_region(region)
    assert end == write_head
    assert all(region[s.position + 12 : s.position + 16] == bytes(4) for s in found)
    assert region[end:] == bytes(len(region) - end)
    scanned = m.scan(m.Region.from_bytes(region), m.Design.ORIGINAL, 0)
    assert not isinstance(scanned, m.WalError)
    model_found, model_end = scanned
    assert model_end == end
    assert [(s.record.sequence, s.record.payload) for s in model_found] == [
        (w.sequence, w.payload) for w in records
    ]


@pytest.mark.parametrize("path", REAL_FILES[:1], ids=lambda p: p.name)
def test_real_file_writable_open_rewrites_an_existing_sentinel(path: Path) -> None:
    """Real files, F3.1: a writable open writes the sentinel at the scan end, where
    48 zero bytes already are, so the bytes do not change."""
    original = path.read_bytes()
    storage = r.MemoryStorage(original)
    header = r.read_header(storage)
    wal = r.EmbeddedWal.open(storage, header)
    assert storage.writes == [(header.wal_offset + header.wal_checkpoint_pos, 48)]
    assert wal.pending_records() == []
    assert bytes(storage.data) == original


def test_real_file_table_is_in_the_doc() -> None:
    """Real files: the doc's table holds these numbers."""
    doc = format_md()
    for name, (wal_size, end, count) in REAL_FILE_TABLE.items():
        rows = [line for line in doc.splitlines() if line.startswith(f"| {name}")]
        assert len(rows) == 1, name
        assert [cell.strip() for cell in rows[0].split("|")[2:5]] == [str(wal_size), str(end), str(count)]


def test_the_mark_fills_the_reserved_bytes() -> None:
    """F2.1: the R7 mark is exactly the entry header's 4 reserved bytes."""
    from model.format import RESERVED_SIZE, SYNCED_BEFORE_MARK

    assert (len(SYNCED_BEFORE_MARK), RESERVED_SIZE) == (4, 4)
