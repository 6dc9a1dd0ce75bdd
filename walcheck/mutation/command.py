"""``walcheck mutate``: a seeded sample of Cosmic Ray's mutants of the model, the
reference and the caller layer, each run against ``pytest -k stateful``.
Progress goes to stderr, the per-file score to stdout. Exit 0 when the score of
non-equivalent mutants reaches ``--min-score``, 1 when it does not, 2 on bad
usage (Cosmic Ray missing: ``pip install -e '.[mutation]'``)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import TextIO

from walcheck.arguments import (
    Subparsers,
    add_command,
    non_negative_int,
    percentage,
    positive_float,
    positive_int,
    standard_streams,
)
from walcheck.exitcodes import ExitCode

HELP = "the mutation score of `pytest -k stateful` (Cosmic Ray), per file"
DESCRIPTION = """Make Cosmic Ray's mutants of model/, reference/ and the caller layer, run a seeded
sample of them, each in a copy of the project, against `pytest -k stateful` on a
fast derandomised Hypothesis profile, and print the score per file. Survivors listed
in spec/mutants.md as equivalent count apart."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "mutate", HELP, DESCRIPTION)
    parser.add_argument("--sample", type=positive_int, default=40, help="mutants to run (default: 40)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the sample (default: 0)")
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        metavar="PATH",
        help="mutate this file (repeatable; default: reference/*.py and model/*.py but __init__ and driver)",
    )
    parser.add_argument(
        "--profile",
        default="mutation",
        help="the killer's Hypothesis profile (default: mutation, 60 examples x 30 steps, derandomised)",
    )
    parser.add_argument(
        "--select",
        default="stateful",
        metavar="EXPR",
        help="the killer's pytest -k expression (default: stateful; narrower only to try the command)",
    )
    parser.add_argument("--timeout", type=positive_float, default=None, help="seconds a mutant may run")
    parser.add_argument(
        "--min-score", type=percentage, default=98.0, help="exit 1 below this score (default: 98)"
    )
    parser.add_argument(
        "--rerun",
        type=Path,
        metavar="JSON",
        help="run the survivors of an earlier run's --json again (instead of a sample)",
    )
    parser.add_argument("--session", type=Path, help="keep Cosmic Ray's session database here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every mutant's outcome here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)
    if importlib.util.find_spec("cosmic_ray") is None:
        print("walcheck mutate: Cosmic Ray is not installed: pip install -e '.[mutation]'", file=err)
        return ExitCode.USAGE
    from walcheck.mutation.runner import ROOT, run_mutation

    for name in args.files or ():
        if not (ROOT / name).is_file():
            print(f"walcheck mutate: no such file in the project: {name}", file=err)
            return ExitCode.USAGE
    if args.json is not None and not args.json.parent.is_dir():
        print(f"walcheck mutate: no such directory for --json: {args.json.parent}", file=err)
        return ExitCode.USAGE

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=err, flush=True)

    from walcheck.mutation.runner import load_mutants, render

    only = None
    if args.rerun is not None:
        if not args.rerun.is_file():
            print(f"walcheck mutate: no such file for --rerun: {args.rerun}", file=err)
            return ExitCode.USAGE
        only = load_mutants(args.rerun)

    try:
        report = run_mutation(
            sample=args.sample,
            seed=args.seed,
            files=args.files,
            profile=args.profile,
            timeout=args.timeout,
            session=args.session,
            progress=progress,
            select=args.select,
            only=only,
        )
    except RuntimeError as failure:
        print(f"walcheck mutate: {failure}", file=err)
        return ExitCode.FINDING
    print("\n".join(render(report)), file=out)
    if args.json is not None:
        document = {
            "seed": report.seed,
            "population": report.population,
            "score": report.score,
            "killed": report.killed,
            "judged": report.judged,
            "seconds": report.seconds,
            "baseline_seconds": report.baseline_seconds,
            "mutants": [dataclasses.asdict(mutant) for mutant in report.mutants],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return ExitCode.OK if 100 * report.score >= args.min_score else ExitCode.FINDING
