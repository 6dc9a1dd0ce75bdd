"""The one place the model computes a payload checksum (spec F2.4).

Every blake3 call in the model goes through ``payload_digest`` so that symbolic
checkers, which cannot see inside the C extension, can patch this single
function.
"""

from __future__ import annotations

import blake3

DIGEST_SIZE = 32


def payload_digest(payload: bytes) -> bytes:
    """Return the 32-byte blake3-256 digest of ``payload``."""
    return blake3.blake3(payload).digest()
