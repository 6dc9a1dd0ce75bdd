"""``walcheck inspect FILE``: what is in a ``.mv2`` file's WAL, and what memvid
and the reference would each make of it. Read-only: the file is opened for
reading, without a lock, and never written; every "what would happen" is
worked out on a copy in memory.

The region is where the file's MV2 header says, or, for a bare WAL region (a
file without an MV2 header, or to override the header), where
``RegionParameters`` says.
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import blake3

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    Header,
    MemoryStorage,
    WalCorruption,
    WalError,
    decode_header,
)
from reference.header import HEADER_SIZE, LEGACY_LOCK_END, LEGACY_LOCK_START
from reference.wal import SYNCED_BEFORE_MARK

ENTRY_HEADER_SIZE = 8 + 4 + 4 + 32
_SEQUENCE_AND_LENGTH = struct.Struct("<QI")
# How far around the log's sequences to look for leftovers past its end.
_LEFTOVER_SEQUENCE_MARGIN = 64
_LEFTOVERS_MAX = 1000
U64_MAX = 2**64 - 1
_CUT_OFF = "cut off by the end of the file"


def u64_argument(text: str) -> int:
    """argparse type for the region parameters: what a u64 header field can hold."""
    try:
        value = int(text) if text.lstrip("+-").isdigit() else int(text, 0)  # 4096, or 0x1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= U64_MAX:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**64 - 1, got {value}")
    return value


@dataclass(frozen=True)
class RegionParameters:
    """A bare WAL region: what an MV2 header would otherwise say. ``checkpoint_pos``
    is taken modulo ``size``, as memvid's open does."""

    offset: int
    size: int
    checkpoint_sequence: int
    checkpoint_pos: int = 0


class RegionOutsideFile(ValueError):
    """The region parameters do not describe bytes of the file."""


@dataclass
class EntryRow:
    offset: int
    sequence: int
    length: int
    checksum_ok: bool
    status: str  # "checkpointed", "pending", or what is wrong with it
    # FIXED's mark in the reserved bytes (format F2.1, D6): the region before
    # this entry was durable when it was written. memvid never writes it.
    synced_before: bool = False


@dataclass
class Verdict:
    design: str
    how: str  # "read-only" or "for writing (on a copy)"
    error: str | None
    pending: list[int]
    records: int


@dataclass
class Report:
    path: str
    file_size: int
    header: dict[str, int | str] | None = None
    header_error: str | None = None
    legacy_lock_bytes: bool = False
    region_source: str = "header"  # or "command line": a bare region, RegionParameters
    entries: list[EntryRow] = field(default_factory=list)
    log_end: int | None = None
    end_reason: str = ""
    leftovers: list[EntryRow] = field(default_factory=list)
    sequence_problems: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _entry_at(region: bytes, cursor: int, region_size: int) -> tuple[str, int, int, bool]:
    """("sentinel" | "length invalid" | _CUT_OFF | "checksum mismatch" | "ok", sequence,
    length, checksum ok). ``region`` holds the bytes the file has of a region of
    ``region_size`` bytes: fewer when the file ends inside the region."""
    sequence, length = _SEQUENCE_AND_LENGTH.unpack_from(region, cursor)
    if sequence == 0 and length == 0:
        return "sentinel", 0, 0, False
    start = cursor + ENTRY_HEADER_SIZE
    if length == 0 or start + length > region_size:
        return "length invalid", sequence, length, False
    if start + length > len(region):
        # memvid's scan finds the length valid and then fails to read the payload.
        return _CUT_OFF, sequence, length, False
    ok = blake3.blake3(region[start : start + length]).digest() == region[cursor + 16 : start]
    return ("ok" if ok else "checksum mismatch"), sequence, length, ok


def _walk(region: bytes, region_size: int, checkpoint_sequence: int, report: Report) -> None:
    cursor = 0
    while cursor + ENTRY_HEADER_SIZE <= region_size:
        if cursor + ENTRY_HEADER_SIZE > len(region):
            report.log_end = cursor
            report.end_reason = (
                f"the end of the file, {len(region) - cursor} bytes into the entry header at {cursor} "
                "(a torn tail)"
            )
            return
        kind, sequence, length, ok = _entry_at(region, cursor, region_size)
        if kind == "sentinel":
            report.log_end, report.end_reason = cursor, f"sentinel at {cursor}"
            return
        marked = region[cursor + 12 : cursor + 16] == SYNCED_BEFORE_MARK
        if kind != "ok":
            report.entries.append(EntryRow(cursor, sequence, length, ok, kind, marked))
            report.log_end = cursor
            if kind == _CUT_OFF:
                report.end_reason = f"the end of the file, inside the entry at {cursor} (a torn tail)"
            else:
                report.end_reason = f"{kind} at {cursor} (a torn tail, or damage)"
            return
        status = "pending" if sequence > checkpoint_sequence else "checkpointed"
        report.entries.append(EntryRow(cursor, sequence, length, True, status, marked))
        cursor += ENTRY_HEADER_SIZE + length
    report.log_end = cursor
    report.end_reason = f"region end ({region_size - cursor} bytes left, fewer than a header)"


def _leftovers(region: bytes, report: Report) -> None:
    """Intact entries past the log's end: leftovers of an earlier pass, or
    records cut off by damage. Found by their sequence field."""
    start = (report.log_end or 0) + ENTRY_HEADER_SIZE
    sequences = [row.sequence for row in report.entries if row.checksum_ok]
    if not sequences:
        return
    low = max(1, min(sequences) - _LEFTOVER_SEQUENCE_MARGIN)
    high = max(sequences) + _LEFTOVER_SEQUENCE_MARGIN
    found: dict[int, EntryRow] = {}
    for sequence in range(low, high + 1):
        needle = sequence.to_bytes(8, "little")
        position = region.find(needle, start)
        while position != -1 and position + ENTRY_HEADER_SIZE <= len(region):
            kind, _, length, _ = _entry_at(region, position, len(region))
            if kind == "ok":
                found[position] = EntryRow(position, sequence, length, True, "past the log's end")
            if len(found) >= _LEFTOVERS_MAX:
                break
            position = region.find(needle, position + 1)
    report.leftovers = [found[position] for position in sorted(found)]


def _sequence_problems(report: Report) -> None:
    sequences = [row.sequence for row in report.entries if row.checksum_ok]
    for previous, current in pairwise(sequences):
        if current == previous:
            report.sequence_problems.append(f"sequence {current} twice")
        elif current != previous + 1:
            report.sequence_problems.append(f"{previous} then {current}")


def _verdict(image: bytes, header: Header, design: Design, *, writable: bool) -> Verdict:
    storage = MemoryStorage(image)
    how = "for writing (on a copy)" if writable else "read-only"
    try:
        opener = EmbeddedWal.open if writable else EmbeddedWal.open_read_only
        wal = opener(storage, header, design=design)
        pending = [record.sequence for record in wal.pending_records()]
        records = len(wal.records_after(0))
    except WalCorruption as error:
        return Verdict(design.value, how, f"WalCorruption at {error.offset}: {error.reason}", [], 0)
    except WalError as error:
        return Verdict(design.value, how, f"{error.kind}: {error.reason}", [], 0)
    return Verdict(design.value, how, None, pending, records)


def _lost_after_checkpoint(report: Report, checkpoint_sequence: int) -> None:
    later = [row.sequence for row in report.leftovers if row.sequence > checkpoint_sequence]
    if later:
        report.notes.append(
            f"{len(later)} of the entries past the log's end are later than the last checkpoint "
            f"(sequence {checkpoint_sequence}): {', '.join(map(str, later[:10]))}"
            f"{', ...' if len(later) > 10 else ''}. If they were written after it, they are lost: "
            "no open reaches them"
        )


def _inspect_region(image: bytes, header: Header, report: Report) -> None:
    """The region's entries, and what each design's open makes of the file."""
    region = image[header.wal_offset : header.wal_offset + header.wal_size]
    if len(region) < header.wal_size:
        report.notes.append(
            f"the file ends {header.wal_size - len(region)} bytes before the region does "
            f"(at region position {len(region)})"
        )
    _walk(region, header.wal_size, header.wal_sequence, report)
    _leftovers(region, report)
    _sequence_problems(report)
    _lost_after_checkpoint(report, header.wal_sequence)
    for design in (Design.ORIGINAL, Design.FIXED):
        report.verdicts.append(_verdict(image, header, design, writable=False))
    report.verdicts.append(_verdict(image, header, Design.ORIGINAL, writable=True))


def inspect_file(path: str | Path, region: RegionParameters | None = None) -> Report:
    """The report on the file's WAL: the region the MV2 header names, or ``region``
    (raises RegionOutsideFile unless the region lies within the file)."""
    with FileStorage(path, read_only=True) as storage:
        image = storage.read_at(0, storage.size())
    report = Report(path=str(path), file_size=len(image))
    if region is not None:
        return _inspect_bare_region(image, region, report)
    if len(image) < HEADER_SIZE:
        report.header_error = f"file of {len(image)} bytes is shorter than the 4096-byte header"
        return report
    report.legacy_lock_bytes = any(image[LEGACY_LOCK_START:LEGACY_LOCK_END])
    try:
        header = decode_header(image[:HEADER_SIZE])
    except WalError as error:
        report.header_error = str(error)
        return report
    report.header = {
        "version": f"0x{header.version:04x}",
        "footer_offset": header.footer_offset,
        "wal_offset": header.wal_offset,
        "wal_size": header.wal_size,
        "wal_checkpoint_pos": header.wal_checkpoint_pos,
        "wal_sequence": header.wal_sequence,
    }
    if header.footer_offset > len(image):
        # Seen with memvid-sdk 2.0.160 on truncated files: its open fails with
        # "Table of contents validation failed: ..." before it scans the WAL.
        report.notes.append(
            f"the file ends before footer_offset ({header.footer_offset}): memvid's open fails on the "
            "table of contents before it reads the WAL"
        )
    _inspect_region(image, header, report)
    return report


def _inspect_bare_region(image: bytes, region: RegionParameters, report: Report) -> Report:
    if region.size == 0:
        raise RegionOutsideFile("the region size must be at least 1 (memvid: wal_size must be non-zero)")
    end = region.offset + region.size
    if end > len(image):
        raise RegionOutsideFile(
            f"the region [{region.offset}, {end}) runs past the end of the file ({len(image)} bytes)"
        )
    header = Header(
        wal_size=region.size,
        wal_offset=region.offset,
        wal_checkpoint_pos=region.checkpoint_pos,
        wal_sequence=region.checkpoint_sequence,
    )
    report.region_source = "command line"
    report.header = {
        "wal_offset": region.offset,
        "wal_size": region.size,
        "wal_checkpoint_pos": region.checkpoint_pos,
        "wal_sequence": region.checkpoint_sequence,
    }
    _inspect_region(image, header, report)
    return report


def render(report: Report) -> str:
    lines = [f"{report.path}: {report.file_size:,} bytes"]
    if report.header_error:
        return "\n".join([*lines, f"  header: {report.header_error}"])
    assert report.header is not None
    source = "header" if report.region_source == "header" else "region (from the command line)"
    lines.append(f"  {source}: " + ", ".join(f"{key} {value}" for key, value in report.header.items()))
    if report.legacy_lock_bytes:
        lines.append("  legacy lock bytes 80..140 are set: memvid's open would clear them (a write)")
    lines.append(f"  log: {len(report.entries)} entries; ends at {report.end_reason}")
    if report.entries:
        lines.append("    offset  sequence    length  checksum  mark  status")
        for row in report.entries:
            mark = "ok" if row.checksum_ok else "BAD"
            synced = "SYNC" if row.synced_before else "-"
            lines.append(
                f"  {row.offset:>8}  {row.sequence:>8}  {row.length:>8}  {mark:>8}  {synced:>4}  {row.status}"
            )
    if report.leftovers:
        lines.append(
            f"  {len(report.leftovers)} intact entries past the log's end (sequences "
            f"{', '.join(str(row.sequence) for row in report.leftovers[:10])}"
            f"{', ...' if len(report.leftovers) > 10 else ''})"
        )
    for problem in report.sequence_problems:
        lines.append(f"  sequence problem: {problem}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append("  what each would do:")
    for verdict in report.verdicts:
        who = "memvid (ORIGINAL)" if verdict.design == "original" else "the reference (FIXED)"
        outcome = verdict.error or (f"opens; {verdict.records} records, pending {verdict.pending or 'none'}")
        lines.append(f"    {who}, {verdict.how}: {outcome}")
    return "\n".join(lines)
