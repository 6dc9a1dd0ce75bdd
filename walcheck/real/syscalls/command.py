"""``walcheck crashes``: record a program's file-system calls, check every crash state.

    walcheck crashes [--json] [--seed N] [--max-states N] [--samples N]
        [--exhaustive-limit N] [--readers reference|caller|memvid] [--file NAME]
        -- CMD ARGS...

The program runs under strace in a fresh directory, named by ``WALCHECK_DIR``
in its environment and by ``{dir}`` in its arguments; it reports what it was
told on ``WALCHECK_ACK_FD`` (the protocol of walcheck/real/syscalls/writer.py:
``created``, ``begin <hex payload>``, ``append <sequence> synced|unsynced``,
``flush``, ``commit <sequences>``, ``note ...``). Every crash state of
spec/persistence.md is then written as real files and opened by the readers
(``--readers``) of ``--file``; the oracle checks G1, G2, G5 (PM10).

Progress goes to stderr; the report to stdout, each failure as its crash point,
the calls that persisted and those that did not, and what recovery returned.
Exit 0 when no promised reader broke a guarantee, 1 when one did, 2 on bad
usage or a program that cannot be recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from walcheck.arguments import Subparsers, add_command, positive_int, standard_streams
from walcheck.exitcodes import ExitCode, refuse
from walcheck.real.syscalls.campaign import (
    DEFAULT_EXHAUSTIVE_LIMIT,
    DEFAULT_SAMPLES_PER_POINT,
    CrashReport,
    check_recording,
)
from walcheck.real.syscalls.checkers import (
    MemvidReaderProcess,
    caller_readers,
    memvid_readers,
    reference_readers,
)
from walcheck.real.syscalls.expectations import Reader
from walcheck.real.syscalls.recorder import record
from walcheck.real.syscalls.strace_output import RecordingError

DIRECTORY_VARIABLE = "WALCHECK_DIR"
READERS = ("reference", "caller", "memvid")


HELP = "record a program's file-system calls and check every crash state they allow"
DESCRIPTION = (__doc__ or "").split("\n\n")[0]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "crashes", HELP, DESCRIPTION)
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument("--seed", type=int, default=0, help="the sampling seed (PM9; default 0)")
    parser.add_argument("--max-states", type=positive_int, default=None, help="stop after this many states")
    # Spelled out as inspect/command.py's options are, on purpose: each flag its own type, default and help.
    parser.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES_PER_POINT,
        help="samples per crash point past the limit",
    )
    parser.add_argument(
        "--exhaustive-limit",
        type=int,
        default=DEFAULT_EXHAUSTIVE_LIMIT,
        help="check every choice at a crash point when there are at most this many",
    )
    parser.add_argument("--readers", choices=READERS, default="reference", help="who opens each state")
    parser.add_argument(
        "--show-measured",
        action="store_true",
        help="also print the failures of readers that promise nothing (ORIGINAL, strict recovery)",
    )
    parser.add_argument("--file", default="wal.mv2", help="the file under the directory the readers open")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- CMD ARGS... ({dir} is the directory)")


def _readers(kind: str, file: str, memvid: MemvidReaderProcess) -> list[Reader]:
    if kind == "caller":
        return caller_readers(file)
    if kind == "memvid":
        return memvid_readers(file, memvid)
    return reference_readers(file)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        return refuse(err, out, "crashes", "give the program after --", as_json=args.json)
    memvid = MemvidReaderProcess()
    with tempfile.TemporaryDirectory(prefix="walcheck-crashes-") as scratch:
        directory = Path(scratch) / "root"
        directory.mkdir()
        command = [part.replace("{dir}", str(directory)) for part in argv]
        print(f"recording {' '.join(command)} in {directory}", file=err)
        try:
            recording = record(command, directory, env={**os.environ, DIRECTORY_VARIABLE: str(directory)})
        except (RecordingError, OSError) as error:
            return refuse(err, out, "crashes", str(error), as_json=args.json)
        if recording.returncode != 0:
            message = f"the program exited {recording.returncode}: {recording.stderr[-2000:]}"
            return refuse(err, out, "crashes", message, as_json=args.json)
        print(
            f"{len(recording.calls)} calls recorded in {recording.seconds_running:.1f} s "
            f"(parsed in {recording.seconds_parsing:.1f} s); checking crash states",
            file=err,
        )

        points_done = 0

        def progress(report: CrashReport) -> None:
            nonlocal points_done
            points_done += 1
            if points_done % 25 == 0 or points_done == report.points:
                print(
                    f"  crash point {points_done}/{report.points}: {report.states_checked:,} states checked",
                    file=err,
                )

        try:
            report = check_recording(
                recording,
                _readers(args.readers, args.file, memvid),
                name=" ".join(argv),
                seed=args.seed,
                exhaustive_limit=args.exhaustive_limit,
                samples_per_point=args.samples,
                max_states=args.max_states,
                progress=progress,
            )
        finally:
            memvid.close()
    report.write(out, as_json=args.json, show_measured=args.show_measured)
    return ExitCode.FINDING if report.promised_failures() else ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m walcheck.real.syscalls``: the same as ``walcheck crashes``."""
    from walcheck.cli import main as walcheck_main

    return walcheck_main(["crashes", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
