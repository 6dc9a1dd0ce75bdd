"""model.wal.record_checkpoint with one planted bug: it keeps the pending
bytes. CrossHair must find a state where the postcondition fails: a contract
on a transition function over the plain validity predicate ``valid``."""

from __future__ import annotations

from dataclasses import replace

# The contract's names are used only in the docstring, where CrossHair reads them.
from model.wal import (  # noqa: F401
    REASON_READ_ONLY,
    ErrorKind,
    Outcome,
    State,
    WalError,
    _maybe_write_sentinel,
    _open,
    valid,
)


def record_checkpoint(state: State) -> Outcome[None]:
    """
    pre: state.wal is not None and valid(state)
    post: valid(__return__[0])
    post: isinstance(__return__[1], WalError) or __return__[0].wal.pending_bytes == 0
    """
    # model.wal.record_checkpoint's body, restated on purpose with the bug planted
    # (pending_bytes kept): CrossHair proves functions, so the mutant must be one.
    wal = _open(state)
    if wal.read_only:
        return state, WalError(ErrorKind.LOCK, REASON_READ_ONLY)
    checkpoint_head = wal.write_head % wal.region_size
    wal = replace(
        wal,
        checkpoint_head=checkpoint_head,
        appends_since_checkpoint=0,
        checkpoint_sequence=wal.sequence,
    )
    caller_header = replace(
        state.caller_header, wal_checkpoint_pos=checkpoint_head, wal_sequence=wal.sequence
    )
    state = replace(state, wal=wal, caller_header=caller_header)
    return _maybe_write_sentinel(state), None
