"""``pytest -k stateful``: the scan's reads (spec/semantics.md S1.4) on the
layouts the side-by-side machines reach too rarely to hold every window rule
to account (spec/mutants.md M6).

The machines compare every scan of their second reader with S1.4's rule, but
a region filled exactly by several entries (the one that ends at the region's
end cut by a window), a header cut by a window less than a window before the
region's end, a length that runs past the region, and a FIXED file shorter
than its region come up there seldom or never. Each layout here is
opened read-only and rescanned by both designs with windows from 1 byte to
more than the region, and each scan's reads must be the ones
walcheck/sidebyside/scan_reads.py predicts from the records the model finds.
"""

from __future__ import annotations

import pytest

import model as m
from reference import Design, EmbeddedWal, Header, MemoryStorage, WalError, WalIoError
from reference.header import WAL_OFFSET
from reference.wal import encode_entry
from walcheck.sidebyside.scan_reads import ReadLog, reads_broken, record_ends

WINDOWS = (1, 47, 48, 49, 64, 100, 257, 4096)
AFTER_REGION = bytes([0xA5]) * 64  # memvid's data after the region (the machines' canary)


def _entries(first: int, totals: tuple[int, ...]) -> bytes:
    """Consecutive records from sequence ``first``, each ``total`` bytes long with its header."""
    return b"".join(encode_entry(first + i, bytes([i + 1]) * (total - 48)) for i, total in enumerate(totals))


# (name, region size, checkpoint sequence, the region's bytes)
LAYOUTS = [
    ("two entries fill the region", 200, 0, _entries(1, (100, 100))),
    ("three entries fill the region", 300, 0, _entries(1, (60, 90, 150))),
    ("a header cut by a window near the region's end", 300, 0, _entries(1, (250, 50))),
    ("records, then the sentinel", 300, 0, _entries(1, (100, 52)) + bytes(148)),
    ("checkpointed records, then pending ones", 400, 2, _entries(1, (70, 70, 120)) + bytes(140)),
    ("a torn tail", 300, 0, _entries(1, (100,)) + b"\x07" * 60 + bytes(140)),
    ("a length past the region", 300, 0, _entries(1, (100,)) + encode_entry(2, bytes(300))[:48] + bytes(152)),
    # 48 | 368 is 368, within the region, though 48 + 368 is past it: a bound
    # written with another operator than + passes the length (M13.11).
    (
        "a length past the region that start | length misses",
        400,
        0,
        encode_entry(1, bytes(368))[:48] + bytes(352),
    ),
    (
        "a record that does not continue the log",
        300,
        0,
        _entries(1, (100,)) + _entries(5, (100,)) + bytes(100),
    ),
]


@pytest.mark.parametrize("design", [Design.FIXED, Design.ORIGINAL], ids=lambda d: d.value)
@pytest.mark.parametrize(
    ("name", "size", "checkpoint", "region"), LAYOUTS, ids=[layout[0] for layout in LAYOUTS]
)
def test_stateful_scan_reads_are_s1_4s(
    name: str, size: int, checkpoint: int, region: bytes, design: Design
) -> None:
    assert len(region) == size, name
    ends = record_ends(region, size, m.Design(design.value), checkpoint)
    # record_ends is the reference's whole-region walk; the model's scan must
    # take the same records or refuse alike, or a walk broken in both the
    # reference's reads and its own walk would pass unseen.
    scanned = m.scan(m.Region.from_bytes(region), m.Design(design.value), checkpoint)
    model_ends = (
        None
        if isinstance(scanned, m.WalError)
        else {r.position: r.position + r.total_size for r in scanned[0]}
    )
    assert ends == model_ends, f"{name}: the reference's walk takes {ends}, the model's scan {model_ends}"
    for window in WINDOWS:
        log = ReadLog(MemoryStorage(bytes(WAL_OFFSET) + region + AFTER_REGION))
        header = Header(wal_size=size, wal_sequence=checkpoint)
        try:
            wal = EmbeddedWal.open_read_only(log, header, design=design, scan_window=window)
            opened = log.reads
            log.reads = []
            wal.pending_records()
        except WalError:
            # ORIGINAL at an invalid entry: so does the model's scan (the
            # machines compare the two); S1.4 rules the reads of scans that end.
            assert ends is None, f"{name}: the reference refused what the model's scan takes"
            continue
        assert ends is not None, f"{name}: the reference opened what the model's scan refuses"
        for what, reads in (("the open", opened), ("pending_records' rescan", log.reads)):
            broken = reads_broken(reads, WAL_OFFSET, region, size, window, ends)
            assert broken is None, f"{name}, {what}: {broken}"


@pytest.mark.parametrize("size", [300, 5000])
def test_stateful_fixed_scan_of_a_short_file_reads_nothing(size: int) -> None:
    """S3.2, S1.4: FIXED refuses a file shorter than its region before it reads
    any of it (5000 bytes: a size whose bits overlap the region's offset, 4096)."""
    region = _entries(1, (100,)) + bytes(size - 100)
    for window in WINDOWS:
        log = ReadLog(MemoryStorage(bytes(WAL_OFFSET) + region[: size - 1]))
        with pytest.raises(WalIoError):
            EmbeddedWal.open_read_only(log, Header(wal_size=size), design=Design.FIXED, scan_window=window)
        assert log.reads == [], f"window {window}: read {log.reads} of a file it must refuse"
