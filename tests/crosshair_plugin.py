"""A CrossHair plugin: blake3 for symbolic bytes.

blake3's C extension rejects CrossHair's symbolic bytes, so every path through
``model.digest.payload_digest`` would be dropped and a check would pass having
checked nothing. This patch replaces the digest, under analysis only, with a
pure-Python function of the payload that CrossHair can follow: it keeps the
property the contracts rely on (a function of the payload, 32 bytes long) and
none of blake3's cryptography. Use it with ``crosshair check --extra_plugin
tests/crosshair_plugin.py``.
"""

from __future__ import annotations

from crosshair import register_patch

import model.digest


def _symbolic_digest(payload: bytes) -> bytes:
    length = len(payload)
    folded = [length & 0xFF] * 32
    for index in range(length):
        folded[index % 32] = (folded[index % 32] * 31 + payload[index] + 1) & 0xFF
    return bytes(folded)


register_patch(model.digest.payload_digest, _symbolic_digest)
