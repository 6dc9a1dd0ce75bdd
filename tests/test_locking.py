"""spec/locking.md: FileStorage's flock, against other processes and against a raw flock (memvid).

Another process is the only honest second party: flock locks belong to open file
descriptions, so a lock in this process is no test of exclusion between processes.
Each other process runs a small script that tries the lock, reports the outcome as
one JSON line on stdout, and holds the lock until told to let go on stdin.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reference import EmbeddedWal, FileStorage, LockError, commit, create_mv2, read_header
from reference.storage import lock_refused_reason

REPO_ROOT = Path(__file__).resolve().parents[1]
# Long enough for a loaded CI machine to start Python and import blake3.
CHILD_TIMEOUT_SECONDS = 30.0

# Opens the file as the reference does, with lock=True.
REFERENCE_CHILD = r"""
import json, sys
from reference.errors import LockError
from reference.storage import FileStorage
path, mode = sys.argv[1], sys.argv[2]
try:
    storage = FileStorage(path, read_only=mode == "read", lock=True)
except LockError as error:
    report = {"outcome": "refused", "kind": error.kind, "reason": error.reason, "message": str(error)}
    print(json.dumps(report), flush=True)
    sys.exit(0)
print(json.dumps({"outcome": "locked"}), flush=True)
sys.stdin.readline()
storage.close()
"""

# Stands in for memvid: fs2's try_lock_* is flock(LOCK_NB) on the .mv2 file, which
# memvid opens read-write whatever the lock.
RAW_FLOCK_CHILD = r"""
import fcntl, json, os, sys
path, mode = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
try:
    fcntl.flock(fd, (fcntl.LOCK_SH if mode == "read" else fcntl.LOCK_EX) | fcntl.LOCK_NB)
except BlockingIOError:
    print(json.dumps({"outcome": "refused"}), flush=True)
    sys.exit(0)
print(json.dumps({"outcome": "locked"}), flush=True)
sys.stdin.readline()
os.close(fd)
"""


class OtherProcess:
    """A child process that tried a lock on a file, and holds it if it got it."""

    def __init__(self, script: str, path: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(path), mode],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.report = self._read_report()

    def _read_report(self) -> dict[str, str]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], CHILD_TIMEOUT_SECONDS)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            _, errors = self.process.communicate()
            pytest.fail(f"the child process reported nothing; its stderr:\n{errors}")
        report: dict[str, str] = json.loads(line)
        return report

    @property
    def locked(self) -> bool:
        return self.report["outcome"] == "locked"

    def release(self) -> None:
        """Tell the child to close the file (which releases its lock) and wait for it to exit."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        _, errors = self.process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
        assert self.process.returncode == 0, errors


@contextmanager
def other_process(script: str, path: Path, mode: str) -> Iterator[OtherProcess]:
    child = OtherProcess(script, path, mode)
    try:
        yield child
    finally:
        child.release()


def attempt_in_other_process(script: str, path: Path, mode: str) -> dict[str, str]:
    """What another process gets when it asks for the lock now (it lets go at once)."""
    with other_process(script, path, mode) as child:
        return child.report


@pytest.fixture
def mv2_path(tmp_path: Path) -> Path:
    path = tmp_path / "memory.mv2"
    with FileStorage(path, create=True) as storage:
        create_mv2(storage)
    return path


# -- L1: exclusive to write, shared to read, never waiting ---------------------------------------


def test_second_writer_in_another_process_is_refused(mv2_path: Path) -> None:
    with FileStorage(mv2_path, lock=True) as writer:
        assert writer.locked
        report = attempt_in_other_process(REFERENCE_CHILD, mv2_path, "write")
    assert report["outcome"] == "refused"
    assert report["kind"] == LockError.kind
    assert report["reason"] == lock_refused_reason(mv2_path, read_only=False)
    assert report["message"] == f"Lock acquisition failed: {report['reason']}"


def test_writer_is_refused_while_another_process_writes(mv2_path: Path) -> None:
    with other_process(REFERENCE_CHILD, mv2_path, "write") as holder:
        assert holder.locked
        with pytest.raises(LockError) as refused:
            FileStorage(mv2_path, lock=True)
    expected = f"{mv2_path} is locked by another process (wanted an exclusive lock to write)"
    assert refused.value.reason == expected
    assert str(mv2_path) in str(refused.value)


def test_readers_share_with_readers(mv2_path: Path) -> None:
    with (
        other_process(REFERENCE_CHILD, mv2_path, "read") as first,
        other_process(REFERENCE_CHILD, mv2_path, "read") as second,
    ):
        assert first.locked and second.locked
        with FileStorage(mv2_path, read_only=True, lock=True) as reader:
            assert reader.locked
            assert read_header(reader, clear_legacy_lock=False).wal_size == 64 * 1024


def test_reader_is_refused_while_a_writer_holds(mv2_path: Path) -> None:
    with other_process(REFERENCE_CHILD, mv2_path, "write") as holder:
        assert holder.locked
        with pytest.raises(LockError) as refused:
            FileStorage(mv2_path, read_only=True, lock=True)
    assert refused.value.reason == f"{mv2_path} is locked by another process (wanted a shared lock to read)"
    with FileStorage(mv2_path, lock=True):
        report = attempt_in_other_process(REFERENCE_CHILD, mv2_path, "read")
    assert report["outcome"] == "refused"
    assert report["reason"] == lock_refused_reason(mv2_path, read_only=True)


def test_writer_is_refused_while_a_reader_holds(mv2_path: Path) -> None:
    with other_process(REFERENCE_CHILD, mv2_path, "read") as holder:
        assert holder.locked
        with pytest.raises(LockError):
            FileStorage(mv2_path, lock=True)


def test_lock_is_released_on_close(mv2_path: Path) -> None:
    writer = FileStorage(mv2_path, lock=True)
    assert attempt_in_other_process(REFERENCE_CHILD, mv2_path, "write")["outcome"] == "refused"
    writer.close()
    assert not writer.locked
    assert attempt_in_other_process(REFERENCE_CHILD, mv2_path, "write")["outcome"] == "locked"
    # And the other way: once the other process closes, this one may write.
    with other_process(REFERENCE_CHILD, mv2_path, "write") as holder:
        assert holder.locked
        with pytest.raises(LockError):
            FileStorage(mv2_path, lock=True)
    with FileStorage(mv2_path, lock=True) as writer_again:
        assert writer_again.locked


def test_lock_is_released_when_the_holder_dies(mv2_path: Path) -> None:
    child = OtherProcess(REFERENCE_CHILD, mv2_path, "write")
    assert child.locked
    child.process.kill()
    child.process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
    with FileStorage(mv2_path, lock=True) as writer:
        assert writer.locked


def test_refused_open_closes_its_descriptor(mv2_path: Path) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to count open descriptors")
    with other_process(REFERENCE_CHILD, mv2_path, "write"):
        before = set(os.listdir("/proc/self/fd"))
        for read_only in (False, True):
            with pytest.raises(LockError):
                FileStorage(mv2_path, read_only=read_only, lock=True)
        assert set(os.listdir("/proc/self/fd")) == before


def test_the_wal_works_under_the_lock(mv2_path: Path) -> None:
    """A memvid-compatible session end to end: write under the exclusive lock (a reader
    elsewhere is refused meanwhile), then read under a shared one."""
    with FileStorage(mv2_path, lock=True) as storage:
        header = read_header(storage)
        wal = EmbeddedWal.open(storage, header)
        wal.append_entry(b"hello")
        assert attempt_in_other_process(REFERENCE_CHILD, mv2_path, "read")["outcome"] == "refused"
        assert [record.payload for record in commit(wal, storage, header)] == [b"hello"]
        wal.append_entry(b"pending")
    with FileStorage(mv2_path, read_only=True, lock=True) as storage:
        reader = EmbeddedWal.open_read_only(storage, read_header(storage, clear_legacy_lock=False))
        assert [record.payload for record in reader.pending_records()] == [b"pending"]


# -- L2: a raw flock in another process, standing in for memvid ----------------------------------


def test_memvid_writer_excludes_reference_writer_and_reader(mv2_path: Path) -> None:
    with other_process(RAW_FLOCK_CHILD, mv2_path, "write") as memvid:
        assert memvid.locked
        with pytest.raises(LockError):
            FileStorage(mv2_path, lock=True)
        with pytest.raises(LockError):
            FileStorage(mv2_path, read_only=True, lock=True)
    with FileStorage(mv2_path, lock=True) as writer:
        assert writer.locked


def test_memvid_reader_shares_with_reference_reader_only(mv2_path: Path) -> None:
    with other_process(RAW_FLOCK_CHILD, mv2_path, "read") as memvid:
        assert memvid.locked
        with FileStorage(mv2_path, read_only=True, lock=True) as reader:
            assert reader.locked
        with pytest.raises(LockError):
            FileStorage(mv2_path, lock=True)


def test_reference_writer_excludes_memvid(mv2_path: Path) -> None:
    with FileStorage(mv2_path, lock=True):
        assert attempt_in_other_process(RAW_FLOCK_CHILD, mv2_path, "write")["outcome"] == "refused"
        assert attempt_in_other_process(RAW_FLOCK_CHILD, mv2_path, "read")["outcome"] == "refused"
    assert attempt_in_other_process(RAW_FLOCK_CHILD, mv2_path, "write")["outcome"] == "locked"


def test_reference_reader_shares_with_memvid_reader_only(mv2_path: Path) -> None:
    with FileStorage(mv2_path, read_only=True, lock=True):
        assert attempt_in_other_process(RAW_FLOCK_CHILD, mv2_path, "read")["outcome"] == "locked"
        assert attempt_in_other_process(RAW_FLOCK_CHILD, mv2_path, "write")["outcome"] == "refused"


# -- L3: advisory, per open file description, and the default -------------------------------------


def test_lock_false_ignores_a_held_lock(mv2_path: Path) -> None:
    """Advisory: an inspecting tool opens a file a live writer holds."""
    expected = mv2_path.read_bytes()
    with other_process(RAW_FLOCK_CHILD, mv2_path, "write") as memvid:
        assert memvid.locked
        with FileStorage(mv2_path, read_only=True, lock=False) as inspector:
            assert not inspector.locked
            assert inspector.read_at(0, len(expected)) == expected


def test_default_takes_no_lock_so_a_second_reader_in_this_process_opens(mv2_path: Path) -> None:
    """What the stateful machines do: a recovery reader beside the open writer."""
    with FileStorage(mv2_path) as writer:
        assert not writer.locked
        with FileStorage(mv2_path, read_only=True) as reader:
            assert read_header(reader, clear_legacy_lock=False) == read_header(writer)


def test_locks_are_per_open_file_not_per_process(mv2_path: Path) -> None:
    """Two FileStorages in one process are two open file descriptions: they exclude each other."""
    with FileStorage(mv2_path, lock=True):
        with pytest.raises(LockError):
            FileStorage(mv2_path, read_only=True, lock=True)
        with pytest.raises(LockError):
            FileStorage(mv2_path, lock=True)
    with FileStorage(mv2_path, read_only=True, lock=True), FileStorage(mv2_path, read_only=True, lock=True):
        pass


def test_lock_is_on_the_file_itself(mv2_path: Path) -> None:
    """The flock is on the .mv2 file's descriptor (no side lock file), as memvid's."""
    with FileStorage(mv2_path, lock=True) as writer:
        probe = os.open(mv2_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        finally:
            os.close(probe)
        assert sorted(path.name for path in mv2_path.parent.iterdir()) == [mv2_path.name]
        assert writer.locked


def test_a_file_system_without_flock_refuses_the_open(
    mv2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """L1: when flock itself fails (ENOLCK, as on some network file systems), a caller that
    asked for the lock gets LockError, not a file without a lock."""

    def flock_unsupported(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", flock_unsupported)
    with pytest.raises(LockError) as refused:
        FileStorage(mv2_path, read_only=True, lock=True)
    assert refused.value.reason == f"{mv2_path}: cannot take a shared lock: {os.strerror(errno.ENOLCK)}"
    with FileStorage(mv2_path, read_only=True) as unlocked:
        assert not unlocked.locked
