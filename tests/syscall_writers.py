"""The reference's writer with the fix of spec/persistence.md PM12 taken out
again, for tests/test_syscall_crashes.py to plant (planted_bug):

    python -m tests.syscall_writers no-directory-sync WRITER-ARGS...

FileStorage creates the file and never syncs its directory. The reference
itself is not touched; this process patches its own copy of the module before
the writer runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import reference.storage
import walcheck.real.syscalls.writer as writer


def _no_directory_sync(directory: Path) -> None:
    del directory


PLANTS = ("no-directory-sync",)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in PLANTS:
        print(
            f"usage: python -m tests.syscall_writers {{{','.join(PLANTS)}}} WRITER-ARGS...", file=sys.stderr
        )
        return 2
    reference.storage.sync_directory = _no_directory_sync
    return writer.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
