"""``pytest -k stateful``: the reference and the FIXED model side by side (spec S6)."""

from walcheck.sidebyside.machines import StatefulMemvidSizesFixed, StatefulSmallRegionFixed

TestStatefulSmallRegionFixed = StatefulSmallRegionFixed.TestCase
TestStatefulMemvidSizesFixed = StatefulMemvidSizesFixed.TestCase
