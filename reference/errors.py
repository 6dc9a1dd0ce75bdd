"""The error kinds of memvid's WAL (spec S4). Each carries memvid's reason string."""

from __future__ import annotations


class WalError(Exception):
    """Base of every error the reference raises on purpose.

    ``kind`` names memvid's ``MemvidError`` variant; ``str()`` is memvid's
    Display text for it, so messages read the same in both.
    """

    kind: str = "WalError"
    display = "{reason}"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.display.format(reason=self.reason)


# One class per MemvidError variant, alike on purpose: each names its kind and
# memvid's Display text, so that errors compare with memvid's (and the model's) by kind.
class InvalidHeader(WalError):
    kind = "InvalidHeader"
    display = "Header validation failed: {reason}"


class LockError(WalError):
    kind = "Lock"
    display = "Lock acquisition failed: {reason}"


class CheckpointFailed(WalError):
    kind = "CheckpointFailed"
    display = "Unable to checkpoint embedded WAL: {reason}"


class WalIoError(WalError):
    """An I/O failure from the storage (memvid's ``MemvidError::Io``)."""

    kind = "Io"
    display = "I/O error: {reason}"


class WalCorruption(WalError):
    kind = "WalCorruption"

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset

    def __str__(self) -> str:
        return f"Embedded WAL is corrupted at offset {self.offset}: {self.reason}"
