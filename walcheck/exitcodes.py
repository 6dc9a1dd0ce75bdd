"""The exit codes of every ``walcheck`` command."""

import json
from enum import IntEnum
from typing import TextIO


class ExitCode(IntEnum):
    """0: the result matches spec/defects.md (FIXED: nothing broken; ORIGINAL:
    every catalogued defect found, nothing else); 1: it does not (a finding);
    2: bad usage (arguments, a missing file, a driver that cannot start)."""

    OK = 0
    FINDING = 1
    USAGE = 2


def error_object(command: str | None, kind: str, message: str) -> dict[str, object]:
    """What ``--json`` prints on stdout when a command cannot run (README, "Exit status")."""
    return {"command": command, "error": {"kind": kind, "message": message}}


def refuse(err: TextIO, out: TextIO, command: str, message: str, *, as_json: bool) -> ExitCode:
    """Bad usage or an input that cannot be used: one line on ``err`` and, with
    ``--json``, the error object on ``out``; exit 2."""
    err.write(f"walcheck {command}: {message}\n")
    if as_json:
        json.dump(error_object(command, "usage", message), out, indent=2)
        out.write("\n")
    return ExitCode.USAGE
