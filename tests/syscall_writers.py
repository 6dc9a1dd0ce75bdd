"""The reference's writer with one of the two fixes of spec/persistence.md PM12
taken out again, for tests/test_syscall_crashes.py to plant (planted_bug):

    python -m tests.syscall_writers no-directory-sync|growth-one-sync WRITER-ARGS...

``no-directory-sync``: FileStorage creates the file and never syncs its
directory. ``growth-one-sync``: growth writes the header before the one sync,
as memvid does. The reference itself is not touched; this process patches its
own copy of the modules before the writer runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import reference.storage
import walcheck.real.syscalls.writer as writer
from reference.header import Header, write_header
from reference.storage import Storage


def _no_directory_sync(directory: Path) -> None:
    del directory


def _grow_region_one_sync(storage: Storage, header: Header, new_size: int) -> None:
    """memvid's order (NOTES.md "grow"): move, zero, header, one sync. The
    reference's file has nothing after the region, so there is nothing to move."""
    old_end = header.wal_offset + header.wal_size
    growth = new_size - header.wal_size
    storage.write_at(old_end, bytes(growth))
    if header.footer_offset >= old_end:
        header.footer_offset += growth
    header.wal_size = new_size
    write_header(storage, header)
    storage.sync()


PLANTS = {"no-directory-sync": "sync_directory", "growth-one-sync": "grow_region"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in PLANTS:
        print(
            f"usage: python -m tests.syscall_writers {{{','.join(PLANTS)}}} WRITER-ARGS...", file=sys.stderr
        )
        return 2
    if argv[0] == "no-directory-sync":
        reference.storage.sync_directory = _no_directory_sync
    else:
        setattr(writer, "grow_region", _grow_region_one_sync)  # noqa: B010 (the writer's own name)
    return writer.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
