"""What memvid does around the WAL: create a file, the in-place commit, grow
the region in place (spec/semantics.md S3.1, S3.6, S3.11). The WAL itself is
reference.wal; the caller layer built on these (the staged commit, recovery
at open, the doctor, S9) is reference.caller."""

from __future__ import annotations

from reference.header import HEADER_SIZE, WAL_OFFSET, Header, write_header
from reference.storage import Storage
from reference.wal import Design, EmbeddedWal, WalRecord

KIB = 1024
MIB = 1024 * KIB
# memvid's region size for a new file. memvid picks larger tiers (1, 4, 16, 64 MiB)
# by capacity at creation; the reference creates only what a test names, so it
# keeps no table of them (one it exported went unread: a mutant of it survived).
WAL_SIZE_TINY = 64 * KIB
REASONS_THAT_GROW = frozenset({"embedded WAL region too small for entry", "embedded WAL region full"})

COPY_CHUNK = 1 * MIB


def create_mv2(storage: Storage, wal_size: int = WAL_SIZE_TINY, *, wal_sequence: int = 0) -> Header:
    """S3.1: header with an empty checkpoint, then a zeroed region (memvid's set_len)."""
    header = Header(wal_size=wal_size, footer_offset=WAL_OFFSET + wal_size, wal_sequence=wal_sequence)
    write_header(storage, header)
    write_zeros(storage, WAL_OFFSET, wal_size)
    storage.sync()
    return header


def commit(wal: EmbeddedWal, storage: Storage, header: Header) -> list[WalRecord]:
    """S3.6: the in-place commit. The checkpoint of the pending records is
    recorded into ``header``, the header is written, and the file is synced.
    Returns the records pending before it (what memvid applies; the caller
    layer, reference/caller.py, applies them to its frame store).

    memvid writes in this order in place in its recovery at open and its
    ``commit_skip_indexes`` (S9.2, S9.3); its ``commit()`` is staged on a copy
    of the file (S9.1), which ``reference.caller.Memory.commit`` does."""
    records = wal.pending_records()
    wal.record_checkpoint(header)
    write_header(storage, header)
    storage.sync()
    return records


def grow_region(
    storage: Storage, header: Header, new_size: int, *, memvid_order: bool = False, chunk: int = COPY_CHUNK
) -> None:
    """S3.11: memvid's growth, on a closed WAL. Every byte after the old region
    moves forward by the growth, the new part of the region is zeroed, the file
    is synced, the header gets the new size, and the file is synced again (one
    sync more than memvid, spec/persistence.md PM12). The caller reopens.

    ``memvid_order`` leaves out the first sync, as memvid does (one sync after
    the header): the ORIGINAL caller layer's growth (reference.caller, M4).

    ``chunk`` bounds each copy's and each zero write's length (1 MiB by
    default): a tuning knob only, no result may depend on it (S3.11); the
    machines grow with small ones, so that the copy from the back runs more
    than once over the few bytes after their regions."""
    old_size = header.wal_size
    if new_size <= old_size:
        raise ValueError(f"new region size {new_size} must exceed the current {old_size}")
    old_end = header.wal_offset + old_size
    growth = new_size - old_size
    file_end = storage.size()
    # Copy from the back so that the source is read before it is overwritten.
    cursor = file_end
    while cursor > old_end:
        start = max(old_end, cursor - chunk)
        storage.write_at(start + growth, storage.read_at(start, cursor - start))
        cursor = start
    write_zeros(storage, old_end, growth, chunk)
    # spec/persistence.md PM4, PM12: the moved bytes, the zeros and the file's new
    # size must be durable before the header that names the larger region; one
    # sync after both (memvid's order) lets a power loss keep the header and not
    # the size, and the region then runs past the end of the file (unopenable).
    if not memvid_order:
        storage.sync()
    header.wal_size = new_size
    # S9.4: as memvid's growth, whatever footer_offset is (every file memvid or the
    # reference writes has it at the region's end or after, so it moves with the data).
    header.footer_offset += growth
    write_header(storage, header)
    storage.sync()


def grown_size(current: int, entry_size: int) -> int:
    """memvid's new region size when an append of ``entry_size`` bytes failed:
    double until the size exceeds both the entry and the current size."""
    target = max(entry_size, current + 1)
    size = current
    while size <= target:
        size *= 2
    return size


def write_zeros(storage: Storage, offset: int, length: int, chunk: int = COPY_CHUNK) -> None:
    """Zeros over ``length`` bytes at ``offset``, ``chunk`` bytes (a MiB) at a
    time (the caller layer's growth uses it too)."""
    while length > 0:
        written = min(length, chunk)
        storage.write_at(offset, bytes(written))
        offset += written
        length -= written


__all__ = [
    "HEADER_SIZE",
    "REASONS_THAT_GROW",
    "WAL_SIZE_TINY",
    "Design",
    "commit",
    "create_mv2",
    "grow_region",
    "grown_size",
]
