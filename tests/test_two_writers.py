"""Two processes on one file (spec/semantics.md S9.6, G9; spec/locking.md L5;
spec/defects.md M1).

At every point of a writer's life, a second process opening the same path for
writing must be refused, or lose nothing either process was told is durable.
memvid-sdk itself: each writer a subprocess (tests/sdk_writer.py). The
reference: ``FileDirectory(lock=True)``, both designs; flock locks belong to an
open file description (locking.md L3), so a second ``FileDirectory`` in this
process is refused exactly as a second process would be.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import reference.storage
from reference import Design, LockError
from reference.caller import Memory, doctor
from reference.storage import FileDirectory, FileStorage

WRITER = Path(__file__).with_name("sdk_writer.py")


needs_sdk = pytest.mark.skipif(
    importlib.util.find_spec("memvid_sdk") is None and not os.environ.get("CI"),
    reason="memvid-sdk is not installed; pip install -e '.[test]' installs it",
)


class SdkWriter:
    """One memvid-sdk process, driven a command at a time."""

    def __init__(self) -> None:
        self.child = subprocess.Popen(
            [sys.executable, str(WRITER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "MEMVID_TELEMETRY": "0"},
        )
        assert self._answer() == {"ok": "ready"}

    def _answer(self) -> dict[str, Any]:
        assert self.child.stdout is not None
        answer: dict[str, Any] = json.loads(self.child.stdout.readline())
        return answer

    def __call__(self, command: str) -> dict[str, Any]:
        assert self.child.stdin is not None
        self.child.stdin.write(command + "\n")
        self.child.stdin.flush()
        return self._answer()

    def ok(self, command: str) -> Any:
        answer = self(command)
        assert "ok" in answer, f"{command}: {answer}"
        return answer["ok"]

    def stop(self) -> None:
        if self.child.poll() is None:
            assert self.child.stdin is not None
            self.child.stdin.write("quit\n")
            self.child.stdin.close()
        self.child.wait(timeout=30)


@pytest.fixture
def sdk_writers() -> Iterator[Callable[[], SdkWriter]]:
    started: list[SdkWriter] = []

    def start() -> SdkWriter:
        started.append(SdkWriter())
        return started[-1]

    yield start
    for writer in started:
        writer.stop()


# -- memvid-sdk ---------------------------------------------------------------


@needs_sdk
def test_memvid_lock_holds_until_the_first_commit_only(
    tmp_path: Path, sdk_writers: Callable[[], SdkWriter]
) -> None:
    """M1 on memvid-sdk 2.0.160: the second writer is refused (after memvid's
    10 s of retries) before the first put; after a put (which commits), after
    an explicit commit and after a growth it is let in at once, because the
    first writer's lock is on the inode the commit renamed away."""
    path = tmp_path / "shared.mv2"
    first, second = sdk_writers(), sdk_writers()
    first.ok(f"create {path}")
    refused = second(f"open {path}")
    assert "LockedError" in refused.get("error", ""), refused
    assert refused["seconds"] >= 5  # memvid retries for about 10 s before refusing
    inode = first.ok(f"inode {path}")
    first.ok("put a0")
    assert first.ok(f"inode {path}") != inode  # the commit replaced the file
    let_in = []
    second.ok(f"open {path}")  # after a put
    second.ok("close")
    let_in.append("after a put")
    first.ok("commit")
    first.ok("put a1")
    second.ok(f"open {path}")  # after commits
    second.ok("close")
    let_in.append("after commits")
    for index in range(2, 30):  # 64 KiB region grows to 128 KiB on the way (30 puts)
        first.ok(f"put a{index}")
    second.ok(f"open {path}")  # after growth
    second.ok("close")
    let_in.append("after growth")
    assert let_in == ["after a put", "after commits", "after growth"]


@needs_sdk
@pytest.mark.parametrize("last", ["first", "second"])
def test_memvid_two_writers_lose_a_committed_put(
    tmp_path: Path, sdk_writers: Callable[[], SdkWriter], last: str
) -> None:
    """M1's loss, on memvid-sdk 2.0.160: both puts returned (each committed
    itself), and the file keeps only the one whose commit renamed last."""
    path = tmp_path / "shared.mv2"
    first, second = sdk_writers(), sdk_writers()
    first.ok(f"create {path}")
    first.ok("put a0")
    second.ok(f"open {path}")
    if last == "first":
        second.ok("put b0")
        first.ok("put a1")
    else:
        first.ok("put a1")
        second.ok("put b0")
    first.ok("close")
    second.ok("close")
    texts = first.ok(f"texts {path}")
    told_durable = {"a0", "a1", "b0"}
    lost = told_durable - set(texts)
    assert lost == ({"b0"} if last == "first" else {"a1"}), texts


# -- the reference -------------------------------------------------------------


def _points(memory: Memory) -> Iterator[str]:
    """Walk one writer through its life, yielding a name at every point where
    a second writer tries to open the file."""
    yield "before the first put"
    memory.put(b"a0")
    yield "after a put"
    memory.commit()
    yield "after a commit"
    memory.put(b"a1")
    memory.commit()
    yield "after commits"
    memory.begin_batch()
    memory.put(b"a2")
    yield "during batch mode"
    memory.end_batch()
    for index in range(3, 60):
        memory.put(b"a%d " % index * 20)
    assert memory.header.wal_size > 4096
    yield "after growth"
    memory.commit()
    memory.close()
    repaired = doctor(memory.directory, design=memory.design)
    memory.__dict__.update(repaired.__dict__)
    yield "after the doctor"
    memory.put(b"a60")
    yield "after a put after the doctor"
    memory.commit()
    yield "after a commit after the doctor"


def _second_writer(path: Path, design: Design) -> str:
    try:
        other = Memory.open(FileDirectory(path, lock=True), design=design)
    except LockError:
        return "refused"
    other.close()
    return "let in"


@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
def test_reference_second_writer_at_every_point(tmp_path: Path, design: Design) -> None:
    """FIXED refuses the second writer at every point (G9). ORIGINAL, like
    memvid, refuses it until the first commit renames the file, and lets it in
    from then on (M1), except after the doctor, which reopens the file, until
    the next commit."""
    path = tmp_path / "shared.mv2"
    memory = Memory.create(FileDirectory(path, lock=True), design=design, wal_size=4096)
    seen = {point: _second_writer(path, design) for point in _points(memory)}
    memory.close()
    if design is Design.FIXED:
        assert set(seen.values()) == {"refused"}, seen
    else:
        assert seen == {
            "before the first put": "refused",
            "after a put": "refused",
            "after a commit": "let in",
            "after commits": "let in",
            "during batch mode": "let in",
            "after growth": "let in",
            # The doctor reopens the file and repairs it in place: the lock is
            # on the path's inode again, until the next commit.
            "after the doctor": "refused",
            "after a put after the doctor": "refused",
            "after a commit after the doctor": "let in",
        }, seen


@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
def test_reference_two_writers_lose_nothing_told_durable(tmp_path: Path, design: Design) -> None:
    """M1's trace on the reference: ORIGINAL loses the second writer's committed
    record and issues sequence 2 twice; FIXED never lets the second writer in."""
    path = tmp_path / "shared.mv2"
    first = Memory.create(FileDirectory(path, lock=True), design=design, wal_size=4096)
    first.put(b"a0")
    first.commit()
    try:
        second = Memory.open(FileDirectory(path, lock=True), design=design)
    except LockError:
        assert design is Design.FIXED
        first.close()
        return
    assert design is Design.ORIGINAL
    second.put(b"b0")
    assert [r.payload for r in second.commit()] == [b"b0"]  # told durable
    first.put(b"a1")
    assert [r.payload for r in first.commit()] == [b"a1"]  # told durable
    first.close()
    second.close()
    survivor = Memory.open(FileDirectory(path), design=design)
    assert survivor.frames() == [(1, b"a0"), (2, b"a1")]  # b0, committed as 2, is gone
    survivor.close()


@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
def test_fixed_open_follows_a_rename_between_open_and_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, design: Design
) -> None:
    """locking.md L5: a second writer that opened the path just before the
    first writer's commit renamed a new file over it, and took its lock just
    after the old file's lock was released, holds a lock on an unlinked file.
    FIXED's open sees that the path names another file and opens again (and is
    refused); ORIGINAL's (memvid's) keeps the unlinked file: its puts go to a
    file nobody will read."""
    path = tmp_path / "shared.mv2"
    first = Memory.create(FileDirectory(path, lock=True), design=Design.FIXED, wal_size=4096)
    first.put(b"a0")
    real_take_flock = reference.storage.take_flock
    calls: list[int] = []

    def commit_in_between(fd: int, lock_path: Path, *, read_only: bool) -> None:
        if not calls:
            calls.append(fd)
            first.commit()  # renames over the path, then releases the old file's lock
        real_take_flock(fd, lock_path, read_only=read_only)

    monkeypatch.setattr(reference.storage, "take_flock", commit_in_between)
    directory = FileDirectory(path, lock=True)
    if design is Design.FIXED:
        with pytest.raises(LockError):
            directory.open_path(follow_renames=True)
    else:
        stale = directory.open_path(follow_renames=False)
        assert isinstance(stale, FileStorage)
        assert os.fstat(stale.fd).st_nlink == 0  # a lock on an unlinked file
        stale.close()
    assert calls
    first.close()


@needs_sdk
@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
def test_memvid_second_writer_after_a_reference_commit(
    tmp_path: Path, sdk_writers: Callable[[], SdkWriter], design: Design
) -> None:
    """locking.md L5 between the two: a reference writer (lock=True) that has
    committed (its file is a new inode). FIXED locked the copy before the
    rename, so memvid's open is refused, after its 10 s of retries; ORIGINAL,
    like memvid, holds its lock on the unlinked inode, so memvid gets past the
    lock at once (and then fails on the reference's file, which has no TOC)."""
    path = tmp_path / "shared.mv2"
    writer = Memory.create(FileDirectory(path, lock=True), design=design, wal_size=4096)
    writer.put(b"a0")
    writer.commit()
    memvid = sdk_writers()
    answer = memvid(f"open {path}")
    writer.close()
    error = answer.get("error", "")
    if design is Design.FIXED:
        assert "LockedError" in error and answer["seconds"] >= 5, answer
    else:
        assert "LockedError" not in error and answer.get("seconds", 0) < 5, answer
