"""A pytest plugin (``-p walcheck.mutation.pytest_profile``) that registers the
``mutation`` Hypothesis profile before tests/conftest.py loads the profile
named by ``HYPOTHESIS_PROFILE``, and runs the killer's tests cheapest first.

The killer of ``walcheck mutate`` runs ``pytest -x -k stateful`` once per
mutant; this profile makes that run short and deterministic (derandomised, no
example database), so a mutant's verdict does not depend on the run or on what
an earlier mutant's run saved.

The order: with ``-x`` the first failing test ends a killed mutant's run, so
the FIXED side-by-side machines (seconds each, and between them they kill
almost every mutant) run first; then the ORIGINAL hunts that finish in
seconds, the planted-bug tests, and last the FIXED runs of the hunts' shapes
and the slow ORIGINAL hunts (tens of seconds each: 90% of the unmutated
killer's time, measured with ``--durations``). Nothing is deselected: every
test still runs for a mutant that survives the ones before it, since an
ORIGINAL hunt can kill a mutant of shared code (placement, region, header)
that no FIXED machine notices. The order changes only how soon a mutant dies.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

PROFILE = "mutation"
EXAMPLES = 60
STEPS = 30

settings.register_profile(
    PROFILE,
    deadline=None,
    database=None,
    derandomize=True,
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    # No shrinking: a mutant's verdict is that a test failed, not the failure's
    # shortest trace, and shrinking a failure of the machines on large regions
    # took minutes (four, for a mutant of model/crash.py's sector span). The
    # hunts shrink under their own settings (hunts.hunt_settings), so the tests
    # that hold a hunt's trace length still see shrunk traces.
    phases=[Phase.explicit, Phase.generate, Phase.target],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Test ids (or the start of one) in the order the killer runs them; a test
# matching none runs after all of these, in pytest's order. Seconds are the
# unmutated run's on the mutation profile (2026-12-01, load about 2).
KILLER_ORDER = (
    "tests/test_stateful.py::TestStatefulSmallRegionFixed",  # 4 s
    "tests/test_stateful_crash.py::TestStatefulCrashFixed",  # 4 s
    "tests/test_stateful_crash.py::TestStatefulCrashPagesFixed",  # 6 s
    "tests/test_stateful_crash.py::TestStatefulCrashInsideGrowthOriginal",  # 4 s
    "tests/test_stateful_crash.py::TestStatefulOriginalPredictedCrashes",  # 1.4 s
    "tests/test_stateful_files.py::",  # the caller layer on real directories
    "tests/test_stateful_storage.py::",  # the storage interface alone, injected faults: 5 s
    "tests/test_stateful_power.py::TestStatefulThousandAppendsFixed",  # 1.5 s
    "tests/test_stateful_power.py::test_stateful_rescan_that_moves_the_head_claims_no_sync",  # 0.5 s
    "tests/test_stateful_power.py::test_stateful_payload_length_limit",  # 0.3 s
    "tests/test_stateful_power.py::test_stateful_valid_at_the_last_sequence",  # 0.01 s
    "tests/test_stateful_scan_reads.py::",  # 0.2 s
    "tests/test_stateful_io.py::",  # read and size errors, both designs: 1.3 s
    "tests/test_stateful_power.py::TestStatefulHeaderAheadFixed",  # 6 s
    "tests/test_stateful_power.py::TestStatefulOriginalBytesAgree",  # 4 s
    "tests/test_stateful_power.py::TestStatefulDoctorOnAFullRegionFixed",  # 1.6 s
    "tests/test_stateful_damage.py::",  # the open's refusals, FIXED and ORIGINAL: 3 s each
    "tests/test_stateful.py::TestStatefulMemvidSizesFixed",  # 8 s
    "tests/test_stateful_power.py::test_stateful_check_with_a_seed_repeats_its_figures",  # 1 s
    "tests/test_defects.py::test_stateful_hunt_finds_original_defect[D2]",  # 0.5 s
    "tests/test_defects.py::test_stateful_hunt_finds_original_defect[D3]",  # 0.4 s
    "tests/test_defects.py::test_stateful_hunt_finds_original_defect[D4]",  # 1.5 s
    "tests/test_stateful_crash.py::test_stateful_crash_hunt_finds_original_defect[C1]",  # 2 s
    "tests/test_defects.py::test_stateful_hunt_finds_original_defect[D1]",  # 5.5 s
    "tests/test_stateful_crash.py::test_stateful_crash_hunt_finds_original_defect[C2]",  # 5.6 s
    "tests/test_suite_can_fail.py::",  # planted bugs, 2-4.5 s each
    "tests/test_stateful_power.py::test_stateful_c4_hunt_finds_nothing_on_fixed",  # 12 s
    "tests/test_defects.py::test_stateful_same_hunt_finds_nothing_on_fixed",  # 18-29 s each
    "tests/test_stateful_crash.py::test_stateful_crash_same_hunt_finds_nothing_on_fixed",  # 36 s
    "tests/test_stateful_crash.py::test_stateful_crash_hunt_finds_original_defect",  # C3, C4: 23 s each
)


def killer_rank(nodeid: str) -> int:
    """Where ``nodeid`` runs in the killer: the first entry of KILLER_ORDER it starts with."""
    for rank, prefix in enumerate(KILLER_ORDER):
        if nodeid.startswith(prefix):
            return rank
    return len(KILLER_ORDER)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # sort is stable: tests of one rank keep pytest's order.
    items.sort(key=lambda item: killer_rank(item.nodeid))
