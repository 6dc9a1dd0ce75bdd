"""model.format.decode_entry_header reading the length one byte off. CrossHair
must find that decode no longer inverts encode."""

from __future__ import annotations

from model.format import ENTRY_HEADER_SIZE, SEQUENCE_MAX, EntryHeader, encode_entry_header  # noqa: F401


def decode_entry_header(raw: bytes) -> EntryHeader:
    """
    pre: len(raw) == ENTRY_HEADER_SIZE
    post: __return__.sequence <= SEQUENCE_MAX and __return__.length <= 2**32 - 1
    """
    return EntryHeader(
        sequence=int.from_bytes(raw[0:8], "little"),
        length=int.from_bytes(raw[9:13], "little"),
        reserved=bytes(raw[12:16]),
        digest=bytes(raw[16:48]),
    )


def round_trip(sequence: int, payload: bytes) -> int:
    """
    pre: 0 <= sequence <= SEQUENCE_MAX
    pre: len(payload) <= 64
    post: __return__ == len(payload)
    """
    return decode_entry_header(encode_entry_header(sequence, payload)).length
