"""Hostile inputs made from real memvid files (issue 14): ``inspect``, ``read_header``
and the WAL's opens on mutations of files memvid-sdk wrote (tests/data, and files
the SDK makes at test time): bit flips, byte runs, truncation, header and entry
field edits, splices, legacy lock bytes. Every input: no exception but a
``WalError`` (inspect: none at all), under a second, memory bounded by the region
the file holds, and the file never written.

Inputs: 2,000 by default and in CI, 100,000 with HYPOTHESIS_PROFILE=thorough.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    MemoryStorage,
    WalError,
    WalIoError,
    decode_header,
    encode_entry,
    read_header,
    scan_region,
)
from reference.header import HEADER_SIZE, LEGACY_LOCK_END, LEGACY_LOCK_START
from reference.wal import ENTRY_HEADER_SIZE
from walcheck import figures
from walcheck.real.inspect import as_json, inspect_file, render

DATA = Path(__file__).parent / "data"
TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_memvid_files.py"
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
INPUTS = 100_000 if THOROUGH else 2_000
# Memory is traced on one input in MEMORY_SAMPLE: tracing makes an input about six
# times slower.
MEMORY_SAMPLE = 10
# CPU seconds, not wall time: a loaded machine stretches the wall clock, not the work
# an input costs (a hang or a loop over a sequence range is seconds of CPU).
SECOND = 1.0
U64_MAX = 2**64 - 1
# Peak traced memory per input: a few copies of the region the file holds, and a
# little for everything else (the region is at most 256 KiB here).
MEMORY_PER_REGION_BYTE = 8
MEMORY_SLACK = 2**20


def _memvid_sdk_files() -> list[bytes]:
    """Files memvid-sdk makes now: pending records (three puts whose commit failed)."""
    try:
        import importlib.util

        if importlib.util.find_spec("memvid_sdk") is None:
            raise ImportError("memvid_sdk")
    except ImportError:
        if os.environ.get("CI"):
            raise
        return []
    with tempfile.TemporaryDirectory() as directory:
        child = subprocess.run(
            [sys.executable, str(TOOL), directory, "pending", "put_many"],
            capture_output=True,
            text=True,
            env={**os.environ, "MEMVID_TELEMETRY": "0"},
            check=False,
        )
        assert child.returncode == 0, child.stderr
        return [(Path(directory) / f"{name}.mv2").read_bytes() for name in ("pending", "put_many")]


def _seeds() -> list[bytes]:
    stored = [path.read_bytes() for path in sorted(DATA.glob("*.mv2"))]
    return stored + _memvid_sdk_files()


SEEDS = _seeds()


def _entry_positions(data: bytes) -> list[int]:
    header = decode_header(data[:HEADER_SIZE])
    region = data[header.wal_offset : header.wal_offset + header.wal_size]
    found, end = scan_region(region)
    return [header.wal_offset + record.position for record in found] + [header.wal_offset + end]


ENTRY_POSITIONS = [_entry_positions(seed) for seed in SEEDS]
SEED_CHOICES = [index for index, seed in enumerate(SEEDS) for _ in range(1 if len(seed) > 2**17 else 4)]
INTERESTING_U64 = [
    0,
    1,
    2,
    47,
    48,
    49,
    4095,
    4096,
    4097,
    65536,
    2**32,
    2**63 - 1,
    2**63,
    U64_MAX - 1,
    U64_MAX,
]
INTERESTING_U32 = [0, 1, 47, 48, 65535, 65536, 2**31, 2**32 - 1]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, str]:
    """A seed file and one to four changes to it, and what they were."""
    # The large seed (d_small_puts, 160 records in 256 KiB) costs ten times the others.
    index = draw(st.sampled_from(SEED_CHOICES))
    data = bytearray(SEEDS[index])
    entries = ENTRY_POSITIONS[index]
    done = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["flip", "run", "truncate", "header", "entry", "splice", "legacy", "stray"])
        )
        size = len(data)
        if size == 0:
            break
        low = min(HEADER_SIZE, size - 1)
        near_log = st.integers(low, max(low, min(size - 1, entries[-1] + 2 * ENTRY_HEADER_SIZE)))
        anywhere = st.integers(0, size - 1)
        if kind == "flip":
            position = draw(near_log | anywhere | st.integers(0, min(size, LEGACY_LOCK_START) - 1))
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "run":
            start = draw(near_log | anywhere)
            length = draw(st.integers(1, 96))
            data[start : start + length] = bytes([draw(st.sampled_from([0, 0xFF, 0x41, 1]))]) * length
        elif kind == "truncate":
            del data[draw(near_log | anywhere) :]
        elif kind == "header" and size >= 48:
            field = draw(st.sampled_from([8, 16, 24, 32, 40]))
            value = draw(
                st.sampled_from(INTERESTING_U64) | st.integers(0, 2 * size) | st.integers(0, U64_MAX)
            )
            data[field : field + 8] = value.to_bytes(8, "little")
        elif kind == "entry":
            position = draw(st.sampled_from(entries))
            if position + ENTRY_HEADER_SIZE <= size:
                part = draw(st.sampled_from(["sequence", "length", "reserved"]))
                if part == "sequence":
                    value = draw(st.sampled_from(INTERESTING_U64) | st.integers(0, 300))
                    data[position : position + 8] = value.to_bytes(8, "little")
                elif part == "length":
                    value = draw(st.sampled_from(INTERESTING_U32) | st.integers(0, 4096))
                    data[position + 8 : position + 12] = value.to_bytes(4, "little")
                else:
                    data[position + 12 : position + 16] = draw(
                        st.sampled_from([b"SYNC", b"\x00SYN", b"\xff" * 4])
                    )
        elif kind == "splice":
            source = draw(near_log | anywhere)
            target = draw(near_log | anywhere)
            length = draw(st.integers(1, 512))
            chunk = bytes(data[source : source + length])
            data[target : target + len(chunk)] = chunk
        elif kind == "legacy" and size >= LEGACY_LOCK_END:
            data[LEGACY_LOCK_START + draw(st.integers(0, 59))] = draw(st.integers(1, 255))
        elif kind == "stray":
            # An intact entry dropped past the log: an earlier pass, or a lost put.
            entry = encode_entry(
                draw(st.sampled_from(INTERESTING_U64) | st.integers(0, 300)), b"stray payload"
            )
            start = draw(st.integers(min(entries[-1], size), size))
            data[start : start + len(entry)] = entry
        done.append(kind)
    return bytes(data), f"seed {index}: {', '.join(done)}"


def _region_bytes(data: bytes) -> int:
    try:
        header = decode_header(data[:HEADER_SIZE])
    except WalError:
        return 0
    return max(0, min(header.wal_size, len(data) - header.wal_offset))


_inputs = itertools.count()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "hostile.mv2"


def _open_outcome(storage: FileStorage | MemoryStorage, design: Design, *, read_only: bool) -> str:
    """memvid's way in: its header read (which clears legacy lock bytes, so writes), then
    an open and a rescan. Only WalErrors may escape into the outcome."""
    try:
        header = read_header(storage)
        opener = EmbeddedWal.open_read_only if read_only else EmbeddedWal.open
        opener(storage, header, design=design).records_after(0)
    except WalError as error:
        return error.kind
    return "opened"


@settings(
    max_examples=INPUTS,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated=mutations())
def test_mutated_memvid_files(scratch: Path, mutated: tuple[bytes, str]) -> None:
    """Each input, through a real file: inspect never raises, never writes, takes under a
    second and memory bounded by the region (its six verdicts open the region with both
    designs, read-only and for writing, in both recovery modes); then memvid's header read
    and an open of the whole file for each design, read-only through a read-only
    FileStorage (where clearing legacy lock bytes is a WalIoError) and for writing in
    memory: a WalError or success, under a second, the file as it was."""
    data, _ = mutated
    scratch.write_bytes(data)
    traced = next(_inputs) % MEMORY_SAMPLE == 0
    if traced:
        tracemalloc.start()
    started = time.process_time()
    try:
        report = inspect_file(scratch)
        text = render(report)
        printed = json.dumps(as_json(report))
        elapsed = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        if traced:
            tracemalloc.stop()
    assert elapsed < SECOND
    assert peak < MEMORY_PER_REGION_BYTE * _region_bytes(data) + MEMORY_SLACK, peak
    assert text and json.loads(printed)["schema_version"] == 1
    figures.add(figures.MUTATED_INSPECTED, Design.FIXED)

    started = time.process_time()
    for design in Design:
        with FileStorage(scratch, read_only=True) as storage:
            _open_outcome(storage, design, read_only=True)
        _open_outcome(MemoryStorage(data), design, read_only=False)
    assert time.process_time() - started < SECOND
    assert scratch.read_bytes() == data
    figures.add(figures.MUTATED_OPENED, Design.FIXED)


def test_read_header_on_read_only_storage_with_legacy_lock_bytes(tmp_path: Path) -> None:
    """Issue 14: a read-only FileStorage and a non-zero legacy lock byte: memvid's header
    read must write, cannot, and fails as memvid's does, with an I/O error (spec/format.md
    F1.2), not a bare OSError; the file is unchanged; the read that does not write works."""
    path = tmp_path / "legacy.mv2"
    data = bytearray((DATA / "a_one_put.mv2").read_bytes())
    data[100] = 7
    path.write_bytes(bytes(data))
    with FileStorage(path, read_only=True) as storage:
        with pytest.raises(WalIoError) as refused:
            read_header(storage)
        assert "Bad file descriptor" in refused.value.reason
        assert read_header(storage, clear_legacy_lock=False).wal_sequence == 2
    assert path.read_bytes() == bytes(data)
    with FileStorage(path) as writable:
        assert read_header(writable).wal_sequence == 2  # memvid's read: clears them
    assert path.read_bytes()[LEGACY_LOCK_START:LEGACY_LOCK_END] == bytes(60)
    report = inspect_file(tmp_path / "legacy.mv2")
    assert report.legacy_lock_bytes is False


def test_inspect_reports_legacy_lock_bytes(tmp_path: Path) -> None:
    path = tmp_path / "legacy.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    data = bytearray(path.read_bytes())
    data[LEGACY_LOCK_START] = 1
    path.write_bytes(bytes(data))
    report = inspect_file(path)
    assert report.legacy_lock_bytes and any("legacy lock bytes 80..140" in note for note in report.notes)
    assert path.read_bytes() == bytes(data)
