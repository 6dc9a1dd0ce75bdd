"""``pytest -k stateful``, with reads and size queries that fail (spec/faults.md,
"The fault model", "Read and size errors"): FIXED and ORIGINAL answer ``Io``
with the OS's message, write nothing, lose nothing, and go on; and ORIGINAL
carries on after a failed write (R6), where FIXED refuses."""

from __future__ import annotations

import dataclasses

from hypothesis import settings

import model as m
from walcheck.sidebyside.crash_machines import crash_config, original_crash_config
from walcheck.sidebyside.read_faults import build_read_fault_machine

StatefulReadFaultsFixed = build_read_fault_machine(
    dataclasses.replace(crash_config(m.Design.FIXED, "StatefulReadFaultsFixed"), caller_layer=False)
)
StatefulReadFaultsOriginal = build_read_fault_machine(original_crash_config("StatefulReadFaultsOriginal"))

TestStatefulReadFaultsFixed = StatefulReadFaultsFixed.TestCase
TestStatefulReadFaultsOriginal = StatefulReadFaultsOriginal.TestCase
# A few seconds each on the mutation profile: the faults are one rule in ten.
TestStatefulReadFaultsFixed.settings = settings(settings(), max_examples=min(settings().max_examples, 40))
TestStatefulReadFaultsOriginal.settings = settings(settings(), max_examples=min(settings().max_examples, 40))
