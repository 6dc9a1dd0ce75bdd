"""``pytest -k stateful``: the open's refusals, model and reference side by side.

walcheck/sidebyside/damaged_files.py's rules (spec/format.md F1.3, spec/semantics.md
S3.2: a damaged header, a file shorter than its region) on the small-region
machines: FIXED, and ORIGINAL past its defects (tests/test_stateful_power.py's
``StatefulOriginalBytesAgree``: results, state and bytes compared, the
guarantees not). Each rule opens a copy of the machine's file.
"""

from __future__ import annotations

import dataclasses

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize

import model as m
from tests.test_stateful_power import StatefulOriginalBytesAgree
from walcheck.sidebyside.damaged_files import DamagedFileRules
from walcheck.sidebyside.machines import build_machine, small_region_config

# Few examples: each rule is one open of a small copy, and what they reach
# (each field, each cut of a log) is reached in the first few dozen steps.
EXAMPLES = 20


class StatefulDamagedFileFixed(
    DamagedFileRules,
    build_machine(  # type: ignore[misc]
        dataclasses.replace(
            small_region_config(m.Design.FIXED, "StatefulDamagedFileFixed"),
            caller_layer=False,
            growth_limit=400,
        )
    ),
):
    pass


class StatefulDamagedFileOriginal(DamagedFileRules, StatefulOriginalBytesAgree):  # type: ignore[misc]
    # From sequence 0 and regions of two entries or more: logs memvid can open,
    # so that a cut falls inside records rather than after an early defect.
    @initialize(region_size=st.integers(150, 400), initial_sequence=st.just(0))
    def create(self, region_size: int, initial_sequence: int) -> None:
        self._create(region_size, initial_sequence)


TestStatefulDamagedFileFixed = StatefulDamagedFileFixed.TestCase
TestStatefulDamagedFileOriginal = StatefulDamagedFileOriginal.TestCase
TestStatefulDamagedFileFixed.settings = settings(
    settings(), max_examples=min(settings().max_examples, EXAMPLES)
)
TestStatefulDamagedFileOriginal.settings = settings(
    settings(), max_examples=min(settings().max_examples, EXAMPLES)
)
