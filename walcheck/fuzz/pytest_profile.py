"""A pytest plugin (``-p walcheck.fuzz.pytest_profile``) registering the ``fuzz``
Hypothesis profile before tests/conftest.py loads ``HYPOTHESIS_PROFILE``: not
derandomised (HypoFuzz skips derandomised tests), and the campaign's shared
example database (walcheck/fuzz/database.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

from walcheck.fuzz.database import shared_database

PROFILE = "fuzz"
REPLAY_PROFILE = "fuzz-replay"

settings.register_profile(
    PROFILE,
    deadline=None,
    derandomize=False,
    database=shared_database(),
    max_examples=1000,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# After a campaign: replay what the database holds, generate nothing.
settings.register_profile(REPLAY_PROFILE, settings.get_profile(PROFILE), phases=[Phase.reuse])
