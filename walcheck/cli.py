"""``walcheck``: the command-line tool.

Every command is a module offering ``add_parser(subparsers)`` and
``run(args) -> ExitCode`` (walcheck/exitcodes.py: 0 the result matches
spec/defects.md, 1 a finding, 2 bad usage):

    check       the stateful campaign, model against reference (sidebyside/check_command.py)
    exhaustive  every crash image of short traces (sidebyside/exhaustive_command.py)
    explore     breadth-first model checking of the model (modelcheck/command.py)
    inspect     a file's WAL (real/inspect_command.py)
    kill        the SIGKILL campaign on real files (real/killtest/command.py)
    conform     a port through its driver (conformance/conform_command.py)
    vectors     the conformance vectors (conformance/vectors_command.py)
    bench       measurements (bench/command.py)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol, TextIO, cast

from walcheck.bench import command as bench_command
from walcheck.conformance import conform_command, vectors_command
from walcheck.exitcodes import ExitCode
from walcheck.modelcheck import command as explore_command
from walcheck.real import inspect_command
from walcheck.real.killtest import command as kill_command
from walcheck.sidebyside import check_command, exhaustive_command


class Command(Protocol):
    """What a command module offers."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser: ...

    def run(
        self, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
    ) -> ExitCode: ...


COMMANDS: tuple[Command, ...] = (
    check_command,
    exhaustive_command,
    explore_command,
    inspect_command,
    kill_command,
    conform_command,
    vectors_command,
    bench_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walcheck",
        description="Check memvid's embedded WAL: the model against the reference, and the guarantees.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(command_module=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exit_:
        return ExitCode.USAGE if exit_.code not in (0, None) else ExitCode.OK
    command = cast(Command, args.command_module)
    return int(command.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
