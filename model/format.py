"""Byte layout of a WAL entry, as the model sees it (spec/format.md, section F2).

Pure functions only. The reference has its own codec; the tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.digest import DIGEST_SIZE, payload_digest

# F2.1: sequence u64 + length u32 + reserved u32 + blake3-256 digest.
SEQUENCE_SIZE = 8
LENGTH_SIZE = 4
RESERVED_SIZE = 4
ENTRY_HEADER_SIZE = SEQUENCE_SIZE + LENGTH_SIZE + RESERVED_SIZE + DIGEST_SIZE
assert ENTRY_HEADER_SIZE == 48

SEQUENCE_MAX = 2**64 - 1
PAYLOAD_LEN_MAX = 2**32 - 1

# F1: the MV2 header occupies the first 4096 bytes; the region starts right after.
WAL_OFFSET = 4096

# S2.3: should_checkpoint thresholds, memvid's constants.
WAL_CHECKPOINT_THRESHOLD = 0.75
WAL_CHECKPOINT_PERIOD = 1000

# F2.1, FIXED only (spec/faults.md R7): what FIXED writes in the reserved bytes
# of a record written while every byte of the region before the write head was
# durable. memvid writes zeros there and never reads the field; any value but
# this one (zeros, damage) makes no claim. Four letters rather than one bit, so
# that no single flipped bit turns memvid's zeros into a claim.
SYNCED_BEFORE_MARK = b"SYNC"  # RESERVED_SIZE bytes (tests/test_format.py holds it)


@dataclass(frozen=True, slots=True)
class EntryHeader:
    """The decoded 48-byte entry header (F2.1)."""

    sequence: int
    length: int
    reserved: bytes
    digest: bytes

    @property
    def synced_before(self) -> bool:
        """F2.1, R7: the record claims that the region before it was durable when it was written."""
        return self.reserved == SYNCED_BEFORE_MARK

    @property
    def is_sentinel(self) -> bool:
        """F3.1: sequence 0 and length 0 end the log, whatever the other 36 bytes hold."""
        return self.sequence == 0 and self.length == 0


def encode_entry_header(sequence: int, payload: bytes, synced_before: bool = False) -> bytes:
    """F2.1: the header written in front of ``payload``; memvid's when
    ``synced_before`` is false (reserved bytes zero), FIXED's mark otherwise.

    pre: 0 <= sequence <= SEQUENCE_MAX
    pre: len(payload) <= PAYLOAD_LEN_MAX
    post: len(__return__) == ENTRY_HEADER_SIZE
    post: decode_entry_header(__return__).synced_before == synced_before
    """
    return (
        sequence.to_bytes(SEQUENCE_SIZE, "little")
        + len(payload).to_bytes(LENGTH_SIZE, "little")
        + (SYNCED_BEFORE_MARK if synced_before else bytes(RESERVED_SIZE))
        + payload_digest(payload)
    )


def encode_entry(sequence: int, payload: bytes, synced_before: bool = False) -> bytes:
    """F2: header then payload, written in one piece at the write head."""
    return encode_entry_header(sequence, payload, synced_before) + payload


def decode_entry_header(raw: bytes) -> EntryHeader:
    """F2.1, read side. ``raw`` must be exactly one header.

    pre: len(raw) == ENTRY_HEADER_SIZE
    post: __return__.sequence <= SEQUENCE_MAX and __return__.length <= PAYLOAD_LEN_MAX
    """
    return EntryHeader(
        sequence=int.from_bytes(raw[0:8], "little"),
        length=int.from_bytes(raw[8:12], "little"),
        reserved=bytes(raw[12:16]),
        digest=bytes(raw[16:48]),
    )


def decode_entry(raw: bytes) -> tuple[int, bytes] | None:
    """F2, F3.4: the record held by ``raw`` (exactly one entry: its header, then
    as many payload bytes as the header's length says), or None when the bytes
    hold no valid record: a zero length, a wrong size, or a payload whose
    digest differs from the header's. The reserved bytes are ignored (F2.1).

    pre: len(raw) >= ENTRY_HEADER_SIZE
    post: __return__ is None or encode_entry(__return__[0], __return__[1]) == raw[:12] + bytes(4) + raw[16:]
    post: __return__ is None or len(__return__[1]) >= 1
    """
    header = decode_entry_header(raw[:ENTRY_HEADER_SIZE])
    payload = raw[ENTRY_HEADER_SIZE:]
    if header.length == 0 or len(payload) != header.length:
        return None
    if payload_digest(payload) != header.digest:
        return None
    return header.sequence, bytes(payload)


def entry_size(payload_len: int) -> int:
    """Bytes a record occupies in the region (F2.2)."""
    return ENTRY_HEADER_SIZE + payload_len
