"""What the bytes past the log's end say (spec/inspect.md I3, I4), how full the
region is (I6), and what memvid's doctor would do to the file (I7)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.wal import ENTRY_HEADER_SIZE, WAL_CHECKPOINT_THRESHOLD
from walcheck.real.inspect.scan import END_INVALID, END_SENTINEL, PENDING, Entry, LogEnd
from walcheck.real.inspect.verdicts import Verdict

LOST_HEADLINE = "acknowledged records may have been lost here"
ABOVE_CHECKPOINT = "above-checkpoint"
SEQUENCE_REUSED = "sequence-reused"


@dataclass(frozen=True)
class Evidence:
    kind: str  # ABOVE_CHECKPOINT or SEQUENCE_REUSED
    offsets: tuple[int, ...]  # of the entries past the end that show it
    sequences: tuple[int, ...]
    defects: tuple[str, ...]  # spec/defects.md entries that explain it
    explanation: str


def _above_checkpoint_explanation(
    log_end: LogEnd, past: list[Entry], region_size: int
) -> tuple[tuple[str, ...], str]:
    """I4: which catalogued defect leaves records above the checkpoint past the log's end."""
    if log_end.kind == END_SENTINEL and log_end.position == 0:
        if past and past[-1].end == region_size:
            return ("D1", "C4"), (
                "the log ends at a sentinel at position 0 and the entries past it run to the region's "
                "last byte: memvid wrote its sentinel at 0, on top of the log's first record, when an "
                "entry ended exactly at the region's end (D1, spec/format.md F3.3), or a commit was "
                "interrupted after record_checkpoint's sentinel and before the header (C4)"
            )
        return ("D1",), (
            "the log ends at a sentinel at position 0: memvid wrote its sentinel at 0, on top of the "
            "log's first record, when an entry left fewer than 48 bytes before the region's end "
            "(D1, spec/format.md F3.2)"
        )
    if log_end.kind == END_SENTINEL:
        return ("D1", "D6"), (
            f"the log ends at a sentinel at {log_end.position}, before records that were never "
            "checkpointed: memvid's write head went back to 0 while records were pending and a later "
            "entry and its sentinel were written over them (D1), or damage zeroed an entry header (D6)"
        )
    if log_end.kind == END_INVALID:
        return ("D6",), (
            f"the log ends at a damaged entry at {log_end.position}, before intact records that were "
            "never checkpointed: damage in the middle of the log, not a torn tail. memvid's open refuses "
            "the file; FIXED's tolerant open ends the log there unless a later marked record proves the "
            "damage (spec/faults.md R7), and then refuses it"
        )
    return (), f"the log ends at {log_end.reason}, before records that were never checkpointed"


def find_evidence(
    log: list[Entry], log_end: LogEnd, past: list[Entry], checkpoint_sequence: int, region_size: int
) -> list[Evidence]:
    """I3. A region wraps only when nothing is pending, so every entry of an earlier
    pass was checkpointed: an intact entry past the end whose sequence is above the
    checkpoint was acknowledged and never applied, and no open reaches it. A
    sequence that names two different payloads was issued twice: the writer had
    forgotten the first record."""
    evidence: list[Evidence] = []
    above = [entry for entry in past if entry.sequence > checkpoint_sequence]
    if above:
        defects, explanation = _above_checkpoint_explanation(log_end, past, region_size)
        evidence.append(
            Evidence(
                ABOVE_CHECKPOINT,
                tuple(entry.offset for entry in above),
                tuple(entry.sequence for entry in above),
                defects,
                f"{len(above)} intact entries past the log's end have sequences above the checkpoint "
                f"({checkpoint_sequence}): they were acknowledged and never applied, and no open reaches "
                f"them. Explained by {' or '.join(defects) or 'no catalogued defect'}: {explanation}",
            )
        )
    seen: dict[int, bytes] = {}
    for entry in log:
        if entry.checksum_ok:
            seen.setdefault(entry.sequence, entry.checksum)
    reused: list[Entry] = []
    for entry in past:
        earlier = seen.setdefault(entry.sequence, entry.checksum)
        if earlier != entry.checksum:
            reused.append(entry)
    if reused:
        evidence.append(
            Evidence(
                SEQUENCE_REUSED,
                tuple(entry.offset for entry in reused),
                tuple(entry.sequence for entry in reused),
                ("D1", "C3"),
                f"{len(reused)} intact entries past the log's end repeat a sequence of the log (or of "
                "another entry past the end) with other bytes: the sequence was issued twice, so the "
                "writer had lost the earlier record. Explained by D1 (after memvid's sentinel erased the "
                "log, its next scan, a commit's or a reopen's, finds nothing, falls back to the "
                "checkpoint and reissues the lost sequences, G3) or C3 "
                "(a header that outlived its records restarts the sequence below the checkpoint)",
            )
        )
    return evidence


@dataclass(frozen=True)
class Space:
    """I6: the region's bytes against memvid's checkpoint threshold (75 % pending)."""

    region_size: int
    log_bytes: int  # [0, log end): what the scan walks
    checkpointed_bytes: int
    pending_bytes: int
    free_after_log: int  # from the log's end to the region's end
    occupancy: float  # pending / region size, the figure memvid compares with the threshold
    threshold: float
    threshold_bytes: int  # pending bytes at which memvid checkpoints
    until_threshold: int  # bytes of entries that may still be appended before it
    at_threshold: bool


def space(log: list[Entry], log_end: LogEnd, region_size: int) -> Space:
    pending = sum(ENTRY_HEADER_SIZE + entry.length for entry in log if entry.status == PENDING)
    checkpointed = sum(
        ENTRY_HEADER_SIZE + entry.length for entry in log if entry.checksum_ok and entry.status != PENDING
    )
    threshold_bytes = math.ceil(WAL_CHECKPOINT_THRESHOLD * region_size)
    return Space(
        region_size=region_size,
        log_bytes=log_end.position,
        checkpointed_bytes=checkpointed,
        pending_bytes=pending,
        free_after_log=region_size - log_end.position,
        occupancy=pending / region_size,
        threshold=WAL_CHECKPOINT_THRESHOLD,
        threshold_bytes=threshold_bytes,
        until_threshold=max(0, threshold_bytes - pending),
        at_threshold=pending / region_size >= WAL_CHECKPOINT_THRESHOLD,
    )


@dataclass(frozen=True)
class Doctor:
    """I7, spec/semantics.md S9.9: memvid's doctor (src/memvid/doctor.rs) opens the
    WAL for writing with memvid's code and asks for the pending records. On an error
    it zeroes the whole region and sets wal_checkpoint_pos and wal_sequence to 0
    (try_recover_from_wal_corruption); otherwise the memory's open replays what that
    open finds pending. Every repair ends with reset_wal, which zeroes the region and
    both header fields again, so sequences start again at 1 (M3)."""

    action: str  # "zero the region", "replay", "nothing"
    # Sequences of acknowledged, unapplied records that are gone after it: all of them
    # when it zeroes the region (M2), else those its open does not reach.
    lost: tuple[int, ...]
    replayed: tuple[int, ...]
    summary: str


def doctor(
    original_writing: Verdict,
    log: list[Entry],
    past: list[Entry],
    checkpoint_sequence: int,
    region_offset: int,
    region_size: int,
) -> Doctor:
    unapplied = sorted(
        {entry.sequence for entry in log if entry.checksum_ok and entry.status == PENDING}
        | {entry.sequence for entry in past if entry.sequence > checkpoint_sequence}
    )
    reset = "; its repair ends with reset_wal, and sequences start again at 1 (spec/defects.md M3)"
    if original_writing.error is not None:
        listed = f" (sequences {_sequence_list(unapplied)})" if unapplied else ""
        return Doctor(
            "zero the region",
            tuple(unapplied),
            (),
            f"memvid's open fails ({original_writing.error}), so the doctor zeroes the whole region "
            f"[{region_offset}, {region_offset + region_size}), sets wal_checkpoint_pos and "
            f"wal_sequence to 0, writes the header and syncs once: every record in the region is "
            f"discarded, {len(unapplied)} of them acknowledged and never applied{listed} "
            f"(spec/defects.md M2){reset}",
        )
    replayed = original_writing.pending or ()
    lost = [sequence for sequence in unapplied if sequence not in replayed]
    if replayed:
        summary = f"the doctor replays the {len(replayed)} pending records ({_sequence_list(replayed)})"
    else:
        summary = "the doctor finds nothing pending in the WAL"
    if lost:
        summary += (
            f"; {len(lost)} acknowledged, unapplied records ({_sequence_list(lost)}) are not among "
            "them: memvid's open does not reach them"
        )
    return Doctor("replay" if replayed else "nothing", tuple(lost), tuple(replayed), summary + reset)


def _sequence_list(sequences: list[int] | tuple[int, ...], shown: int = 10) -> str:
    text = ", ".join(str(sequence) for sequence in sequences[:shown])
    return text + (f", ... ({len(sequences)} in all)" if len(sequences) > shown else "")
