"""memvid's caller layer on memvid-sdk 2.0.160 itself (spec/defects.md M2,
M3, M6): the doctor and growth, each in a subprocess of its own (the SDK is
imported only there, with MEMVID_TELEMETRY=0).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reference import Design, decode_header, scan_region
from reference.caller import salvage

TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_memvid_files.py"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("memvid_sdk") is None and not os.environ.get("CI"),
    reason="memvid-sdk is not installed; pip install -e '.[test]' installs it",
)

_CHILD_PRELUDE = """
import json, os, sys
os.environ["MEMVID_TELEMETRY"] = "0"
import memvid_sdk
def frames(path):
    memory = memvid_sdk.use("basic", path, enable_lex=False)
    try:
        return memory.stats()["frame_count"]
    finally:
        memory.close()
"""


def _child(code: str, *args: str) -> Any:
    """Run ``code`` after the prelude in a new process; its last stdout line is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD_PRELUDE + code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMVID_TELEMETRY": "0"},
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pending_file(directory: Path) -> Path:
    """tools/make_memvid_files.py's ``pending``: 2 puts, then 3 whose commit
    failed; their frame records stay in the WAL, synced, pending."""
    subprocess.run(
        [sys.executable, str(TOOL), str(directory), "pending"],
        capture_output=True,
        env={**os.environ, "MEMVID_TELEMETRY": "0"},
        check=True,
        timeout=300,
    )
    return directory / "pending.mv2"


def test_memvid_doctor_discards_intact_pending_records(tmp_path: Path) -> None:
    """M2 and M3 on memvid-sdk: one flipped bit in a record checkpointed long
    ago makes memvid refuse the file; its doctor "heals" it by zeroing the
    region, and the three pending frames, intact and synced, are gone (an
    undamaged copy recovers them at open); wal_sequence is back to 0. FIXED's
    doctor would apply them: its salvage scan finds them past the damage."""
    source = _pending_file(tmp_path)
    raw = source.read_bytes()
    header = decode_header(raw[:4096])
    region = raw[header.wal_offset : header.wal_offset + header.wal_size]
    records, _ = scan_region(region, Design.ORIGINAL, header.wal_sequence)
    pending = [r.sequence for r in records if r.sequence > header.wal_sequence]
    assert len(pending) == 3
    control, damaged = tmp_path / "control.mv2", tmp_path / "damaged.mv2"
    shutil.copy(source, control)
    data = bytearray(raw)
    data[header.wal_offset + records[0].position + 48] ^= 0x01  # record 1's payload, checkpointed
    damaged.write_bytes(bytes(data))
    damaged_region = bytes(data[header.wal_offset : header.wal_offset + header.wal_size])
    assert [r.sequence for r in salvage(damaged_region, header.wal_sequence)] == pending
    seen = _child(
        """
control, damaged = sys.argv[1], sys.argv[2]
try:
    frames(damaged)
    refused = ""
except Exception as error:
    refused = str(error)
from memvid_sdk._lib import doctor
report = doctor(damaged, rebuild_time_index=False, rebuild_lex_index=False,
                rebuild_vec_index=False, vacuum=False, dry_run=False, quiet=True)
print(json.dumps({"control": frames(control), "refused": refused,
                  "status": report.get("status"), "after_doctor": frames(damaged)}))
""",
        str(control),
        str(damaged),
    )
    assert seen["control"] == 5  # 2 committed + the 3 pending, recovered at open
    assert "wal record checksum mismatch" in seen["refused"]
    assert seen["status"] == "healed"
    assert seen["after_doctor"] == 2  # the 3 intact pending frames are gone (M2)
    after = decode_header(damaged.read_bytes()[:4096])
    assert (after.wal_sequence, after.wal_checkpoint_pos) == (0, 0)  # M3


def test_memvid_growth_after_sixteen_varied_puts(tmp_path: Path) -> None:
    """M6 (memvid issue 230): 16 puts of 1,500-2,700 characters, each committed,
    with a growth from 64 to 128 KiB at the 14th. On 2.0.160 every put
    succeeds and the file reopens with every frame: issue 230 does not
    reproduce here (the test says so, and will say when it does)."""
    seen = _child(
        """
import random, struct
path = sys.argv[1]
memory = memvid_sdk.create(path, enable_lex=False)
rng = random.Random(2)
sizes, errors = [], []
for index in range(16):
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz     .,\\n") for _ in range(rng.randint(1500, 2700)))
    try:
        memory.put(title=f"M{1000 + index}", label="x", text=text, auto_tag=False, extract_dates=False)
    except Exception as error:
        errors.append(f"put {index + 1}: {error}")
    with open(path, "rb") as file:
        sizes.append(struct.unpack_from("<Q", file.read(32), 24)[0])
memory.close()
try:
    reopened = frames(path)
except Exception as error:
    reopened = str(error)
print(json.dumps({"sizes": sizes, "errors": errors, "frames": reopened}))
""",
        str(tmp_path / "grown.mv2"),
    )
    assert seen["sizes"][12] == 64 * 1024 and seen["sizes"][13:] == [128 * 1024] * 3  # grew at the 14th put
    assert seen["errors"] == []
    assert isinstance(seen["frames"], int) and seen["frames"] >= 16


_BATCH_UNCOMMITTED = """
import resource, signal
from pathlib import Path
path = Path(sys.argv[1])
memory = memvid_sdk.use("basic", str(path), enable_lex=False)
# put_many is memvid's batch (skip_sync): its appends reach the OS unsynced; a
# file size limit makes the commit after them fail, and the process ends.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, resource.RLIM_INFINITY))
try:
    memory.put_many([{"title": "t0", "label": "x", "text": text} for text in sys.argv[2:]])
    outcome = "ok"
except Exception as error:
    outcome = str(error)
print(json.dumps(outcome))
sys.stdout.flush()
os._exit(0)
"""

_SECTOR = 512


def _log(path: Path) -> list[tuple[int, int, bytes]]:
    raw = path.read_bytes()
    header = decode_header(raw[:4096])
    records, _ = scan_region(raw[header.wal_offset : header.wal_offset + header.wal_size], Design.ORIGINAL)
    return [(r.sequence, r.position, r.payload) for r in records]


def test_memvid_brings_back_a_record_a_power_loss_took(tmp_path: Path) -> None:
    """C5 on memvid-sdk 2.0.160 (spec/defects.md). Life 1: put_many of A and B,
    unsynced. A power loss keeps B's sectors and loses the first sector of A's
    entry (a sector holds any of its versions): memvid's open recovers nothing.
    Life 2, on that image: put_many of C, as long as A, unsynced; memvid's
    recovery then finds C alone. A power loss that keeps C and loses the
    sentinel after it (the sector's version between C's write and the
    sentinel's) leaves B's header where C ends: memvid's recovery now applies
    C and B, a frame of life 1 that life 2 had not had."""
    a, b, c = "a" * 700, "b" * 700, "c" * 700
    created = tmp_path / "created.mv2"
    _child("memvid_sdk.create(sys.argv[1], enable_lex=False).close(); print(json.dumps(0))", str(created))
    life1 = tmp_path / "life1.mv2"
    shutil.copy(created, life1)
    assert "File too large" in _child(_BATCH_UNCOMMITTED, str(life1), a, b)
    header = decode_header(life1.read_bytes()[:4096])
    (_, _, _), (sequence_a, at_a, _), (sequence_b, at_b, payload_b) = _log(life1)
    assert b.encode() in payload_b and (sequence_a, sequence_b) == (
        header.wal_sequence + 1,
        header.wal_sequence + 2,
    )
    # A's entry starts in the region's first sector and B's in a later one.
    first = header.wal_offset + at_a
    assert first // _SECTOR != (header.wal_offset + at_b) // _SECTOR
    sector = first - first % _SECTOR
    image1 = bytearray(life1.read_bytes())
    image1[sector : sector + _SECTOR] = created.read_bytes()[
        sector : sector + _SECTOR
    ]  # A's first sector lost
    lost = tmp_path / "image1.mv2"
    lost.write_bytes(bytes(image1))
    life2 = tmp_path / "life2.mv2"
    shutil.copy(lost, life2)
    assert "File too large" in _child(_BATCH_UNCOMMITTED, str(life2), c)
    records2 = _log(life2)
    sequence_c, at_c, payload_c = records2[-1]
    assert (sequence_c, at_c) == (sequence_a, at_a) and c.encode() in payload_c
    end_c = header.wal_offset + at_c + 48 + len(payload_c)
    assert end_c == header.wal_offset + at_b  # C, as long as A, ends where B begins
    image2 = bytearray(life2.read_bytes())
    image2[end_c : end_c + 48] = image1[end_c : end_c + 48]  # C's sentinel lost: B's header
    resurrected = tmp_path / "image2.mv2"
    resurrected.write_bytes(bytes(image2))
    assert [s for s, _, _ in _log(resurrected)][-2:] == [sequence_c, sequence_b]
    copies = []
    for image in (lost, life2, resurrected):
        copy = tmp_path / f"{image.stem}.opened.mv2"
        shutil.copy(image, copy)
        copies.append(str(copy))
    seen = _child("print(json.dumps([frames(path) for path in sys.argv[1:]]))", *copies)
    assert seen == [0, 1, 2]  # nothing after life 1's loss, C after life 2, then C and B
