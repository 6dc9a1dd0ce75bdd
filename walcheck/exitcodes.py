"""The exit codes of every ``walcheck`` command."""

from enum import IntEnum


class ExitCode(IntEnum):
    """0: the result matches spec/defects.md (FIXED: nothing broken; ORIGINAL:
    every catalogued defect found, nothing else); 1: it does not (a finding);
    2: bad usage (arguments, a missing file, a driver that cannot start)."""

    OK = 0
    FINDING = 1
    USAGE = 2
