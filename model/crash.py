"""The crash model, pure (spec/faults.md): from a model state, every image of
the region a power loss can leave, at the abstract level.

A power loss keeps the durable region and, for each 512-byte sector of the
file that unsynced writes touched, any one of that sector's versions: as it
was at the last sync, or as it was after the 1st, 2nd, ... unsynced write
touching it. The images keep the region map's provenance, so recovering one
with the model says which records survive whole. No I/O; never imports the
reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

from model.format import WAL_OFFSET
from model.region import Region
from model.wal import Disk

SECTOR_SIZE = 512


def _sector_span(sector: int, region_size: int, region_offset: int) -> tuple[int, int]:
    """The region positions a file sector covers, clipped to the region."""
    start = sector * SECTOR_SIZE - region_offset
    return max(0, start), min(region_size, start + SECTOR_SIZE)


def _versions(disk: Disk, region_offset: int) -> tuple[list[Region], dict[int, list[int]]]:
    """The region after each prefix of the unsynced writes, and for each
    touched sector the prefixes that are its versions (0: durable)."""
    after = [disk.durable_region]
    touched: dict[int, list[int]] = {}
    for index, pieces in enumerate(disk.unsynced, start=1):
        region = after[-1]
        for piece in pieces:
            region = region.write(piece.start, piece.source, piece.source_offset, piece.end - piece.start)
        after.append(region)
        first = (region_offset + min(piece.start for piece in pieces)) // SECTOR_SIZE
        last = (region_offset + max(piece.end for piece in pieces) - 1) // SECTOR_SIZE
        for sector in range(first, last + 1):
            touched.setdefault(sector, [0]).append(index)
    return after, touched


def count_power_loss_regions(disk: Disk, region_offset: int = WAL_OFFSET) -> int:
    _, touched = _versions(disk, region_offset)
    count = 1
    for versions in touched.values():
        count *= len(versions)
    return count


def power_loss_regions(disk: Disk, region_offset: int = WAL_OFFSET) -> Iterator[Region]:
    """Every region a power loss can leave (duplicates included: two versions
    of a sector may hold the same bytes)."""
    after, touched = _versions(disk, region_offset)
    sectors = sorted(touched)
    size = disk.durable_region.size
    for choice in product(*(touched[sector] for sector in sectors)):
        image = disk.durable_region
        for sector, version in zip(sectors, choice, strict=True):
            if version:
                start, end = _sector_span(sector, size, region_offset)
                image = image.copy_from(after[version], start, end)
        yield image


def single_sector_regions(disk: Disk, region_offset: int = WAL_OFFSET) -> Iterator[Region]:
    """The power-loss regions in which exactly one touched sector holds a
    version other than its durable one: one per (sector, later version), in
    sector order. Linear in the unsynced writes where ``power_loss_regions``
    is a product, so a check can ask for every one of them on any disk."""
    after, touched = _versions(disk, region_offset)
    size = disk.durable_region.size
    for sector in sorted(touched):
        start, end = _sector_span(sector, size, region_offset)
        for version in touched[sector][1:]:
            yield disk.durable_region.copy_from(after[version], start, end)
