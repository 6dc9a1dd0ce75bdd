"""``walcheck fuzz``: a campaign on the FIXED machines, on every core.

    walcheck fuzz                          HypoFuzz on every core, until interrupted
    walcheck fuzz --seconds 3600           an hour, then replay what it saved
    walcheck fuzz --engine workers -n 8    plain Hypothesis workers
    walcheck fuzz --redis redis://host:6379/0 ...   the example database in Redis, shared

HypoFuzz needs the ``fuzz`` extra, in a venv of its own (it pins Hypothesis
6.157.0: hypofuzz 25.11.1 crashes on a failure with newer releases). Exit 0
when the campaign found nothing, 1 when it found a failure (saved in the
database, printed), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from walcheck.arguments import Subparsers, add_command, positive_float, positive_int, standard_streams
from walcheck.exitcodes import ExitCode
from walcheck.fuzz.database import DIRECTORY_VARIABLE, REDIS_URL_VARIABLE
from walcheck.fuzz.workers import DEFAULT_TARGETS, WorkerReport

ROOT = Path(__file__).resolve().parents[2]
# HypoFuzz collects these test cases (RuleBasedStateMachine.TestCase) through pytest.
HYPOFUZZ_TESTS = ("tests/test_stateful.py", "tests/test_stateful_crash.py")
# The FIXED machines only: those files also hold ORIGINAL ones (the crash inside
# ORIGINAL's growth), which are not DEFAULT_TARGETS' kind of campaign.
HYPOFUZZ_SELECTION = "TestStateful and Fixed"


HELP = "a long campaign on the FIXED machines: HypoFuzz or Hypothesis workers, every core"
DESCRIPTION = """Run the FIXED stateful machines for as long as you like, on every core, with
Hypothesis's example database in a directory or in Redis shared by many machines."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "fuzz", HELP, DESCRIPTION)
    parser.add_argument("--engine", choices=["hypofuzz", "workers"], default="hypofuzz")
    parser.add_argument(
        "-n",
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="processes (default: every core)",
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=None, help="stop after this long (default: never)"
    )
    parser.add_argument(
        "--redis", metavar="URL", help="the example database in Redis, e.g. redis://host:6379/0"
    )
    parser.add_argument("--examples-dir", metavar="DIR", help="the example database in this directory")
    parser.add_argument(
        "--target",
        dest="targets",
        action="append",
        metavar="MODULE:CLASS",
        help="a machine for the workers engine (repeatable; default: the three FIXED machines)",
    )
    parser.add_argument("--steps", type=positive_int, default=40, help="steps per example (workers engine)")
    parser.add_argument(
        "--replay-only", action="store_true", help="workers engine: replay the database, generate nothing"
    )
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def _environment(args: argparse.Namespace) -> dict[str, str]:
    environment = dict(os.environ)
    if args.redis:
        environment[REDIS_URL_VARIABLE] = args.redis
    if args.examples_dir:
        environment[DIRECTORY_VARIABLE] = args.examples_dir
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    return environment


def _check_redis(url: str | None, err: TextIO) -> bool:
    if not url:
        return True
    if importlib.util.find_spec("redis") is None:
        print("walcheck fuzz: --redis needs the redis package: pip install redis", file=err)
        return False
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except (redis.RedisError, ValueError) as error:
        print(f"walcheck fuzz: cannot reach Redis at {url}: {error}", file=err)
        return False
    return True


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> ExitCode:
    out, err = standard_streams(out, err)
    if not _check_redis(args.redis, err):
        return ExitCode.USAGE
    if args.worker is not None:
        return _run_one_worker(args, out)
    if args.engine == "hypofuzz":
        return _run_hypofuzz(args, out, err)
    return _run_workers(args, out, err)


def _run_one_worker(args: argparse.Namespace, out: TextIO) -> ExitCode:
    from walcheck.fuzz.workers import run_worker

    report = run_worker(
        args.worker,
        tuple(args.targets or DEFAULT_TARGETS),
        seconds=args.seconds if args.seconds is not None else math.inf,
        steps=args.steps,
        redis_url=args.redis,
        directory=args.examples_dir,
        replay_only=args.replay_only,
    )
    print(report.to_json(), file=out, flush=True)
    return ExitCode.FINDING if report.machine is not None else ExitCode.OK


def _run_workers(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    command = [sys.executable, "-m", "walcheck.fuzz", "--engine", "workers", "--steps", str(args.steps)]
    for option, value in (
        ("--seconds", args.seconds),
        ("--redis", args.redis),
        ("--examples-dir", args.examples_dir),
    ):
        if value is not None:
            command += [option, str(value)]
    for target in args.targets or ():
        command += ["--target", target]
    if args.replay_only:
        command.append("--replay-only")
    print(f"walcheck fuzz: {args.workers} Hypothesis workers", file=err, flush=True)
    processes = [
        subprocess.Popen(
            [*command, "--worker", str(index)], stdout=subprocess.PIPE, text=True, env=_environment(args)
        )
        for index in range(args.workers)
    ]
    reports: list[WorkerReport] = []
    try:
        for process in processes:
            stdout, _ = process.communicate()
            reports += [WorkerReport.from_json(line) for line in stdout.splitlines() if line.startswith("{")]
    except KeyboardInterrupt:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait()
    found = [report for report in reports if report.machine is not None]
    batches = sum(report.batches for report in reports)
    print(f"{len(reports)} workers, {batches} batches of examples, {len(found)} found a failure", file=out)
    for report in found:
        print(f"worker {report.worker}, {report.machine}: {report.message}", file=out)
        print("\n".join(f"    {line}" for line in report.trace), file=out)
    return ExitCode.FINDING if found else ExitCode.OK


def hypofuzz_command(workers: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from hypofuzz.entrypoint import fuzz; fuzz(sys.argv[1:])",
        "--numprocesses",
        str(workers),
        "--no-dashboard",
        "--",
        "-p",
        "walcheck.fuzz.pytest_profile",
        "-p",
        "no:cacheprovider",
        *HYPOFUZZ_TESTS,
        "-k",
        HYPOFUZZ_SELECTION,
    ]


def _run_hypofuzz(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    if importlib.util.find_spec("hypofuzz") is None:
        print(
            "walcheck fuzz: HypoFuzz is not installed; in a venv of its own: pip install -e '.[fuzz]'",
            file=err,
        )
        return ExitCode.USAGE
    environment = _environment(args)
    environment["HYPOTHESIS_PROFILE"] = "fuzz"
    environment.pop("CI", None)  # the ci profile is derandomised, which HypoFuzz refuses to fuzz
    process = subprocess.Popen(
        hypofuzz_command(args.workers), cwd=ROOT, env=environment, start_new_session=True
    )
    started = time.monotonic()
    try:
        process.wait(timeout=args.seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)
        process.wait()
    print(
        f"HypoFuzz ran {time.monotonic() - started:.0f} s on {args.workers} processes", file=out, flush=True
    )
    # What HypoFuzz saved replays in an ordinary pytest run over the same database.
    environment["HYPOTHESIS_PROFILE"] = "fuzz-replay"
    replay = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *hypofuzz_command(args.workers)[7:]],
        cwd=ROOT,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
    )
    print("\n".join(replay.stdout.splitlines()[-5:]), file=out)
    return ExitCode.OK if replay.returncode == 0 else ExitCode.FINDING
