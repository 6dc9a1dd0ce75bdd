"""``pytest -k stateful``: memvid's caller layer on a real directory, both
designs, with and without memvid's locks, the frame store applied
(walcheck/sidebyside/file_machines.py; spec/semantics.md S9, spec/mutants.md M2)."""

from typing import cast

import pytest
from hypothesis import settings

from reference import CheckpointFailed, Design, EmbeddedWal, MemoryStorage, create_mv2
from reference.caller import WAL_SIZE_LIMIT, Memory
from reference.storage import MemoryDirectory
from reference.wal import REASON_FULL
from walcheck.sidebyside.file_machines import (
    StatefulFilesFixed,
    StatefulFilesFixedLocked,
    StatefulFilesOriginal,
    StatefulFilesOriginalLocked,
)

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
