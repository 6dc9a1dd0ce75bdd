"""Byte-compatible reference implementation of memvid's embedded WAL.

Standalone: depends on blake3 only, never on the model or the test harness.
"""

from reference.errors import (
    CheckpointFailed,
    InvalidHeader,
    LockError,
    WalCorruption,
    WalError,
    WalIoError,
)
from reference.header import Header, decode_header, encode_header, read_header, write_header
from reference.mv2 import commit, create_mv2, grow_region, grown_size
from reference.storage import FileStorage, MemoryStorage, Storage
from reference.wal import (
    Design,
    EmbeddedWal,
    Recovery,
    WalRecord,
    WalStats,
    encode_entry,
    scan_region,
)

__all__ = [
    "CheckpointFailed",
    "Design",
    "EmbeddedWal",
    "FileStorage",
    "Header",
    "InvalidHeader",
    "LockError",
    "MemoryStorage",
    "Recovery",
    "Storage",
    "WalCorruption",
    "WalError",
    "WalIoError",
    "WalRecord",
    "WalStats",
    "commit",
    "create_mv2",
    "decode_header",
    "encode_entry",
    "encode_header",
    "grow_region",
    "grown_size",
    "read_header",
    "scan_region",
    "write_header",
]
