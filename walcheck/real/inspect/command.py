"""``walcheck inspect``: the command line (spec/inspect.md I8, I9)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from walcheck.arguments import Subparsers, add_command
from walcheck.exitcodes import ExitCode, error_object
from walcheck.real.inspect.render import Selection, as_json, render
from walcheck.real.inspect.report import (
    InspectError,
    ProgressOnStderr,
    RegionParameters,
    inspect_file,
)

U64_MAX = 2**64 - 1


def u64_argument(text: str) -> int:
    """argparse type for the region parameters: what a u64 header field can hold."""
    try:
        value = int(text) if text.lstrip("+-").isdigit() else int(text, 0)  # 4096, or 0x1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= U64_MAX:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**64 - 1, got {value}")
    return value


def records_argument(text: str) -> tuple[int | None, int | None]:
    """``FIRST:LAST``, ``FIRST:``, ``:LAST`` or ``SEQUENCE``: sequences, both ends included."""
    first_text, colon, last_text = text.partition(":")
    if not colon:
        last_text = first_text
    bounds: list[int | None] = []
    for part in (first_text, last_text):
        if part.strip() == "":
            bounds.append(None)
            continue
        bounds.append(u64_argument(part.strip()))
    first, last = bounds
    if first is not None and last is not None and first > last:
        raise argparse.ArgumentTypeError(f"the range {text!r} is empty: {first} is above {last}")
    return first, last


HELP = "show a .mv2 file's WAL and what memvid and the reference would each recover"
DESCRIPTION = """Read a .mv2 file (never writing it, taking no lock, reading only its header and its WAL
region): every entry of the log with its checksum, where and why the log ends, every
intact entry past the end, evidence that acknowledged records were lost and the defect
that explains it, the space used against memvid's 75%% checkpoint threshold, what memvid's
code and the reference would do on open (read-only and for writing, both recovery modes),
and what memvid's doctor would do to the file. With --region-size and
--checkpoint-sequence, read a bare WAL region instead of the one the MV2 header names.
Exit 0: healthy; 1: a finding; 2: bad usage or a file that cannot be read.
The JSON report's schema: spec/inspect.md."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "inspect", HELP, DESCRIPTION)
    parser.add_argument("file", type=Path, help="the .mv2 file, or a file holding a bare WAL region")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (spec/inspect.md I10)")
    parser.add_argument("--dump", action="store_true", help="hex dump of each listed entry's payload")
    parser.add_argument(
        "--records",
        type=records_argument,
        default=(None, None),
        metavar="FIRST:LAST",
        help="list (and dump) only entries with sequences in this range: 5:9, 5:, :9 or 7",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    bare = parser.add_argument_group("a bare WAL region (instead of the MV2 header's)")
    bare.add_argument(
        "--region-offset", type=u64_argument, default=None, help="where the region starts (default: 0)"
    )
    # Spelled out as syscalls/command.py's options are, on purpose: each flag its own type, default and help.
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
    return parser


def _fail(args: argparse.Namespace, out: TextIO, err: TextIO, kind: str, message: str) -> ExitCode:
    err.write(f"walcheck inspect: {message}\n")
    if args.json:
        json.dump(error_object("inspect", kind, message), out, indent=2)
        out.write("\n")
    return ExitCode.USAGE


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out = out or sys.stdout
    err = err or sys.stderr
    given = [args.region_offset, args.region_size, args.checkpoint_sequence, args.checkpoint_pos]
    region = None
    if any(value is not None for value in given):
        if args.region_size is None or args.checkpoint_sequence is None:
            return _fail(
                args, out, err, "usage", "a bare region needs --region-size and --checkpoint-sequence"
            )
        region = RegionParameters(
            offset=args.region_offset or 0,
            size=args.region_size,
            checkpoint_sequence=args.checkpoint_sequence,
            checkpoint_pos=args.checkpoint_pos or 0,
        )
    progress = None if args.quiet else ProgressOnStderr(err.write, err.isatty())
    try:
        report = inspect_file(args.file, region, progress=progress)
    except InspectError as error:
        return _fail(args, out, err, error.kind, error.message)
    finally:
        if progress is not None:
            progress.finish()
    first, last = args.records
    selection = Selection(first, last, args.dump)
    if args.json:
        json.dump(as_json(report, selection), out, indent=2)
        out.write("\n")
    else:
        out.write(render(report, selection) + "\n")
    return ExitCode.OK if report.healthy else ExitCode.FINDING
