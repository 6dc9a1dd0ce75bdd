"""The report as text and as JSON (spec/inspect.md I10, the JSON schema), and
payload hex dumps (``--dump``)."""

from __future__ import annotations

from dataclasses import dataclass

from reference.wal import ENTRY_HEADER_SIZE
from walcheck.real.inspect.evidence import LOST_HEADLINE
from walcheck.real.inspect.report import SCHEMA_VERSION, Report
from walcheck.real.inspect.scan import CUT_OFF, LENGTH_INVALID, Entry

_SHOWN = 10


@dataclass(frozen=True)
class Selection:
    """Which entries to list and dump: sequences in [first, last] (None: no bound)."""

    first: int | None = None
    last: int | None = None
    dump: bool = False

    def wants(self, entry: Entry) -> bool:
        return (self.first is None or entry.sequence >= self.first) and (
            self.last is None or entry.sequence <= self.last
        )


def _checksum(entry: Entry) -> str:
    if entry.checksum_ok:
        return "ok"
    if entry.status in (LENGTH_INVALID, CUT_OFF):
        return "not checked"
    return "mismatch"


def payload(report: Report, entry: Entry) -> bytes:
    """The payload bytes the file holds for ``entry`` (fewer when it is cut off)."""
    start = entry.offset + ENTRY_HEADER_SIZE
    return report.region[start : min(start + entry.length, len(report.region))]


def hex_dump(data: bytes, indent: str = "") -> list[str]:
    """xxd's layout: offset, 16 bytes in hex, and the printable ones."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{indent}{start:08x}  {hex_part:<47}  |{text}|")
    return lines


def _entry_json(report: Report, entry: Entry, selection: Selection) -> dict[str, object]:
    return {
        "offset": entry.offset,
        "sequence": entry.sequence,
        "length": entry.length,
        "checksum": _checksum(entry),
        "status": entry.status,
        "synced_before": entry.synced_before,
        "payload_hex": payload(report, entry).hex() if selection.dump else None,
    }


def as_json(report: Report, selection: Selection = Selection()) -> dict[str, object]:
    """The same keys whatever the file (a bare region, a header that does not
    decode): absent parts are null or empty, never missing."""
    header = report.header
    bare = report.region_source != "header"
    header_json = None
    if header is not None:
        header_json = {
            "version": None if bare else f"0x{header.version:04x}",
            "footer_offset": None if bare else header.footer_offset,
            "wal_offset": header.wal_offset,
            "wal_size": header.wal_size,
            "wal_checkpoint_pos": header.wal_checkpoint_pos,
            "wal_sequence": header.wal_sequence,
            "legacy_lock_bytes": report.legacy_lock_bytes,
        }
    past = report.past_end
    space = report.space
    doctor = report.doctor
    return {
        # Key by key, like vectors.py's build_vector, on purpose: this dict is I10's schema, as spelled there.
        "schema_version": SCHEMA_VERSION,
        "path": report.path,
        "file_size": report.file_size,
        "region_source": report.region_source,
        "header": header_json,
        "header_error": report.header_error,
        "region": None
        if header is None
        else {
            "offset": header.wal_offset,
            "size": header.wal_size,
            "bytes_in_file": report.region_bytes_in_file,
        },
        "log": None
        if report.log_end is None
        else {
            "entries": [_entry_json(report, e, selection) for e in report.log if selection.wants(e)],
            "end": {
                "position": report.log_end.position,
                "kind": report.log_end.kind,
                "reason": report.log_end.reason,
            },
        },
        "past_end": None
        if past is None
        else {
            "entries": [_entry_json(report, e, selection) for e in past.entries if selection.wants(e)],
            "searched_from": past.searched_from,
            "complete": past.complete,
            "stopped_at": past.stopped_at,
        },
        "sequence_problems": report.sequence_problems,
        "evidence": [
            {
                "kind": item.kind,
                "headline": LOST_HEADLINE,
                "offsets": list(item.offsets),
                "sequences": list(item.sequences),
                "defects": list(item.defects),
                "explanation": item.explanation,
            }
            for item in report.evidence
        ],
        # Null or an object, as "region" above, on purpose: each part of the report is its own I10 object.
        "space": None
        if space is None
        else {
            "region_size": space.region_size,
            "log_bytes": space.log_bytes,
            "checkpointed_bytes": space.checkpointed_bytes,
            "pending_bytes": space.pending_bytes,
            "free_after_log": space.free_after_log,
            "occupancy": space.occupancy,
            "threshold": space.threshold,
            "threshold_bytes": space.threshold_bytes,
            "until_threshold": space.until_threshold,
            "at_threshold": space.at_threshold,
        },
        "verdicts": [
            {
                "design": v.design,
                "mode": v.mode,
                "recovery": v.recovery,
                "opens": v.error_kind is None,
                "error": None
                if v.error_kind is None
                else {"kind": v.error_kind, "reason": v.error_reason, "offset": v.error_offset},
                "records": v.records,
                "pending": None if v.pending is None else list(v.pending),
                "write_head": v.write_head,
                "next_append_max_payload": v.next_append_max_payload,
                "writes_outside_region": [list(write) for write in v.writes_outside_region],
            }
            for v in report.verdicts
        ],
        "doctor": None
        if doctor is None
        else {
            "action": doctor.action,
            "lost": list(doctor.lost),
            "replayed": list(doctor.replayed),
            "summary": doctor.summary,
        },
        "notes": report.notes,
        "healthy": report.healthy,
    }


def _rows(report: Report, entries: list[Entry], selection: Selection) -> list[str]:
    lines = ["      offset              sequence      length  checksum  mark  status"]
    for entry in entries:
        if not selection.wants(entry):
            continue
        mark = "SYNC" if entry.synced_before else "-"
        lines.append(
            f"  {entry.offset:>10}  {entry.sequence:>20}  {entry.length:>10}  {_checksum(entry):>8}  "
            f"{mark:>4}  {entry.status}"
        )
        if selection.dump:
            lines.extend(hex_dump(payload(report, entry), indent="      "))
    return lines


def _sequences(sequences: tuple[int, ...]) -> str:
    text = ", ".join(str(sequence) for sequence in sequences[:_SHOWN])
    return text + (", ..." if len(sequences) > _SHOWN else "")


def render(report: Report, selection: Selection = Selection()) -> str:
    lines = [f"{report.path}: {report.file_size:,} bytes"]
    if report.header_error:
        lines.append(f"  header: {report.header_error}")
        return "\n".join(lines)
    header = report.header
    assert header is not None and report.log_end is not None and report.past_end is not None
    if report.region_source == "header":
        lines.append(
            f"  header: version 0x{header.version:04x}, footer_offset {header.footer_offset}, "
            f"wal_offset {header.wal_offset}, wal_size {header.wal_size}, wal_checkpoint_pos "
            f"{header.wal_checkpoint_pos}, wal_sequence {header.wal_sequence}"
        )
    else:
        lines.append(
            f"  region (from the command line): wal_offset {header.wal_offset}, wal_size {header.wal_size}, "
            f"wal_checkpoint_pos {header.wal_checkpoint_pos}, wal_sequence {header.wal_sequence}"
        )
    lines.append(f"  log: {len(report.log)} entries; ends at {report.log_end.reason}")
    if report.log:
        lines.extend(_rows(report, report.log, selection))
    past = report.past_end
    if past.entries:
        lines.append(
            f"  past the log's end: {len(past.entries)} intact entries (searched from region position "
            f"{past.searched_from}{'' if past.complete else f'; stopped at {past.stopped_at}'})"
        )
        lines.extend(_rows(report, list(past.entries), selection))
    else:
        lines.append(
            f"  past the log's end: no intact entries (searched from region position {past.searched_from}"
            f"{'' if past.complete else f'; stopped at {past.stopped_at}'})"
        )
    for item in report.evidence:
        where = ", ".join(
            f"{sequence} at {offset}"
            for sequence, offset in list(zip(item.sequences, item.offsets, strict=False))[:_SHOWN]
        )
        more = ", ..." if len(item.offsets) > _SHOWN else ""
        lines.append(f"  {LOST_HEADLINE.upper()} (sequence at offset: {where}{more})")
        lines.append(f"    {item.explanation} (spec/defects.md)")
    for problem in report.sequence_problems:
        lines.append(f"  sequence problem: {problem}")
    space = report.space
    assert space is not None
    reached = (
        "(reached)"
        if space.at_threshold
        else f"({space.threshold_bytes:,} bytes; {space.until_threshold:,} more bytes of entries before it)"
    )
    lines.append(
        f"  space: {space.log_bytes:,} of {space.region_size:,} bytes in the log "
        f"({space.checkpointed_bytes:,} checkpointed, {space.pending_bytes:,} pending), "
        f"{space.free_after_log:,} free after it; pending {100 * space.occupancy:.1f}% of the region, "
        f"memvid checkpoints at {100 * space.threshold:.0f}% {reached}"
    )
    for note in report.notes:
        lines.append(f"  note: {note}")
    lines.append("  what each would do:")
    for v in report.verdicts:
        if v.error is not None:
            outcome = v.error
        else:
            outcome = f"opens; {v.records} records, pending {_sequences(v.pending or ()) or 'none'}"
            if v.next_append_max_payload is not None:
                outcome += (
                    f"; the next append takes up to {v.next_append_max_payload:,} bytes without growing"
                )
            elif v.mode == "for writing":
                outcome += "; the next append of any size needs the region to grow"
        lines.append(f"    {v.who}: {outcome}")
    if report.doctor is not None:
        lines.append(f"  memvid's doctor: {report.doctor.summary}")
    lines.append("  result: " + ("healthy" if report.healthy else "NOT HEALTHY (exit 1)"))
    return "\n".join(lines)
