"""``walcheck check``: the stateful campaign, model against reference, with a summary."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

import model as m
from walcheck import arguments
from walcheck.exitcodes import ExitCode
from walcheck.sidebyside.hunts import DEFECT_HUNTS, CampaignReport, run_campaign

HELP = "run the stateful campaign (model vs reference) and print a summary"
DESCRIPTION = """Run the stateful machines: the model and the file-backed reference side by side,
every state variable compared after every step, and an independent oracle checking
the guarantees of spec/semantics.md S6. With --design original, hunt each defect
catalogued in spec/defects.md and show its shrunk counterexample."""


def add_parser(subparsers: arguments.Subparsers) -> argparse.ArgumentParser:
    check = arguments.add_command(subparsers, "check", HELP, DESCRIPTION)
    check.add_argument(
        "--design",
        choices=[d.value for d in m.Design],
        default="fixed",
        help="which design to check (default: fixed)",
    )
    # Spelled out as conform_command.py's options are, on purpose: each flag its own type, default and help.
    check.add_argument(
        "--examples",
        type=arguments.positive_int,
        default=1000,
        help="examples (state machine runs) in all (default: 1000)",
    )
    check.add_argument(
        "--seconds",
        type=arguments.positive_float,
        default=None,
        help="stop starting new examples after this many seconds",
    )
    check.add_argument(
        "--steps", type=arguments.positive_int, default=40, help="steps per example (default: 40)"
    )
    check.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    arguments.add_json_and_quiet(check, "summary")
    return check


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = arguments.standard_streams(out, err)
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
    return ExitCode.OK if report.ok else ExitCode.FINDING


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
        for hunt in DEFECT_HUNTS:
            status = "NOT FOUND" if hunt.defect in report.missed else "found"
            lines.append(f"  {hunt.defect} ({hunt.guarantee}) {hunt.title}: {status}")
            for finding in report.findings:
                if finding.machine == hunt.config.name:
                    lines.append("    " + finding.render().replace("\n", "\n    "))
        if report.ok:
            lines.append("  every defect catalogued in spec/defects.md was found")
    lines.append("result: " + ("OK" if report.ok else "MISMATCH"))
    return "\n".join(lines) + "\n"
