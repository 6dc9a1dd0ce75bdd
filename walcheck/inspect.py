"""``walcheck inspect FILE``: what is in a ``.mv2`` file's WAL, and what memvid
and the reference would each make of it. Read-only: the file is opened for
reading, without a lock, and never written; every "what would happen" is
worked out on a copy in memory.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import blake3

from reference import (
    Design,
    EmbeddedWal,
    FileStorage,
    MemoryStorage,
    WalCorruption,
    WalError,
    decode_header,
)
from reference.header import HEADER_SIZE, LEGACY_LOCK_END, LEGACY_LOCK_START

ENTRY_HEADER_SIZE = 8 + 4 + 4 + 32
_SEQUENCE_AND_LENGTH = struct.Struct("<QI")
# How far around the log's sequences to look for leftovers past its end.
_LEFTOVER_SEQUENCE_MARGIN = 64
_LEFTOVERS_MAX = 1000


@dataclass
class EntryRow:
    offset: int
    sequence: int
    length: int
    checksum_ok: bool
    status: str  # "checkpointed", "pending", or what is wrong with it


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
    entries: list[EntryRow] = field(default_factory=list)
    log_end: int | None = None
    end_reason: str = ""
    leftovers: list[EntryRow] = field(default_factory=list)
    sequence_problems: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _entry_at(region: bytes, cursor: int) -> tuple[str, int, int, bool]:
    """("sentinel" | "length invalid" | "checksum mismatch" | "ok", sequence, length, checksum ok)."""
    sequence, length = _SEQUENCE_AND_LENGTH.unpack_from(region, cursor)
    if sequence == 0 and length == 0:
        return "sentinel", 0, 0, False
    start = cursor + ENTRY_HEADER_SIZE
    if length == 0 or start + length > len(region):
        return "length invalid", sequence, length, False
    ok = blake3.blake3(region[start : start + length]).digest() == region[cursor + 16 : start]
    return ("ok" if ok else "checksum mismatch"), sequence, length, ok


def _walk(region: bytes, checkpoint_sequence: int, report: Report) -> None:
    cursor = 0
    while cursor + ENTRY_HEADER_SIZE <= len(region):
        kind, sequence, length, ok = _entry_at(region, cursor)
        if kind == "sentinel":
            report.log_end, report.end_reason = cursor, f"sentinel at {cursor}"
            return
        if kind != "ok":
            report.entries.append(EntryRow(cursor, sequence, length, ok, kind))
            report.log_end = cursor
            report.end_reason = f"{kind} at {cursor} (a torn tail, or damage)"
            return
        status = "pending" if sequence > checkpoint_sequence else "checkpointed"
        report.entries.append(EntryRow(cursor, sequence, length, True, status))
        cursor += ENTRY_HEADER_SIZE + length
    report.log_end = cursor
    report.end_reason = f"region end ({len(region) - cursor} bytes left, fewer than a header)"


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
            kind, _, length, _ = _entry_at(region, position)
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


def _verdict(image: bytes, design: Design, *, writable: bool) -> Verdict:
    storage = MemoryStorage(image)
    how = "for writing (on a copy)" if writable else "read-only"
    try:
        header = decode_header(image[:HEADER_SIZE])
        opener = EmbeddedWal.open if writable else EmbeddedWal.open_read_only
        wal = opener(storage, header, design=design)
        pending = [record.sequence for record in wal.pending_records()]
        records = len(wal.records_after(0))
    except WalCorruption as error:
        return Verdict(design.value, how, f"WalCorruption at {error.offset}: {error.reason}", [], 0)
    except WalError as error:
        return Verdict(design.value, how, f"{error.kind}: {error.reason}", [], 0)
    return Verdict(design.value, how, None, pending, records)


def inspect_file(path: str | Path) -> Report:
    with FileStorage(path, read_only=True) as storage:
        image = storage.read_at(0, storage.size())
    report = Report(path=str(path), file_size=len(image))
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
    region = image[header.wal_offset : header.wal_offset + header.wal_size]
    if len(region) < header.wal_size:
        report.end_reason = f"the file ends {header.wal_size - len(region)} bytes before the region does"
    else:
        _walk(region, header.wal_sequence, report)
        _leftovers(region, report)
        _sequence_problems(report)
    for design in (Design.ORIGINAL, Design.FIXED):
        report.verdicts.append(_verdict(image, design, writable=False))
    report.verdicts.append(_verdict(image, Design.ORIGINAL, writable=True))
    return report


def render(report: Report) -> str:
    lines = [f"{report.path}: {report.file_size:,} bytes"]
    if report.header_error:
        return "\n".join([*lines, f"  header: {report.header_error}"])
    assert report.header is not None
    lines.append("  header: " + ", ".join(f"{key} {value}" for key, value in report.header.items()))
    if report.legacy_lock_bytes:
        lines.append("  legacy lock bytes 80..140 are set: memvid's open would clear them (a write)")
    lines.append(f"  log: {len(report.entries)} entries; ends at {report.end_reason}")
    if report.entries:
        lines.append("    offset  sequence    length  checksum  status")
        for row in report.entries:
            mark = "ok" if row.checksum_ok else "BAD"
            lines.append(f"  {row.offset:>8}  {row.sequence:>8}  {row.length:>8}  {mark:>8}  {row.status}")
    if report.leftovers:
        lines.append(
            f"  {len(report.leftovers)} intact entries past the log's end (sequences "
            f"{', '.join(str(row.sequence) for row in report.leftovers[:10])}"
            f"{', ...' if len(report.leftovers) > 10 else ''})"
        )
    for problem in report.sequence_problems:
        lines.append(f"  sequence problem: {problem}")
    lines.append("  what each would do:")
    for verdict in report.verdicts:
        who = "memvid (ORIGINAL)" if verdict.design == "original" else "the reference (FIXED)"
        outcome = verdict.error or (f"opens; {verdict.records} records, pending {verdict.pending or 'none'}")
        lines.append(f"    {who}, {verdict.how}: {outcome}")
    return "\n".join(lines)
