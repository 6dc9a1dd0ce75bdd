"""tests/ci_plugin.py: a skip fails the run in CI and passes outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_skipping_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_needs_a_tool() -> None:\n    pytest.skip('strace is not installed')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.ci_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_skips.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skip_fails_in_ci(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, "true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped in CI, which must run every test: Skipped: strace is not installed" in result.stdout


def test_a_skip_is_a_skip_outside_ci(tmp_path: Path) -> None:
    result = _run_skipping_test(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
