"""model.format.decode_entry with its checksum comparison left out. The bug is
behind the blake3 wrapper: CrossHair finds it only when the plugin
(tests/crosshair_plugin.py) lets it follow ``payload_digest``."""

from __future__ import annotations

# The contract's names are used only in the docstring, where CrossHair reads them.
from model.format import (  # noqa: F401
    ENTRY_HEADER_SIZE,
    decode_entry_header,
    encode_entry,
)


def decode_entry(raw: bytes) -> tuple[int, bytes] | None:
    """
    pre: len(raw) >= ENTRY_HEADER_SIZE
    post: __return__ is None or encode_entry(__return__[0], __return__[1]) == raw[:12] + bytes(4) + raw[16:]
    """
    header = decode_entry_header(raw[:ENTRY_HEADER_SIZE])
    payload = raw[ENTRY_HEADER_SIZE:]
    if header.length == 0 or len(payload) != header.length:
        return None
    return header.sequence, bytes(payload)
