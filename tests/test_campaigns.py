"""Campaigns beyond CI (walcheck/fuzz/): workers sharing Hypothesis's example
database through Redis, and HypoFuzz running the FIXED machines.

The Redis test starts its own redis-server (Debian's package, installed by
.ci/run) on 127.0.0.1 at a free port; one worker finds a planted failure
(tests/fuzz_planted.py), another worker, replaying only, finds the same from
the shared database, and a worker on an empty database finds nothing. The
HypoFuzz test needs the ``fuzz`` extra in a venv of its own (.ci/run makes it
and names its python in WALCHECK_FUZZ_PYTHON)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLANTED = "tests.fuzz_planted:PlantedGarbledWriteFixed"
FUZZ_PYTHON = os.environ.get("WALCHECK_FUZZ_PYTHON", str(ROOT / ".venv-fuzz" / "bin" / "python"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    pytest.importorskip("redis", reason="the redis package: pip install -e '.[test]'")
    import redis

    port = _free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _worker(url: str, *options: str) -> tuple[int, dict[str, object]]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "walcheck.fuzz",
            "--engine",
            "workers",
            "--worker",
            "0",
            "--target",
            PLANTED,
            "--redis",
            url,
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, completed.stdout + completed.stderr
    return completed.returncode, json.loads(lines[-1])


def test_workers_share_a_failure_through_redis(redis_url: str) -> None:
    code, found = _worker(redis_url, "--seconds", "120")
    assert code == 1 and found["machine"] == PLANTED, found
    assert "region bytes differ" in str(found["message"])
    # Another worker, generating nothing, replays the failure from the shared database.
    code, replayed = _worker(redis_url, "--replay-only")
    assert code == 1, replayed
    assert (replayed["message"], replayed["trace"]) == (found["message"], found["trace"])
    # The same worker on an empty database (Redis's database 1) has nothing to replay.
    code, nothing = _worker(redis_url.removesuffix("/0") + "/1", "--replay-only")
    assert code == 0 and nothing["machine"] is None, nothing


def test_hypofuzz_runs_the_fixed_machines(tmp_path: Path) -> None:
    if not Path(FUZZ_PYTHON).exists():
        pytest.skip(
            f"no HypoFuzz venv at {FUZZ_PYTHON}: python3 -m venv .venv-fuzz && "
            ".venv-fuzz/bin/pip install -e '.[fuzz]' (or set WALCHECK_FUZZ_PYTHON)"
        )
    examples = tmp_path / "examples"
    completed = subprocess.run(
        [FUZZ_PYTHON, "-m", "walcheck.fuzz", "--seconds", "12", "-n", "1", "--examples-dir", str(examples)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "using 1 process to fuzz 4 tests" in output, output
    # HypoFuzz keeps its corpus of the examples it ran in the database.
    assert sum(1 for path in examples.rglob("*") if path.is_file()) > 0, output
