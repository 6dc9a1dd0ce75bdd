"""The 4096-byte MV2 header: encode and decode exactly as memvid does (spec/format.md F1).

Validation order and reason strings follow memvid's ``HeaderCodec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reference.errors import InvalidHeader, WalIoError
from reference.storage import Storage

MAGIC = b"MV2\x00"
SPEC_MAJOR = 2
SPEC_MINOR = 1
VERSION = (SPEC_MAJOR << 8) | SPEC_MINOR  # 0x0201
HEADER_SIZE = 4096
WAL_OFFSET = HEADER_SIZE

# F1.1: magic, version, spec_major, spec_minor, footer_offset, wal_offset,
# wal_size, wal_checkpoint_pos, wal_sequence, toc_checksum. Little-endian.
FIELDS_SIZE = 4 + 2 + 1 + 1 + 8 * 5 + 32
assert FIELDS_SIZE == 80
# F1.2: bytes 80..140 held lock data in older files; memvid clears them on read.
LEGACY_LOCK_START = 80
LEGACY_LOCK_END = LEGACY_LOCK_START + 60

REASON_MAGIC = "magic mismatch"
REASON_VERSION = "unsupported version"
REASON_SPEC_BYTES = "spec byte mismatch"
REASON_WAL_OFFSET = "wal_offset precedes data region"
REASON_WAL_SIZE = "wal_size must be non-zero"
REASON_TRUNCATED = "header truncated"


@dataclass(slots=True)
class Header:
    """memvid's ``Header``: mutable, because ``record_checkpoint`` writes into it."""

    wal_size: int
    footer_offset: int = 0
    wal_offset: int = WAL_OFFSET
    wal_checkpoint_pos: int = 0
    wal_sequence: int = 0
    toc_checksum: bytes = field(default=bytes(32))
    magic: bytes = MAGIC
    version: int = VERSION

    def copy(self) -> Header:
        return replace(self)


def encode_header(header: Header) -> bytes:
    """F1: the 4096 bytes memvid writes. Validates as memvid's encoder does;
    the spec bytes come from the constants, everything past byte 80 is zero.

    pre: len(header.toc_checksum) == 32 and len(header.magic) == 4
    pre: 0 <= header.version < 2**16
    pre: 0 <= header.footer_offset < 2**64 and 0 <= header.wal_offset < 2**64
    pre: 0 <= header.wal_size < 2**64 and 0 <= header.wal_checkpoint_pos < 2**64
    pre: 0 <= header.wal_sequence < 2**64
    raises: InvalidHeader
    post: len(__return__) == HEADER_SIZE and __return__[80:] == bytes(HEADER_SIZE - 80)
    post: decode_header(__return__) == header
    """
    if header.magic != MAGIC:
        raise InvalidHeader(REASON_MAGIC)
    if header.version != VERSION:
        raise InvalidHeader(REASON_VERSION)
    if header.wal_offset < WAL_OFFSET:
        raise InvalidHeader(REASON_WAL_OFFSET)
    if header.wal_size == 0:
        raise InvalidHeader(REASON_WAL_SIZE)
    fixed = b"".join(
        (
            header.magic,
            header.version.to_bytes(2, "little"),
            bytes((SPEC_MAJOR, SPEC_MINOR)),
            header.footer_offset.to_bytes(8, "little"),
            header.wal_offset.to_bytes(8, "little"),
            header.wal_size.to_bytes(8, "little"),
            header.wal_checkpoint_pos.to_bytes(8, "little"),
            header.wal_sequence.to_bytes(8, "little"),
            header.toc_checksum,
        )
    )
    return fixed + bytes(HEADER_SIZE - len(fixed))


def decode_header(raw: bytes) -> Header:
    """F1, read side, checks in memvid's order. Bytes past 80 are not looked at.

    pre: len(raw) == HEADER_SIZE
    raises: InvalidHeader
    post: encode_header(__return__)[:80] == raw[:80]
    post: __return__.wal_size > 0 and __return__.wal_offset >= WAL_OFFSET
    """
    if len(raw) < HEADER_SIZE:
        raise InvalidHeader(REASON_TRUNCATED)
    magic = bytes(raw[0:4])
    version = int.from_bytes(raw[4:6], "little")
    spec_major, spec_minor = raw[6], raw[7]
    footer, wal_offset, wal_size, cp_pos, wal_seq = (
        int.from_bytes(raw[start : start + 8], "little") for start in range(8, 48, 8)
    )
    toc = bytes(raw[48:80])
    if magic != MAGIC:
        raise InvalidHeader(REASON_MAGIC)
    if version != VERSION:
        raise InvalidHeader(REASON_VERSION)
    if spec_major != SPEC_MAJOR or spec_minor != SPEC_MINOR:
        raise InvalidHeader(REASON_SPEC_BYTES)
    if wal_offset < WAL_OFFSET:
        raise InvalidHeader(REASON_WAL_OFFSET)
    if wal_size == 0:
        raise InvalidHeader(REASON_WAL_SIZE)
    return Header(
        wal_size=wal_size,
        footer_offset=footer,
        wal_offset=wal_offset,
        wal_checkpoint_pos=cp_pos,
        wal_sequence=wal_seq,
        toc_checksum=toc,
        magic=magic,
        version=version,
    )


def read_header(storage: Storage, *, clear_legacy_lock: bool = True) -> Header:
    """memvid's ``HeaderCodec::read``: read 4096 bytes at 0; if bytes 80..140 are
    not all zero, zero them and write the header back (no sync); then decode.
    Pass ``clear_legacy_lock=False`` for a read that must not write. F1.2: an
    ``OSError`` from the read or the write (storage opened read-only: EBADF) is
    a ``WalIoError``, as memvid's is a ``MemvidError::Io``."""
    try:
        raw = storage.read_at(0, HEADER_SIZE)
    except OSError as error:
        raise WalIoError(str(error)) from error
    if len(raw) < HEADER_SIZE:
        # memvid's read_exact fails with this io::Error text before decoding.
        raise WalIoError("failed to fill whole buffer")
    if clear_legacy_lock and any(raw[LEGACY_LOCK_START:LEGACY_LOCK_END]):
        cleared = bytearray(raw)
        cleared[LEGACY_LOCK_START:LEGACY_LOCK_END] = bytes(LEGACY_LOCK_END - LEGACY_LOCK_START)
        raw = bytes(cleared)
        try:
            storage.write_at(0, raw)
        except OSError as error:
            raise WalIoError(str(error)) from error
    return decode_header(raw)


def write_header(storage: Storage, header: Header) -> None:
    """memvid's ``HeaderCodec::write``: the encoded header at offset 0 (no sync)."""
    storage.write_at(0, encode_header(header))
