"""The reference's own writer on ``FileStorage``, for the recorder (issue 11).

    python -m walcheck.real.syscalls.writer PATH [--design fixed|original]
        [--mode sync|batch] [--appends N] [--seed S] [--region BYTES] [--cap BYTES]
        [--api in-place|caller]

creates an MV2 file with the reference, appends ``N`` pseudo-random payloads
(synced one by one, or in batches with ``set_skip_sync`` and ``flush``), grows
the region when an append is refused for room (up to ``--cap``, then commits
instead), and commits every few appends, all through the reference's public
API (``create_mv2``, ``EmbeddedWal``, ``commit``, ``grow_region``), so that a
change to how the reference commits or grows is what gets recorded.

With ``--api caller`` it drives memvid's caller layer instead
(``reference.caller.Memory`` on a ``FileDirectory``: ``put``, ``begin_batch`` /
``end_batch``, the staged ``commit`` that copies the file, syncs, renames it
over the path and syncs the directory, and growth, staged too in FIXED), and a
commit is reported as ``note committed``: applied records live on in the
frame store, so the reader returns frames and pending records together and
every acknowledged record must be among them.

It reports what it was told on the descriptor in ``WALCHECK_ACK_FD`` (stdout
without it), one line per event, the moment it happened, so the trace orders
every report against the file calls:

    created                            create_mv2 returned (the file is complete)
    begin <hex payload>                an append is about to start
    append <sequence> synced|unsynced  it returned (synced: acknowledged, S5.1)
    flush                              flush returned: every append so far is acknowledged
    commit <sequence,...>              a commit returned, having applied these records
    grow <region size>                 the region grew (informational)
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence

from reference import (
    CheckpointFailed,
    Design,
    EmbeddedWal,
    FileStorage,
    commit,
    create_mv2,
    grow_region,
    grown_size,
    read_header,
)
from reference.caller import Memory
from reference.mv2 import REASONS_THAT_GROW
from reference.storage import FileDirectory
from reference.wal import ENTRY_HEADER_SIZE
from walcheck.real.syscalls.recorder import Reporter
from walcheck.trace import random_payload

PAYLOAD_SIZE_MAX = 700
COMMIT_EVERY_MAX = 6
BATCH_SIZE_MAX = 5


def payload(rng: random.Random, n: int) -> bytes:
    """The n-th append's payload: 1 to PAYLOAD_SIZE_MAX bytes, ``n:`` then random ones."""
    return random_payload(rng, n, rng.randint(1, PAYLOAD_SIZE_MAX))


def _work(
    rng: random.Random,
    report: Reporter,
    mode: str,
    appends: int,
    append: Callable[[bytes], int],
    begin_batch: Callable[[], object],
    end_batch: Callable[[], None],
    commit: Callable[[], None],
) -> None:
    """The writer's work, the same through the WAL and through the caller layer:
    groups of up to COMMIT_EVERY_MAX appends (batches of up to BATCH_SIZE_MAX in
    batch mode, each ended by a flush), each group followed by a commit; every
    payload reported before its append, every sequence after it."""
    n = 0
    while n < appends:
        for _ in range(rng.randint(1, COMMIT_EVERY_MAX)):
            if n >= appends:
                break
            if mode == "sync":
                data = payload(rng, n)
                report(f"begin {data.hex()}")
                report(f"append {append(data)} synced")
                n += 1
            else:
                begin_batch()
                for _ in range(min(rng.randint(1, BATCH_SIZE_MAX), appends - n)):
                    data = payload(rng, n)
                    report(f"begin {data.hex()}")
                    report(f"append {append(data)} unsynced")
                    n += 1
                end_batch()
                report("flush")
        commit()


def run(path: str, *, design: Design, mode: str, appends: int, seed: int, region: int, cap: int) -> None:
    report = Reporter()
    rng = random.Random(seed)
    storage = FileStorage(path, create=True)
    header = create_mv2(storage, region)
    report("created")
    wal = EmbeddedWal.open(storage, header, design=design)

    def append(data: bytes) -> int:
        nonlocal wal, header
        while True:
            try:
                return wal.append_entry(data)
            except CheckpointFailed as refusal:
                if refusal.reason not in REASONS_THAT_GROW:
                    raise
                new_size = grown_size(header.wal_size, ENTRY_HEADER_SIZE + len(data))
                if new_size <= cap:
                    skip_sync = wal.skip_sync
                    del wal  # memvid drops the WAL before it moves the bytes
                    # ORIGINAL grows in memvid's order, one sync (M4); FIXED syncs first (PM12).
                    grow_region(storage, header, new_size, memvid_order=design is Design.ORIGINAL)
                    header = read_header(storage)
                    wal = EmbeddedWal.open(storage, header, design=design)
                    wal.set_skip_sync(skip_sync)
                    report(f"grow {new_size}")
                elif wal.pending_bytes > 0:
                    do_commit()
                else:
                    raise

    def do_commit() -> None:
        applied = commit(wal, storage, header)
        report("commit " + ",".join(str(record.sequence) for record in applied))

    def end_batch() -> None:
        wal.flush()
        wal.set_skip_sync(False)  # a flag: no call between the flush and its report

    _work(rng, report, mode, appends, append, lambda: wal.set_skip_sync(True), end_batch, do_commit)
    storage.close()


def run_caller(path: str, *, design: Design, mode: str, appends: int, seed: int, region: int) -> None:
    """The same work through memvid's caller layer (reference.caller.Memory)."""
    report = Reporter()
    rng = random.Random(seed)
    memory = Memory.create(FileDirectory(path, lock=True), design=design, wal_size=region)
    report("created")

    def put(data: bytes) -> int:
        size = memory.header.wal_size
        sequence = memory.put(data)
        if memory.header.wal_size != size:
            report(f"grow {memory.header.wal_size}")
        return sequence

    def commit() -> None:
        memory.commit()
        report("note committed")

    _work(rng, report, mode, appends, put, memory.begin_batch, memory.end_batch, commit)
    memory.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walcheck.real.syscalls.writer", description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--design", choices=[d.value for d in Design], default=Design.FIXED.value)
    parser.add_argument("--mode", choices=("sync", "batch"), default="sync")
    parser.add_argument("--appends", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--region", type=int, default=4096)
    parser.add_argument("--cap", type=int, default=16384)
    parser.add_argument("--api", choices=("in-place", "caller"), default="in-place")
    args = parser.parse_args(argv)
    work = dict(design=Design(args.design), mode=args.mode, appends=args.appends, seed=args.seed)
    if args.api == "caller":
        run_caller(args.path, region=args.region, **work)
    else:
        run(args.path, region=args.region, cap=args.cap, **work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
