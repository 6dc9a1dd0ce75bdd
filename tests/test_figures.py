"""The figures table (walcheck/figures.py, tests/figures_plugin.py): printed at the end
of a pytest run, failed or not, with the work done counted, and with every failure a
crash recovery shows counted once, in its own row.

The run under test is a subprocess on a few tests written here: a real crash machine,
a real test of tests/test_hostile.py, and crash images with a planted failure each."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from walcheck import figures

REPOSITORY = Path(__file__).resolve().parent.parent

PLANTED_TESTS = '''
"""Run by tests/test_figures.py, with the figures plugin."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from reference import encode_entry
from reference.header import WAL_OFFSET
from walcheck.sidebyside.crash_machines import StatefulCrashFixed

# A real test of the suite, collected here too: 16 hostile files, each a typed error.
from tests.test_hostile import test_huge_wal_size_is_a_prompt_short_read_in_memory  # noqa: F401

REGION = 256
FIRST = b"acknowledged"


def test_crash_machine_runs():
    run_state_machine_as_test(
        StatefulCrashFixed,
        settings=settings(
            max_examples=3, stateful_step_count=8, database=None, derandomize=True, deadline=None
        ),
    )


def _recover(change):
    """One acknowledged append, then recovery of its crash image as ``change`` leaves it."""
    machine = StatefulCrashFixed()
    try:
        machine._create(REGION, 0)
        machine._append_both(FIRST)
        machine._recover_image(change(machine, machine.disk.kill_image()), "planted")
    finally:
        machine.teardown()


def test_kill_and_power_loss():
    machine = StatefulCrashFixed()
    try:
        machine._create(REGION, 0)
        machine._append_both(FIRST)
        machine.kill(pick=0)
        machine._append_both(b"second")
        machine.power_loss(pick=1)
    finally:
        machine.teardown()


def test_crash_image_unchanged():
    _recover(lambda machine, image: image)


def test_crash_loses_the_record():
    _recover(lambda machine, image: image[:WAL_OFFSET] + bytes(REGION) + image[WAL_OFFSET + REGION :])


def test_crash_leaves_the_wal_unopenable():
    _recover(lambda machine, image: image[: WAL_OFFSET + 100])


def _wrong_payload(machine, image):
    # The append of sequence 2 was under way; the image holds sequence 2 with another payload.
    machine.oracle.begin_append(b"in flight")
    at = WAL_OFFSET + 48 + len(FIRST)
    entry = encode_entry(2, b"IN FLIGHT")
    return image[:at] + entry + image[at + len(entry) :]


def test_crash_returns_a_wrong_payload():
    _recover(_wrong_payload)


@pytest.mark.planted_bug
def test_planted_loss_counts_apart():
    _recover(lambda machine, image: image[:WAL_OFFSET] + bytes(REGION) + image[WAL_OFFSET + REGION :])
'''

ROW = re.compile(r"^(?P<label>\S.*?)\s{2,}(?P<values>[\d,]+(?: / [\d,]+)*)$")


def _table(output: str) -> dict[str, list[int]]:
    """The rows of the figures table in ``output``, by label."""
    title = next(i for i, line in enumerate(output.splitlines()) if f" {figures.TITLE} " in line)
    rows: dict[str, list[int]] = {}
    for line in output.splitlines()[title + 1 :]:
        matched = ROW.match(line)
        if matched:
            rows[matched["label"]] = [int(v.replace(",", "")) for v in matched["values"].split(" / ")]
    return rows


# Serially, and spread over two pytest-xdist workers (the README's test command uses
# them): a worker's counts reach the controller's table, or a row comes out short.
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "two-workers"])
def test_summary_counts_work_and_each_detected_failure(tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.figures_plugin"]\n')
    (tmp_path / "test_planted.py").write_text(PLANTED_TESTS)
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout
    assert run.returncode == 1, output + run.stderr
    assert "4 failed, 19 passed" in output, output
    rows = _table(output)
    assert len(rows) == len(figures.ROWS) + 1, output  # every row printed, the planted one too

    runs, steps = rows["stateful machine runs / steps (FIXED)"]
    assert runs >= 3 + 5 and steps > 0  # Hypothesis's examples, and the machines made by hand
    images_checked = rows["crash images recovered, reference = model, checked (FIXED / ORIGINAL)"]
    assert images_checked[0] >= 3 and images_checked[1] == 0  # the kill's, the power loss's, the unchanged
    kills, power_cuts, _ = rows["stateful crashes (FIXED): process kills / power cuts / torn-write images"]
    assert kills >= 1 and power_cuts >= 1
    assert rows["acknowledged records checked after crashes (FIXED): simulated / SIGKILL"][0] >= 3
    assert rows["hostile files opened read-only (FIXED): typed error / records"] == [4, 0]
    # memvid opens the huge claims whose log ends inside the file (S3.2): records, no error.
    assert rows["hostile files opened read-only (ORIGINAL): typed error / records"] == [0, 4]
    assert rows["hostile files opened for writing (FIXED): typed error / completed"] == [4, 0]

    # Each planted failure, once, in its row; the planted_bug test's apart.
    assert rows["acknowledged records lost (FIXED, reference): images / killed files"] == [1, 0]
    assert rows["WALs left unopenable by a crash (FIXED, reference): images / killed files"] == [1, 0]
    assert rows["wrong payloads returned (FIXED, reference): images / killed files"] == [1, 0]
    assert rows["crash images: other guarantee broken / reference != model (FIXED)"] == [0, 0]
    assert rows["with planted bugs: recoveries losing records / unopenable / wrong"] == [1, 0, 0]
    # The failures are the ones the tests report.
    assert "G1 violated: recovery after a crash (planted) lost acknowledged records" in output
    assert "G5 violated: after a crash (planted) the WAL cannot be opened" in output
    assert "G2 violated: recovery after a crash (planted) returned" in output
