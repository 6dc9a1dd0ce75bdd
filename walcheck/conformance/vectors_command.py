"""``walcheck vectors``: regenerate (or, with --check, compare) the conformance
vectors in spec/vectors from the model (spec/porting.md P5)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from walcheck.arguments import Subparsers, add_command, directory_to_make
from walcheck.conformance.vectors import DEFAULT_DIRECTORY, stale_vectors, write_vectors
from walcheck.exitcodes import ExitCode

HELP = "regenerate the conformance vectors in spec/vectors from the model"
DESCRIPTION = """Write spec/vectors/<design>/<name>.json from the model (spec/porting.md P5): fixed
traces with every request, answer, region and state, and crash images with the
records recovery must return. With --check, write nothing and exit 1 if they differ."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    vectors = add_command(subparsers, "vectors", HELP, DESCRIPTION)
    vectors.add_argument(
        "--out", type=directory_to_make, default=None, help="directory (default: spec/vectors)"
    )
    vectors.add_argument("--check", action="store_true", help="compare instead of writing")
    return vectors


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out = sys.stdout if out is None else out
    directory = args.out if args.out is not None else DEFAULT_DIRECTORY
    if args.check:
        problems = stale_vectors(directory)
        for problem in problems:
            out.write(f"  {problem}\n")
        out.write(
            f"vectors in {directory}: " + ("up to date\n" if not problems else f"{len(problems)} stale\n")
        )
        return ExitCode.OK if not problems else ExitCode.FINDING
    written = write_vectors(directory)
    out.write(f"wrote {len(written)} vectors to {directory}\n")
    return ExitCode.OK
