"""``walcheck inspect``: a correct report on files memvid wrote, healthy and
damaged, and on the states the defects leave; and it never changes the file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from reference import Header, decode_header, encode_entry, encode_header
from walcheck.cli import main
from walcheck.inspect import RegionParameters, inspect_file, render

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
    assert report.sequence_problems == [] and report.leftovers == [] and report.notes == []
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
    assert report.notes == []  # sequence 3 is not later than the checkpoint
    assert "intact entries past the log's end" in render(report)


def test_not_an_mv2_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk.mv2"
    path.write_bytes(b"\x07" * 5000)
    assert main(["inspect", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["header_error"] == "Header validation failed: magic mismatch"
    assert main(["inspect", str(tmp_path / "missing.mv2")]) == 2


# ---------------------------------------------------------------------------
# A torn tail: the file ends inside the region
# ---------------------------------------------------------------------------


def _truncated(tmp_path: Path, keep: int) -> Path:
    path = tmp_path / "truncated.mv2"
    path.write_bytes((DATA / "a_one_put.mv2").read_bytes()[:keep])
    return path


def test_file_ending_inside_a_record(tmp_path: Path) -> None:
    """The file ends 10 bytes into record 2's payload: its row says so, the log
    ends there (a torn tail), and every open fails reading it; memvid's open fails
    earlier, on the table of contents past the end."""
    second = inspect_file(DATA / "a_one_put.mv2").entries[1]
    path = _truncated(tmp_path, 4096 + second.offset + 48 + 10)
    before = _digest(path)
    report = inspect_file(path)
    assert [(row.sequence, row.status, row.checksum_ok) for row in report.entries] == [
        (1, "checkpointed", True),
        (2, "cut off by the end of the file", False),
    ]
    assert report.end_reason == f"the end of the file, inside the entry at {second.offset} (a torn tail)"
    assert report.log_end == second.offset
    assert [note.split(":")[0] for note in report.notes] == [
        "the file ends before footer_offset (75735)",
        f"the file ends {65536 - second.offset - 58} bytes before the region does (at region position "
        f"{second.offset + 58})",
    ]
    assert [v.error for v in report.verdicts] == ["Io: failed to fill whole buffer"] * 3
    assert main(["inspect", str(path)]) == 1
    assert _digest(path) == before


def test_file_ending_inside_an_entry_header(tmp_path: Path) -> None:
    second = inspect_file(DATA / "a_one_put.mv2").entries[1]
    report = inspect_file(_truncated(tmp_path, 4096 + second.offset + 20))
    assert [row.sequence for row in report.entries] == [1]
    assert report.end_reason == (
        f"the end of the file, 20 bytes into the entry header at {second.offset} (a torn tail)"
    )


def test_entries_past_the_end_later_than_the_checkpoint(tmp_path: Path) -> None:
    """Record 2 lies past a sentinel and after the checkpoint (sequence 1): a note
    says it is lost; the wrap leftovers of test_leftovers_past_the_sentinel get none."""
    region = encode_entry(1, b"a" * 10) + bytes(48) + encode_entry(2, b"b" * 10)
    report = inspect_file(_file(tmp_path, region, wal_size=512, wal_sequence=1))
    assert [row.sequence for row in report.leftovers] == [2]
    assert report.notes == [
        "1 of the entries past the log's end are later than the last checkpoint (sequence 1): 2. "
        "If they were written after it, they are lost: no open reaches them"
    ]
    assert all(v.error is None and v.pending == [] for v in report.verdicts)


# ---------------------------------------------------------------------------
# A bare WAL region: --region-offset, --region-size, --checkpoint-sequence, --checkpoint-pos
# ---------------------------------------------------------------------------


def _bare_arguments(offset: int, size: int, sequence: int, pos: int | None = None) -> list[str]:
    arguments = [
        "--region-offset",
        str(offset),
        "--region-size",
        str(size),
        "--checkpoint-sequence",
        str(sequence),
    ]
    return arguments + ([] if pos is None else ["--checkpoint-pos", str(pos)])


def test_bare_region_reads_as_its_header_would(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The WAL region of d_small_puts.mv2 cut out into a file of its own, with the
    header's parameters: the same rows, end and verdicts as inspecting the .mv2."""
    source = DATA / "d_small_puts.mv2"
    raw = source.read_bytes()
    header = decode_header(raw[:4096])
    bare = tmp_path / "region.wal"
    bare.write_bytes(raw[4096 : 4096 + header.wal_size])
    whole = inspect_file(source)
    parameters = RegionParameters(0, header.wal_size, header.wal_sequence, header.wal_checkpoint_pos)
    report = inspect_file(bare, parameters)
    assert report.region_source == "command line" and whole.region_source == "header"
    assert report.entries == whole.entries and len(report.entries) == 160
    assert (report.log_end, report.end_reason) == (whole.log_end, whole.end_reason)
    assert report.verdicts == whole.verdicts
    arguments = _bare_arguments(0, header.wal_size, header.wal_sequence, header.wal_checkpoint_pos)
    assert main(["inspect", str(bare), *arguments, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["region_source"] == "command line"
    assert printed["header"] == {
        "wal_offset": 0,
        "wal_size": 262144,
        "wal_checkpoint_pos": 217330,
        "wal_sequence": 160,
    }
    assert main(["inspect", str(bare), *arguments]) == 0
    assert "region (from the command line): wal_offset 0, wal_size 262144" in capsys.readouterr().out
    # Without the parameters the same file is not an MV2 file.
    assert main(["inspect", str(bare)]) == 1


def test_bare_region_inside_other_bytes_with_pending_records(tmp_path: Path) -> None:
    """A 512-byte region at offset 100, bytes of something else around it; with
    checkpoint sequence 1, records 2 and 3 are pending in every verdict."""
    region = encode_entry(1, b"a" * 10) + encode_entry(2, b"b" * 20) + encode_entry(3, b"c")
    path = tmp_path / "embedded.bin"
    path.write_bytes(b"\x55" * 100 + region + bytes(512 - len(region)) + b"\x66" * 50)
    before = _digest(path)
    report = inspect_file(path, RegionParameters(100, 512, 1))
    assert [(row.offset, row.sequence, row.status) for row in report.entries] == [
        (0, 1, "checkpointed"),
        (58, 2, "pending"),
        (126, 3, "pending"),
    ]
    assert report.end_reason == "sentinel at 175"
    assert [(v.error, v.pending) for v in report.verdicts] == [(None, [2, 3])] * 3
    assert main(["inspect", str(path), *_bare_arguments(100, 512, 1)]) == 0
    # One byte off, the scan reads the 0x55 bytes as an entry header and memvid refuses them.
    assert main(["inspect", str(path), *_bare_arguments(99, 512, 1)]) == 1
    assert _digest(path) == before


def test_region_parameters_override_the_header() -> None:
    """a_one_put.mv2 says sequence 2 is checkpointed; told 0, both records are pending."""
    path = DATA / "a_one_put.mv2"
    assert [v.pending for v in inspect_file(path).verdicts] == [[]] * 3
    report = inspect_file(path, RegionParameters(4096, 65536, 0))
    assert [row.status for row in report.entries] == ["pending", "pending"]
    assert [v.pending for v in report.verdicts] == [[1, 2]] * 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (_bare_arguments(0, 513, 0), "the region [0, 513) runs past the end of the file (512 bytes)"),
        (_bare_arguments(600, 1, 0), "the region [600, 601) runs past the end of the file (512 bytes)"),
        (_bare_arguments(0, 0, 0), "the region size must be at least 1"),
        (["--region-size", "-1", "--checkpoint-sequence", "0"], "must be between 0 and 2**64 - 1, got -1"),
        (["--region-size", "512", "--checkpoint-sequence", str(2**64)], "must be between 0 and 2**64 - 1"),
        (["--region-size", "lots", "--checkpoint-sequence", "0"], "not a whole number: 'lots'"),
        (["--region-size", "512"], "a bare region needs --region-size and --checkpoint-sequence"),
        (["--checkpoint-pos", "3"], "a bare region needs --region-size and --checkpoint-sequence"),
    ],
)
def test_bare_region_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    path = tmp_path / "region.wal"
    path.write_bytes(encode_entry(1, b"x") + bytes(512 - 49))
    assert main(["inspect", str(path), *arguments]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_hexadecimal_region_parameters(tmp_path: Path) -> None:
    path = tmp_path / "region.wal"
    path.write_bytes(encode_entry(1, b"x") + bytes(0x200 - 49))
    assert main(["inspect", str(path), "--region-size", "0x200", "--checkpoint-sequence", "0"]) == 0
