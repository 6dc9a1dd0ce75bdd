"""Hypothesis profiles (README "Profiles"). Choose one with HYPOTHESIS_PROFILE."""

import importlib.util
import os

from hypothesis import HealthCheck, settings

# The figures table at the end of every run (walcheck/figures.py).
pytest_plugins = ["tests.figures_plugin", "tests.ci_plugin"]

# deadline off: examples do file I/O and fsync, whose time varies with the machine.
_base = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("default", _base, max_examples=200, stateful_step_count=40)
settings.register_profile("ci", _base, max_examples=200, stateful_step_count=40, derandomize=True)
settings.register_profile("thorough", _base, max_examples=3000, stateful_step_count=100)
# The CrossHair backend (hypothesis-crosshair) for the tests marked
# crosshair_backend: symbolic inputs instead of random ones, a few per second.
# Registered only when hypothesis-crosshair is installed, so pytest starts without it.
if importlib.util.find_spec("hypothesis_crosshair_provider") is not None:
    settings.register_profile("crosshair", _base, backend="crosshair", max_examples=60, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
