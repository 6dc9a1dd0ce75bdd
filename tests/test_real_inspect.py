"""``walcheck inspect`` rebuilt for real files (walcheck/real/inspect, spec/inspect.md):
one bounded pass, the entries past the log's end and the evidence of lost records,
the four kinds of verdict, space, memvid's doctor, dumps, the JSON schema, and the
reproducers of issue 14."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    create_mv2,
    encode_entry,
    encode_header,
)
from reference.wal import ENTRY_HEADER_SIZE, SYNCED_BEFORE_MARK, place_entry
from walcheck.cli import main as walcheck_main
from walcheck.real.inspect import RegionParameters, Selection, as_json, inspect_file, render
from walcheck.real.inspect.evidence import ABOVE_CHECKPOINT, LOST_HEADLINE, SEQUENCE_REUSED
from walcheck.real.inspect.report import ProgressOnStderr
from walcheck.real.inspect.scan import SearchBudget, search_past_end, walk_log
from walcheck.real.inspect.verdicts import largest_payload


def main(arguments: list[str]) -> int:
    """``walcheck inspect ARGUMENTS``."""
    return walcheck_main(["inspect", *arguments])


DATA = Path(__file__).parent / "data"
REAL_FILES = sorted(DATA.glob("*.mv2"))
REGION = 4096  # wal_offset in every file memvid writes


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(
    tmp_path: Path, region: bytes, *, wal_size: int, wal_sequence: int = 0, name: str = "crafted.mv2"
) -> Path:
    path = tmp_path / name
    header = Header(wal_size=wal_size, wal_sequence=wal_sequence, footer_offset=REGION + wal_size)
    path.write_bytes(encode_header(header) + region + bytes(wal_size - len(region)))
    return path


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    return None


# ---------------------------------------------------------------------------
# Files memvid wrote
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_file_report(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(path)
    report = inspect_file(path)
    assert report.header is not None
    assert [e.sequence for e in report.log] == list(range(1, report.header.wal_sequence + 1))
    assert all(e.checksum_ok and e.status == "checkpointed" for e in report.log)
    assert report.log_end is not None and report.log_end.position == report.header.wal_checkpoint_pos
    assert report.past_end is not None and report.past_end.entries == () and report.past_end.complete
    assert report.sequence_problems == [] and report.evidence == [] and report.notes == []
    assert [(v.design, v.mode, v.recovery) for v in report.verdicts] == [
        ("original", "read-only", None),
        ("original", "for writing", None),
        ("fixed", "read-only", "tolerate-torn-tail"),
        ("fixed", "for writing", "tolerate-torn-tail"),
        ("fixed", "read-only", "strict"),
        ("fixed", "for writing", "strict"),
    ]
    assert all(v.error is None and v.pending == () for v in report.verdicts)
    assert report.doctor is not None and report.doctor.action == "nothing"
    assert report.healthy
    assert main([str(path)]) == 0
    assert "ends at sentinel at" in capsys.readouterr().out
    assert _digest(path) == before  # read-only


def test_damaged_real_file_and_the_doctor(tmp_path: Path) -> None:
    """A flipped byte in record 2's payload of a_one_put.mv2: memvid's open fails, so its
    doctor would zero the region; FIXED's tolerant open ends the log before it, its strict
    open refuses it."""
    path = tmp_path / "damaged.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    second = inspect_file(path).log[1]
    image = bytearray(path.read_bytes())
    image[REGION + second.offset + 48 + 10] ^= 0xFF
    path.write_bytes(bytes(image))
    before = _digest(path)
    report = inspect_file(path)
    assert [(e.sequence, e.status) for e in report.log] == [(1, "checkpointed"), (2, "checksum mismatch")]
    errors = [v.error for v in report.verdicts]
    corrupt = f"WalCorruption at {second.offset}: wal record checksum mismatch"
    assert errors == [corrupt, corrupt, None, None, corrupt, corrupt]
    assert report.doctor is not None and report.doctor.action == "zero the region"
    assert "zeroes the whole region [4096, 69632)" in report.doctor.summary
    assert not report.healthy and main([str(path)]) == 1
    assert _digest(path) == before


# ---------------------------------------------------------------------------
# The reproducers of issue 14
# ---------------------------------------------------------------------------


def test_one_flipped_sequence_bit_is_quick(tmp_path: Path) -> None:
    """Byte 4101 of a_one_put.mv2 xor 1 (bit 40 of record 1's sequence, which the digest
    does not cover): the old inspect looped over 2**40 sequences. Now one pass."""
    path = tmp_path / "flipped.mv2"
    image = bytearray((DATA / "a_one_put.mv2").read_bytes())
    image[4101] ^= 1
    path.write_bytes(bytes(image))
    started = time.monotonic()
    report = inspect_file(path)
    assert time.monotonic() - started < 1.0
    assert [e.sequence for e in report.log] == [2**40 + 1, 2]
    assert report.sequence_problems == [f"{2**40 + 1} then 2 (at 225)"]
    original, _, fixed, *_ = report.verdicts
    assert original.pending == (2**40 + 1,)  # memvid takes it for a pending record
    assert fixed.pending == () and fixed.records == 0  # R3: it does not continue the log
    assert main([str(path), "--quiet"]) == 1


def test_sequences_near_two_to_the_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """create_mv2(wal_sequence=2**64 - 3) and one append (the old inspect: OverflowError);
    and an entry past the end with sequence 2**64 - 1."""
    path = tmp_path / "high.mv2"
    with FileStorage(path, create=True) as storage:
        header = create_mv2(storage, wal_sequence=2**64 - 3)
        EmbeddedWal.open(storage, header).append_entry(b"x")
    report = inspect_file(path)
    assert [(e.sequence, e.status) for e in report.log] == [(2**64 - 2, "pending")]
    assert all(v.pending == (2**64 - 2,) for v in report.verdicts)
    assert main([str(path)]) == 0
    image = bytearray(path.read_bytes())
    stray = encode_entry(2**64 - 1, b"late")
    image[REGION + 200 : REGION + 200 + len(stray)] = stray
    path.write_bytes(bytes(image))
    report = inspect_file(path)
    assert report.past_end is not None
    assert [(e.offset, e.sequence) for e in report.past_end.entries] == [(200, 2**64 - 1)]
    assert [item.kind for item in report.evidence] == [ABOVE_CHECKPOINT]
    capsys.readouterr()
    assert main([str(path), "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["past_end"]["entries"][0]["sequence"] == 2**64 - 1


def _two_passes(size: int, seed: int) -> tuple[bytes, int, int, list[tuple[int, int]]]:
    """A region a writer filled once (records 1..n), then wrapped and wrote 1,000 more
    from 0: the live log, its sentinel, and the earlier pass's entries after it."""
    rng = random.Random(seed)
    region = bytearray(size)
    position, sequence, first_pass = 0, 0, []
    while True:
        length = rng.randrange(20_000, 45_000)
        if position + ENTRY_HEADER_SIZE + length > size - ENTRY_HEADER_SIZE:
            break
        sequence += 1
        entry = encode_entry(sequence, rng.randbytes(length))
        region[position : position + len(entry)] = entry
        first_pass.append((position, sequence))
        position += len(entry)
    position = 0
    for _ in range(1000):
        sequence += 1
        entry = encode_entry(sequence, rng.randbytes(rng.randrange(20_000, 45_000)), synced_before=True)
        region[position : position + len(entry)] = entry
        position += len(entry)
    region[position : position + ENTRY_HEADER_SIZE] = bytes(ENTRY_HEADER_SIZE)
    return (
        bytes(region),
        position,
        sequence,
        [(p, s) for p, s in first_pass if p >= position + ENTRY_HEADER_SIZE],
    )


def test_a_64_mib_region_in_under_5_seconds(tmp_path: Path) -> None:
    """The old inspect took 448 s on a 64 MiB region of 2,000 records. Here: a wrapped
    64 MiB region (1,000 live records, about 1,050 of the earlier pass after them), in
    under 5 s of CPU, every entry of the earlier pass listed, and progress on stderr."""
    size = 64 * 2**20
    region, end, last, leftovers = _two_passes(size, seed=7)
    path = tmp_path / "big.mv2"
    header = Header(wal_size=size, wal_sequence=last, wal_checkpoint_pos=end, footer_offset=REGION + size)
    path.write_bytes(encode_header(header) + region)
    lines: list[str] = []
    progress = ProgressOnStderr(lines.append, tty=False, after=0.0)
    cpu, wall = time.process_time(), time.monotonic()
    report = inspect_file(path, progress=progress)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    print(f"64 MiB region: {cpu:.2f} s CPU, {wall:.2f} s wall")
    assert cpu < 5.0, (cpu, wall)
    assert len(report.log) == 1000 and report.log_end is not None and report.log_end.position == end
    assert report.past_end is not None and report.past_end.complete
    assert [(e.offset, e.sequence) for e in report.past_end.entries] == leftovers
    assert len(leftovers) > 1000 and report.evidence == [] and report.healthy
    assert any("walking the log" in line for line in lines)
    assert any("opening it as each reader would" in line for line in lines)


def test_no_progress_when_it_is_quick() -> None:
    lines: list[str] = []
    progress = ProgressOnStderr(lines.append, tty=False)
    inspect_file(DATA / "d_small_puts.mv2", progress=progress)
    progress.finish()
    assert lines == []


def test_reads_the_header_and_the_region_only(tmp_path: Path) -> None:
    """A 256 MiB file with a 64 KiB region: memory stays near the region's size (the old
    inspect read the whole file: 559 MB resident)."""
    path = tmp_path / "large.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    os.truncate(path, 256 * 2**20)
    tracemalloc.start()
    try:
        report = inspect_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.healthy and report.region_bytes_in_file == 65536
    assert peak < 16 * 65536, peak


# ---------------------------------------------------------------------------
# Lost records: the evidence, and the defect that explains it
# ---------------------------------------------------------------------------


def _d1_on_a_real_file(tmp_path: Path) -> tuple[Path, int]:
    """a_one_put.mv2 (memvid's bytes: records 1, 2 checkpointed, the log ending at 1591),
    then memvid's own append code (ORIGINAL) puts record 3, sized to end 20 bytes before
    the region's end: acknowledged (synced), and its sentinel goes to position 0 (D1)."""
    path = tmp_path / "d1.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    with FileStorage(path) as storage:
        from reference import read_header

        header = read_header(storage)
        wal = EmbeddedWal.open(storage, header, design=Design.ORIGINAL)
        length = header.wal_size - 1591 - 20 - ENTRY_HEADER_SIZE
        assert wal.append_entry(b"\x00\x00\x00\x00" + b"p" * (length - 4)) == 3
        assert wal.pending_records() == []  # lost at once
    return path, length


def test_lost_put_on_a_real_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, length = _d1_on_a_real_file(tmp_path)
    report = inspect_file(path)
    assert report.log == [] and report.log_end is not None and report.log_end.reason == "sentinel at 0"
    assert report.past_end is not None
    assert [(e.offset, e.sequence, e.length) for e in report.past_end.entries] == [
        (225, 2, 1318),
        (1591, 3, length),
    ]
    (item,) = report.evidence
    assert (item.kind, item.offsets, item.sequences, item.defects) == (
        ABOVE_CHECKPOINT,
        (1591,),
        (3,),
        ("D1",),
    )
    assert report.doctor is not None and report.doctor.action == "nothing"
    assert report.doctor.lost == (3,)
    assert main([str(path)]) == 1
    text = capsys.readouterr().out
    assert f"{LOST_HEADLINE.upper()} (sequence at offset: 3 at 1591)" in text
    assert "Explained by D1: the log ends at a sentinel at position 0" in text
    assert "        1591                     3" in text  # its row: offset, sequence


def test_reused_sequence_after_d1(tmp_path: Path) -> None:
    """After the D1 file is reopened, memvid's scan finds nothing, the sequence falls back
    to the checkpoint, and the next append is issued 3 again, at 0, with other bytes."""
    path, _ = _d1_on_a_real_file(tmp_path)
    with FileStorage(path) as storage:
        from reference import read_header

        wal = EmbeddedWal.open(storage, read_header(storage), design=Design.ORIGINAL)
        assert wal.append_entry(b"\x00\x00\x00\x00 another put") == 3
    report = inspect_file(path)
    assert [e.sequence for e in report.log] == [3]
    kinds = {item.kind: item for item in report.evidence}
    assert set(kinds) == {ABOVE_CHECKPOINT, SEQUENCE_REUSED}
    assert kinds[SEQUENCE_REUSED].offsets == (1591,) and kinds[SEQUENCE_REUSED].defects == ("D1", "C3")
    assert kinds[ABOVE_CHECKPOINT].defects == ("D1", "D6")  # the log now ends at a sentinel past 0
    assert "repeat a sequence of the log" in render(report)


def test_c4_the_region_filled_exactly(tmp_path: Path) -> None:
    """spec/defects.md C4: two 52-byte entries fill a 104-byte region; record_checkpoint's
    sentinel erases record 1 before the header covers them (the header says 0)."""
    region = bytes(48) + encode_entry(1, b"aaaa")[48:] + encode_entry(2, b"bbbb")
    report = inspect_file(_file(tmp_path, region, wal_size=104))
    assert report.past_end is not None and [e.sequence for e in report.past_end.entries] == [2]
    (item,) = report.evidence
    assert item.defects == ("D1", "C4") and "C4" in item.explanation


def test_damage_mid_log_names_d6(tmp_path: Path) -> None:
    region = bytearray(encode_entry(1, b"a" * 10) + encode_entry(2, b"b" * 10) + encode_entry(3, b"c" * 10))
    region[58 + 48] ^= 1  # record 2's payload
    report = inspect_file(_file(tmp_path, bytes(region), wal_size=512))
    assert [e.status for e in report.log] == ["pending", "checksum mismatch"]
    assert report.past_end is not None and [e.sequence for e in report.past_end.entries] == [3]
    (item,) = report.evidence
    assert item.defects == ("D6",)
    assert report.doctor is not None and report.doctor.action == "zero the region"
    assert report.doctor.lost == (1, 3)


def test_leftovers_of_an_earlier_pass_are_no_evidence(tmp_path: Path) -> None:
    """After a wrap: record 4 at 0, its sentinel, then record 3 of the earlier pass (2's
    header lies under the sentinel); 3 is not above the checkpoint."""
    old = encode_entry(1, b"aaaa") + encode_entry(2, b"bbbb") + encode_entry(3, b"cccc")
    new = encode_entry(4, b"dddd") + bytes(48)
    report = inspect_file(_file(tmp_path, new + old[len(new) :], wal_size=512, wal_sequence=3))
    assert [e.sequence for e in report.log] == [4]
    assert report.past_end is not None and [(e.offset, e.sequence) for e in report.past_end.entries] == [
        (104, 3)
    ]
    assert report.evidence == []
    assert "past the log's end: 1 intact entries" in render(report)


# ---------------------------------------------------------------------------
# The search past the end finds what a search of every position finds
# ---------------------------------------------------------------------------


def _every_position(region: bytes, start: int) -> list[tuple[int, int]]:
    """The definition (spec/inspect.md I2), one position at a time."""
    found = []
    position = start
    while position + ENTRY_HEADER_SIZE <= len(region):
        sequence = int.from_bytes(region[position : position + 8], "little")
        length = int.from_bytes(region[position + 8 : position + 12], "little")
        reserved = region[position + 12 : position + 16]
        end = position + ENTRY_HEADER_SIZE + length
        if (
            length > 0
            and end <= len(region)
            and reserved in (bytes(4), SYNCED_BEFORE_MARK)
            and blake3.blake3(region[position + 48 : end]).digest() == region[position + 16 : position + 48]
        ):
            found.append((position, sequence))
            position = end
        else:
            position += 1
    return found


def _regions(seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    pieces = [
        lambda: encode_entry(rng.randrange(2**64), rng.randbytes(rng.randrange(1, 40)), rng.random() < 0.3),
        lambda: bytes(rng.randrange(1, 60)),
        lambda: rng.randbytes(rng.randrange(1, 30)),
        lambda: b"\x01" + bytes(rng.randrange(3, 9)),
        lambda: encode_entry(rng.randrange(5), b"\x00" * rng.randrange(1, 30))[: rng.randrange(10, 60)],
        lambda: bytes(rng.randrange(0, 3)) + encode_entry(rng.randrange(2**24), bytes(rng.randrange(1, 5))),
    ]
    for _ in range(400):
        yield b"".join(rng.choice(pieces)() for _ in range(rng.randrange(1, 14)))


def test_the_search_finds_every_entry_a_search_of_every_position_finds() -> None:
    for region in _regions(seed=14):
        for start in (0, 1, 13):
            found = search_past_end(
                memoryview(region), region, start, 0, SearchBudget.for_region(len(region))
            )
            assert found.complete
            assert [(e.offset, e.sequence) for e in found.entries] == _every_position(region, start), (
                region.hex()
            )


def test_the_search_stops_at_its_budget() -> None:
    """Bytes that are all candidates: the search stops where its budget says, and says so."""
    region = (b"\x01" + bytes(4)) * 200_000  # a zero run every 5 bytes
    started = time.monotonic()
    found = search_past_end(
        memoryview(region), region, 0, 0, SearchBudget(hashed_bytes=2**20, candidates=10_000)
    )
    assert time.monotonic() - started < 1.0
    assert not found.complete and found.stopped_at is not None and found.stopped_at < len(region)


def test_walk_log_matches_the_reference_scan() -> None:
    from reference import scan_region
    from reference.errors import WalCorruption

    for region in _regions(seed=15):
        entries, end = walk_log(memoryview(region), len(region), 0)
        try:
            records, scan_end = scan_region(region)
        except WalCorruption as error:
            assert end.kind == "invalid entry" and end.position == error.offset
            records = []
        else:
            assert end.position == scan_end
        assert [(r.position, r.sequence) for r in records] == [
            (e.offset, e.sequence) for e in entries if e.checksum_ok
        ] or not records


# ---------------------------------------------------------------------------
# Space, verdicts, dumps, JSON
# ---------------------------------------------------------------------------


def test_largest_payload_is_the_largest_placement_accepts() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        size = rng.randrange(1, 400)
        head = rng.randrange(0, size + 1)
        pending = rng.randrange(0, head + 1)
        for fixed in (False, True):
            accepted = [
                e - ENTRY_HEADER_SIZE
                for e in range(ENTRY_HEADER_SIZE + 1, size + 1)
                if isinstance(place_entry(fixed, head, pending, size, e), int)
            ]
            assert largest_payload(fixed, head, pending, size) == (max(accepted) if accepted else None)


def test_space_against_the_threshold(tmp_path: Path) -> None:
    region = encode_entry(1, b"a" * 100) + encode_entry(2, b"b" * 200)
    report = inspect_file(_file(tmp_path, region, wal_size=512, wal_sequence=1))
    space = report.space
    assert space is not None
    assert (space.log_bytes, space.checkpointed_bytes, space.pending_bytes, space.free_after_log) == (
        396,
        148,
        248,
        116,
    )
    assert (space.threshold_bytes, space.until_threshold, space.at_threshold) == (384, 136, False)
    assert "pending 48.4% of the region, memvid checkpoints at 75%" in render(report)
    fixed_writing = report.verdicts[3]
    assert fixed_writing.next_append_max_payload == 512 - 396 - 48 - 48


def test_memvid_opening_for_writing_would_lose_pending_records(tmp_path: Path) -> None:
    """D1 at open: the log ends 5 bytes before the region's end."""
    region = encode_entry(1, b"x" * 154) + encode_entry(2, b"y")
    report = inspect_file(_file(tmp_path, region, wal_size=256))
    pending = {(v.design, v.mode, v.recovery): v.pending for v in report.verdicts}
    assert pending[("original", "read-only", None)] == (1, 2)
    assert pending[("original", "for writing", None)] == ()
    assert pending[("fixed", "for writing", "tolerate-torn-tail")] == (1, 2)
    assert report.doctor is not None and report.doctor.lost == (1, 2)
    assert not report.healthy


def test_dump_with_a_record_range(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "d_small_puts.mv2"
    assert main([str(path), "--dump", "--records", "5:6"]) == 0
    text = capsys.readouterr().out
    report = inspect_file(path)
    fifth = report.log[4]
    rows = [line for line in text.splitlines() if line.endswith("checkpointed")]
    assert [int(row.split()[1]) for row in rows] == [5, 6]
    start = 4096 + fifth.offset + 48
    first_line = path.read_bytes()[start : start + 16]
    assert f"00000000  {' '.join(f'{b:02x}' for b in first_line)}" in text
    assert main([str(path), "--json", "--dump", "--records", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (entry,) = printed["log"]["entries"]
    assert bytes.fromhex(entry["payload_hex"]) == path.read_bytes()[start : start + fifth.length]


def test_json_keys_are_the_same_for_every_kind_of_file(tmp_path: Path) -> None:
    """A healthy file, a bare region, a damaged file, and a header that does not decode:
    the same keys (spec/inspect.md I10), with null or empty for what is absent."""
    raw = (DATA / "d_small_puts.mv2").read_bytes()
    bare = tmp_path / "region.wal"
    bare.write_bytes(raw[4096 : 4096 + 262144])
    junk = tmp_path / "junk.mv2"
    junk.write_bytes(b"\x07" * 5000)
    reports = [
        as_json(inspect_file(DATA / "d_small_puts.mv2")),
        as_json(inspect_file(bare, RegionParameters(0, 262144, 160, 217330))),
        as_json(inspect_file(junk)),
    ]
    assert reports[0]["schema_version"] == 1
    top = [set(report) for report in reports]
    assert top[0] == top[1] == top[2]
    assert _keys(reports[0]["header"]) == _keys(reports[1]["header"])
    assert reports[1]["header"]["version"] is None  # type: ignore[index]
    assert reports[2]["header_error"] == "Header validation failed: magic mismatch"
    assert reports[0]["log"]["entries"][0].keys() == {  # type: ignore[index]
        "offset",
        "sequence",
        "length",
        "checksum",
        "status",
        "synced_before",
        "payload_hex",
    }
    for name in ("past_end", "space", "doctor", "region"):
        assert _keys(reports[0][name]) == _keys(reports[1][name]), name
    assert _keys(reports[0]["verdicts"][0]) == _keys(reports[1]["verdicts"][0])  # type: ignore[index]


def test_the_schema_document_names_every_key() -> None:
    """spec/inspect.md's schema lists every key the report has, and no other."""
    schema = (Path(__file__).parents[1] / "spec" / "inspect.md").read_text()
    report = as_json(inspect_file(DATA / "a_one_put.mv2"), Selection(dump=True))

    def walk(value: Any, prefix: str) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield f"{prefix}{key}"
                yield from walk(item, f"{prefix}{key}.")
        elif isinstance(value, list) and value:
            yield from walk(value[0], f"{prefix[:-1]}[].")

    for key in walk(report, ""):
        assert f"`{key.rsplit('.', 1)[-1]}`" in schema, key


# ---------------------------------------------------------------------------
# A bare WAL region
# ---------------------------------------------------------------------------


def _bare(offset: int, size: int, sequence: int, pos: int | None = None) -> list[str]:
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
    raw = (DATA / "d_small_puts.mv2").read_bytes()
    bare = tmp_path / "region.wal"
    bare.write_bytes(raw[4096 : 4096 + 262144])
    whole = inspect_file(DATA / "d_small_puts.mv2")
    report = inspect_file(bare, RegionParameters(0, 262144, 160, 217330))
    assert report.region_source == "command line" and whole.region_source == "header"
    assert report.log == whole.log and len(report.log) == 160
    assert report.log_end == whole.log_end
    assert [v.pending for v in report.verdicts] == [v.pending for v in whole.verdicts]
    assert main([str(bare), *_bare(0, 262144, 160, 217330)]) == 0
    assert "region (from the command line): wal_offset 0, wal_size 262144" in capsys.readouterr().out
    assert main([str(bare)]) == 1  # without the parameters it is not an MV2 file


def test_bare_region_inside_other_bytes(tmp_path: Path) -> None:
    region = encode_entry(1, b"a" * 10) + encode_entry(2, b"b" * 20) + encode_entry(3, b"c")
    path = tmp_path / "embedded.bin"
    path.write_bytes(b"\x55" * 100 + region + bytes(512 - len(region)) + b"\x66" * 50)
    report = inspect_file(path, RegionParameters(100, 512, 1))
    assert [(e.offset, e.sequence, e.status) for e in report.log] == [
        (0, 1, "checkpointed"),
        (58, 2, "pending"),
        (126, 3, "pending"),
    ]
    assert main([str(path), *_bare(100, 512, 1)]) == 0
    assert main([str(path), *_bare(99, 512, 1)]) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (_bare(0, 513, 0), "the region [0, 513) runs past the end of the file (512 bytes)"),
        (_bare(0, 0, 0), "the region size must be at least 1"),
        (["--region-size", "-1", "--checkpoint-sequence", "0"], "must be between 0 and 2**64 - 1, got -1"),
        (["--region-size", "512", "--checkpoint-sequence", str(2**64)], "must be between 0 and 2**64 - 1"),
        (["--region-size", "lots", "--checkpoint-sequence", "0"], "not a whole number: 'lots'"),
        (["--region-size", "nan", "--checkpoint-sequence", "0"], "not a whole number: 'nan'"),
        (["--region-size", "512"], "a bare region needs --region-size and --checkpoint-sequence"),
        (["--records", "9:5"], "is empty: 9 is above 5"),
        (["--records", "x"], "not a whole number"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    path = tmp_path / "region.wal"
    path.write_bytes(encode_entry(1, b"x") + bytes(512 - 49))
    assert main([str(path), *arguments]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and "Traceback" not in captured.err


# ---------------------------------------------------------------------------
# Inputs that cannot be read
# ---------------------------------------------------------------------------


def _unreadable_inputs(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {
        "is a directory, not a file": tmp_path,
        "a FIFO, not a regular file": fifo,
        "a device, not a regular file": Path("/dev/zero"),
        "no such file": tmp_path / "missing.mv2",
    }


def test_unreadable_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for message, path in _unreadable_inputs(tmp_path).items():
        assert main([str(path)]) == 2, path
        captured = capsys.readouterr()
        assert captured.err == f"walcheck inspect: {path}: {message}\n" and captured.out == ""
        assert main([str(path), "--json"]) == 2
        printed = json.loads(capsys.readouterr().out)
        assert printed == {
            "command": "inspect",
            "error": {"kind": "input", "message": f"{path}: {message}"},
        }


def test_a_file_without_read_permission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.mv2"
    shutil.copy(DATA / "a_one_put.mv2", path)
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads it anyway: the kernel's answer to anyone else, for this path.
        real_open = os.open

        def refusing_open(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(file, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"walcheck inspect: {path}: permission denied\n")


def test_walcheck_inspect_imports_no_hypothesis() -> None:
    """walcheck/cli.py imports only the module of the command asked for."""
    program = (
        "import sys; from walcheck.cli import main; code = main(['inspect', '--quiet', sys.argv[1]]); "
        "print(code, 'hypothesis' in sys.modules)"
    )
    child = subprocess.run(
        [sys.executable, "-c", program, str(DATA / "a_one_put.mv2")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.splitlines()[-1] == "0 False"


def test_render_does_not_need_a_tty() -> None:
    err = io.StringIO()
    assert not err.isatty()
    progress = ProgressOnStderr(err.write, err.isatty(), after=0.0)
    progress("walking the log", 1, 2)
    assert err.getvalue() == "walcheck inspect: walking the log 50% (0.0 s)\n"
    assert stat.S_ISREG(os.stat(DATA / "a_one_put.mv2").st_mode)


# ---------------------------------------------------------------------------
# A torn tail: the file ends inside the region (from the old tests/test_inspect.py)
# ---------------------------------------------------------------------------


def _truncated(tmp_path: Path, keep: int) -> Path:
    path = tmp_path / "truncated.mv2"
    path.write_bytes((DATA / "a_one_put.mv2").read_bytes()[:keep])
    return path


def test_file_ending_inside_a_record(tmp_path: Path) -> None:
    """The file ends 10 bytes into record 2's payload: its row says so, the log ends
    there, every open fails reading it; memvid's fails earlier, on the table of contents."""
    second = inspect_file(DATA / "a_one_put.mv2").log[1]
    path = _truncated(tmp_path, 4096 + second.offset + 48 + 10)
    report = inspect_file(path)
    assert [(e.sequence, e.status, e.checksum_ok) for e in report.log] == [
        (1, "checkpointed", True),
        (2, "cut off by the end of the file", False),
    ]
    assert report.log_end is not None and report.log_end.position == second.offset
    assert report.log_end.reason == f"the end of the file, inside the entry at {second.offset} (a torn tail)"
    assert [note.split(":")[0] for note in report.notes] == [
        "the file ends before footer_offset (75735)",
        f"the file ends {65536 - second.offset - 58} bytes before the region does (at region position "
        f"{second.offset + 58})",
    ]
    assert [v.error for v in report.verdicts] == ["Io: failed to fill whole buffer"] * 6
    assert report.doctor is not None and report.doctor.action == "zero the region"
    assert main([str(path)]) == 1


def test_file_ending_inside_an_entry_header(tmp_path: Path) -> None:
    second = inspect_file(DATA / "a_one_put.mv2").log[1]
    report = inspect_file(_truncated(tmp_path, 4096 + second.offset + 20))
    assert [e.sequence for e in report.log] == [1]
    assert report.log_end is not None and report.log_end.reason == (
        f"the end of the file, 20 bytes into the entry header at {second.offset} (a torn tail)"
    )


def test_a_file_shorter_than_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _truncated(tmp_path, 100)
    assert main([str(path), "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["header_error"].startswith("I/O error: failed to fill whole buffer")
    assert printed["log"] is None and printed["verdicts"] == [] and printed["healthy"] is False


def test_region_parameters_override_the_header() -> None:
    """a_one_put.mv2 says sequence 2 is checkpointed; told 0, both records are pending."""
    path = DATA / "a_one_put.mv2"
    assert [v.pending for v in inspect_file(path).verdicts] == [()] * 6
    report = inspect_file(path, RegionParameters(4096, 65536, 0))
    assert [e.status for e in report.log] == ["pending", "pending"]
    assert [v.pending for v in report.verdicts] == [(1, 2)] * 6


def test_hexadecimal_region_parameters(tmp_path: Path) -> None:
    path = tmp_path / "region.wal"
    path.write_bytes(encode_entry(1, b"x") + bytes(0x200 - 49))
    assert main([str(path), "--region-size", "0x200", "--checkpoint-sequence", "0"]) == 0
    assert main([str(path), *_bare(600, 1, 0)]) == 2


def test_a_region_under_48_bytes(tmp_path: Path) -> None:
    """D3: memvid's open for writing writes a 48-byte sentinel past a 10-byte region;
    inspect reports the write, and does not make it."""
    path = _file(tmp_path, b"", wal_size=10)
    report = inspect_file(path)
    original_writing = report.verdicts[1]
    assert set(original_writing.writes_outside_region) == {(4096, 48)}  # at open, and at each rescan
    assert any("writes outside the region: 48 bytes at 4096 (D3" in note for note in report.notes)
    assert not report.healthy
