"""A pytest plugin (``-p walcheck.mutation.pytest_profile``) that registers the
``mutation`` Hypothesis profile before tests/conftest.py loads the profile
named by ``HYPOTHESIS_PROFILE``.

The killer of ``walcheck mutate`` runs ``pytest -k stateful`` once per mutant;
this profile makes that run short and deterministic (derandomised, no example
database), so a mutant's verdict does not depend on the run or on what an
earlier mutant's run saved.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

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
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
