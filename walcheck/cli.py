"""``walcheck``: the command-line tool.

Every command is a module offering ``add_parser(subparsers)`` and
``run(args) -> ExitCode`` (walcheck/exitcodes.py: 0 the result matches
spec/defects.md, 1 a finding, 2 bad usage or an input that cannot be used):

    check       the stateful campaign, model against reference (sidebyside/check_command.py)
    exhaustive  every crash image of short traces (sidebyside/exhaustive_command.py)
    explore     breadth-first model checking of the model (modelcheck/command.py)
    inspect     a file's WAL (real/inspect/command.py)
    kill        the SIGKILL campaign on real files (real/killtest/command.py)
    conform     a port through its driver (conformance/conform_command.py)
    vectors     the conformance vectors (conformance/vectors_command.py)
    bench       measurements (bench/command.py)
    mutate      the mutation score of pytest -k stateful (mutation/command.py)
    fuzz        long campaigns: HypoFuzz, or workers sharing an example database (fuzz/command.py)
    crashes     a program's recorded calls under every crash state (real/syscalls/command.py)

Only the module of the command asked for is imported (``walcheck inspect``
starts without Hypothesis, which the side-by-side commands need). Bad usage is
answered with argparse's usage and one line saying what is wrong, an input
that cannot be used (a missing or unwritable path) with one line; never a
traceback. With ``--json``, stdout then carries an error object:
``{"command": NAME, "error": {"kind": "usage", "message": ...}}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, TextIO, cast

from walcheck.exitcodes import ExitCode, error_object


class Command(Protocol):
    """What a command module offers."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser: ...

    def run(
        self, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
    ) -> ExitCode: ...


# Command name: the module that offers it, imported only when it is the one asked for.
COMMANDS: dict[str, str] = {
    "check": "walcheck.sidebyside.check_command",
    "exhaustive": "walcheck.sidebyside.exhaustive_command",
    "explore": "walcheck.modelcheck.command",
    "inspect": "walcheck.real.inspect.command",
    "kill": "walcheck.real.killtest.command",
    "conform": "walcheck.conformance.conform_command",
    "vectors": "walcheck.conformance.vectors_command",
    "bench": "walcheck.bench.command",
    "mutate": "walcheck.mutation.command",
    "fuzz": "walcheck.fuzz.command",
    "crashes": "walcheck.real.syscalls.command",
}


class UsageError(Exception):
    """argparse refused the command line; the message is its error line."""


class _Parser(argparse.ArgumentParser):
    """argparse, raising instead of exiting, so that ``main`` answers every way in
    which a command line can be wrong the same way."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def command_module(name: str) -> Command:
    return cast(Command, importlib.import_module(COMMANDS[name]))


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``chosen``, only that command's module is imported (the
    others get a placeholder, so that their names are still known)."""
    parser = _Parser(
        prog="walcheck",
        description="Check memvid's embedded WAL: the model against the reference, and the guarantees.",
    )
    subparsers = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    for name in COMMANDS:
        if chosen is None or name == chosen:
            module = command_module(name)
            module.add_parser(subparsers).set_defaults(command_module=module)
        else:
            subparsers.add_parser(name, add_help=False)
    return parser


def _fail(arguments: list[str], command: str | None, kind: str, message: str) -> ExitCode:
    sys.stderr.write(message + "\n")
    # --json among the command's own arguments (a driver's after "--" are not walcheck's);
    # bench's --json names a file to write, not the form of stdout.
    own = arguments[: arguments.index("--")] if "--" in arguments else arguments
    if "--json" in own and command != "bench":
        json.dump(error_object(command, kind, message), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return ExitCode.USAGE


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = arguments[0] if arguments and arguments[0] in COMMANDS else None
    try:
        args = build_parser(chosen).parse_args(arguments)
    except UsageError as error:
        return _fail(arguments, chosen, "usage", str(error))
    except SystemExit as exit_:  # --help
        return ExitCode.USAGE if exit_.code not in (0, None) else ExitCode.OK
    command = cast(Command, args.command_module)
    try:
        return int(command.run(args))
    except OSError as error:
        # A path the command was given cannot be used (not there, not writable, not a
        # directory): the environment, not a finding, and not a bug to show a traceback for.
        where = f"{error.filename}: " if error.filename else ""
        return _fail(arguments, chosen, "input", f"walcheck {chosen}: {where}{error.strerror or error}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
