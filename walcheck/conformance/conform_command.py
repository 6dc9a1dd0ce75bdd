"""The ``conform`` and ``vectors`` commands of walcheck (spec/porting.md)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import model as m
from walcheck.conformance.transcript import (
    ConformanceFailure,
    DriverFailure,
    DriverProcess,
    ReplayFigures,
    replay,
    run_conform,
)
from walcheck.conformance.vectors import DEFAULT_DIRECTORY, events_of, stale_vectors, write_vectors
from walcheck.oracle import GuaranteeViolation

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2


def _driver_command(args: argparse.Namespace, err: TextIO) -> list[str] | None:
    command = list(args.driver)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        err.write(
            "walcheck conform: give the driver's command after '--', e.g. -- python -m reference.driver\n"
        )
        return None
    return command


def _progress(args: argparse.Namespace, err: TextIO) -> Any:
    tty = err.isatty()
    last = [0.0]

    def progress(done: int, total: int, elapsed: float) -> None:
        if args.quiet or (elapsed - last[0] < 0.25 and done < total):
            return
        last[0] = elapsed
        line = f"  traces {done}/{total} ({elapsed:.1f} s)"
        err.write(("\r" + line.ljust(60)) if tty else line + "\n")
        err.flush()

    return progress


def conform_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0: every trace (or vector) conforms; 1: a failure; 2: bad usage or
    a driver that cannot be started."""
    command = _driver_command(args, err)
    if command is None:
        return EXIT_USAGE
    design = m.Design(args.design)
    if args.vectors is not None:
        return _replay_vectors(args, command, design, out, err)
    try:
        report = run_conform(
            command,
            design=design,
            examples=args.examples,
            max_steps=args.steps,
            seed=args.seed,
            guarantees=not args.no_guarantees,
            timeout=args.timeout,
            progress=_progress(args, err),
        )
    except DriverFailure as failure:
        err.write(f"\nwalcheck conform: {failure}\n")
        return EXIT_USAGE
    if not args.quiet and err.isatty():
        err.write("\n")
    if args.json:
        json.dump(report.as_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(report.render())
    return EXIT_OK if report.ok else EXIT_MISMATCH


@dataclass
class VectorResult:
    path: Path
    ok: bool
    detail: str = ""
    step: int | None = None


@dataclass
class VectorReport:
    results: list[VectorResult] = field(default_factory=list)
    figures: ReplayFigures = field(default_factory=ReplayFigures)
    seconds: float = 0.0


def vector_files(path: Path, design: m.Design) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.json"))
    if not files and (path / design.value).is_dir():
        files = sorted((path / design.value).glob("*.json"))
    return files


def replay_vectors(command: list[str], files: list[Path], timeout: float = 10.0) -> VectorReport:
    """Replay each vector on a fresh file; the first difference in a vector ends it."""
    started = time.monotonic()
    report = VectorReport()
    driver = DriverProcess(command, timeout)
    driver.start()
    try:
        with tempfile.TemporaryDirectory(prefix="walcheck-vectors-") as workdir:
            for index, path in enumerate(files):
                vector = json.loads(path.read_text())
                file = Path(workdir) / f"vector-{index}.mv2"
                driver.ensure_running()
                try:
                    replay(events_of(vector), driver, file, guarantees=False, figures=report.figures)
                    report.results.append(VectorResult(path, True))
                except ConformanceFailure as failure:
                    report.results.append(VectorResult(path, False, failure.detail, failure.index))
                except (DriverFailure, GuaranteeViolation, ValueError, KeyError) as error:
                    report.results.append(VectorResult(path, False, f"{type(error).__name__}: {error}"))
                finally:
                    try:
                        if driver.running:
                            driver.request({"op": "close"})
                    except DriverFailure:
                        pass
    finally:
        driver.stop()
    report.seconds = time.monotonic() - started
    return report


def _replay_vectors(
    args: argparse.Namespace, command: list[str], design: m.Design, out: TextIO, err: TextIO
) -> int:
    files = vector_files(args.vectors, design)
    if not files:
        err.write(f"walcheck conform: no vectors (*.json) in {args.vectors}\n")
        return EXIT_USAGE
    try:
        report = replay_vectors(command, files, args.timeout)
    except DriverFailure as failure:
        err.write(f"walcheck conform: {failure}\n")
        return EXIT_USAGE
    failed = [r for r in report.results if not r.ok]
    if args.json:
        json.dump(
            {
                "ok": not failed,
                "vectors": [
                    {"path": str(r.path), "ok": r.ok, "step": r.step, "detail": r.detail}
                    for r in report.results
                ],
                "requests": report.figures.requests,
                "crash_images": report.figures.crash_images,
                "states_compared": report.figures.state_compared,
                "seconds": round(report.seconds, 3),
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for result in report.results:
            status = "ok" if result.ok else f"FAIL at step {result.step}"
            out.write(f"  {result.path.name}: {status}\n")
            if not result.ok:
                out.write("    " + result.detail.replace("\n", "\n    ") + "\n")
        f = report.figures
        out.write(
            f"{len(report.results)} vectors, {len(failed)} failed; {f.requests:,} requests, "
            f"{f.crash_images:,} crash images, {f.state_compared:,} states compared, {report.seconds:.1f} s\n"
        )
        out.write("result: " + ("PASS" if not failed else "FAIL") + "\n")
    return EXIT_OK if not failed else EXIT_MISMATCH


def vectors_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    directory = args.out if args.out is not None else DEFAULT_DIRECTORY
    if args.check:
        problems = stale_vectors(directory)
        for problem in problems:
            out.write(f"  {problem}\n")
        out.write(
            f"vectors in {directory}: " + ("up to date\n" if not problems else f"{len(problems)} stale\n")
        )
        return EXIT_OK if not problems else EXIT_MISMATCH
    written = write_vectors(directory)
    out.write(f"wrote {len(written)} vectors to {directory}\n")
    return EXIT_OK
