"""Hostile files: whatever bytes a .mv2 file holds, the reference fails only as spec S4 says.

A file is a 4096-byte MV2 header followed by region bytes, both made up by Hypothesis:
header fields anywhere in their u64 range (wal_size up to 2**64 - 1), raw header
bytes, and regions built from entry headers that look valid (some with the right
blake3, so the scan goes deep), forged lengths and checksums, sentinels and noise.
For both designs, reading such a file raises a WalError subclass or succeeds, quickly,
without writing, and with memory bounded by the bytes the file really has; writing to
it (FIXED) stays inside the region (G6; ORIGINAL breaks it, D3).
"""

from __future__ import annotations

import errno
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import blake3
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    InvalidHeader,
    MemoryStorage,
    Storage,
    WalError,
    WalIoError,
    WalRecord,
    decode_header,
    encode_entry,
    encode_header,
    read_header,
)
from reference.header import HEADER_SIZE, LEGACY_LOCK_END, LEGACY_LOCK_START, REASON_TRUNCATED, WAL_OFFSET
from reference.storage import OFFSET_MAX
from reference.wal import ENTRY_HEADER_SIZE, REASON_SHORT_READ
from walcheck import figures

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
# Per example. Each example is a few scans of at most a few KiB; two seconds means a hang
# or an allocation the size of what a header claims, not a slow machine.
DEADLINE = timedelta(seconds=2)
# Region bytes drawn at most; wal_size is drawn around this, or huge.
REGION_BYTES_MAX = 4096
# A gap between the header and a region that starts past 4096 is real bytes, so small.
WAL_OFFSET_GAP_MAX = 128
# Well above what a scan of REGION_BYTES_MAX needs, far below any header-sized allocation.
MEMORY_PEAK_MAX = 8 * 2**20
LEGACY_LOCK_LENGTH = LEGACY_LOCK_END - LEGACY_LOCK_START

u64s = st.integers(0, U64_MAX)
# Small sequences collide with small wal_sequence values, so pending and applied both happen.
sequences = st.integers(0, 8) | u64s
huge_wal_sizes = st.sampled_from([2**32, 2**40, 2**62, 2**63 - 1, 2**63, U64_MAX]) | st.integers(
    REGION_BYTES_MAX + 1, U64_MAX
)

T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """A choice among strategies, each ``weight`` times as likely; shrinks towards the first.
    (st.one_of cannot weight: it drops a strategy given twice.)"""
    repeated = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(repeated).flatmap(lambda strategy: strategy)


def entry_header(sequence: int, length: int, checksum: bytes, reserved: bytes = bytes(4)) -> bytes:
    """F2.1: sequence u64, length u32, 4 reserved bytes, 32-byte checksum."""
    return struct.pack("<QI", sequence, length) + reserved + checksum


# -- Region pieces (F3.4: each lands on one row of the scan's decision table) ---------------------

# Row A: a record the scan accepts, so the walk goes on past it.
valid_entries = st.builds(encode_entry, sequences, st.binary(min_size=1, max_size=64))


@st.composite
def log_runs(draw: st.DrawFn, first_sequence: int) -> bytes:
    """Row A again and again, as a writer leaves them: consecutive sequences from
    ``first_sequence`` (wrapping past 2**64 - 1 as ORIGINAL does, D2). Two runs in one
    region look like a log over the leftovers of an earlier pass round the ring."""
    payloads = draw(st.lists(st.binary(min_size=1, max_size=48), min_size=1, max_size=8))
    return b"".join(
        encode_entry((first_sequence + index) & U64_MAX, payload) for index, payload in enumerate(payloads)
    )


@st.composite
def forged_entries(draw: st.DrawFn) -> bytes:
    """Rows C1 and C2 mostly: any length (often past the region), a random checksum."""
    length = draw(st.integers(0, 96) | st.integers(0, U32_MAX))
    reserved = draw(st.just(bytes(4)) | st.binary(min_size=4, max_size=4))
    head = entry_header(draw(sequences), length, draw(st.binary(min_size=32, max_size=32)), reserved)
    return head + draw(st.binary(max_size=96))


@st.composite
def tampered_entries(draw: st.DrawFn) -> bytes:
    """Row C2: a valid entry with one byte of its checksum or payload changed."""
    entry = bytearray(draw(valid_entries))
    index = draw(st.integers(16, len(entry) - 1))
    entry[index] ^= draw(st.integers(1, 255))
    return bytes(entry)


# D4: what ORIGINAL writes for an empty payload: length 0 with a non-zero sequence (row C1).
empty_payload_entries = st.builds(
    lambda sequence: entry_header(sequence, 0, blake3.blake3(b"").digest()), st.integers(1, U64_MAX)
)
# Row E2 (a whole sentinel), or a short run of zeros that ends the region early (row E1).
zero_runs = st.just(bytes(ENTRY_HEADER_SIZE)) | st.integers(1, 2 * ENTRY_HEADER_SIZE).map(bytes)
noise = st.binary(min_size=1, max_size=16)


def structured_regions(first_sequence: int) -> st.SearchStrategy[bytes]:
    """Region bytes made of pieces; most start with a run of the log, so scans go deep."""
    log = log_runs(first_sequence)
    pieces = weighted(
        (4, log),
        (1, valid_entries),
        (1, forged_entries()),
        (1, tampered_entries()),
        (1, empty_payload_entries),
        (1, zero_runs),
        (1, noise),
    )
    first_piece = weighted((3, log), (1, pieces))
    return st.builds(lambda first, rest: first + b"".join(rest), first_piece, st.lists(pieces, max_size=7))


# -- Files ----------------------------------------------------------------------------------------


@st.composite
def headers_over(
    draw: st.DrawFn, region_length: int, wal_sequences: st.SearchStrategy[int] = sequences
) -> Header:
    """An MV2 header that encode_header accepts, with every u64 field hostile. wal_size
    is mostly about the region's length (so the region is there to scan), else huge."""
    wal_size = draw(
        weighted(
            (4, st.just(max(1, region_length))),
            (1, st.integers(1, max(1, region_length))),
            (1, st.integers(1, region_length + ENTRY_HEADER_SIZE)),
            (1, st.integers(1, REGION_BYTES_MAX)),
            (1, huge_wal_sizes),
        )
    )
    wal_offset = draw(
        weighted(
            (6, st.just(WAL_OFFSET)),
            (1, st.integers(WAL_OFFSET, WAL_OFFSET + WAL_OFFSET_GAP_MAX)),
            (1, st.integers(WAL_OFFSET, U64_MAX)),
        )
    )
    return Header(
        wal_size=wal_size,
        footer_offset=draw(u64s),
        wal_offset=wal_offset,
        wal_checkpoint_pos=draw(st.integers(0, wal_size) | u64s),
        wal_sequence=draw(wal_sequences),
        toc_checksum=draw(st.binary(min_size=32, max_size=32)),
    )


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    """A header memvid's decoder accepts, then (at wal_offset when that is near) region
    bytes, then a few bytes standing in for the data segments."""
    first_sequence = draw(sequences)
    region = draw(
        weighted((3, structured_regions(first_sequence)), (1, st.binary(max_size=REGION_BYTES_MAX)))
    )
    # The checkpoint just before the log's first record, inside it, or anywhere.
    around_first = st.integers(-1, 8).map(lambda offset: (first_sequence + offset) & U64_MAX)
    header = draw(headers_over(len(region), around_first | sequences))
    raw = bytearray(encode_header(header))
    if draw(st.booleans()):
        # F1.2: legacy lock bytes, which a read that may not write must leave alone.
        raw[LEGACY_LOCK_START:LEGACY_LOCK_END] = draw(
            st.binary(min_size=LEGACY_LOCK_LENGTH, max_size=LEGACY_LOCK_LENGTH)
        )
    gap_length = header.wal_offset - WAL_OFFSET
    gap = (
        draw(st.binary(min_size=gap_length, max_size=gap_length)) if gap_length <= WAL_OFFSET_GAP_MAX else b""
    )
    return bytes(raw) + gap + region + draw(st.binary(max_size=64))


@st.composite
def raw_headers(draw: st.DrawFn) -> bytes:
    """4096 bytes for decode_header: pure noise, or a valid header with some of its first
    80 bytes changed (so each of F1.3's checks is reached, not just the magic)."""
    if draw(st.booleans()):
        return draw(st.binary(min_size=HEADER_SIZE, max_size=HEADER_SIZE))
    raw = bytearray(encode_header(draw(headers_over(0))))
    changes = st.tuples(st.integers(0, LEGACY_LOCK_START - 1), st.integers(0, 255))
    for index, value in draw(st.lists(changes, max_size=4)):
        raw[index] = value
    return bytes(raw)


@st.composite
def raw_header_files(draw: st.DrawFn) -> bytes:
    """A file whose header is raw bytes, possibly cut short of 4096 bytes."""
    data = draw(raw_headers()) + draw(st.binary(max_size=REGION_BYTES_MAX) | structured_regions(1))
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


any_files = weighted((3, hostile_files()), (1, raw_header_files()))
payloads = st.binary(max_size=80)


# -- Driving the reference ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOutcome:
    """What a reader got: a WalError's class and message, or the records."""

    error: tuple[str, str] | None = None
    pending: tuple[WalRecord, ...] = ()
    every: tuple[WalRecord, ...] = ()

    def label(self) -> str:
        """For Hypothesis's statistics (--hypothesis-show-statistics)."""
        if self.error is not None:
            return self.error[0]
        return f"records found {min(len(self.every), 3)}{'+' if len(self.every) >= 3 else ''}"


def read_only_outcome(storage: Storage, design: Design) -> ReadOutcome:
    """What a reader gets: header, open_read_only, pending_records, records_after(0).
    A WalError is an outcome; any other exception escapes and fails the test."""
    try:
        header = read_header(storage, clear_legacy_lock=False)
        wal = EmbeddedWal.open_read_only(storage, header, design=design)
        pending = tuple(wal.pending_records())
        every = tuple(wal.records_after(0))
    except WalError as error:
        return ReadOutcome(error=(type(error).__name__, str(error)))
    return ReadOutcome(pending=pending, every=every)


def write_session(storage: MemoryStorage, design: Design, payload: bytes) -> str:
    """What a writer does with the file: memvid's header read (clearing legacy lock bytes),
    then the WAL's open, recovery, an append and a checkpoint. Stops at the first WalError;
    returns how far it got."""
    try:
        header = read_header(storage)
    except WalError as error:
        return f"header: {error.kind}"
    finally:
        # Only the WAL's own writes are under test, not the header codec's (which writes
        # the cleared legacy bytes back before it decodes, so even when it then fails).
        storage.writes.clear()
    step = "open"
    try:
        wal = EmbeddedWal.open(storage, header, design=design)
        step = "recover"
        wal.pending_records()
        step = "append"
        wal.append_entry(payload)
        step = "rescan"
        wal.records_after(0)
        step = "checkpoint"
        wal.record_checkpoint(header.copy())
    except WalError as error:
        return f"{step}: {error.kind}"
    return "complete"


def count_read_only(design: Design, outcome: ReadOutcome) -> None:
    """The suite's figures: one hostile file opened read-only, its outcome checked."""
    error = outcome.error is not None
    figures.add(figures.HOSTILE_READ_ONLY_ERROR if error else figures.HOSTILE_READ_ONLY_RECORDS, design)


def count_writable(design: Design, session: str) -> None:
    """The suite's figures: one hostile file opened for writing, its outcome checked."""
    complete = session == "complete"
    figures.add(figures.HOSTILE_WRITABLE_COMPLETE if complete else figures.HOSTILE_WRITABLE_ERROR, design)


def region_bounds(data: bytes) -> tuple[int, int] | None:
    """[wal_offset, wal_offset + wal_size) of a file whose header decodes, else None."""
    try:
        header = decode_header(data[:HEADER_SIZE])
    except WalError:
        return None
    return header.wal_offset, header.wal_offset + header.wal_size


# -- Properties -----------------------------------------------------------------------------------


@settings(max_examples=500, deadline=DEADLINE)
@given(raw=raw_headers() | st.binary(max_size=HEADER_SIZE + 16))
def test_decode_header_raises_only_invalid_header(raw: bytes) -> None:
    """F1.3 on any bytes: a Header that re-encodes to the same 80 bytes, or InvalidHeader."""
    try:
        header = decode_header(raw)
    except InvalidHeader as error:
        assert len(raw) >= HEADER_SIZE or error.reason == REASON_TRUNCATED
        return
    assert encode_header(header)[:LEGACY_LOCK_START] == raw[:LEGACY_LOCK_START]
    assert header.wal_size > 0 and header.wal_offset >= WAL_OFFSET


@settings(max_examples=1000, deadline=DEADLINE)
@given(data=any_files)
def test_read_only_open_fails_only_with_wal_errors_and_writes_nothing(data: bytes) -> None:
    """S3.3 and S4 on hostile files, both designs: a WalError or records, never another
    exception; not a byte written, not a sync."""
    for design in Design:
        storage = MemoryStorage(data)
        outcome = read_only_outcome(storage, design)
        event(f"{design.value}: {outcome.label()}")
        assert storage.data == data
        assert storage.writes == []
        assert storage.syncs == 0
        count_read_only(design, outcome)


@settings(max_examples=1000, deadline=DEADLINE)
@given(data=any_files, payload=payloads)
def test_writable_open_fails_only_with_wal_errors_and_fixed_writes_stay_in_region(
    data: bytes, payload: bytes
) -> None:
    """S3.2 and S4 for a writer on hostile files, both designs; G6 for FIXED: every write
    of the WAL lies inside [wal_offset, wal_offset + wal_size)."""
    for design in Design:
        storage = MemoryStorage(data)
        session = write_session(storage, design, payload)
        event(f"{design.value}: {session}")
        if design is Design.FIXED and storage.writes:
            bounds = region_bounds(data)
            assert bounds is not None
            region_start, region_end = bounds
            for offset, length in storage.writes:
                assert region_start <= offset and offset + length <= region_end, (offset, length, bounds)
        count_writable(design, session)


@settings(max_examples=150, deadline=DEADLINE)
@given(data=any_files)
def test_read_only_open_through_file_storage_matches_memory(data: bytes) -> None:
    """The same reader through a real file: FileStorage fails as MemoryStorage does (no
    OverflowError or MemoryError from a u64 offset or size) and leaves the file as it was."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "hostile.mv2"
        path.write_bytes(data)
        for design in Design:
            with FileStorage(path, read_only=True) as storage:
                outcome = read_only_outcome(storage, design)
            assert outcome == read_only_outcome(MemoryStorage(data), design)
            count_read_only(design, outcome)
        assert path.read_bytes() == data


# -- Memory and time stay bounded by the file, not by the header ----------------------------------


def small_file_claiming(wal_size: int, wal_offset: int = WAL_OFFSET) -> bytes:
    """A header whose region is far larger than the file, then one valid entry."""
    return encode_header(Header(wal_size=wal_size, wal_offset=wal_offset)) + encode_entry(1, b"x") + bytes(64)


def assert_prompt_open(open_wal: Callable[[], EmbeddedWal], design: Design) -> EmbeddedWal | None:
    """Time and memory bounded by the file, not by the header. FIXED reads the
    region whole, so the short file is a short read; ORIGINAL reads entry by
    entry as memvid does (S3.2), so it opens when the log ends inside the file.
    Returns the open WAL (ORIGINAL) or None (the short read)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            wal: EmbeddedWal | None = open_wal()
        except WalIoError as short:
            assert short.reason == REASON_SHORT_READ
            wal = None
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < DEADLINE.total_seconds()
    assert peak < MEMORY_PEAK_MAX
    return wal


def assert_short_read_promptly(open_wal: Callable[[], EmbeddedWal]) -> None:
    assert assert_prompt_open(open_wal, Design.FIXED) is None


HUGE_CLAIMS = [2**40, 2**62, 2**63, U64_MAX]


@pytest.mark.parametrize("wal_size", HUGE_CLAIMS)
@pytest.mark.parametrize("design", list(Design), ids=lambda design: design.value)
@pytest.mark.parametrize("read_only", [True, False], ids=["read_only", "writable"])
def test_huge_wal_size_is_a_prompt_short_read_in_memory(
    wal_size: int, design: Design, read_only: bool
) -> None:
    storage = MemoryStorage(small_file_claiming(wal_size))
    header = read_header(storage, clear_legacy_lock=False)
    opener = EmbeddedWal.open_read_only if read_only else EmbeddedWal.open
    wal = assert_prompt_open(lambda: opener(storage, header, design=design), design)
    if design is Design.FIXED:
        assert wal is None and storage.writes == []
        figures.add(figures.HOSTILE_READ_ONLY_ERROR if read_only else figures.HOSTILE_WRITABLE_ERROR, design)
        return
    # memvid reads the entry and the sentinel after it, both inside the file (S3.2).
    assert wal is not None and wal.pending_records() == [WalRecord(1, b"x")]
    assert storage.writes == ([] if read_only else [(WAL_OFFSET + 49, 48)] * 2)
    if read_only:
        figures.add(figures.HOSTILE_READ_ONLY_RECORDS, design)


@pytest.mark.parametrize(
    ("wal_size", "wal_offset"),
    [*((size, WAL_OFFSET) for size in HUGE_CLAIMS), (64, OFFSET_MAX), (64, 2**63), (64, U64_MAX - 64)],
)
@pytest.mark.parametrize("design", list(Design), ids=lambda design: design.value)
def test_huge_wal_size_or_offset_is_a_prompt_short_read_on_disk(
    wal_size: int, wal_offset: int, design: Design, tmp_path: Path
) -> None:
    """FileStorage asks the kernel for one bounded chunk at a time and reads nothing past
    the largest offset a file can have: a claim of 2**63 bytes is a short read, not an
    allocation of 2**63 bytes (MemoryError) or an OverflowError from os.pread."""
    path = tmp_path / "claims.mv2"
    path.write_bytes(small_file_claiming(wal_size, wal_offset))
    with FileStorage(path, read_only=True) as storage:
        header = read_header(storage, clear_legacy_lock=False)
        wal = assert_prompt_open(lambda: EmbeddedWal.open_read_only(storage, header, design=design), design)
        # ORIGINAL opens where the log ends inside the file (a claim at 4096), and a
        # region past the file's end is a short read for both (S3.2).
        opens = design is Design.ORIGINAL and wal_offset == WAL_OFFSET
        assert (wal is not None) == opens
        if wal is not None:
            assert wal.pending_records() == [WalRecord(1, b"x")]
    figures.add(figures.HOSTILE_READ_ONLY_RECORDS if opens else figures.HOSTILE_READ_ONLY_ERROR, design)


def test_file_storage_refuses_writes_past_the_largest_offset(tmp_path: Path) -> None:
    """An OSError (which the WAL turns into WalIoError), not an OverflowError."""
    with FileStorage(tmp_path / "f.mv2", create=True) as storage:
        with pytest.raises(OSError) as refused:
            storage.write_at(OFFSET_MAX, b"ab")
        assert refused.value.errno == errno.EFBIG
        storage.write_at(OFFSET_MAX + 1, b"")  # nothing to write is nothing to refuse
        assert storage.size() == 0


# -- D3: ORIGINAL writes past a region under 48 bytes; FIXED never does ---------------------------


@pytest.mark.parametrize("wal_size", [1, 47])
def test_original_writes_past_a_small_region_and_fixed_does_not(wal_size: int) -> None:
    """spec/defects.md D3: opening a region under 48 bytes for writing makes ORIGINAL write
    a 48-byte sentinel at position 0, running past the region onto what follows it."""
    data_after_region = b"\xa5" * 64
    data = encode_header(Header(wal_size=wal_size)) + bytes(wal_size) + data_after_region
    region_end = WAL_OFFSET + wal_size

    original = MemoryStorage(data)
    EmbeddedWal.open(original, decode_header(data[:HEADER_SIZE]), design=Design.ORIGINAL)
    assert (WAL_OFFSET, ENTRY_HEADER_SIZE) in original.writes
    assert any(offset + length > region_end for offset, length in original.writes)
    clobbered = ENTRY_HEADER_SIZE - wal_size
    assert original.data[region_end:] == bytes(clobbered) + data_after_region[clobbered:]

    fixed = MemoryStorage(data)
    EmbeddedWal.open(fixed, decode_header(data[:HEADER_SIZE]), design=Design.FIXED)
    assert all(offset >= WAL_OFFSET and offset + length <= region_end for offset, length in fixed.writes)
    assert fixed.data[region_end:] == data_after_region
