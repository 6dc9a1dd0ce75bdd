"""``walcheck inspect``: a correct report on files memvid wrote, healthy and
damaged, and on the states the defects leave; and it never changes the file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from reference import Header, encode_entry, encode_header
from walcheck.cli import main
from walcheck.inspect import inspect_file, render

DATA = Path(__file__).parent / "data"
REAL_FILES = sorted(DATA.glob("*.mv2"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(tmp_path: Path, region: bytes, *, wal_size: int, wal_sequence: int = 0) -> Path:
    path = tmp_path / "crafted.mv2"
    header = Header(wal_size=wal_size, wal_sequence=wal_sequence)
    path.write_bytes(encode_header(header) + region + bytes(wal_size - len(region)))
    return path


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_file_report(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(path)
    report = inspect_file(path)
    assert report.header is not None
    assert [row.sequence for row in report.entries] == list(range(1, report.header["wal_sequence"] + 1))  # type: ignore[operator]
    assert all(row.checksum_ok and row.status == "checkpointed" for row in report.entries)
    assert report.log_end == report.header["wal_checkpoint_pos"]
    assert report.sequence_problems == [] and report.leftovers == []
    assert all(v.error is None and v.pending == [] for v in report.verdicts)
    assert main(["inspect", str(path)]) == 0
    assert "ends at sentinel at" in capsys.readouterr().out
    assert _digest(path) == before  # read-only


def test_damaged_real_file(tmp_path: Path) -> None:
    path = tmp_path / "damaged.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    first = inspect_file(path).entries[1]
    image = bytearray(path.read_bytes())
    image[4096 + first.offset + 48 + 10] ^= 0xFF  # a byte of record 2's payload
    path.write_bytes(bytes(image))
    before = _digest(path)
    report = inspect_file(path)
    assert [(row.sequence, row.status) for row in report.entries] == [
        (1, "checkpointed"),
        (2, "checksum mismatch"),
    ]
    original, fixed, _ = report.verdicts
    assert original.error == f"WalCorruption at {first.offset}: wal record checksum mismatch"
    assert fixed.error is None and fixed.records == 1
    assert main(["inspect", str(path)]) == 1
    assert _digest(path) == before


def test_memvid_opening_for_writing_would_lose_pending_records(tmp_path: Path) -> None:
    """D1 on open: the log ends 5 bytes before the region's end; memvid's
    writable open moves its sentinel onto position 0."""
    region = encode_entry(1, b"x" * 154) + encode_entry(2, b"y")
    path = _file(tmp_path, region, wal_size=256)
    report = inspect_file(path)
    original, fixed, original_writing = report.verdicts
    assert original.pending == [1, 2] and fixed.pending == [1, 2]
    assert original_writing.pending == []
    assert "region end (5 bytes left" in report.end_reason
    assert main(["inspect", str(path)]) == 1


def test_leftovers_past_the_sentinel(tmp_path: Path) -> None:
    """After a wrap: record 4 at 0, its sentinel, then records 2 and 3 of the earlier pass."""
    old = encode_entry(1, b"aaaa") + encode_entry(2, b"bbbb") + encode_entry(3, b"cccc")
    new = encode_entry(4, b"dddd") + bytes(48)
    region = new + old[len(new) :]
    report = inspect_file(_file(tmp_path, region, wal_size=512, wal_sequence=3))
    assert [row.sequence for row in report.entries] == [4]
    assert [row.sequence for row in report.leftovers] == [3]  # record 2's header lies under the sentinel
    assert "intact entries past the log's end" in render(report)


def test_not_an_mv2_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk.mv2"
    path.write_bytes(b"\x07" * 5000)
    assert main(["inspect", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["header_error"] == "Header validation failed: magic mismatch"
    assert main(["inspect", str(tmp_path / "missing.mv2")]) == 2
