"""ALICE's method on real calls (issue 11, spec/persistence.md): the recorder,
the persistence model, and the reference's own writer on FileStorage under
every crash state its recorded calls allow.

Tests that run strace skip outside CI with a message when it is missing; in
CI (which installs it, .ci/run) a skip fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from walcheck.real.syscalls.campaign import CrashReport, check_recording
from walcheck.real.syscalls.checkers import caller_readers, reference_readers
from walcheck.real.syscalls.command import main as crashes_main
from walcheck.real.syscalls.recorder import record, strace_path
from walcheck.real.syscalls.replay import Call, Recording
from walcheck.real.syscalls.states import Persistence, everything
from walcheck.real.syscalls.strace_output import parse_trace

needs_strace = pytest.mark.skipif(
    strace_path() is None, reason="strace is not installed (Debian: apt-get install strace)"
)
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
MIB = 1 << 20


def _hex(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def test_parse_joins_unfinished_and_resumed_calls() -> None:
    path = _hex(b"/r/f")
    text = "\n".join(
        [
            f'7 write(3<{path}>, "{_hex(b"ab")}", 2 <unfinished ...>',
            "8 fsync(4 <unfinished ...>",
            "7 <... write resumed>)              = 2",
            "8 <... fsync resumed>)   = 0",
            "7 +++ exited with 0 +++",
        ]
    )
    calls = parse_trace(text)
    assert [(c.pid, c.name, c.result) for c in calls] == [(7, "write", 2), (8, "fsync", 0)]
    assert calls[0].arguments == [f"3<{path}>", f'"{_hex(b"ab")}"', "2"]


def _recording(calls: list[Call]) -> Recording:
    return Recording(calls, {}, [], {"": 0}, 0, "", 0.0, 0.0, 0)


def test_a_new_name_needs_its_directory_synced_and_data_its_file() -> None:
    """PM3, PM5: after create, write, fsync of the file, the name may be gone;
    after the directory's fsync it is there with the synced bytes."""
    calls = [
        Call(0, "create", "openat", 1, path="f", inode=1),
        Call(1, "write", "write", 2, path="f", inode=1, offset=0, data=b"x" * 600),
        Call(2, "fsync", "fsync", 3, path="f", inode=1),
        Call(3, "dirsync", "fsync", 4, path="", inode=0),
        Call(4, "write", "write", 5, path="f", inode=1, offset=0, data=b"y" * 10),
    ]
    persistence = Persistence(_recording(calls))
    after_file_sync = persistence.point_model(3)
    contents = {
        tuple(sorted(persistence.materialise(after_file_sync, c).files.items()))
        for c in _all(after_file_sync.choices())
    }
    assert contents == {(), (("f", b"x" * 600),)}
    after_dir_sync = persistence.point_model(5)
    states = {persistence.materialise(after_dir_sync, c).files["f"] for c in _all(after_dir_sync.choices())}
    assert states == {b"x" * 600, b"y" * 10 + b"x" * 590}
    kill = persistence.materialise(after_dir_sync, everything(after_dir_sync))
    assert kill.files["f"] == b"y" * 10 + b"x" * 590


def _all(dims: list[int]) -> list[tuple[int, ...]]:
    choices: list[tuple[int, ...]] = [()]
    for d in dims:
        choices = [(*c, i) for c in choices for i in range(d)]
    return choices


PROGRAM = r"""
import os, sys
ack = int(os.environ["WALCHECK_ACK_FD"])
root = sys.argv[1]
fd = os.open(root + "/f", os.O_RDWR | os.O_CREAT, 0o644)
clone = os.dup(fd)                       # a clone shares the offset
os.lseek(clone, 100, os.SEEK_SET)
os.write(fd, b"hello")                   # lands at 100
os.pwrite(fd, b"X" * 5000, 10)
os.fsync(fd)
os.write(ack, b"one\n")
temp = os.open(root + "/.f.tmp", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.lseek(fd, 0, os.SEEK_SET)
os.copy_file_range(fd, temp, 1 << 20)
os.write(temp, bytes(range(256)) * (65536 * int(sys.argv[2])))
os.fsync(temp)
os.rename(root + "/.f.tmp", root + "/g")
directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(directory)
os.write(ack, b"two\n")
"""


@needs_strace
def test_the_recorder_follows_clones_copies_renames_and_a_16_mib_write(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    started = time.perf_counter()
    recording = record([sys.executable, "-c", PROGRAM, str(root), "1"], root)
    seconds = time.perf_counter() - started
    kinds = [(c.kind, c.path or c.text) for c in recording.calls]
    assert kinds == [
        ("create", "f"),
        ("write", "f"),
        ("write", "f"),
        ("fsync", "f"),
        ("ack", "one"),
        ("create", ".f.tmp"),
        ("write", ".f.tmp"),  # copy_file_range, its bytes from f as it was
        ("write", ".f.tmp"),
        ("fsync", ".f.tmp"),
        ("rename", ".f.tmp"),
        ("dirsync", ""),
        ("ack", "two"),
    ]
    _, hello, _, _, _, _, copy, big, *_ = recording.calls
    assert (hello.offset, hello.data) == (100, b"hello")
    assert copy.data == (root / "g").read_bytes()[:5010] and len(copy.data) == 5010
    assert len(big.data) == 16 * MIB and big.offset == 5010
    # Recorded whole, and fast enough to record memvid's commit copies.
    print(f"16 MiB write: recorded in {seconds:.2f} s (parse {recording.seconds_parsing:.2f} s)")
    assert seconds < 120


def _reference_trace(tmp_path: Path, name: str, argv: list[str]) -> Recording:
    root = tmp_path / name
    root.mkdir(parents=True)
    return record([sys.executable, "-m", "walcheck.real.syscalls.writer", str(root / "wal.mv2"), *argv], root)


# (api, mode, seed, appends): synced appends and batches with flush, commits and growth from
# 4 KiB, through the reference's in-place commit and growth (grow_region, which syncs before
# the header, PM12), and through memvid's caller layer (reference.caller: the staged commit,
# a copy renamed over the file and the directory synced, and FIXED's staged growth). The
# seeds were chosen for variety only.
FIXED_TRACES = [
    ("in-place", "sync", 1, 40),
    *(("in-place", "batch", seed, 45) for seed in range(1, 5)),
    ("caller", "sync", 1, 20),
    ("caller", "batch", 1, 30),
]
if THOROUGH:
    FIXED_TRACES += [("in-place", "batch", seed, 120) for seed in range(5, 20)]
    FIXED_TRACES += [("caller", "batch", seed, 60) for seed in range(2, 8)]


@needs_strace
def test_the_fixed_reference_writer_survives_every_crash_state(tmp_path: Path) -> None:
    """Issue 11's first target: FIXED's own writer on FileStorage, its real
    pwrite/fsync/rename order, commits and (staged) growth, loses nothing,
    opens, and returns nothing wrong in any crash state its recorded calls
    allow (at least 10,000 distinct states a run)."""
    reports: list[CrashReport] = []
    for api, mode, seed, appends in FIXED_TRACES:
        recording = _reference_trace(
            tmp_path,
            f"{api}-{mode}-{seed}",
            ["--api", api, "--mode", mode, "--seed", str(seed), "--appends", str(appends)],
        )
        acks = [c.text.split()[0] for c in recording.acks]
        kinds = {c.kind for c in recording.calls}
        if api == "in-place":
            assert "commit" in acks and "grow" in acks, f"{mode} seed {seed}: {acks}"
        else:
            assert {"rename", "dirsync"} <= kinds, f"the staged commit was not recorded: {kinds}"
            assert "grow" in acks, f"{mode} seed {seed} did not grow: {acks}"
        readers = reference_readers("wal.mv2") if api == "in-place" else caller_readers("wal.mv2")
        report = check_recording(
            recording,
            readers,
            name=f"FIXED writer, {api}, {mode}, seed {seed}",
            seed=seed,
            count_figures=True,
        )
        print(report.render())
        reports.append(report)
        for reader in readers:
            if reader.promised:
                assert not report.broken(reader.name), "\n".join(
                    f.render() for f in report.promised_failures()
                )
    states = sum(r.states_checked - r.states_before_creation for r in reports)
    assert states >= 10_000, f"only {states} crash states"


@needs_strace
@pytest.mark.planted_bug
def test_the_directory_sync_at_create_is_needed(tmp_path: Path) -> None:
    """PM12: with FileStorage's directory sync at create taken out again,
    FIXED's reader finds no file after an acknowledged append, and the minimal
    trace names the create whose name did not persist."""
    root = tmp_path / "planted"
    root.mkdir()
    recording = record(
        [
            sys.executable,
            "-m",
            "tests.syscall_writers",
            "no-directory-sync",
            str(root / "wal.mv2"),
            "--appends",
            "3",
        ],
        root,
    )
    report = check_recording(recording, reference_readers("wal.mv2"), name="no directory sync")
    failures = [f for f in report.promised_failures() if f.guarantee == "G5"]
    assert failures, report.render()
    print(failures[0].render())
    assert any("openat wal.mv2: not persisted" in d for d in failures[0].dropped), failures[0].render()


@needs_strace
def test_memvids_in_place_growth_leaves_a_header_past_the_end_of_the_file(tmp_path: Path) -> None:
    """M4 seen in recorded calls (spec/persistence.md PM12): memvid's in-place
    growth (grow_region with memvid_order, what the ORIGINAL writer does)
    writes the zeros that extend the file and then the header naming the
    larger region, under one sync. A crash that keeps the header's sector and
    not the new size (PM4) leaves a region past the end of the file: every open
    fails, FIXED's WAL too. FIXED syncs before the header (the test above)."""
    recording = _reference_trace(
        tmp_path, "in-place-growth", ["--design", "original", "--appends", "12", "--seed", "1"]
    )
    assert "grow" in [c.text.split()[0] for c in recording.acks]
    report = check_recording(recording, reference_readers("wal.mv2"), name="in-place growth")
    failures = [f for f in report.promised_failures() if f.guarantee == "G5"]
    assert failures, report.render()
    shown = failures[0].render()
    print(shown)
    assert "pwrite64 wal.mv2 [0, 4096)" in " ".join(failures[0].kept), shown
    assert any("size 12288 not persisted" in d for d in failures[0].dropped), shown
    assert "failed to fill whole buffer" in failures[0].returned, shown


# The syscall writer as `walcheck crashes` runs it: its file in the fresh directory.
WRITER_IN_DIR = (sys.executable, "-m", "walcheck.real.syscalls.writer", "{dir}/wal.mv2")


@needs_strace
def test_the_crashes_command_prints_a_failure_with_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    """M4 (memvid's growth) through the command: exit 1, and the failure with its crash point,
    the calls kept and dropped, and what recovery returned."""
    argv = [*WRITER_IN_DIR, "--appends", "12", "--seed", "1", "--design", "original"]
    assert crashes_main(["--seed", "1", "--", *argv]) == 1
    out = capsys.readouterr().out
    assert "G5 broken for reference fixed tolerant, crash after" in out
    assert "not persisted: " in out and "size 12288 not persisted" in out
    assert "recovery: " in out and "failed to fill whole buffer" in out


@needs_strace
def test_the_crashes_command_passes_the_fixed_writer_and_speaks_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*WRITER_IN_DIR, "--appends", "6", "--cap", "4096"]
    assert crashes_main(["--json", "--max-states", "200", "--", *argv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failures"] == [] or all(not f["promised"] for f in report["failures"])
    assert report["states_checked"] > 20
    assert crashes_main([]) == 2
