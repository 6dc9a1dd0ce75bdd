"""``walcheck explore`'s command line: ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

import model as m
from model.format import PAYLOAD_LEN_MAX
from walcheck.arguments import Subparsers, add_command, add_json_and_quiet, at_least, standard_streams
from walcheck.exitcodes import ExitCode
from walcheck.modelcheck.configurations import CONFIGURATIONS, CONFIGURATIONS_BY_NAME, Configuration
from walcheck.modelcheck.report import ExploreReport, matches_catalogue, render
from walcheck.modelcheck.search import DEFAULT_MAX_STATES, explore


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}") from error
    if not sizes or any(size < 0 or size > PAYLOAD_LEN_MAX for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be 0 .. 2**32-1: {text!r}")
    return tuple(sorted(set(sizes)))


def _sequence(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= m.SEQUENCE_MAX:
        raise argparse.ArgumentTypeError(f"must be 0 .. 2**64-1, got {value}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--design",
        choices=[*(d.value for d in m.Design), "both"],
        default="fixed",
        help="which design to explore (default: fixed)",
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=list(CONFIGURATIONS_BY_NAME),
        metavar="NAME",
        help="a named starting configuration; repeatable (default: all; see --list-configs)",
    )
    parser.add_argument("--list-configs", action="store_true", help="list the named configurations and exit")
    parser.add_argument(
        "--region-size",
        type=at_least(1),
        action="append",
        metavar="BYTES",
        help="explore from this region size instead of the named configurations; repeatable",
    )
    parser.add_argument(
        "--payload-sizes",
        type=_sizes,
        default=(1, 16),
        metavar="N,N,...",
        help="with --region-size: the payload sizes appended (default: 1,16)",
    )
    parser.add_argument(
        "--start-sequence",
        type=_sequence,
        default=0,
        help="with --region-size: the header's wal_sequence at creation (default: 0)",
    )
    parser.add_argument(
        "--max-region",
        type=at_least(1),
        default=None,
        help="with --region-size: growth doubles the region up to this size (default: no growth)",
    )
    parser.add_argument(
        "--depth",
        type=at_least(0),
        default=None,
        help="operations after create-and-open (default: each configuration's own; 6 with --region-size)",
    )
    parser.add_argument(
        "--max-states",
        type=at_least(1),
        default=DEFAULT_MAX_STATES,
        help=f"stop a configuration after this many distinct states (default: {DEFAULT_MAX_STATES:,})",
    )
    parser.add_argument("--no-crashes", action="store_true", help="explore without crashes")
    add_json_and_quiet(parser, "reports")


DESCRIPTION = """Bounded exhaustive exploration of the model, as a model checker does it: every sequence of
operations (appends of a few payload sizes, commit, reopen, pending_records, records_after,
flush, batch mode, growth, process kill, every power-loss image, crashes inside a commit) up to
a depth, from small starting configurations, breadth first so that each counterexample is a
shortest one. Prints the number of distinct states, the bound reached, and the trace of every
broken guarantee, mapped to spec/defects.md. Exit 0: the result matches the catalogue (FIXED:
nothing broken; ORIGINAL: only catalogued defects, and each configuration's expected ones);
1: it does not; 2: bad usage."""


HELP = "bounded breadth-first exhaustive exploration of the model"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``explore`` to ``walcheck``'s subcommands; ``run`` executes it."""
    parser = add_command(subparsers, "explore", HELP, DESCRIPTION)
    _add_arguments(parser)
    return parser


def _configurations(args: argparse.Namespace) -> list[Configuration]:
    if args.region_size:
        return [
            Configuration(
                f"region-{size}",
                size,
                args.payload_sizes,
                start_sequence=args.start_sequence,
                max_region=args.max_region,
                depth=6,
            )
            for size in args.region_size
        ]
    names = args.config or list(CONFIGURATIONS_BY_NAME)
    return [CONFIGURATIONS_BY_NAME[name] for name in dict.fromkeys(names)]


class _Progress:
    """States, depth and rate on stderr: one line rewritten at most four times
    a second on a terminal, a line per completed depth level otherwise."""

    def __init__(self, err: TextIO, design: str, quiet: bool) -> None:
        self.err, self.design, self.quiet = err, design, quiet
        self.tty = err.isatty()

    def __call__(
        self, config: str, depth: int, states: int, transitions: int, seconds: float, done: bool
    ) -> None:
        if self.quiet:
            return
        rate = states / seconds if seconds > 0 else 0.0
        line = (
            f"  {config} [{self.design}]: depth {depth}{' done' if done else ''}, {states:,} states, "
            f"{transitions:,} transitions, {rate:,.0f} states/s"
        )
        if self.tty:
            self.err.write("\r" + line.ljust(100))
        elif done:
            self.err.write(line + "\n")
        self.err.flush()

    def finish(self) -> None:
        if self.tty and not self.quiet:
            self.err.write("\r" + " " * 100 + "\r")
            self.err.flush()


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)
    if args.list_configs:
        for config in CONFIGURATIONS:
            expects = ", ".join(sorted(config.expects))
            out.write(
                f"{config.name}: {config.describe()}; depth {config.depth}; ORIGINAL expects {expects}\n"
                f"    {config.purpose}\n"
            )
        return ExitCode.OK
    if args.region_size and args.config:
        err.write("walcheck explore: --region-size and --config exclude each other\n")
        return ExitCode.USAGE
    if args.max_region is not None and not args.region_size:
        err.write("walcheck explore: --max-region needs --region-size\n")
        return ExitCode.USAGE
    designs = list(m.Design) if args.design == "both" else [m.Design(args.design)]
    reports: list[ExploreReport] = []
    for design in designs:
        progress = _Progress(err, design.value, args.quiet)
        for config in _configurations(args):
            reports.append(
                explore(
                    design,
                    config,
                    depth=args.depth,
                    max_states=args.max_states,
                    crashes=not args.no_crashes,
                    progress=progress,
                )
            )
            progress.finish()
            if not args.json:
                out.write(render(reports[-1]) + "\n")
                out.flush()
    ok = matches_catalogue(reports)
    if args.json:
        json.dump({"ok": ok, "reports": [r.as_json() for r in reports]}, out, indent=2)
        out.write("\n")
    else:
        out.write("result: " + ("OK, matches spec/defects.md" if ok else "MISMATCH") + "\n")
    return ExitCode.OK if ok else ExitCode.FINDING
