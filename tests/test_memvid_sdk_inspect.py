"""memvid-sdk loses an acknowledged put by D1, and ``walcheck inspect`` shows it
(spec/defects.md D1, "Seen on memvid-sdk"; spec/inspect.md I3, I4).

tools/make_memvid_files.py's recipe ``d1_lost_put`` fills a fresh memory's 64 KiB
region with puts, then puts a text sized so that its frame record ends 20 bytes
before the region's end (about 20). The put returns normally; memvid's append writes its
sentinel at position 0; the commit that follows finds nothing pending, appends
its commit record at 0 with the frame's sequence, and checkpoints it. The SDK's
frame count does not change: the document is gone.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from walcheck.cli import main as walcheck_main
from walcheck.real.inspect import as_json, inspect_file
from walcheck.real.inspect.evidence import LOST_HEADLINE, SEQUENCE_REUSED


def main(arguments: list[str]) -> int:
    """``walcheck inspect ARGUMENTS``."""
    return walcheck_main(["inspect", *arguments])


TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_memvid_files.py"

if importlib.util.find_spec("memvid_sdk") is None:
    if os.environ.get("CI"):
        raise RuntimeError("memvid-sdk is missing; CI installs it with pip install -e '.[test]'")
    pytest.skip("memvid-sdk is not installed; pip install -e '.[test]' installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def lost_put(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("d1")
    child = subprocess.run(
        [sys.executable, str(TOOL), str(out), "d1_lost_put"],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMVID_TELEMETRY": "0"},
        check=False,
    )
    assert child.returncode == 0, child.stderr
    did: dict[str, int] = json.loads((out / "d1_lost_put.json").read_text())
    return out / "d1_lost_put.mv2", did


def test_memvid_sdk_loses_the_put(lost_put: tuple[Path, dict[str, int]]) -> None:
    _, did = lost_put
    assert did["frames_after_last_put"] == did["frames_before_last_put"]  # acknowledged, and gone


def test_inspect_shows_the_lost_put(
    lost_put: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, did = lost_put
    report = inspect_file(path)
    assert report.header is not None and report.past_end is not None
    lost = [e for e in report.past_end.entries if e.offset == did["lost_frame_position"]]
    (frame,) = lost
    # It ended fewer than 48 bytes before the region's end (the recipe aims at 20; a frame's
    # size for a text varies by a few bytes), where memvid's sentinel goes to 0 (F3.2).
    assert 0 < report.header.wal_size - frame.end < 48
    (live,) = [e for e in report.log if e.sequence == frame.sequence]  # the commit record, at 0
    assert live.offset == 0 and live.checksum != frame.checksum
    (item,) = report.evidence
    assert (item.kind, item.offsets, item.defects) == (SEQUENCE_REUSED, (frame.offset,), ("D1", "C3"))
    assert all(v.error is None for v in report.verdicts)  # every reader opens it: the loss is silent
    assert main([str(path)]) == 1
    text = capsys.readouterr().out
    assert f"{LOST_HEADLINE.upper()} (sequence at offset: {frame.sequence} at {frame.offset})" in text
    printed = as_json(report)
    assert printed["evidence"][0]["defects"] == ["D1", "C3"]  # type: ignore[index]
