"""``walcheck conform --recorded-crashes`` (issue 11, spec/porting.md "Recorded
crashes"): a port's real calls, recorded with strace, under every crash state
of spec/persistence.md, opened by the port's own driver. A driver that skips
one fsync passes the model-based ``conform`` (its answers and bytes are
right) and must fail here, with the write that was not persisted; the
reference's driver must pass."""

from __future__ import annotations

import sys

import pytest

from walcheck.cli import main
from walcheck.real.syscalls.recorder import strace_path

pytestmark = pytest.mark.skipif(
    strace_path() is None, reason="strace is not installed (Debian: apt-get install strace)"
)


@pytest.mark.planted_bug
def test_a_driver_that_skips_one_fsync_fails_with_a_minimal_trace(capsys: pytest.CaptureFixture[str]) -> None:
    driver = [sys.executable, "-m", "tests.fsync_dropping_driver"]
    assert main(["conform", "--recorded-crashes", "--", *driver]) == 1
    out = capsys.readouterr().out
    print(out)
    assert "G1 broken for the driver, read-only, crash after" in out
    assert "lost acknowledged records" in out
    # The minimal trace: the append whose sync was skipped, its sector not persisted, nothing else.
    minimal = [line for line in out.splitlines() if line.startswith("  not persisted: ")]
    assert minimal and all("pwrite64 wal.bin" in line and "sectors" in line for line in minimal)
    assert ";" not in minimal[0], "the first failure drops more than the append's own write"


def test_the_reference_driver_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--recorded-crashes", "--", sys.executable, "-m", "reference.driver"]) == 0
    out = capsys.readouterr().out
    assert "none broken" in out


def test_the_mode_needs_a_driver(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--recorded-crashes"]) == 2
