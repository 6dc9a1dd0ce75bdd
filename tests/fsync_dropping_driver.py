"""A port that forgets one fsync, for tests/test_conform_recorded.py (planted_bug):
the reference's driver (reference/driver.py, unchanged) in a process whose
``FileStorage.sync`` returns without syncing on its second call, so that
one acknowledged append is not durable until the next one syncs.

    python -m tests.fsync_dropping_driver [--design original]
"""

from __future__ import annotations

import sys

from reference import driver
from reference.storage import FileStorage

SKIPPED_SYNC = 2
_real_sync = FileStorage.sync
_calls = 0


def _sync_skipping_one(self: FileStorage) -> None:
    global _calls
    _calls += 1
    if _calls == SKIPPED_SYNC:
        return  # the planted bug: acknowledged, not durable
    _real_sync(self)


if __name__ == "__main__":
    FileStorage.sync = _sync_skipping_one  # type: ignore[method-assign]
    sys.exit(driver.main(sys.argv[1:]))
