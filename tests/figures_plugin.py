"""Prints the suite's figures (walcheck/figures.py) at the end of every pytest run.

Loaded by tests/conftest.py. A test marked ``planted_bug`` plants a bug on
purpose; what it counts goes to a registry of its own, so that the FIXED
design's failure counts are FIXED's alone.

Under pytest-xdist (``-n N``) every worker counts into its own registries;
each hands them to the controller when it finishes (xdist's ``workeroutput``),
and the controller prints the sum, so the table covers the whole run.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from walcheck import figures


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "planted_bug: the test plants a bug; its failures are not counted as the design's"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    registry = figures.PLANTED if item.get_closest_marker("planted_bug") else figures.RUN
    with figures.counting_into(registry):
        return (yield)


_WORKER_OUTPUT_KEY = "walcheck_figures"


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_OUTPUT_KEY] = {
            "run": figures.RUN.as_rows(),
            "planted": figures.PLANTED.as_rows(),
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """A worker finished (pytest-xdist's hook): add its counts to the controller's."""
    handed = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if handed is not None:
        figures.RUN.add_rows(handed["run"])
        figures.PLANTED.add_rows(handed["planted"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_sep("=", figures.TITLE)
    for line in figures.render(figures.RUN, figures.PLANTED):
        terminalreporter.write_line(line)
