"""Hypothesis profiles (README "Profiles"). Choose one with HYPOTHESIS_PROFILE."""

import importlib
import importlib.util
import os
import pkgutil

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


def _import_every_project_module() -> None:
    """Hypothesis draws some values from the constants of the local modules
    imported so far (hypothesis.internal.conjecture.providers), so what a
    derandomised hunt generates depended on which modules earlier tests had
    imported: a hunt that found its planted bug alone missed it after other
    tests (issue 10). With every module of the project imported before the
    first test, the constants are the same in any order. Modules needing an
    optional extra that is not installed are left out (the same in every order
    of one environment); ``__main__`` modules would run their command."""
    for package in ("model", "reference", "walcheck"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if module.name.rpartition(".")[2] == "__main__":
                continue
            try:
                importlib.import_module(module.name)
            except ImportError:
                continue


_import_every_project_module()
