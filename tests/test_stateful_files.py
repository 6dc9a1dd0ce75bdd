"""``pytest -k stateful``: memvid's caller layer on a real directory, both
designs, with and without memvid's locks, the frame store applied
(walcheck/sidebyside/file_machines.py; spec/semantics.md S9, spec/mutants.md M2)."""

from typing import cast

import pytest
from hypothesis import settings

from reference import CheckpointFailed, Design, EmbeddedWal, MemoryStorage, create_mv2
from reference.caller import WAL_SIZE_LIMIT, Memory, copy_file
from reference.header import WAL_OFFSET, Header
from reference.mv2 import grow_region
from reference.storage import MemoryDirectory
from reference.wal import REASON_FULL
from walcheck.sidebyside.file_machines import (
    StatefulFilesFixed,
    StatefulFilesFixedLocked,
    StatefulFilesOriginal,
    StatefulFilesOriginalLocked,
)
from walcheck.sidebyside.machines import growth_calls
from walcheck.sidebyside.scan_reads import ReadLog

TestStatefulFilesFixed = StatefulFilesFixed.TestCase
TestStatefulFilesFixedLocked = StatefulFilesFixedLocked.TestCase
TestStatefulFilesOriginal = StatefulFilesOriginal.TestCase
TestStatefulFilesOriginalLocked = StatefulFilesOriginalLocked.TestCase

# Four machines of a few files each: at most 80 examples whatever the profile (CI's time).
for _case in (
    TestStatefulFilesFixed,
    TestStatefulFilesFixedLocked,
    TestStatefulFilesOriginal,
    TestStatefulFilesOriginalLocked,
):
    _case.settings = settings(settings(), max_examples=min(settings().max_examples, 80))
del _case  # a TestCase bound to a module name would be collected a fifth time


class _RefusingWal:
    """A stand-in WAL whose every append is refused for room, so that a put's
    growth rule runs on region sizes no file here can hold."""

    skip_sync = False

    def append_entry(self, payload: bytes) -> int:
        raise CheckpointFailed(REASON_FULL)


class _GrowthMade(Exception):
    pass


@pytest.mark.parametrize("design", list(Design))
@pytest.mark.parametrize(
    ("size", "grows_to"), [(WAL_SIZE_LIMIT // 2, WAL_SIZE_LIMIT), (WAL_SIZE_LIMIT, None)]
)
def test_stateful_put_grows_up_to_the_limit_and_no_further(
    design: Design, size: int, grows_to: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S9.4: a put whose append is refused for room grows the region to
    ``grown_size`` when that is at most WAL_SIZE_LIMIT (2^40 bytes), and past
    it the append's refusal is the put's, with no growth. The WAL refuses
    every append; the growth is recorded, not made."""
    storage = MemoryStorage()
    header = create_mv2(storage, 4096)
    header.wal_size = size
    memory = Memory.attach(MemoryDirectory(), storage, header, cast(EmbeddedWal, _RefusingWal()), design)
    grown: list[int] = []

    def grow(self: Memory, new_size: int) -> None:
        grown.append(new_size)
        raise _GrowthMade

    monkeypatch.setattr(Memory, "grow", grow)
    with pytest.raises((_GrowthMade, CheckpointFailed)) as raised:
        memory.put(b"p")
    assert grown == ([] if grows_to is None else [grows_to])
    if grows_to is None:
        assert isinstance(raised.value, CheckpointFailed) and raised.value.reason == REASON_FULL


# S3.11: the default piece of a growth's copy and zeros, and of copy_file, spelled
# here so that a mutant of reference/mv2.py's constant disagrees: the machines pass
# chunks of their own, and predict the default's calls from the constant itself.
ONE_MIB = 1 << 20


def _patterned(size: int) -> bytes:
    return (bytes(range(1, 256)) * (size // 255 + 1))[:size]


def test_stateful_default_chunk_bounds_each_copy_and_zero_write_at_one_mib() -> None:
    """S3.11: with the default chunk, a growth copies the bytes after the region
    from the back and zeroes the new part in pieces of 1 MiB at most, and
    copy_file copies forward in pieces of 1 MiB: a bound on a copy's memory
    (memvid's own growth moves 8 MiB at a time), no result depends on it."""
    wal_size, after = 4096, ONE_MIB + ONE_MIB // 2 + 5
    old_end, growth = WAL_OFFSET + wal_size, 2 * ONE_MIB + ONE_MIB // 2
    moved = _patterned(after)
    storage = MemoryStorage(bytes(old_end) + moved)
    header = Header(wal_size=wal_size, footer_offset=old_end + after)
    log = ReadLog(storage)
    grow_region(log, header, wal_size + growth)
    assert (log.reads, log.writes[:-1]) == growth_calls(old_end + after, old_end, growth, ONE_MIB)
    assert [length for _, length in log.writes[:-1]] == [
        ONE_MIB,  # the copy from the back: the file's last MiB first
        ONE_MIB // 2 + 5,
        ONE_MIB,  # then the zeros from the region's old end
        ONE_MIB,
        ONE_MIB // 2,
    ]
    assert storage.read_at(old_end + growth, after) == moved
    assert storage.read_at(old_end, growth) == bytes(growth)

    source = ReadLog(MemoryStorage(_patterned(2 * ONE_MIB + 3)))
    target = MemoryStorage()
    copy_file(source, target)
    assert source.reads == [(0, ONE_MIB), (ONE_MIB, ONE_MIB), (2 * ONE_MIB, 3)]
    assert bytes(target.data) == source.inner.read_at(0, 2 * ONE_MIB + 3)
