"""Prints the suite's figures (walcheck/figures.py) at the end of every pytest run.

Loaded by tests/conftest.py. A test marked ``planted_bug`` plants a bug on
purpose; what it counts goes to a registry of its own, so that the FIXED
design's failure counts are FIXED's alone.
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_sep("=", figures.TITLE)
    for line in figures.render(figures.RUN, figures.PLANTED):
        terminalreporter.write_line(line)
