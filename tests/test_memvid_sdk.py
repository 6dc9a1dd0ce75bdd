"""Real .mv2 files, made at test time by memvid's released SDK (memvid-sdk, the
Rust core inside) with tools/make_memvid_files.py: the reference's header codec
and scan read them record for record (spec/format.md F1, F2, "Real files"),
``walcheck inspect`` reports them, healthy and damaged, and the SDK itself opens
or refuses each damaged copy as inspect's ORIGINAL verdict says.

What the SDK does, as seen with 2.0.160 (the tests below hold it to this):
a put of a short text appends two WAL records, its frame (payload kind 0: the
payload's first u32) and a commit record (kind 1), and commits itself, so the
header's ``wal_sequence`` is the commit record's sequence and
``wal_checkpoint_pos`` the end of it. ``put_many`` of n documents appends n
frames and one commit record. Closing a memory with no puts appends a commit
record. A put whose commit fails (here: a file size limit refuses the data
written past the end of the file) leaves its frame records in the WAL, pending.
A read-only open changes nothing; a writable open replays the pending frames and
appends a commit record.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    decode_header,
    encode_entry,
    encode_header,
    scan_region,
)
from reference.wal import ENTRY_HEADER_SIZE, ScannedRecord
from walcheck.cli import main
from walcheck.real.inspect import Report, as_json, inspect_file, render
from walcheck.real.inspect.evidence import ABOVE_CHECKPOINT
from walcheck.real.inspect.verdicts import Verdict

os.environ["MEMVID_TELEMETRY"] = "0"  # before memvid_sdk is imported: no telemetry from tests
try:
    memvid_sdk: Any = importlib.import_module("memvid_sdk")
except ImportError as missing:
    if os.environ.get("CI"):
        raise RuntimeError("memvid-sdk is missing; CI installs it with pip install -e '.[test]'") from missing
    pytest.skip(
        f"memvid-sdk is not installed ({missing}); pip install -e '.[test]' installs it",
        allow_module_level=True,
    )

TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_memvid_files.py"
DATA = Path(__file__).parent / "data"
KIB = 1024
FRAME, COMMIT = 0, 1  # a record's payload kind: its first u32


@dataclass(frozen=True)
class Expected:
    """What the WAL must hold after the recipe, by the rules in the module docstring."""

    records: int  # sequences 1..records, from position 0
    pending: int  # the last ``pending`` of them, all frames
    wal_size: int


EXPECTED = {
    "empty": Expected(1, 0, 64 * KIB),  # close appends a commit record
    "empty_unclosed": Expected(0, 0, 64 * KIB),  # as create left it
    "small_puts": Expected(60, 0, 128 * KIB),  # 30 puts; the region grew once
    "commits_between": Expected(12, 0, 64 * KIB),  # 6 puts; the 3 commit() calls had nothing to do
    "put_many": Expected(6, 0, 64 * KIB),  # 5 frames, one commit record
    "big_put": Expected(99, 0, 256 * KIB),  # one put: 98 frames, one commit record; grew twice
    "unclosed": Expected(6, 0, 64 * KIB),  # 3 puts, no close: each put committed itself
    "pending": Expected(7, 3, 64 * KIB),  # 2 puts, then 3 whose commit failed
    "pending_batch": Expected(6, 4, 64 * KIB),  # 1 put, then a put_many of 4 whose commit failed
}


def _make(out: Path, names: list[str]) -> dict[str, Path]:
    child = subprocess.run(
        [sys.executable, str(TOOL), str(out), *names],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMVID_TELEMETRY": "0"},
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return {name: out / f"{name}.mv2" for name in names}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each recipe's file, made once for the module by the SDK. Tests copy before changing one."""
    return _make(tmp_path_factory.mktemp("memvid-sdk"), list(EXPECTED))


def _did(path: Path) -> dict[str, Any]:
    did: dict[str, Any] = json.loads(path.with_suffix(".json").read_text())
    return did


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _header_and_region(path: Path) -> tuple[Header, bytes]:
    raw = path.read_bytes()
    header = decode_header(raw[:4096])
    return header, raw[header.wal_offset : header.wal_offset + header.wal_size]


def _kind(record: ScannedRecord) -> int:
    return int.from_bytes(record.payload[:4], "little")


# ---------------------------------------------------------------------------
# Healthy files: record for record
# ---------------------------------------------------------------------------


def test_the_stored_files_can_be_made_again(tmp_path: Path) -> None:
    """tests/data/README.md: the tool's recipe of the same name makes a file whose
    header WAL fields and records' sequences, lengths and kinds are those of the
    stored file (the bytes differ: frames hold the time they were made). Only
    a_one_put here: d_small_puts's 80 synced puts take 5 to 20 s."""
    for name, path in _make(tmp_path, ["a_one_put"]).items():
        stored = DATA / f"{name}.mv2"
        shapes = []
        for file in (path, stored):
            header, region = _header_and_region(file)
            found, end = scan_region(region)
            shapes.append(
                (
                    header.wal_size,
                    header.wal_checkpoint_pos,
                    header.wal_sequence,
                    end,
                    [(r.sequence, len(r.payload), _kind(r)) for r in found],
                )
            )
        assert shapes[0] == shapes[1], name


def test_the_recipes_did_what_they_say(made: dict[str, Path]) -> None:
    """Every file was made by the pinned SDK; the pending recipes' calls under the
    size limit all failed, with EFBIG; and EXPECTED follows from what each recipe
    did by the rules of the module docstring (big_put aside: its frame count is
    the SDK's chunking)."""
    for name, expected in EXPECTED.items():
        did = _did(made[name])
        assert did["memvid_sdk"] == "2.0.160", name
        failed = did.get("puts_under_limit", 0) + did.get("batch_under_limit", 0)
        assert all("File too large" in outcome for outcome in did.get("outcomes", [])), did
        assert expected.pending == failed, name
        if name == "big_put":
            continue
        batch = did.get("batch", 0)
        commit_on_close = 1 if did["closed"] and did["puts"] == 0 and batch == 0 else 0
        committed = 2 * did["puts"] + (batch + 1 if batch else 0) + commit_on_close
        assert expected.records == committed + failed, name


@pytest.mark.parametrize("name", list(EXPECTED))
def test_header_codec_round_trips(made: dict[str, Path], name: str) -> None:
    """F1.1, F1.4: encode(decode(x)) == x on the 4096 header bytes memvid wrote."""
    raw = made[name].read_bytes()[:4096]
    assert raw[:8] == bytes.fromhex("4d56320001020201")
    assert raw[80:] == bytes(4096 - 80)  # no legacy lock bytes
    assert encode_header(decode_header(raw)) == raw


@pytest.mark.parametrize("name", list(EXPECTED))
def test_scan_record_for_record(made: dict[str, Path], name: str) -> None:
    """F2, S2.1: both designs' scans, over the bytes and through a read-only open,
    find sequences 1..N from position 0, each checksum the blake3 of its payload,
    the pending ones after wal_sequence; the header's checkpoint is the end of the
    last committed record, a commit record; pending records are frames."""
    path, expected = made[name], EXPECTED[name]
    before = _digest(path)
    header, region = _header_and_region(path)
    assert header.wal_size == expected.wal_size
    found, end = scan_region(region, Design.ORIGINAL)
    assert [record.sequence for record in found] == list(range(1, expected.records + 1))
    position = 0
    for record in found:
        assert record.position == position
        length = int.from_bytes(region[position + 8 : position + 12], "little")
        assert length == len(record.payload)
        assert region[position + 12 : position + 16] == bytes(4)
        assert region[position + 16 : position + 48] == blake3.blake3(record.payload).digest()
        position += ENTRY_HEADER_SIZE + length
    assert end == position
    assert region[end:] == bytes(len(region) - end)  # the sentinel, and zeros to the region's end
    fixed_found, fixed_end = scan_region(region, Design.FIXED, header.wal_sequence)
    assert (fixed_found, fixed_end) == (found, end)

    committed = found[: expected.records - expected.pending]
    assert header.wal_sequence == len(committed)
    if committed:
        assert _kind(committed[-1]) == COMMIT
        assert header.wal_checkpoint_pos == committed[-1].position + committed[-1].total_size
    else:
        assert header.wal_checkpoint_pos == 0
    assert all(_kind(record) == FRAME for record in found[len(committed) :])

    for design in Design:
        with FileStorage(path, read_only=True) as storage:
            wal = EmbeddedWal.open_read_only(storage, header, design=design)
            assert [(r.sequence, r.payload) for r in wal.records_after(0)] == [
                (r.sequence, r.payload) for r in found
            ]
            assert [r.sequence for r in wal.pending_records()] == [
                r.sequence for r in found[len(committed) :]
            ]
            assert wal.write_head == end
    assert _digest(path) == before


@pytest.mark.parametrize("name", list(EXPECTED))
def test_inspect_reports_it(made: dict[str, Path], name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """inspect: every record's row, the sentinel, nothing past it, and both
    designs opening with the same pending records; exit 0; the file unchanged."""
    path, expected = made[name], EXPECTED[name]
    before = _digest(path)
    header, region = _header_and_region(path)
    found, end = scan_region(region)
    report = inspect_file(path)
    assert report.header is not None and report.region_source == "header"
    assert report.header.wal_sequence == header.wal_sequence
    rows = [(row.offset, row.sequence, row.length, row.checksum_ok, row.status) for row in report.log]
    assert rows == [
        (
            r.position,
            r.sequence,
            len(r.payload),
            True,
            "pending" if r.sequence > header.wal_sequence else "checkpointed",
        )
        for r in found
    ]
    assert report.log_end is not None
    assert (report.log_end.position, report.log_end.reason) == (end, f"sentinel at {end}")
    assert report.past_end is not None and report.past_end.entries == ()
    assert report.sequence_problems == [] and report.notes == [] and report.evidence == []
    pending = tuple(range(expected.records - expected.pending + 1, expected.records + 1))
    assert [(v.error, v.pending, v.records) for v in report.verdicts] == [
        (None, pending, expected.records)
    ] * 6
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == as_json(report)
    assert _digest(path) == before


# ---------------------------------------------------------------------------
# The SDK against inspect's ORIGINAL verdicts
# ---------------------------------------------------------------------------


def _sdk_frames(path: Path, *, read_only: bool) -> int | str:
    """The SDK's frame count after opening the file, or its error."""
    try:
        memory = memvid_sdk.use("basic", str(path), read_only=read_only, enable_lex=False)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    try:
        frames: int = memory.stats()["frame_count"]
    finally:
        memory.close()
    return frames


def _verdicts(report: Report) -> dict[tuple[str, str, str | None], Verdict]:
    return {(v.design, v.mode, v.recovery): v for v in report.verdicts}


def _frames_in_log(report: Report, region: bytes, *, committed_only: bool) -> int:
    kinds = [
        int.from_bytes(region[row.offset + ENTRY_HEADER_SIZE : row.offset + ENTRY_HEADER_SIZE + 4], "little")
        for row in report.log
        if row.checksum_ok and not (committed_only and row.status == "pending")
    ]
    return kinds.count(FRAME)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_sdk_replays_what_inspect_calls_pending(made: dict[str, Path], name: str, tmp_path: Path) -> None:
    """A read-only SDK open sees the committed frames and changes nothing; a
    writable open (on a copy) adds exactly the records inspect's ORIGINAL
    writable verdict calls pending, and leaves none pending."""
    path = made[name]
    report = inspect_file(path)
    _, region = _header_and_region(path)
    before = _digest(path)
    assert _sdk_frames(path, read_only=True) == _frames_in_log(report, region, committed_only=True)
    assert _digest(path) == before
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    writing = _verdicts(report)["original", "for writing", None]
    assert _sdk_frames(copy, read_only=False) == _frames_in_log(report, region, committed_only=False)
    assert _frames_in_log(report, region, committed_only=False) - _frames_in_log(
        report, region, committed_only=True
    ) == len(writing.pending or ())
    after = inspect_file(copy)
    assert all(v.error is None and v.pending == () for v in after.verdicts)


# ---------------------------------------------------------------------------
# Damaged copies
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """A change to a copy of ``pending.mv2`` (records 1..4 committed, 5..7 pending:
    frame, commit, frame, commit, frame, frame, frame) and what inspect must say."""

    damage: Callable[[bytearray, list[ScannedRecord], int], bytearray]
    entries: list[tuple[int, str]]  # (sequence, status) of each row
    end: str  # the end reason; {offset}: the damaged record's position, {end}: the healthy log's end
    original_error: str | None  # memvid's open, read-only and for writing
    fixed_pending: list[int] | None  # None: FIXED fails as well
    leftovers: list[int]
    notes: list[str]  # a piece of each note
    # Sequences past the log's end above the checkpoint: evidence of lost records
    # (spec/inspect.md I3).
    lost: tuple[int, ...] = ()
    damaged: int = 0  # the index of the damaged record


def _flip_payload(index: int) -> Callable[[bytearray, list[ScannedRecord], int], bytearray]:
    def damage(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
        image[4096 + found[index].position + ENTRY_HEADER_SIZE + 5] ^= 0xFF
        return image

    return damage


def _zero_header(index: int) -> Callable[[bytearray, list[ScannedRecord], int], bytearray]:
    def damage(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
        start = 4096 + found[index].position
        image[start : start + ENTRY_HEADER_SIZE] = bytes(ENTRY_HEADER_SIZE)
        return image

    return damage


def _truncate_inside(index: int) -> Callable[[bytearray, list[ScannedRecord], int], bytearray]:
    def damage(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
        return image[: 4096 + found[index].position + ENTRY_HEADER_SIZE + 10]

    return damage


def _garbage_past_sentinel(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
    image[4096 + end + ENTRY_HEADER_SIZE : 4096 + end + ENTRY_HEADER_SIZE + 100] = bytes(range(1, 101))
    return image


def _entry_past_sentinel(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
    entry = encode_entry(8, b"\x00\x00\x00\x00 a frame nobody wrote")
    start = 4096 + end + ENTRY_HEADER_SIZE + 64
    image[start : start + len(entry)] = entry
    return image


def _garbage_on_sentinel(image: bytearray, found: list[ScannedRecord], end: int) -> bytearray:
    image[4096 + end : 4096 + end + 8] = b"\x07" * 8  # a sequence, and still a zero length
    return image


CHECKSUM = "wal record checksum mismatch"
FIRST_SEVEN = [(1, "checkpointed"), (2, "checkpointed"), (3, "checkpointed"), (4, "checkpointed")] + [
    (sequence, "pending") for sequence in (5, 6, 7)
]
# A table, its rows alike in shape on purpose: each damage spells out all it expects, read row by row.
DAMAGES = {
    "flip a committed frame's payload": Damage(
        damage=_flip_payload(2),
        entries=[(1, "checkpointed"), (2, "checkpointed"), (3, "checksum mismatch")],
        end="checksum mismatch at {offset} (a torn tail, or damage)",
        original_error=f"WalCorruption at {{offset}}: {CHECKSUM}",
        fixed_pending=[],
        leftovers=[4, 5, 6, 7],
        notes=[],
        lost=(5, 6, 7),
        damaged=2,
    ),
    "flip the last pending frame's payload": Damage(
        damage=_flip_payload(6),
        entries=[*FIRST_SEVEN[:6], (7, "checksum mismatch")],
        end="checksum mismatch at {offset} (a torn tail, or damage)",
        original_error=f"WalCorruption at {{offset}}: {CHECKSUM}",
        fixed_pending=[5, 6],
        leftovers=[],
        notes=[],
        damaged=6,
    ),
    "zero the header of the last commit record": Damage(
        damage=_zero_header(3),
        entries=FIRST_SEVEN[:3],
        end="sentinel at {offset}",
        original_error=None,
        fixed_pending=[],
        leftovers=[5, 6, 7],
        notes=[],
        lost=(5, 6, 7),
        damaged=3,
    ),
    "truncate the file inside the last record": Damage(
        damage=_truncate_inside(6),
        entries=[*FIRST_SEVEN[:6], (7, "cut off by the end of the file")],
        end="the end of the file, inside the entry at {offset} (a torn tail)",
        original_error="Io: failed to fill whole buffer",
        fixed_pending=None,
        leftovers=[],
        notes=["the file ends before footer_offset", "bytes before the region does"],
        damaged=6,
    ),
    "garbage past the sentinel": Damage(
        damage=_garbage_past_sentinel,
        entries=FIRST_SEVEN,
        end="sentinel at {end}",
        original_error=None,
        fixed_pending=[5, 6, 7],
        leftovers=[],
        notes=[],
    ),
    "an intact entry past the sentinel": Damage(
        damage=_entry_past_sentinel,
        entries=FIRST_SEVEN,
        end="sentinel at {end}",
        original_error=None,
        fixed_pending=[5, 6, 7],
        leftovers=[8],
        notes=[],
        lost=(8,),
    ),
    "garbage on the sentinel": Damage(
        damage=_garbage_on_sentinel,
        entries=[*FIRST_SEVEN, (0x0707070707070707, "length invalid")],
        end="length invalid at {end} (a torn tail, or damage)",
        original_error="WalCorruption at {end}: wal record length invalid",
        fixed_pending=[5, 6, 7],
        leftovers=[],
        notes=[],
    ),
}


def _damaged_copy(source: Path, damage: Damage, directory: Path) -> tuple[Path, int, int]:
    """A copy of ``source`` with ``damage`` done; the damaged record's position and the log's end."""
    _, region = _header_and_region(source)
    found, end = scan_region(region)
    copy = directory / "damaged.mv2"
    copy.write_bytes(bytes(damage.damage(bytearray(source.read_bytes()), found, end)))
    return copy, found[damage.damaged].position, end


@pytest.mark.parametrize("name", list(DAMAGES))
def test_inspect_on_a_damaged_copy(made: dict[str, Path], name: str, tmp_path: Path) -> None:
    """inspect names the damaged record, its offset and why the log ends there,
    the intact records past it, and the two verdicts; it never changes the file.
    The SDK itself opens the copy, or refuses it, as the ORIGINAL verdict says."""
    damage = DAMAGES[name]
    damaged_copy, offset, end = _damaged_copy(made["pending"], damage, tmp_path)
    before = _digest(damaged_copy)
    report = inspect_file(damaged_copy)
    assert [(row.sequence, row.status) for row in report.log] == damage.entries
    assert report.log_end is not None and report.past_end is not None
    assert report.log_end.reason == damage.end.format(offset=offset, end=end)
    assert [row.sequence for row in report.past_end.entries] == damage.leftovers
    for piece in damage.notes:
        assert any(piece in note for note in report.notes), (piece, report.notes)
    assert len(report.notes) == len(damage.notes)
    assert [item.sequences for item in report.evidence if item.kind == ABOVE_CHECKPOINT] == (
        [damage.lost] if damage.lost else []
    )
    verdicts = _verdicts(report)
    original = verdicts["original", "read-only", None]
    original_writing = verdicts["original", "for writing", None]
    fixed = verdicts["fixed", "read-only", "tolerate-torn-tail"]
    expected_error = None
    if damage.original_error is not None:
        expected_error = damage.original_error.format(offset=offset, end=end)
    assert original.error == expected_error and original_writing.error == expected_error
    if damage.fixed_pending is None:
        assert fixed.error == expected_error
    else:
        assert fixed.error is None and fixed.pending == tuple(damage.fixed_pending)
    text = render(report)
    assert report.log_end.reason in text and (expected_error is None or expected_error in text)
    assert main(["inspect", str(damaged_copy)]) == (0 if expected_error is None and not damage.lost else 1)
    assert _digest(damaged_copy) == before

    # The real thing, on copies of the damaged copy.
    read_only = tmp_path / "sdk-read-only.mv2"
    shutil.copyfile(damaged_copy, read_only)
    seen = _sdk_frames(read_only, read_only=True)
    assert _digest(read_only) == before
    if original.error is None:
        assert seen == 2  # the committed frames
        writable = tmp_path / "sdk-writable.mv2"
        shutil.copyfile(damaged_copy, writable)
        assert _sdk_frames(writable, read_only=False) == 2 + len(original_writing.pending or ())
    elif original.error.startswith("WalCorruption"):
        offset_and_reason = original.error.removeprefix("WalCorruption at ")
        assert seen == f"CorruptFileError: MV012: Embedded WAL is corrupted at offset {offset_and_reason}"
    else:
        # A truncated file: memvid's open fails on the table of contents first, as inspect's note says.
        assert isinstance(seen, str) and "Table of contents validation failed" in seen, seen
