"""Every walcheck command answers bad usage and inputs it cannot use with one clear
line and exit 2, never a traceback; with --json, stdout carries an error object
(README, "Exit status"; issue 14)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from walcheck.cli import COMMANDS, main


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    file = tmp_path / "file"
    file.write_text("x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"file": str(file), "fifo": str(fifo), "missing": str(tmp_path / "missing"), "dir": str(tmp_path)}


NUMBERS = ["nan", "inf", "-1", "0", "lots"]
BAD_USAGE = [
    *(["check", "--seconds", number] for number in NUMBERS),
    *(["check", "--examples", number] for number in NUMBERS),
    *(["check", "--steps", number] for number in NUMBERS),
    ["check", "--seed", "nan"],
    *(["explore", "--depth", number] for number in ["nan", "-1", "lots"]),
    *(["explore", "--max-states", number] for number in NUMBERS),
    *(["conform", "--timeout", number, "--", "true"] for number in NUMBERS),
    *(["conform", "--examples", number, "--", "true"] for number in NUMBERS),
    ["conform"],
    ["conform", "--vectors", "{missing}", "--", "true"],
    ["conform", "--vectors", "{fifo}", "--", "true"],
    ["conform", "--", "{missing}"],
    ["conform", "--", "false"],
    ["vectors", "--out", "{file}"],
    ["vectors", "--check", "--out", "{file}"],
    ["bench", "--json", "{missing}/x.json"],
    ["bench", "--json", "{dir}"],
    ["bench", "--directory", "{missing}"],
    ["kill", "{dir}/kills", "5", "1", "bogus"],
    *(["kill", "{dir}/kills", number, "1", "sync"] for number in NUMBERS),
    ["kill", "{file}", "1", "1", "sync"],
    ["kill", "{file}/below", "1", "1", "sync"],
    ["inspect", "{dir}"],
    ["inspect", "{fifo}"],
    ["inspect", "/dev/zero"],
    ["inspect", "{missing}"],
    ["inspect", "{file}", "--region-size", "nan", "--checkpoint-sequence", "0"],
    ["exhaustive", "--design", "bogus"],
    ["bogus"],
    [],
]


@pytest.mark.parametrize("arguments", BAD_USAGE, ids=" ".join)
def test_bad_usage_is_one_line_and_exit_2(
    arguments: list[str], places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    filled = [argument.format(**places) for argument in arguments]
    started = time.monotonic()
    assert main(filled) == 2
    assert time.monotonic() - started < 10  # refused before any work (bench, check)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.strip()]
    # argparse's usage lines, then the one line that says what is wrong.
    assert lines and lines[-1].startswith("walcheck"), captured.err


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "--json", "--seconds", "nan"],
        ["conform", "--json", "--", "false"],
        ["conform", "--json", "--vectors", "{missing}", "--", "true"],
        ["inspect", "--json", "{missing}"],
        ["explore", "--json", "--depth", "-1"],
    ],
    ids=" ".join,
)
def test_json_on_failure_is_an_error_object(
    arguments: list[str], places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([argument.format(**places) for argument in arguments]) == 2
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["error"]["kind"] in ("usage", "input") and printed["error"]["message"]
    assert printed["error"]["message"] in captured.err


def test_a_drivers_json_is_not_walchecks(capsys: pytest.CaptureFixture[str]) -> None:
    """--json after "--" belongs to the driver's command line."""
    assert main(["conform", "--", "false", "--json"]) == 2
    assert capsys.readouterr().out == ""


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert f"usage: walcheck {name}" in capsys.readouterr().out
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in COMMANDS)
