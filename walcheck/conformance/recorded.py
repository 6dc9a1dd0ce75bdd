"""``walcheck conform --recorded-crashes``: a port's real calls under every crash state
(issue 11, spec/persistence.md; spec/porting.md "Recorded crashes").

``walcheck conform`` writes its crash images from the model, so a port that
drops or moves an fsync passes it. This mode records what the port really
does: a session runner (``python -m walcheck.conformance.recorded session
[--appends N] [--seed S] DIR -- DRIVER...``) runs under strace, creates the region file as the protocol
says (P1: ``region_offset`` bytes of 0xA5, then the zeroed region, synced with
its directory), starts the driver, and sends it synced appends and batches
(``skip_sync``, appends, ``flush``), reporting each acknowledgement on
``WALCHECK_ACK_FD`` as it is answered. Every crash state of the recorded calls
is then written as real files and opened by the port's own driver, read-only
(``open`` then ``pending``), and the oracle checks that every acknowledged
record is there, nothing else is, and the file opens (G1, G2, G5). A failure
is printed with its crash point and the calls kept and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from walcheck.conformance.driver import DriverFailure, DriverProcess
from walcheck.exitcodes import ExitCode, refuse
from walcheck.real.syscalls.campaign import CrashReport, check_recording
from walcheck.real.syscalls.expectations import Reader, Records, Unopenable
from walcheck.real.syscalls.recorder import ACK_FD_VARIABLE, record
from walcheck.real.syscalls.strace_output import RecordingError

FILE = "wal.bin"
REGION_OFFSET = 4096
REGION_SIZE = 8192
PAYLOAD_SIZE_MAX = 600


def _open_request(path: Path, *, read_only: bool) -> dict[str, object]:
    return {
        "op": "open",
        "path": str(path),
        "region_offset": REGION_OFFSET,
        "region_size": REGION_SIZE,
        "checkpoint_pos": 0,
        "checkpoint_sequence": 0,
        "read_only": read_only,
    }


def create_region_file(path: Path) -> None:
    """P1: the bytes before the region (0xA5), then the zeroed region; synced,
    and its directory synced, so that the file itself survives any crash."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\xa5" * REGION_OFFSET + bytes(REGION_SIZE))
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def run_session(directory: Path, driver: Sequence[str], *, appends: int, seed: int) -> None:
    """The session under strace: synced appends and batches until ``appends``
    records or the region is full, each acknowledgement reported as answered."""
    ack = int(os.environ.get(ACK_FD_VARIABLE, sys.stdout.fileno()))

    def report(line: str) -> None:
        os.write(ack, (line + "\n").encode())

    path = directory / FILE
    create_region_file(path)
    report("created")
    process = DriverProcess(driver)
    process.start()
    try:
        opened = process.request(_open_request(path, read_only=False))
        if not opened.get("ok"):
            raise DriverFailure(f"the driver cannot open the region file: {opened}")
        rng = random.Random(seed)
        n = 0
        while n < appends:
            batch = rng.random() < 0.5
            if batch and not process.request({"op": "skip_sync", "skip": True}).get("ok"):
                raise DriverFailure("skip_sync refused")
            full = False
            for _ in range(rng.randint(2, 4) if batch else 1):
                # walcheck.trace.random_payload's bytes, drawn in an older order that
                # tests/test_conform_recorded.py's minimal trace depends on.
                payload = (f"{n}:".encode() + rng.randbytes(PAYLOAD_SIZE_MAX))[
                    : rng.randint(8, PAYLOAD_SIZE_MAX)
                ]
                report(f"begin {payload.hex()}")
                answer = process.request({"op": "append", "payload": payload.hex()})
                if not answer.get("ok"):
                    full = True  # the region is full: this session is done
                    break
                report(f"append {answer['sequence']} {'unsynced' if batch else 'synced'}")
                n += 1
            if batch:
                if process.request({"op": "flush"}).get("ok"):
                    report("flush")
                process.request({"op": "skip_sync", "skip": False})
            if full:
                break
        process.request({"op": "close"})
    finally:
        process.stop()


def driver_reader(process: DriverProcess) -> Reader:
    """The port's own recovery, read-only: ``open`` then ``pending`` (checkpoint 0)."""

    def open_state(directory: Path) -> tuple[Records, int]:
        path = directory / FILE
        if not path.is_file():
            raise Unopenable(f"{FILE} does not exist")
        process.ensure_running()
        opened = process.request(_open_request(path, read_only=True))
        if not opened.get("ok"):
            raise Unopenable(f"the driver's open answered {opened.get('error')}")
        try:
            pending = process.request({"op": "pending"})
        finally:
            process.request({"op": "close"})
        if not pending.get("ok"):
            raise Unopenable(f"the driver's pending answered {pending.get('error')}")
        return [(int(r["sequence"]), bytes.fromhex(r["payload"])) for r in pending["records"]], 0

    return Reader("the driver, read-only", "port", True, open_state)


def check_driver(
    driver: Sequence[str],
    *,
    appends: int = 24,
    seed: int = 0,
    samples: int = 16,
    max_states: int | None = None,
    timeout: float = 10.0,
) -> CrashReport:
    """Record one session of ``driver`` and check every crash state its calls allow."""
    with tempfile.TemporaryDirectory(prefix="walcheck-conform-recorded-") as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        session = [
            sys.executable, "-m", "walcheck.conformance.recorded", "session",
            "--appends", str(appends), "--seed", str(seed), str(root), "--", *driver,
        ]  # fmt: skip
        recording = record(session, root)
        if recording.returncode != 0:
            raise DriverFailure(f"the session failed ({recording.returncode}): {recording.stderr[-2000:]}")
    reader_process = DriverProcess(driver, timeout)
    reader_process.start()
    try:
        return check_recording(
            recording,
            [driver_reader(reader_process)],
            name=f"recorded crashes of {' '.join(driver)}",
            seed=seed,
            samples_per_point=samples,
            max_states=max_states,
            count_figures=True,
        )
    finally:
        reader_process.stop()


def run_recorded(args: argparse.Namespace, command: list[str], out: TextIO, err: TextIO) -> ExitCode:
    """``walcheck conform --recorded-crashes``: exit 0 when the driver's own
    recovery keeps every promise in every state, 1 when it does not, 2 when the
    driver or strace cannot run."""
    try:
        report = check_driver(command, seed=args.seed, timeout=args.timeout)
    except (DriverFailure, RecordingError, OSError) as error:
        return refuse(err, out, "conform", str(error), as_json=args.json)
    report.write(out, as_json=args.json)  # the driver's reader is promised: every failure shown
    return ExitCode.FINDING if report.failures else ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walcheck.conformance.recorded")
    sub = parser.add_subparsers(dest="what", required=True)
    session = sub.add_parser("session", help="the session strace records (internal)")
    session.add_argument("directory", type=Path)
    session.add_argument("--appends", type=int, default=24)
    session.add_argument("--seed", type=int, default=0)
    session.add_argument("driver", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    driver = args.driver[1:] if args.driver[:1] == ["--"] else args.driver
    run_session(args.directory, driver, appends=args.appends, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
