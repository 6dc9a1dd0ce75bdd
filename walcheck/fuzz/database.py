"""The example database a campaign's workers share: a directory, or Redis."""

from __future__ import annotations

import os
from collections.abc import Iterable

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

# Read by walcheck/fuzz/pytest_profile.py in the processes HypoFuzz starts.
REDIS_URL_VARIABLE = "WALCHECK_REDIS_URL"
DIRECTORY_VARIABLE = "WALCHECK_EXAMPLES"
DEFAULT_DIRECTORY = ".hypothesis/walcheck-campaign"


def shared_database(redis_url: str | None = None, directory: str | None = None) -> ExampleDatabase:
    """Redis at ``redis_url`` (or $WALCHECK_REDIS_URL), else a directory."""
    url = redis_url or os.environ.get(REDIS_URL_VARIABLE)
    if url:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        return RedisExampleDatabase(redis.Redis.from_url(url))
    return DirectoryBasedExampleDatabase(directory or os.environ.get(DIRECTORY_VARIABLE, DEFAULT_DIRECTORY))


class KeyedDatabase(ExampleDatabase):
    """``database`` with every key prefixed by ``name``.

    Hypothesis keys a stateful test by the digest of its machine class's
    source, and every machine ``build_machine`` makes has the same source:
    without a prefix each machine would replay the others' examples."""

    def __init__(self, database: ExampleDatabase, name: str) -> None:
        super().__init__()
        self.database = database
        self.prefix = name.encode() + b":"

    def save(self, key: bytes, value: bytes) -> None:
        self.database.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.database.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.database.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.database.move(self.prefix + src, self.prefix + dest, value)
