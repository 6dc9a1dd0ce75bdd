"""``walcheck kill``: the SIGKILL campaign from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from walcheck.arguments import Subparsers, add_command, positive_int
from walcheck.exitcodes import ExitCode
from walcheck.real.killtest.campaign import run_kill_campaign
from walcheck.real.killtest.writer import MODES

HELP = "SIGKILL a real writer process many times and check every file it leaves"
DESCRIPTION = """The SIGKILL campaign (spec/faults.md): start a writer doing memvid-like work on a real
file, kill it with SIGKILL at a random moment, recover the file and check every
acknowledged record (G1, G2, G4, G5); KILLS lives in all, about half of them continuing
the previous life's file. Exit 0: nothing lost, every file opened."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, "kill", HELP, DESCRIPTION, epilog="example: walcheck kill /tmp/kills 1000 777 sync"
    )
    parser.add_argument("directory", type=Path, help="where the files go (created if missing)")
    parser.add_argument("kills", type=positive_int, help="how many writer lives to kill")
    parser.add_argument("seed", type=int, help="the campaign's seed: the same seed, the same payloads")
    parser.add_argument("mode", choices=MODES, help="sync: every append synced; batch: skip_sync and flush")
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out = sys.stdout if out is None else out
    args.directory.mkdir(parents=True, exist_ok=True)
    report = run_kill_campaign(args.kills, seed=args.seed, directory=args.directory, mode=args.mode)
    out.write(report.render() + "\n")
    for problem in report.problems:
        out.write(f"  {problem}\n")
    for example in report.original_examples:
        out.write(f"  (G7, counted only) {example}\n")
    return ExitCode.OK if report.clean else ExitCode.FINDING
