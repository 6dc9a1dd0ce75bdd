"""What the command modules share: ``add_command``, which adds a command's
parser with its help and description, ``add_json_and_quiet``, the argument
types, and ``standard_streams`` for ``run``'s output."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeAlias

# A string: argparse._SubParsersAction is generic only to the type checker.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    subparsers: Subparsers, name: str, help: str, description: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """The parser of ``walcheck NAME``, listed with ``help``, ``--help`` showing ``description``."""
    return subparsers.add_parser(name, help=help, description=description, epilog=epilog)


def add_json_and_quiet(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json`` (``what``, the command's result, as JSON on stdout) and ``--quiet`` (no progress)."""
    parser.add_argument("--json", action="store_true", help=f"print the {what} as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def standard_streams(out: TextIO | None, err: TextIO | None) -> tuple[TextIO, TextIO]:
    """``run``'s streams: the ones given (tests pass their own), else stdout and stderr."""
    return (sys.stdout if out is None else out), (sys.stderr if err is None else err)


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    return at_least(1)(text)


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (a seed, a count that may be none)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (``float`` also reads "nan" and "inf", which no
    budget or timeout means)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def percentage(text: str) -> float:
    """A number from 0 to 100."""
    value = float(text)
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentage from 0 to 100, got {text}")
    return value


def existing_directory(text: str) -> Path:
    """A directory that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a directory")
    return path


def directory_to_make(text: str) -> Path:
    """A directory, or a path where one can be made."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a directory")
    return path


def writable_file(text: str) -> Path:
    """A file to write the result to, checked before the command runs, not after."""
    path = Path(text)
    parent = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a directory")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{parent} is not a directory")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{path} cannot be written")
    return path
