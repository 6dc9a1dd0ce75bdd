"""memvid-sdk 2.0.160 under recorded crashes (issue 11, spec/defects.md "memvid-sdk
under recorded crashes"): its real calls for create, puts, put_many, commit and
growth, every crash state spec/persistence.md allows at the points checked,
read back by memvid-sdk itself.

CI checks a sample of crash points (every tenth, and every point right after
a report) with memvid-sdk's read-only open; HYPOTHESIS_PROFILE=thorough checks
every point with both opens (read-only, and writable on a copy). memvid-sdk
opens a file in about 0.1 s, which is what bounds the count.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from walcheck.real.syscalls.campaign import CrashReport, check_recording
from walcheck.real.syscalls.checkers import MemvidReaderProcess, memvid_readers
from walcheck.real.syscalls.recorder import record, strace_path
from walcheck.real.syscalls.replay import Recording

pytest.importorskip("memvid_sdk", reason="memvid-sdk is not installed; pip install -e '.[test]' installs it")
pytestmark = pytest.mark.skipif(
    strace_path() is None, reason="strace is not installed (Debian: apt-get install strace)"
)
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
READ_ONLY = "memvid-sdk read-only"


@pytest.fixture(scope="module")
def memvid() -> Iterator[MemvidReaderProcess]:
    process = MemvidReaderProcess()
    yield process
    process.close()


_RECORDINGS: dict[str, Recording] = {}


def _record(tmp_path: Path, scenario: str) -> Recording:
    """One recording per scenario and run: recording memvid under strace takes seconds."""
    if scenario not in _RECORDINGS:
        root = tmp_path / scenario
        root.mkdir()
        _RECORDINGS[scenario] = record(
            [sys.executable, "-m", "walcheck.real.syscalls.memvid_writer", str(root / "m.mv2"), scenario],
            root,
            env={**os.environ, "MEMVID_TELEMETRY": "0"},
        )
    return _RECORDINGS[scenario]


def _sampled_points(recording: Recording) -> list[int]:
    after_reports = [call.index + 1 for call in recording.calls if call.kind == "ack"]
    return sorted({*range(0, len(recording.calls) + 1, 10), *after_reports})


def _check(recording: Recording, memvid: MemvidReaderProcess, name: str) -> CrashReport:
    readers = memvid_readers("m.mv2", memvid)
    if not THOROUGH:
        readers = [r for r in readers if r.name == READ_ONLY]
    report = check_recording(
        recording,
        readers,
        name=name,
        seed=11,
        samples_per_point=4 if THOROUGH else 3,
        exhaustive_limit=16 if THOROUGH else 8,
        points=None if THOROUGH else _sampled_points(recording),
        count_figures=True,
    )
    print(report.render())
    for phase_reader_outcome, count in sorted(report.outcomes_by_phase.items()):
        print("  ", " | ".join(phase_reader_outcome), count)
    return report


def _after_the_first_acknowledgement(report: CrashReport) -> dict[str, int]:
    """Outcomes at crash points after the first put (or put_many) had returned."""
    counts: dict[str, int] = {}
    for (phase, _reader, outcome), count in report.outcomes_by_phase.items():
        if not phase.endswith("nothing acknowledged yet"):
            counts[outcome] = counts.get(outcome, 0) + count
    return counts


@pytest.mark.parametrize("scenario", ["puts", "put_many"])
def test_memvid_keeps_every_document_a_put_returned(
    tmp_path: Path, memvid: MemvidReaderProcess, scenario: str
) -> None:
    """Measured on 2.0.160: once the first put (or put_many) has returned,
    every crash state holds every document a put returned, and memvid-sdk
    opens the file: its staged commit syncs the copy, renames it over the file
    and syncs the directory before it returns. The oracle checks each document
    (G1, G2, G5). Before the first put returns, see M7."""
    recording = _record(tmp_path, scenario)
    assert {"rename", "dirsync"} <= {c.kind for c in recording.calls}
    report = _check(recording, memvid, f"memvid-sdk {scenario}")
    after = _after_the_first_acknowledgement(report)
    assert after.get("ok", 0) > 0, report.render()
    assert set(after) == {"ok"}, "\n".join(f.render() for f in report.failures)


def test_memvid_create_is_not_durable_until_the_first_put(
    tmp_path: Path, memvid: MemvidReaderProcess
) -> None:
    """spec/defects.md M7: memvid_sdk.create returns before the new file's name is
    durable (no fsync of its directory); a power loss before the first put's
    commit leaves no file at all, so the next use() of the path fails (G5)."""
    recording = _record(tmp_path, "puts")
    created = next(c.index for c in recording.calls if c.kind == "ack" and c.text == "created")
    first_put = next(c.index for c in recording.calls if c.kind == "ack" and c.text.startswith("begin"))
    readers = [r for r in memvid_readers("m.mv2", memvid) if r.name == READ_ONLY]
    report = check_recording(recording, readers, name="create", points=range(created + 1, first_put + 2))
    failures = [f for f in report.failures if f.guarantee == "G5"]
    assert failures, report.render()
    print(failures[0].render())
    create = next(c for c in recording.calls if c.kind == "create" and c.path == "m.mv2")
    assert f"{create.describe()}: not persisted" in failures[0].dropped
    assert "m.mv2 does not exist" in failures[0].returned


def test_memvid_growth_inside_put_many_leaves_no_memory_after_a_process_kill(
    tmp_path: Path, memvid: MemvidReaderProcess
) -> None:
    """spec/defects.md M4, measured on memvid-sdk 2.0.160: a put_many whose
    records outgrow the region grows it in place: ftruncate, the data moved,
    the new part of the region zeroed over what was there, the header after.
    A process killed anywhere from the zeroing until the staged commit's
    rename (no power loss: the state that keeps every call) leaves a file
    memvid-sdk cannot open, and the document the put before had acknowledged
    is gone with it (G5, G1)."""
    recording = _record(tmp_path, "growth")
    first_put_returned = next(
        c.index for c in recording.calls if c.kind == "ack" and c.text == "append 1 synced"
    )
    points = range(first_put_returned + 1, len(recording.calls) + 1, 7)
    readers = [r for r in memvid_readers("m.mv2", memvid) if r.name == READ_ONLY]
    report = check_recording(
        recording, readers, name="memvid-sdk growth", points=points, samples_per_point=0, exhaustive_limit=1
    )
    print(report.render())
    killed = [f for f in report.failures if f.guarantee == "G5" and not f.dropped]
    assert killed, report.render()
    print(killed[0].render())
    assert "m.mv2" in killed[0].after or ".m.mv2." in killed[0].after
    assert report.count(READ_ONLY, "G5") > 0 and report.count(READ_ONLY, "ok") > 0


def test_memvid_cannot_open_a_file_after_a_torn_wal_append(
    tmp_path: Path, memvid: MemvidReaderProcess
) -> None:
    """spec/defects.md C1, measured on memvid-sdk 2.0.160: a WAL record of a
    put_many in flight, written in more than one sector, of which a power loss
    keeps some: memvid-sdk refuses the whole file ("Embedded WAL is corrupted
    ... wal record checksum mismatch" or "length invalid"), with the document
    the put before had acknowledged in it (G5). FIXED's R1 ends the log there."""
    recording = _record(tmp_path, "growth")
    first_put_returned = next(
        c.index for c in recording.calls if c.kind == "ack" and c.text == "append 1 synced"
    )
    region = range(4096, 4096 + 64 * 1024)
    torn_appends = [
        c.index + 1
        for c in recording.calls[first_put_returned:]
        if c.kind == "write"
        and c.path == "m.mv2"
        and c.offset in region
        and c.offset // 512 != (c.offset + len(c.data) - 1) // 512
    ][:3]
    assert torn_appends, "no WAL append of the put_many spans two sectors"
    readers = [r for r in memvid_readers("m.mv2", memvid) if r.name == READ_ONLY]
    report = check_recording(
        recording, readers, name="torn append", points=torn_appends, samples_per_point=12
    )
    print(report.render())
    torn = [f for f in report.failures if f.guarantee == "G5" and "Embedded WAL is corrupted" in f.returned]
    assert torn, report.render()
    print(torn[0].render())
    assert any("sectors" in d and "not persisted" in d for d in torn[0].dropped)
