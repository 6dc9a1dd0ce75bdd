"""The conformance vectors in spec/vectors (spec/porting.md P5).

They must be exactly what the model produces now, and the reference's drivers
must replay them: the FIXED driver the fixed/ ones, the ORIGINAL driver the
original/ ones. A wrong driver, or a tampered vector, must fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import model as m
from walcheck import figures
from walcheck.cli import main
from walcheck.conformance.vectors import DEFAULT_DIRECTORY, replay_vectors, stale_vectors, vector_files

REFERENCE = [sys.executable, "-m", "reference.driver"]


def test_vectors_are_what_the_model_produces() -> None:
    assert stale_vectors() == [], "run `walcheck vectors` and commit spec/vectors"


def test_regenerating_gives_identical_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--check", "--out", str(tmp_path)]) == 1  # nothing there yet
    assert main(["vectors", "--out", str(tmp_path)]) == 0
    assert main(["vectors", "--check", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    for design in m.Design:
        written = sorted(p.name for p in (tmp_path / design.value).glob("*.json"))
        stored = sorted(p.name for p in (DEFAULT_DIRECTORY / design.value).glob("*.json"))
        assert written == stored and len(written) >= 15
        for name in written:
            assert (tmp_path / design.value / name).read_bytes() == (
                DEFAULT_DIRECTORY / design.value / name
            ).read_bytes()


@pytest.mark.parametrize("design", list(m.Design), ids=lambda d: d.value)
def test_reference_driver_replays_its_design_vectors(design: m.Design) -> None:
    files = vector_files(DEFAULT_DIRECTORY, design)
    report = replay_vectors([*REFERENCE, "--design", design.value], files)
    failed = [(r.path.name, r.detail) for r in report.results if not r.ok]
    assert failed == []
    assert report.figures.crash_images >= 4 and report.figures.state_compared > 100
    figures.add(figures.VECTORS_REPLAYED, design.value, len(report.results))


def test_the_original_driver_fails_the_fixed_vectors() -> None:
    files = vector_files(DEFAULT_DIRECTORY, m.Design.FIXED)
    report = replay_vectors([*REFERENCE, "--design", "original"], files)
    failed = {r.path.stem for r in report.results if not r.ok}
    # Where the designs differ (D1-D4, D6): at least these scenarios.
    assert {"tiny-region", "errors", "sequence-exhausted"} <= failed


def test_a_tampered_vector_fails(tmp_path: Path) -> None:
    vector = json.loads((DEFAULT_DIRECTORY / "fixed" / "basic.json").read_text())
    for step in vector["steps"]:
        if step.get("request", {}).get("op") == "stats":
            step["response"]["pending_bytes"] += 1
            break
    tampered = tmp_path / "basic.json"
    tampered.write_text(json.dumps(vector))
    report = replay_vectors(REFERENCE, [tampered])
    assert not report.results[0].ok
    assert "answer differs" in report.results[0].detail


def test_cli_replays_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["conform", "--vectors", str(DEFAULT_DIRECTORY), "--", *REFERENCE])
    out = capsys.readouterr().out
    assert code == 0 and "result: PASS" in out and " 0 failed" in out
