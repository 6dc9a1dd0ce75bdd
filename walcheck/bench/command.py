"""``walcheck bench``: measure appends, recovery and the suite against floors
measured in the same run. Progress goes to stderr, a Markdown table to stdout,
the full result to ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from walcheck.arguments import (
    Subparsers,
    add_command,
    existing_directory,
    positive_int,
    standard_streams,
    writable_file,
)
from walcheck.bench.measure import run_bench
from walcheck.bench.rust import render_side_by_side, run_side_by_side
from walcheck.bench.table import render_table
from walcheck.exitcodes import ExitCode

HELP = "measure appends, recovery and the suite against floors measured in the same run"
DESCRIPTION = "Benchmark the reference WAL and the suite."


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "bench", HELP, DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="smaller counts and regions (under 10 s)")
    parser.add_argument(
        "--rust",
        action="store_true",
        help="the original Rust, the Rust port and the reference side by side (builds ports/rust with cargo)",
    )
    parser.add_argument(
        "--json", type=writable_file, metavar="PATH", help="write the full result as JSON here"
    )
    parser.add_argument(
        "--directory",
        type=existing_directory,
        metavar="DIR",
        help="where the real-disk files go (default: $TMPDIR or /tmp)",
    )
    hunts = parser.add_argument_group("the hunts (walcheck/bench/hunts.py)")
    hunts.add_argument(
        "--hunts",
        action="store_true",
        help="instead: run each defect's hunt on --seeds seeds; exit 1 if one finds it on under 95%%",
    )
    hunts.add_argument("--seeds", type=positive_int, default=20, help="seeds per hunt (default: 20)")
    hunts.add_argument(
        "--defect", dest="defects", action="append", metavar="ID", help="only this defect (repeatable)"
    )
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)

    def report(message: str) -> None:
        print(message, file=err, flush=True)

    if args.hunts:
        return _run_hunts(args, out, report)
    if args.rust:
        side = run_side_by_side(quick=args.quick, directory=args.directory, progress=report)
        if args.json is not None:
            args.json.write_text(json.dumps(side, indent=2) + "\n")
        out.write(render_side_by_side(side))
        return ExitCode.OK
    result = run_bench(quick=args.quick, directory=args.directory, progress=report)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    out.write(render_table(result))
    return ExitCode.OK


def _run_hunts(args: argparse.Namespace, out: TextIO, report: Callable[[str], None]) -> ExitCode:
    from walcheck.bench.hunts import measure_hunts, render_hunts
    from walcheck.sidebyside.hunts import DEFECT_HUNTS

    known = {hunt.defect for hunt in DEFECT_HUNTS}
    unknown = sorted(set(args.defects or ()) - known)
    if unknown:
        print(
            f"walcheck bench: no hunt for {', '.join(unknown)} (known: {', '.join(sorted(known))})",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    rows = measure_hunts(range(args.seeds), args.defects, progress=report)
    if args.json is not None:
        args.json.write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    out.write(render_hunts(rows))
    return ExitCode.OK if all(row.found >= 0.95 * row.seeds for row in rows) else ExitCode.FINDING
