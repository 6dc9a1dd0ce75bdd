"""``walcheck``: the command-line tool.

Exit codes: 0 the result matches spec/defects.md (FIXED: no guarantee broken,
no divergence; ORIGINAL: every catalogued defect found); 1 it does not;
2 bad usage. Commands: ``check`` (the stateful campaign), ``exhaustive``
(every crash image of short traces), ``explore`` (breadth-first model
checking), ``inspect`` (a file's WAL; 0 when both designs open it and agree),
``conform`` (a port through its driver), ``vectors``, ``bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import model as m
from walcheck.sidebyside.hunts import DEFECT_HUNTS, CampaignReport, run_campaign

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walcheck",
        description="Check memvid's embedded WAL: the model against the reference, and the guarantees.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="run the stateful campaign (model vs reference) and print a summary",
        description=(
            "Run the stateful machines: the model and the file-backed reference side by side, "
            "every state variable compared after every step, and an independent oracle checking "
            "the guarantees of spec/semantics.md S6. With --design original, hunt each defect "
            "catalogued in spec/defects.md and show its shrunk counterexample."
        ),
    )
    check.add_argument(
        "--design",
        choices=[d.value for d in m.Design],
        default="fixed",
        help="which design to check (default: fixed)",
    )
    check.add_argument(
        "--examples",
        type=_positive_int,
        default=1000,
        help="examples (state machine runs) in all (default: 1000)",
    )
    check.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        help="stop starting new examples after this many seconds",
    )
    check.add_argument("--steps", type=_positive_int, default=40, help="steps per example (default: 40)")
    check.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    check.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    check.add_argument("--quiet", action="store_true", help="no progress on stderr")

    exhaustive = commands.add_parser(
        "exhaustive",
        help="crash short traces at every storage call and recover every crash image",
        description=(
            "Exhaustive crash checking (spec/faults.md): for each built-in short trace, crash at "
            "every storage call and recover every power-loss and torn-write image, not a sample. "
            "FIXED must recover every acknowledged record from all of them."
        ),
    )
    exhaustive.add_argument("--design", choices=[d.value for d in m.Design], default="fixed")
    exhaustive.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    exhaustive.add_argument("--quiet", action="store_true", help="no progress on stderr")

    from walcheck.inspect import u64_argument

    inspect = commands.add_parser(
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

    from walcheck.modelcheck.search import add_parser as add_explore_parser

    add_explore_parser(commands)

    conform = commands.add_parser(
        "conform",
        help="drive a port through its driver (spec/porting.md) and compare it with the model",
        description=(
            "Start COMMAND, a driver speaking the protocol of spec/porting.md, send it traces "
            "generated by Hypothesis (crash images and growth included), and compare every answer, "
            "region byte and (if the driver offers it) state with the model; the oracle checks the "
            "guarantees on the answers. Prints each distinct failure with its minimal trace. "
            "With --vectors, replay the conformance vectors instead."
        ),
        epilog="example: walcheck conform -- python -m reference.driver",
    )
    conform.add_argument("--design", choices=[d.value for d in m.Design], default="fixed")
    conform.add_argument("--examples", type=_positive_int, default=1000, help="traces (default: 1000)")
    conform.add_argument(
        "--steps", type=_positive_int, default=30, help="steps per trace at most (default: 30)"
    )
    conform.add_argument(
        "--seed", type=int, default=0, help="the search's seed (default: 0); the same seed, the same traces"
    )
    conform.add_argument(
        "--no-guarantees", action="store_true", help="compare with the model only; do not run the oracle"
    )
    conform.add_argument(
        "--vectors",
        type=Path,
        default=None,
        metavar="PATH",
        help="replay the vectors in PATH (a .json file or a directory) instead of generating traces",
    )
    conform.add_argument(
        "--timeout", type=_positive_float, default=10.0, help="seconds to wait for each answer (default: 10)"
    )
    conform.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    conform.add_argument("--quiet", action="store_true", help="no progress on stderr")
    conform.add_argument("driver", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the driver to start")

    vectors = commands.add_parser(
        "vectors",
        help="regenerate the conformance vectors in spec/vectors from the model",
        description=(
            "Write spec/vectors/<design>/<name>.json from the model (spec/porting.md P5): fixed "
            "traces with every request, answer, region and state, and crash images with the "
            "records recovery must return. With --check, write nothing and exit 1 if they differ."
        ),
    )
    vectors.add_argument("--out", type=Path, default=None, help="directory (default: spec/vectors)")
    vectors.add_argument("--check", action="store_true", help="compare instead of writing")

    commands.add_parser(
        "bench",
        help="measure appends, recovery and the suite against floors measured in the same run",
        description="Run walcheck.bench.measure; options after 'bench' go to it ('walcheck bench --help').",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        from walcheck.bench.measure import main as bench_main

        return bench_main(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    if args.command == "check":
        return _check(args, sys.stdout, sys.stderr)
    if args.command == "exhaustive":
        return _exhaustive(args, sys.stdout, sys.stderr)
    if args.command == "inspect":
        return _inspect(args, sys.stdout, sys.stderr)
    if args.command == "explore":
        from walcheck.modelcheck.search import run as run_explore

        return run_explore(args, sys.stdout, sys.stderr)
    if args.command == "conform":
        from walcheck.conformance.conform_command import conform_command

        return conform_command(args, sys.stdout, sys.stderr)
    if args.command == "vectors":
        from walcheck.conformance.conform_command import vectors_command

        return vectors_command(args, sys.stdout, sys.stderr)
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    design = m.Design(args.design)
    tty = err.isatty()

    def progress(machine: str, done: int, total: int, elapsed: float) -> None:
        if args.quiet:
            return
        line = f"  {machine}: {done}/{total} ({elapsed:.1f} s)"
        if tty:
            err.write("\r" + line.ljust(78))
            if done >= total:
                err.write("\n")
        else:
            err.write(line + "\n")
        err.flush()

    if not args.quiet:
        err.write(
            f"walcheck check: design {design.value}, {args.examples} examples"
            + (f", at most {args.seconds:g} s" if args.seconds else "")
            + "\n"
        )
    report = run_campaign(
        design,
        examples=args.examples,
        seconds=args.seconds,
        steps=args.steps,
        seed=args.seed,
        progress=progress,
    )
    if args.json:
        json.dump(_as_json(report), out, indent=2)
        out.write("\n")
    else:
        out.write(_as_text(report))
    return EXIT_OK if report.ok else EXIT_MISMATCH


def _inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0: both designs open the file and agree on what is pending; 1 otherwise;
    2 for bad usage (no such file, region parameters that do not fit the file)."""
    from walcheck.inspect import RegionOutsideFile, RegionParameters, inspect_file, render

    if not args.file.is_file():
        err.write(f"walcheck inspect: {args.file}: no such file\n")
        return EXIT_USAGE
    given = [args.region_offset, args.region_size, args.checkpoint_sequence, args.checkpoint_pos]
    region = None
    if any(value is not None for value in given):
        if args.region_size is None or args.checkpoint_sequence is None:
            err.write("walcheck inspect: a bare region needs --region-size and --checkpoint-sequence\n")
            return EXIT_USAGE
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
        return EXIT_USAGE
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
    return EXIT_OK if healthy else EXIT_MISMATCH


def _exhaustive(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from walcheck.sidebyside.exhaustive import run_exhaustive

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
    return EXIT_OK if ok else EXIT_MISMATCH


def _as_json(report: CampaignReport) -> dict[str, object]:
    return {
        "design": report.design,
        "ok": report.ok,
        "seconds": round(report.seconds, 3),
        "figures": report.figures,
        "findings": [
            {
                "machine": f.machine,
                "kind": f.kind,
                "guarantee": f.guarantee,
                "message": f.message,
                "trace": list(f.trace),
            }
            for f in report.findings
        ],
        "missed_defects": report.missed,
    }


def _as_text(report: CampaignReport) -> str:
    lines = [f"design {report.design}: {report.seconds:.1f} s"]
    figures = ", ".join(f"{name} {count:,}" for name, count in sorted(report.figures.items()))
    lines.append(f"  {figures}")
    if report.design == m.Design.FIXED.value:
        if report.ok:
            lines.append(
                "  guarantees G1-G7 held at every step and after every crash; the reference and "
                "the model agreed on every state variable, result, error and region byte"
            )
        for finding in report.findings:
            lines.append("  COUNTEREXAMPLE (" + finding.kind + ")")
            lines.append("  " + finding.render().replace("\n", "\n  "))
    else:
        found = {f.machine for f in report.findings}
        for hunt in DEFECT_HUNTS:
            status = "NOT FOUND" if hunt.defect in report.missed else "found"
            lines.append(f"  {hunt.defect} ({hunt.guarantee}) {hunt.title}: {status}")
            for finding in report.findings:
                if finding.machine == hunt.config.name and finding.machine in found:
                    lines.append("    " + finding.render().replace("\n", "\n    "))
        if report.ok:
            lines.append("  every defect catalogued in spec/defects.md was found")
    lines.append("result: " + ("OK" if report.ok else "MISMATCH"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
