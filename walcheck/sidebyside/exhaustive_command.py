"""``walcheck exhaustive``: every crash point and every crash image of short traces."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

import model as m
from walcheck.arguments import Subparsers, add_command, add_json_and_quiet, standard_streams
from walcheck.exitcodes import ExitCode
from walcheck.sidebyside.exhaustive import run_exhaustive

HELP = "crash short traces at every storage call and recover every crash image"
DESCRIPTION = """Exhaustive crash checking (spec/faults.md): for each built-in short trace, crash at
every storage call and recover every power-loss and torn-write image, not a sample.
FIXED must recover every acknowledged record from all of them."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    exhaustive = add_command(subparsers, "exhaustive", HELP, DESCRIPTION)
    exhaustive.add_argument("--design", choices=[d.value for d in m.Design], default="fixed")
    add_json_and_quiet(exhaustive, "report")
    return exhaustive


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)
    design = m.Design(args.design)

    def progress(trace: str, done: int, total: int) -> None:
        if not args.quiet:
            err.write(f"  {trace}: {done}/{total}\n")
            err.flush()

    report = run_exhaustive(design, progress=progress)
    if args.json:
        json.dump(
            {
                "design": report.design,
                "traces": report.traces,
                "crash_points": report.crash_points,
                "images": report.images,
                "violations": report.violations,
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        out.write(report.render() + "\n")
        for violation in report.violations[:20]:
            out.write(f"  {violation}\n")
    # FIXED must survive every image; ORIGINAL is expected to be caught (C1).
    ok = not report.violations if design is m.Design.FIXED else bool(report.violations)
    return ExitCode.OK if ok else ExitCode.FINDING
