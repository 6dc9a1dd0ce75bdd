"""Exhaustive crash checking on short traces (spec/faults.md): every crash
point, every power-loss and torn-write image. FIXED must recover every
acknowledged record from all of them; ORIGINAL must be caught failing."""

from __future__ import annotations

import model as m
from walcheck.exhaustive import run_exhaustive


def test_exhaustive_crash_images_fixed() -> None:
    report = run_exhaustive(m.Design.FIXED)
    print(report.render())
    assert report.violations == [], "\n".join(report.violations[:5])
    assert report.crash_points >= 45  # every storage call of the four traces
    assert report.images > 100_000


def test_exhaustive_crash_images_catch_original() -> None:
    report = run_exhaustive(m.Design.ORIGINAL)
    print(report.render())
    assert report.violations, "ORIGINAL survived every crash image"
    assert any("G5 violated" in v for v in report.violations)  # C1
    assert not any("without a crash" in v for v in report.violations)  # the traces avoid D1-D4
