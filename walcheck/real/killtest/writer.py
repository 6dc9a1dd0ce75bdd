"""The writer of the SIGKILL campaign: memvid-like work on a real file, run as
its own process (``python -m walcheck.real.killtest.writer PATH SEED MODE
[FIRST_N]``) until it is killed. It appends, grows the region and commits as
memvid does, and prints one line per event the moment it has happened:

    OPEN <checkpoint sequence> <last sequence> <first n>   the WAL was opened
    ACK <sequence> <n>                                     the record is acknowledged (spec S5.1)
    APPLIED <first> <last>                                 the commit under way returned these records
    COMMIT <sequence>                                      that commit returned; its checkpoint is <sequence>
    GROW <region size>                                     the region grew
    WRAP <sequence>                                        that append went back to position 0

``n`` is the writer's own counter; the record's payload is ``payload_for(n, seed)``.
Within one life ``sequence - n`` is constant (each successful append advances
both by one), so the OPEN line tells the checker which payload every sequence
of that life must carry, acknowledged or not.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import blake3

from reference import (
    CheckpointFailed,
    EmbeddedWal,
    FileStorage,
    Header,
    commit,
    create_mv2,
    grow_region,
    grown_size,
    read_header,
)
from reference.mv2 import MIB, REASONS_THAT_GROW
from reference.wal import ENTRY_HEADER_SIZE
from walcheck.exitcodes import ExitCode

# Small, so that a few appends fill it: new files grow, and files that live long enough wrap.
INITIAL_REGION_SIZE = 4096
# memvid grows up to its tiers; past this the writer commits instead of growing.
GROWTH_CAP = 1 * MIB
PAYLOAD_SIZE_MAX = 1500

MODES = ("sync", "batch")
# Commit after 1..COMMIT_EVERY_MAX appends (or sooner when should_checkpoint says so).
COMMIT_EVERY_MAX = 12
BATCH_SIZE_MAX = 8


def payload_for(n: int, seed: int) -> bytes:
    """The payload of the writer's n-th append (deliberately not
    walcheck.trace.payload_for: its length and bytes are random, as memvid's
    compressed frames are, so a record's leftovers after a wrap look like
    data, not like a pattern): 1..1500 bytes, ``b"<n>:"``
    followed by pseudo-random bytes (so that the leftovers of an overwritten
    record look like memvid's compressed frames, not like zeros), truncated to
    the length."""
    stream = blake3.blake3(f"killtest:{seed}:{n}".encode()).digest(length=8 + PAYLOAD_SIZE_MAX)
    length = 1 + int.from_bytes(stream[:8], "little") % PAYLOAD_SIZE_MAX
    return (f"{n}:".encode() + stream[8:])[:length]


# -- The writer ----------------------------------------------------------------


def _report(line: str) -> None:
    # One write per line: a pipe write of under PIPE_BUF bytes is atomic, so the
    # campaign sees a line whole or not at all, whenever the kill comes.
    os.write(sys.stdout.fileno(), (line + "\n").encode())


class Writer:
    """memvid's side of the WAL: appends that grow the region when it is full,
    and commits."""

    def __init__(self, path: Path, *, first_n: int) -> None:
        creating = not path.exists()
        self.storage = FileStorage(path, create=creating)
        self.header: Header = (
            create_mv2(self.storage, INITIAL_REGION_SIZE) if creating else read_header(self.storage)
        )
        self.wal = EmbeddedWal.open(self.storage, self.header)
        _report(f"OPEN {self.wal.checkpoint_sequence} {self.wal.sequence} {first_n}")

    def append(self, payload: bytes) -> int:
        """``append_entry``, growing the region (S3.11) or, past the cap, committing
        when the WAL refuses for lack of room. Returns the sequence."""
        while True:
            head_before = self.wal.write_head
            try:
                sequence = self.wal.append_entry(payload)
            except CheckpointFailed as refusal:
                if refusal.reason not in REASONS_THAT_GROW:
                    raise
                new_size = grown_size(self.header.wal_size, ENTRY_HEADER_SIZE + len(payload))
                if new_size <= GROWTH_CAP:
                    self._grow(new_size)
                elif self.wal.pending_bytes > 0:
                    self.commit()
                else:
                    raise  # nothing to free: the entry can never fit
            else:
                if head_before > 0 and self.wal.write_head == ENTRY_HEADER_SIZE + len(payload):
                    # From here on the region holds an earlier pass: every append
                    # overwrites old records, the case the recovery rules are for.
                    _report(f"WRAP {sequence}")
                return sequence

    def _grow(self, new_size: int) -> None:
        skip_sync = self.wal.skip_sync
        del self.wal  # memvid drops the WAL before it moves the bytes
        grow_region(self.storage, self.header, new_size)
        self.header = read_header(self.storage)
        self.wal = EmbeddedWal.open(self.storage, self.header)
        # A reopened WAL syncs every append again; a batch in progress must not.
        self.wal.set_skip_sync(skip_sync)
        _report(f"GROW {new_size}")

    def commit(self) -> None:
        applied = [record.sequence for record in commit(self.wal, self.storage, self.header)]
        for first, last in _runs(applied):
            _report(f"APPLIED {first} {last}")
        _report(f"COMMIT {self.wal.checkpoint_sequence}")


def _runs(sequences: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs, as (first, last): one run unless the WAL skipped or repeated one."""
    runs: list[tuple[int, int]] = []
    for sequence in sequences:
        if runs and sequence == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], sequence)
        else:
            runs.append((sequence, sequence))
    return runs


def run_writer(path: Path, seed: int, mode: str, first_n: int = 0) -> NoReturn:
    """Work on the file until killed. Every acknowledgement is reported after
    the record is durable in the sense of S5.1, never before."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    rng = random.Random(f"{seed}:{first_n}")
    writer = Writer(path, first_n=first_n)
    n = first_n
    while True:
        appends_before_commit = rng.randint(1, COMMIT_EVERY_MAX)
        appended = 0
        while appended < appends_before_commit and not writer.wal.should_checkpoint():
            if mode == "sync":
                sequence = writer.append(payload_for(n, seed))
                _report(f"ACK {sequence} {n}")
                n += 1
                appended += 1
            else:
                writer.wal.set_skip_sync(True)
                batch: list[tuple[int, int]] = []
                for _ in range(rng.randint(1, BATCH_SIZE_MAX)):
                    batch.append((writer.append(payload_for(n, seed)), n))
                    n += 1
                writer.wal.flush()
                # Only now, after the flush returned, are the batch's records acknowledged.
                for sequence, batch_n in batch:
                    _report(f"ACK {sequence} {batch_n}")
                writer.wal.set_skip_sync(False)
                appended += len(batch)
        writer.commit()


def main(argv: Sequence[str]) -> ExitCode:
    """The writer process: ``PATH SEED MODE [FIRST_N]``; runs until killed."""
    if len(argv) not in (3, 4) or argv[2] not in MODES:
        print(
            "usage: python -m walcheck.real.killtest.writer PATH SEED sync|batch [FIRST_N]", file=sys.stderr
        )
        return ExitCode.USAGE
    run_writer(Path(argv[0]), int(argv[1]), argv[2], int(argv[3]) if len(argv) == 4 else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
