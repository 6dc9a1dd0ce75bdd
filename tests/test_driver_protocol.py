"""The protocol's own rules (spec/porting.md P1.2, P1.4, P3) on the reference's
driver: the error kinds for a malformed request, for "no WAL open" and for an
open while one is open; a failed open leaves nothing open; an open of a path
that cannot be opened answers Io; Io reasons carry the OS's message alone;
`checkpoint` writes and syncs nothing of its own. tests/test_rust_ports.py
runs the same sessions on the Rust drivers.

Also S3.2's short file: ORIGINAL (memvid's Rust) reads record by record and
fails only at a read past the file's end; FIXED refuses at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reference.driver import Driver, normalise_io_reason
from reference.wal import Design

REFERENCE = [sys.executable, "-m", "reference.driver"]
OFFSET = 4096
SIZE = 200
Json = dict[str, Any]


def make_file(path: Path, region: bytes = bytes(SIZE)) -> Path:
    """P1.3: the canaries around the region."""
    path.write_bytes(b"\xa5" * OFFSET + region + b"\x5a" * 64)
    return path


def open_request(path: Path | str, *, size: int = SIZE, read_only: bool = False) -> Json:
    return {
        "op": "open",
        "path": str(path),
        "region_offset": OFFSET,
        "region_size": size,
        "checkpoint_pos": 0,
        "checkpoint_sequence": 0,
        "read_only": read_only,
    }


def converse(command: list[str], lines: list[str]) -> list[Json]:
    """Send every line to a fresh driver; its answers, one per line."""
    done = subprocess.run(
        command, input="".join(line + "\n" for line in lines), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(lines), (lines, done.stdout, done.stderr)
    return answers


def protocol_session(tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    """(request line, the error kind it must answer or None for ok, the Io reason)."""
    good = make_file(tmp_path / "good.mv2")
    return [
        ('{"op": "hello", "protocol": 1}', None, None),
        ("this is not JSON", "Protocol", None),
        ("[1, 2]", "Protocol", None),
        ('{"no": "op"}', "Protocol", None),
        ('{"op": "stats"}', "NotOpen", None),
        ('{"op": "append", "payload": "00"}', "NotOpen", None),
        ('{"op": "checkpoint"}', "NotOpen", None),
        ('{"op": "frobnicate"}', "Unsupported", None),
        (json.dumps(open_request(tmp_path / "missing" / "x.mv2")), "Io", "No such file or directory"),
        ('{"op": "pending"}', "NotOpen", None),  # the failed open left nothing open
        (json.dumps(open_request(good, size=0)), "InvalidHeader", None),
        ('{"op": "pending"}', "NotOpen", None),
        (json.dumps({**open_request(good), "read_only": "no"}), "Protocol", None),
        (json.dumps({**open_request(good), "region_size": -1}), "Protocol", None),
        ('{"op": "stats"}', "NotOpen", None),
        (json.dumps(open_request(good)), None, None),
        (json.dumps(open_request(good)), "AlreadyOpen", None),
        ('{"op": "append", "payload": "zz"}', "Protocol", None),
        ('{"op": "append"}', "Protocol", None),
        ('{"op": "records_after", "sequence": "1"}', "Protocol", None),
        ('{"op": "skip_sync", "skip": 1}', "Protocol", None),
        ('{"op": "append", "payload": "6869"}', None, None),  # still open and working
        ('{"op": "close"}', None, None),
        ('{"op": "quit"}', None, None),
    ]


def check_protocol_session(command: list[str], tmp_path: Path) -> None:
    session = protocol_session(tmp_path)
    answers = converse(command, [line for line, _, _ in session])
    for (line, kind, reason), answer in zip(session, answers, strict=True):
        if kind is None:
            assert answer["ok"] is True, (line, answer)
            continue
        assert answer["ok"] is False and answer["error"]["kind"] == kind, (line, answer)
        if reason is not None:
            assert answer["error"]["reason"] == reason, (line, answer)
    assert answers[-3] == {"ok": True, "sequence": 1}


@pytest.mark.parametrize("design", ["fixed", "original"])
def test_reference_driver_answers_the_protocols_errors(tmp_path: Path, design: str) -> None:
    check_protocol_session([*REFERENCE, "--design", design], tmp_path)


def test_io_reasons_lose_pythons_decorations() -> None:
    assert normalise_io_reason("[Errno 2] No such file or directory: '/x/y'") == "No such file or directory"
    assert normalise_io_reason("[Errno 5] Input/output error") == "Input/output error"
    assert (
        normalise_io_reason("[Errno 18] Invalid cross-device link: 'a' -> 'b'") == "Invalid cross-device link"
    )
    assert normalise_io_reason("failed to fill whole buffer") == "failed to fill whole buffer"


def test_checkpoint_writes_and_syncs_nothing_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P1.4: the runner owns the MV2 header; `checkpoint` is record_checkpoint
    alone: no header write, no sync (its sentinel is the WAL's own write)."""
    path = make_file(tmp_path / "wal.mv2")
    syncs: list[int] = []
    real_fsync = os.fsync

    def counted_fsync(fd: int) -> None:
        syncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted_fsync)
    driver = Driver(Design.FIXED)
    assert driver.answer(json.dumps(open_request(path)))["ok"]
    assert driver.answer('{"op": "skip_sync", "skip": true}')["ok"]
    assert driver.answer('{"op": "append", "payload": "6869"}')["ok"]
    before, synced = path.read_bytes(), len(syncs)
    answer = driver.answer('{"op": "checkpoint"}')
    assert answer == {"ok": True, "checkpoint_pos": 50, "checkpoint_sequence": 1}
    after = path.read_bytes()
    assert len(syncs) == synced, "checkpoint synced"
    assert after[:OFFSET] == before[:OFFSET] and after[OFFSET + SIZE :] == before[OFFSET + SIZE :]
    assert after[OFFSET + 50 : OFFSET + 98] == bytes(48)  # the sentinel, the WAL's own write
    driver.answer('{"op": "close"}')


def short_file_session(tmp_path: Path) -> tuple[Path, list[str]]:
    """A region of 200 bytes holding one record of 4 bytes and its sentinel,
    [0, 100), in a file cut at region position 120: memvid opens it."""
    path = tmp_path / "short.mv2"
    make_file(path)
    written = converse(
        [*REFERENCE, "--design", "original"],
        [json.dumps(open_request(path)), '{"op": "append", "payload": "61626364"}', '{"op": "quit"}'],
    )
    assert written[1] == {"ok": True, "sequence": 1}
    os.truncate(path, OFFSET + 120)
    lines = [
        json.dumps(open_request(path)),
        '{"op": "pending"}',
        '{"op": "append", "payload": "' + "65" * 40 + '"}',  # [52, 140): past the file's end
        '{"op": "pending"}',
        '{"op": "close"}',
        json.dumps(open_request(path, read_only=True)),
        '{"op": "close"}',
        '{"op": "quit"}',
    ]
    return path, lines


def test_a_short_file_in_each_design(tmp_path: Path) -> None:
    path, lines = short_file_session(tmp_path)
    fixed = converse(REFERENCE, lines[:1])
    assert fixed[0]["error"] == {"kind": "Io", "reason": "failed to fill whole buffer"}
    original = converse([*REFERENCE, "--design", "original"], lines)
    assert original[0] == {"ok": True}
    assert original[1]["records"] == [{"sequence": 1, "payload": "61626364"}]
    assert original[2] == {"ok": True, "sequence": 2}
    assert [r["sequence"] for r in original[3]["records"]] == [1, 2]
    # The append and its sentinel lengthened the file to region position 188.
    assert len(path.read_bytes()) == OFFSET + 188
    # Cut inside record 2's payload: the scan's read passes the end.
    os.truncate(path, OFFSET + 100)
    again = converse([*REFERENCE, "--design", "original"], lines[:1])
    assert again[0]["error"] == {"kind": "Io", "reason": "failed to fill whole buffer"}
    # Cut inside record 2's header: the header read passes the end.
    os.truncate(path, OFFSET + 60)
    assert converse([*REFERENCE, "--design", "original"], lines[:1])[0]["error"]["reason"] == (
        "failed to fill whole buffer"
    )
    # An empty region cut after its first 48 bytes: a whole sentinel, so it opens.
    empty = make_file(tmp_path / "empty.mv2")
    os.truncate(empty, OFFSET + 48)
    assert converse([*REFERENCE, "--design", "original"], [json.dumps(open_request(empty))]) == [{"ok": True}]
