"""A simulated disk for crash testing: the file the WAL writes, and every file a restart may find.

``SimulatedDisk`` plugs in where the reference takes a ``reference.storage.Storage``
(spec/semantics.md S1.4). It keeps two images of one file:

- the *view*: what ``read_at`` returns, as the OS's page cache holds it: the
  durable image with every completed ``write_at`` applied in order;
- the *durable image*: what the media held when the last ``sync`` completed.

The writes between the two (``unsynced``) are what a crash may lose, and the
``*_image`` methods say in which ways. The test decides where the process dies
(``arm_crash``) and which calls fail (``fail_write``, ``fail_sync``, ``fail_read``,
``fail_size``).
(Over 500 lines: the disk, its images and the directory of the caller
layer's files are one fault model.)

Fault model
===========

In scope:

- Process death. ``arm_crash`` kills the process at a chosen call, before that
  call does anything. Every write that returned had reached the OS, and the OS
  outlives the process: ``kill_image`` is the view.
- Power loss. Writes reach the media out of order and a sector (512 bytes) at a
  time, so a sector touched by unsynced writes may hold any of its versions: the
  durable one, or its content after the 1st, 2nd, ... unsynced write touching
  it. A write spanning sectors can be half there, a later write can be there
  without an earlier one, and a sector written twice may hold either version.
  ``power_loss_images`` is the product over the touched sectors.
- File length under power loss. Every image has the view's length: a file
  extended by an unsynced write keeps its new length, and where the chosen
  versions do not cover the extension it reads as zeros (a hole). A file system
  may instead lose the length update; ``truncated(image, len(disk.durable))``
  builds that image.
- Torn writes. Power fails while the last unsynced write is in flight: each
  sector it was writing holds the old bytes, the new bytes, zeros (an extent
  allocated but never written) or garbage (a sector half written).
  ``torn_images`` takes the earlier unsynced writes as persisted, to keep the
  product small; ``power_loss_images`` covers losing them.
- Media faults on durable data, applied by the test to an image: a bit flip
  (``flip_bit``), a foreign or misdirected write (``overwrite``), truncation
  (``truncated``).
- I/O errors. ``write_at`` raising EIO or ENOSPC having written nothing
  (``fail_write``); ``sync`` raising EIO or ENOSPC after persisting only a chosen
  subset of the unsynced writes, whole writes (``fail_sync``). The rest stay
  unsynced and in the view, so a retried sync persists them.
- Read and size errors (spec/faults.md, "The fault model"). ``read_at`` raising
  EIO (a pread that fails) and ``size`` raising EIO (an fstat that fails),
  each having changed nothing (``fail_read``, ``fail_size``): the view, the
  durable image and the unsynced writes stay as they were.

Out of scope:

- A lying fsync, reporting success without persisting: ``sync`` either persists
  everything or raises.
- Damage to synced data other than the explicit media faults: power loss never
  changes a sector that no unsynced write touched. A torn write damages only the
  bytes it was writing (powersafe overwrite, in SQLite's sense): the other bytes
  of a sector it shares keep their content. This is a choice: a disk whose sector
  writes are not atomic can garble the whole sector.
- Linux after a failed fsync, which may mark the dirty pages clean and so drop
  writes from the view ("fsyncgate"); here the view keeps them.
- Short writes: ``write_at`` writes all of its data or, when failed, none.
- Sparse files: a write far past the end holds its hole in memory, so only a
  write past the largest file offset is refused (EFBIG, as by the kernel).
- Wrong or short reads: ``read_at`` returns the view (fewer bytes only at its
  end) or fails whole; no latency.

Names (``SimulatedDirectory``, for memvid's staged commit, spec/semantics.md
S9.1): the directory around the file, following spec/persistence.md PM5-PM7.
A create or a rename is durable only once the directory is synced; before
that each one persisted or not, independently; a rename is atomic and names
the file it renamed. So after a power loss the path names the file it named
at the directory's last sync, or any file renamed over it since; each file's
own bytes then follow the power-loss model above. A kill keeps every name
call and the view of every file. One clock counts the calls of every file of
the directory and the name calls, so a crash can be armed inside a staged
commit at any of them.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

SECTOR_SIZE = 512
# The largest offset a file can have (off_t is signed 64-bit). A write past it
# fails with EFBIG, as FileStorage's does; a hostile header can ask for one.
OFFSET_MAX = 2**63 - 1

# The four things a sector of an in-flight write may hold after power loss, in
# the order torn_images enumerates them.
TORN_OLD, TORN_NEW, TORN_ZERO, TORN_GARBAGE = range(4)
TORN_STATES = 4
# Garbage when no rng is given: recognisable in a hex dump, never all zeros,
# and not a valid WAL entry header.
GARBAGE_PATTERN = b"\xde\xad\xbe\xef"


class SimulatedCrash(Exception):
    """Raised by an armed disk instead of performing the call: the process died here."""


# Alike in shape to model/wal.py's ScannedRecord only: a frozen pair and its derived end.
@dataclass(frozen=True, slots=True)
class Write:
    """One completed ``write_at``: ``data`` at file offset ``offset``."""

    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    def sectors(self) -> range:
        """The sectors this write touches, ascending."""
        return range(self.offset // SECTOR_SIZE, (self.end - 1) // SECTOR_SIZE + 1)


# Shaped like reference/wal.py's WalRecord only (two frozen fields): a fault to inject, not a record.
@dataclass(frozen=True, slots=True)
class _WriteFault:
    at_call: int
    error: int


# A read or size fault: the same two fields as _WriteFault, counted on its own calls.
@dataclass(frozen=True, slots=True)
class _QueryFault:
    at_query: int
    error: int


@dataclass(frozen=True, slots=True)
class _SyncFault:
    at_call: int
    persisted: frozenset[int]
    error: int


class SimulatedDisk:
    """One file, its durable image and its unsynced writes. Satisfies
    ``reference.storage.Storage``.

    ``calls`` counts the ``write_at`` and ``sync`` calls that were issued,
    including those that failed with an ``OSError``; the call that crashed is not
    counted, because the process died before issuing it. Call numbers for
    ``arm_crash``, ``fail_write`` and ``fail_sync`` count from the moment they
    are armed: ``after_calls=0`` is the next call. Each armed fault fires once.
    ``reads`` and ``size_queries`` count the ``read_at`` and ``size`` calls
    (failed ones included) apart: they are no crash points, and
    ``fail_read`` and ``fail_size`` count them from the moment they are armed.
    """

    def __init__(self, data: bytes = b"") -> None:
        self._durable = bytes(data)
        self._view = bytearray(data)
        self._unsynced: list[Write] = []
        self._calls = 0
        self._crash_at: int | None = None
        self._write_fault: _WriteFault | None = None
        self._sync_fault: _SyncFault | None = None
        self._reads = 0
        self._size_queries = 0
        self._read_fault: _QueryFault | None = None
        self._size_fault: _QueryFault | None = None
        # Called after every write_at and sync that returned, with the disk as
        # a crash right then would find it: the write just made is the one a
        # power loss may tear (the crash machines check every crash point of an
        # operation this way).
        self.after_call: Callable[[], None] | None = None

    # -- Storage ----------------------------------------------------------------

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"read_at({offset}, {length}): negative offset or length")
        self._reads += 1
        fault = self._read_fault
        if fault is not None and self._reads >= fault.at_query:
            self._read_fault = None
            raise OSError(fault.error, os.strerror(fault.error))
        return bytes(self._view[offset : offset + length])

    def write_at(self, offset: int, data: bytes) -> None:
        if offset < 0:
            raise ValueError(f"write_at({offset}, ...): negative offset")
        self._begin_call()
        fault = self._write_fault
        if fault is not None and self._calls + 1 >= fault.at_call:
            self._write_fault = None
            self._calls += 1
            raise OSError(fault.error, os.strerror(fault.error))
        self._calls += 1
        if not data:
            # pwrite of zero bytes changes nothing, not even the length.
            return
        if offset + len(data) > OFFSET_MAX:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        write = Write(offset, bytes(data))
        _apply(self._view, write)
        self._unsynced.append(write)
        if self.after_call is not None:
            self.after_call()

    def sync(self) -> None:
        self._begin_call()
        fault = self._sync_fault
        if fault is not None and self._calls + 1 >= fault.at_call:
            self._sync_fault = None
            self._calls += 1
            self._persist_some(fault.persisted)
            raise OSError(fault.error, os.strerror(fault.error))
        self._calls += 1
        self._durable = bytes(self._view)
        self._unsynced.clear()
        if self.after_call is not None:
            self.after_call()

    def size(self) -> int:
        self._size_queries += 1
        fault = self._size_fault
        if fault is not None and self._size_queries >= fault.at_query:
            self._size_fault = None
            raise OSError(fault.error, os.strerror(fault.error))
        return len(self._view)

    # -- State --------------------------------------------------------------------

    @property
    def durable(self) -> bytes:
        """The image as of the last completed sync (and the writes a failed sync persisted)."""
        return self._durable

    @property
    def unsynced(self) -> tuple[Write, ...]:
        """The writes since the last completed sync, in order."""
        return tuple(self._unsynced)

    @property
    def view(self) -> bytes:
        """The OS view: the durable image with the unsynced writes applied in order."""
        return bytes(self._view)

    @property
    def calls(self) -> int:
        """``write_at`` and ``sync`` calls issued so far (``read_at`` does not count)."""
        return self._calls

    @property
    def reads(self) -> int:
        """``read_at`` calls made so far, failed ones included."""
        return self._reads

    @property
    def size_queries(self) -> int:
        """``size`` calls made so far, failed ones included."""
        return self._size_queries

    # -- Crash points and injected errors ---------------------------------------------

    def arm_crash(self, after_calls: int) -> None:
        """Call number ``after_calls + 1``, counting ``write_at`` and ``sync`` from
        now, raises ``SimulatedCrash`` without doing anything."""
        self._crash_at = self._call_number(after_calls)

    def disarm(self) -> None:
        """Forget the armed crash and every armed I/O error."""
        self._crash_at = None
        self._write_fault = None
        self._sync_fault = None
        self._read_fault = None
        self._size_fault = None

    def fail_write(self, after_calls: int, error: int = errno.EIO) -> None:
        """The first ``write_at`` at or after call number ``after_calls + 1`` raises
        ``OSError(error)`` and writes nothing."""
        self._write_fault = _WriteFault(self._call_number(after_calls), error)

    def fail_sync(self, after_calls: int, persisted: Iterable[int] = (), error: int = errno.EIO) -> None:
        """The first ``sync`` at or after call number ``after_calls + 1`` makes
        durable only the unsynced writes whose indices (into ``unsynced`` as it
        is then) are in ``persisted``, then raises ``OSError(error)``."""
        indices = frozenset(persisted)
        if any(index < 0 for index in indices):
            raise ValueError(f"negative write index in {sorted(indices)}")
        self._sync_fault = _SyncFault(self._call_number(after_calls), indices, error)

    def fail_read(self, after_reads: int = 0, error: int = errno.EIO) -> None:
        """The ``read_at`` number ``after_reads + 1`` from now raises
        ``OSError(error)`` and returns nothing (a pread that fails)."""
        self._read_fault = _QueryFault(self._reads + _at_least_zero(after_reads) + 1, error)

    def fail_size(self, after_queries: int = 0, error: int = errno.EIO) -> None:
        """The ``size`` call number ``after_queries + 1`` from now raises
        ``OSError(error)`` (an fstat that fails)."""
        self._size_fault = _QueryFault(self._size_queries + _at_least_zero(after_queries) + 1, error)

    # -- Crash images ----------------------------------------------------------------

    def kill_image(self) -> bytes:
        """The process was killed: every write that reached the OS survives."""
        return bytes(self._view)

    def count_power_loss_images(self) -> int:
        """How many images ``power_loss_images`` enumerates: the product, over the
        sectors unsynced writes touched, of one more than the writes touching each."""
        touches: dict[int, int] = {}
        for write in self._unsynced:
            for sector in write.sectors():
                touches[sector] = touches.get(sector, 0) + 1
        return math.prod(count + 1 for count in touches.values())

    def power_loss_images(
        self, *, limit: int | None = None, rng: random.Random | None = None
    ) -> Iterator[bytes]:
        """Every file a restart may find after the power failed now (see the fault
        model). In a fixed order: the first image is the durable one (zero-extended
        to the view's length), the last is the view, and the sector touched last
        varies fastest. With ``limit`` below the count, exactly ``limit`` of them,
        in the same order: the first, the last, and the rest drawn with ``rng``."""
        versions = self._sector_versions()
        # dicts keep insertion order, and _sector_versions inserts by last touch.
        sectors = list(versions)
        radices = [len(versions[sector]) for sector in sectors]
        base = self._durable.ljust(len(self._view), b"\0")

        def image(choices: Sequence[int]) -> bytes:
            result = bytearray(base)
            for sector, choice in zip(sectors, choices, strict=True):
                start = sector * SECTOR_SIZE
                content = versions[sector][choice]
                result[start : start + len(content)] = content
            return bytes(result)

        total = math.prod(radices)
        if limit is None or total <= limit:
            for choices in itertools.product(*(range(radix) for radix in radices)):
                yield image(choices)
            return
        chosen = _sample_indices(total, limit, rng, pinned=(0, total - 1))
        for index in chosen:
            yield image(_mixed_radix(index, radices))

    def single_sector_images(self) -> Iterator[bytes]:
        """The power-loss images in which exactly one touched sector holds a
        version other than its durable one: one per (sector, later version),
        in sector order (model/crash.py's single_sector_regions, on bytes)."""
        versions = self._sector_versions()
        base = self._durable.ljust(len(self._view), b"\0")
        for sector in sorted(versions):
            start = sector * SECTOR_SIZE
            for content in versions[sector][1:]:
                yield base[:start] + content + base[start + len(content) :]

    def count_torn_images(self) -> int:
        """How many images ``torn_images`` enumerates: 4 per sector of the last write."""
        if not self._unsynced:
            return 0
        count: int = TORN_STATES ** len(self._unsynced[-1].sectors())
        return count

    def torn_images(self, *, rng: random.Random | None = None, limit: int | None = None) -> Iterator[bytes]:
        """Every file a restart may find after the power failed during the last
        unsynced write; nothing when there is none. The earlier unsynced writes
        are taken as persisted. Each sector of the last write holds, over the
        bytes the write covers, the old bytes, the new, zeros or garbage (from
        ``rng``, drawn once per sector before any sampling, or a fixed pattern).
        Enumerated with the highest sector varying fastest, all-old first; with
        ``limit`` below the count, exactly ``limit`` of them in the same order:
        all-old, all-new, and the rest drawn with ``rng``."""
        if not self._unsynced:
            return
        in_flight = self._unsynced[-1]
        old = bytearray(self._durable.ljust(len(self._view), b"\0"))
        for write in self._unsynced[:-1]:
            _apply(old, write)
        new = bytes(self._view)
        spans = [
            (max(in_flight.offset, sector * SECTOR_SIZE), min(in_flight.end, (sector + 1) * SECTOR_SIZE))
            for sector in in_flight.sectors()
        ]
        garbage = [
            rng.randbytes(end - start) if rng is not None else _pattern(start, end) for start, end in spans
        ]

        def image(states: Sequence[int]) -> bytes:
            result = bytearray(new)
            for (start, end), state, junk in zip(spans, states, garbage, strict=True):
                if state == TORN_OLD:
                    result[start:end] = old[start:end]
                elif state == TORN_ZERO:
                    result[start:end] = bytes(end - start)
                elif state == TORN_GARBAGE:
                    result[start:end] = junk
            return bytes(result)

        radices = [TORN_STATES] * len(spans)
        total = math.prod(radices)
        if limit is None or total <= limit:
            for states in itertools.product(range(TORN_STATES), repeat=len(spans)):
                yield image(states)
            return
        all_new = _mixed_radix_index([TORN_NEW] * len(spans), radices)
        for index in _sample_indices(total, limit, rng, pinned=(0, all_new)):
            yield image(_mixed_radix(index, radices))

    # -- Internals ---------------------------------------------------------------------

    def _call_number(self, after_calls: int) -> int:
        return self._calls + _at_least_zero(after_calls) + 1

    def _begin_call(self) -> None:
        """The armed crash comes first: a dead process issues nothing, so no fault
        armed for the same call fires."""
        if self._crash_at is not None and self._calls + 1 >= self._crash_at:
            self._crash_at = None
            raise SimulatedCrash(f"simulated crash at call {self._calls + 1}")

    def _persist_some(self, persisted: frozenset[int]) -> None:
        """What a failed sync leaves: the chosen whole writes durable, the rest unsynced."""
        out_of_range = sorted(index for index in persisted if index >= len(self._unsynced))
        if out_of_range:
            raise ValueError(
                f"fail_sync: write indices {out_of_range} past the {len(self._unsynced)} unsynced writes"
            )
        durable = bytearray(self._durable)
        remaining: list[Write] = []
        for index, write in enumerate(self._unsynced):
            if index in persisted:
                _apply(durable, write)
                continue
            # Bytes a later persisted write overwrote exist nowhere any more: not in
            # the view, which holds the later write, and not due to be written back.
            # Keeping them would let a replay of durable + unsynced resurrect them.
            pieces = [write]
            for later in range(index + 1, len(self._unsynced)):
                if later in persisted:
                    pieces = [piece for p in pieces for piece in _minus(p, self._unsynced[later])]
            remaining.extend(pieces)
        self._durable = bytes(durable)
        self._unsynced = remaining

    def _sector_versions(self) -> dict[int, list[bytes]]:
        """Each sector touched by an unsynced write, mapped to its versions: the
        durable content, then its content after each unsynced write touching it.
        Ordered by the last write that touched the sector, then by offset."""
        length = len(self._view)
        base = self._durable.ljust(length, b"\0")
        current: dict[int, bytearray] = {}
        versions: dict[int, list[bytes]] = {}
        last_touch: dict[int, int] = {}
        for index, write in enumerate(self._unsynced):
            for sector in write.sectors():
                start = sector * SECTOR_SIZE
                if sector not in current:
                    current[sector] = bytearray(base[start : min(start + SECTOR_SIZE, length)])
                    versions[sector] = [bytes(current[sector])]
                low, high = max(write.offset, start), min(write.end, start + SECTOR_SIZE)
                written = write.data[low - write.offset : high - write.offset]
                current[sector][low - start : high - start] = written
                versions[sector].append(bytes(current[sector]))
                last_touch[sector] = index
        ordered = sorted(versions, key=lambda sector: (last_touch[sector], sector))
        return {sector: versions[sector] for sector in ordered}


# -- Media faults on an image ------------------------------------------------------------


def truncated(image: bytes, length: int) -> bytes:
    """The file cut (or, like ftruncate, zero-extended) to ``length`` bytes."""
    if length < 0:
        raise ValueError(f"negative length {length}")
    return image[:length].ljust(length, b"\0")


def flip_bit(image: bytes, bit_index: int) -> bytes:
    """The file with one bit inverted: bit ``bit_index % 8`` (least significant
    first) of byte ``bit_index // 8``."""
    if not 0 <= bit_index < len(image) * 8:
        raise IndexError(f"bit {bit_index} outside a {len(image)}-byte image")
    flipped = bytearray(image)
    flipped[bit_index // 8] ^= 1 << (bit_index % 8)
    return bytes(flipped)


def overwrite(image: bytes, offset: int, data: bytes) -> bytes:
    """The file after a foreign write (another process, a misdirected write):
    ``data`` at ``offset``, extending the file with zeros if it runs past the end."""
    if offset < 0:
        raise ValueError(f"negative offset {offset}")
    result = bytearray(image)
    _apply(result, Write(offset, bytes(data)))
    return bytes(result)


# -- Helpers -------------------------------------------------------------------------------


def _at_least_zero(after_calls: int) -> int:
    if after_calls < 0:
        raise ValueError(f"after_calls must be at least 0, not {after_calls}")
    return after_calls


def _apply(image: bytearray, write: Write) -> None:
    """``write`` onto ``image`` as pwrite does: a write past the end leaves a hole of zeros."""
    if write.end > len(image):
        image.extend(bytes(write.end - len(image)))
    image[write.offset : write.end] = write.data


def _minus(write: Write, cover: Write) -> list[Write]:
    """The parts of ``write`` outside ``cover``'s byte range: none, one or two pieces."""
    low, high = max(write.offset, cover.offset), min(write.end, cover.end)
    if low >= high:
        return [write]
    pieces = []
    if write.offset < low:
        pieces.append(Write(write.offset, write.data[: low - write.offset]))
    if high < write.end:
        pieces.append(Write(high, write.data[high - write.offset :]))
    return pieces


def _mixed_radix_index(digits: Sequence[int], radices: Sequence[int]) -> int:
    """The position of ``digits`` in itertools.product over ``range(radix)`` for each radix."""
    index = 0
    for digit, radix in zip(digits, radices, strict=True):
        index = index * radix + digit
    return index


def _pattern(start: int, end: int) -> bytes:
    """GARBAGE_PATTERN as it would lie at file offsets start..end."""
    phase = start % len(GARBAGE_PATTERN)
    repeated = GARBAGE_PATTERN * ((end - start) // len(GARBAGE_PATTERN) + 2)
    return repeated[phase : phase + end - start]


def _mixed_radix(index: int, radices: Sequence[int]) -> list[int]:
    """The ``index``-th tuple of itertools.product over ``range(radix)`` for each radix."""
    digits = [0] * len(radices)
    for position in range(len(radices) - 1, -1, -1):
        index, digits[position] = divmod(index, radices[position])
    return digits


# Below this many candidates per wanted index, draw from the explicit list; above
# it, rejection sampling needs few retries and works for products of any size.
_DENSE_FACTOR = 4


def _sample_indices(total: int, limit: int, rng: random.Random | None, *, pinned: Iterable[int]) -> list[int]:
    """``limit`` distinct indices below ``total``, ascending: every pinned one, the
    rest drawn with ``rng``."""
    if rng is None:
        raise ValueError(f"{total} images exceed limit={limit}: pass rng to sample them")
    chosen = set(pinned)
    if limit < len(chosen):
        raise ValueError(f"limit={limit} is below the {len(chosen)} images always included")
    wanted = limit - len(chosen)
    if total <= _DENSE_FACTOR * limit:
        candidates = [index for index in range(total) if index not in chosen]
        chosen.update(rng.sample(candidates, wanted))
    else:
        while len(chosen) < limit:
            chosen.add(rng.randrange(total))
    return sorted(chosen)


class _ClockedDisk(SimulatedDisk):
    """A file of a ``SimulatedDirectory``: its calls tick the directory's clock."""

    def __init__(self, directory: SimulatedDirectory, data: bytes = b"") -> None:
        super().__init__(data)
        self._directory = directory

    def _begin_call(self) -> None:
        self._directory._tick()
        super()._begin_call()


class SimulatedDirectory:
    """The directory of one file, for ``reference.storage.Directory``: the
    path's file, temporary files beside it, and which file the path may name
    after a crash (PM5-PM7, the module's header). ``files`` are the names as
    the OS sees them now; ``synced_path`` the file the path named at the last
    directory sync; ``renamed`` the files renamed over the path since."""

    PATH = "memory.mv2"

    def __init__(self, data: bytes = b"") -> None:
        self.calls = 0
        self._crash_at: int | None = None
        self._next = 0
        disk = _ClockedDisk(self, data)
        self.files: dict[str, SimulatedDisk] = {self.PATH: disk}
        self.synced_path: SimulatedDisk = disk
        self.renamed: list[SimulatedDisk] = []

    @property
    def path(self) -> SimulatedDisk:
        return self.files[self.PATH]

    # -- reference.storage.Directory --------------------------------------------

    def open_path(
        self, *, create: bool = False, lock: bool = True, follow_renames: bool = False
    ) -> SimulatedDisk:
        return self.path

    def create_temp(self, *, lock: bool = False) -> tuple[str, SimulatedDisk]:
        self._tick()
        name = f".{self.PATH}.{self._next}"
        self._next += 1
        self.files[name] = _ClockedDisk(self)
        return name, self.files[name]

    def replace(self, temp: str) -> None:
        self._tick()
        self.files[self.PATH] = self.files.pop(temp)
        self.renamed.append(self.files[self.PATH])

    def discard(self, temp: str) -> None:
        self._tick()
        self.files.pop(temp, None)

    def sync(self) -> None:
        self._tick()
        self.synced_path = self.path
        self.renamed.clear()

    # -- crashes -------------------------------------------------------------------

    def arm_crash(self, after_calls: int) -> None:
        """Call number ``after_calls + 1`` from now, of any file of the directory
        or of the directory itself, raises ``SimulatedCrash``."""
        self._crash_at = self.calls + after_calls + 1

    def disarm(self) -> None:
        self._crash_at = None

    def _tick(self) -> None:
        if self._crash_at is not None and self.calls + 1 >= self._crash_at:
            self._crash_at = None
            raise SimulatedCrash(f"simulated crash at directory call {self.calls + 1}")
        self.calls += 1

    def files_after_power_loss(self) -> list[SimulatedDisk]:
        """The files the path may name after a power loss (PM5, PM6)."""
        candidates = [self.synced_path, *self.renamed]
        return [
            disk for index, disk in enumerate(candidates) if all(disk is not c for c in candidates[:index])
        ]
