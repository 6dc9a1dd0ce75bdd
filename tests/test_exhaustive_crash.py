"""Exhaustive crash checking on short traces (spec/faults.md): every crash
point, every power-loss and torn-write image. FIXED must recover every
acknowledged record from all of them; ORIGINAL must be caught failing."""

from __future__ import annotations

import model as m
from walcheck import figures
from walcheck.sidebyside.exhaustive import ExhaustiveReport, run_exhaustive


def _exhaustive(design: m.Design) -> ExhaustiveReport:
    """Run, and count the crash points and images checked in the suite's figures."""
    report = run_exhaustive(design)
    figures.add(figures.EXHAUSTIVE_CRASH_POINTS, design, report.crash_points)
    figures.add(figures.EXHAUSTIVE_IMAGES, design, report.images)
    return report


def test_exhaustive_crash_images_fixed() -> None:
    report = _exhaustive(m.Design.FIXED)
    print(report.render())
    assert report.violations == [], "\n".join(report.violations[:5])
    assert report.crash_points >= 45  # every storage call of the four traces
    assert report.images > 100_000


def test_exhaustive_crash_images_catch_original() -> None:
    report = _exhaustive(m.Design.ORIGINAL)
    print(report.render())
    assert report.violations, "ORIGINAL survived every crash image"
    assert any("G5 violated" in v for v in report.violations)  # C1
    assert not any("without a crash" in v for v in report.violations)  # the traces avoid D1-D4
