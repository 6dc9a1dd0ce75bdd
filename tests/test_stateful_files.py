"""``pytest -k stateful``: memvid's caller layer on a real directory, both
designs, with and without memvid's locks, the frame store applied
(walcheck/sidebyside/file_machines.py; spec/semantics.md S9, spec/mutants.md M2)."""

from hypothesis import settings

from walcheck.sidebyside.file_machines import (
    StatefulFilesFixed,
    StatefulFilesFixedLocked,
    StatefulFilesOriginal,
    StatefulFilesOriginalLocked,
)

TestStatefulFilesFixed = StatefulFilesFixed.TestCase
TestStatefulFilesFixedLocked = StatefulFilesFixedLocked.TestCase
TestStatefulFilesOriginal = StatefulFilesOriginal.TestCase
TestStatefulFilesOriginalLocked = StatefulFilesOriginalLocked.TestCase

# Four machines of a few files each: at most 80 examples whatever the profile (CI's time).
for _case in (
    TestStatefulFilesFixed,
    TestStatefulFilesFixedLocked,
    TestStatefulFilesOriginal,
    TestStatefulFilesOriginalLocked,
):
    _case.settings = settings(settings(), max_examples=min(settings().max_examples, 80))
del _case  # a TestCase bound to a module name would be collected a fifth time
