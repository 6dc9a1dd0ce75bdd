"""The driver process (spec/porting.md P1.1): a port's driver started as a
subprocess, spoken to in JSON lines, with a timeout on every answer."""

from __future__ import annotations

import json
import os
import selectors
import shlex
import subprocess
import tempfile
import time
from collections.abc import Sequence

from walcheck.conformance.transcript import PROTOCOL, Json

# ---------------------------------------------------------------------------
# The driver process (P1.1)
# ---------------------------------------------------------------------------


class DriverFailure(Exception):
    """The driver broke the protocol: no answer in time, not JSON, or it exited."""


# The answer to hello waits for the driver's start-up (an interpreter, a
# runtime) too: at least this long, whatever the timeout for answers is.
STARTUP_SECONDS = 30.0


class DriverProcess:
    def __init__(self, command: Sequence[str], timeout: float = 10.0) -> None:
        self.command = list(command)
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the driver
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.name = ""
        self.requests = 0

    def start(self) -> None:
        self.stop()
        try:
            self._process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
            )
        except OSError as error:
            raise DriverFailure(f"cannot start {shlex.join(self.command)}: {error}") from error
        self._buffer = b""
        answer = self.request(
            {"op": "hello", "protocol": PROTOCOL}, timeout=max(self.timeout, STARTUP_SECONDS)
        )
        if not answer.get("ok") or answer.get("protocol") != PROTOCOL:
            raise DriverFailure(f"the driver does not speak protocol {PROTOCOL}: {answer}")
        self.name = str(answer.get("name", ""))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            self.start()

    def stop(self, *, graceful: bool = True) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if graceful and process.poll() is None and process.stdin is not None:
                process.stdin.write(b'{"op": "quit"}\n')
                process.stdin.flush()
                process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def request(self, request: Json, *, timeout: float | None = None) -> Json:
        """Send ``request`` and wait for its answer, at most ``timeout``
        seconds (the driver's own timeout by default)."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise DriverFailure("the driver is not running")
        self.requests += 1
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except OSError as error:
            raise DriverFailure(
                f"the driver stopped reading ({error}); stderr: {self.stderr_tail()}"
            ) from error
        line = self._read_line(process, self.timeout if timeout is None else timeout)
        try:
            answer = json.loads(line)
        except ValueError as error:
            raise DriverFailure(f"the driver answered a line that is not JSON: {line[:200]!r}") from error
        if not isinstance(answer, dict):
            raise DriverFailure(f"the driver answered {answer!r}, not a JSON object")
        return answer

    def _read_line(self, process: subprocess.Popen[bytes], timeout: float) -> bytes:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        descriptor = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.stop(graceful=False)  # a driver that hangs would not read "quit" either
                    raise DriverFailure(f"no answer within {timeout:g} s")
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    code = process.wait()
                    self._process = None
                    raise DriverFailure(f"the driver exited (status {code}); stderr: {self.stderr_tail()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line
