"""``pytest -k stateful``: the storage interface on its own (spec/semantics.md
S1.4 items 1-5, S9.7 items 1-3, locking.md L1): FileStorage and MemoryStorage
against a model of a file, FileDirectory against a model of its directory,
with short pwrites, failed directory syncs, refused flocks, paths renamed over
mid-open and taken temporary names injected (walcheck/sidebyside/storage_machines.py,
spec/mutants.md M13.1)."""

from walcheck.sidebyside.storage_machines import StatefulDirectory, StatefulStorage

TestStatefulStorage = StatefulStorage.TestCase
TestStatefulDirectory = StatefulDirectory.TestCase
