"""``walcheck inspect``: a file's WAL, and what memvid and the reference would
recover (the reading itself is walcheck/inspect.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from walcheck.exitcodes import ExitCode
from walcheck.inspect import RegionOutsideFile, RegionParameters, inspect_file, render, u64_argument


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    inspect = subparsers.add_parser(
        "inspect",
        help="show a .mv2 file's WAL and what memvid and the reference would each recover",
        description=(
            "Read a .mv2 file (never writing it, taking no lock): the header, every entry of the "
            "log with its checksum, where and why the log ends, intact entries past the end, "
            "sequence gaps or repeats, and what memvid's code and the reference would do on open. "
            "With --region-size and --checkpoint-sequence, read a bare WAL region instead of the "
            "one the MV2 header names (a file without a header, or to override it)."
        ),
    )
    inspect.add_argument("file", type=Path, help="the .mv2 file, or a file holding a bare WAL region")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    bare = inspect.add_argument_group("a bare WAL region (instead of the MV2 header's)")
    bare.add_argument(
        "--region-offset", type=u64_argument, default=None, help="where the region starts (default: 0)"
    )
    bare.add_argument("--region-size", type=u64_argument, default=None, help="the region's size (wal_size)")
    bare.add_argument(
        "--checkpoint-sequence",
        type=u64_argument,
        default=None,
        help="the last checkpointed sequence (wal_sequence): later records are pending",
    )
    bare.add_argument(
        "--checkpoint-pos",
        type=u64_argument,
        default=None,
        help="the write head at the last checkpoint (wal_checkpoint_pos; default: 0)",
    )
    return inspect


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    """Exit 0: both designs open the file and agree on what is pending; 1 otherwise;
    2 for bad usage (no such file, region parameters that do not fit the file)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    if not args.file.is_file():
        err.write(f"walcheck inspect: {args.file}: no such file\n")
        return ExitCode.USAGE
    given = [args.region_offset, args.region_size, args.checkpoint_sequence, args.checkpoint_pos]
    region = None
    if any(value is not None for value in given):
        if args.region_size is None or args.checkpoint_sequence is None:
            err.write("walcheck inspect: a bare region needs --region-size and --checkpoint-sequence\n")
            return ExitCode.USAGE
        region = RegionParameters(
            offset=args.region_offset or 0,
            size=args.region_size,
            checkpoint_sequence=args.checkpoint_sequence,
            checkpoint_pos=args.checkpoint_pos or 0,
        )
    try:
        report = inspect_file(args.file, region)
    except RegionOutsideFile as error:
        err.write(f"walcheck inspect: {args.file}: {error}\n")
        return ExitCode.USAGE
    if args.json:
        json.dump(report.as_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render(report) + "\n")
    read_only = [v for v in report.verdicts if v.how == "read-only"]
    healthy = (
        report.header_error is None
        and all(v.error is None for v in report.verdicts)
        and len({tuple(v.pending) for v in report.verdicts}) == 1
        and len(read_only) == 2
    )
    return ExitCode.OK if healthy else ExitCode.FINDING
