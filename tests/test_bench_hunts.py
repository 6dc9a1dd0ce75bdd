"""``walcheck bench --hunts`` (walcheck/bench/hunts.py): each defect's hunt on
seed after seed, with the seeds that found it, times and trace lengths."""

from __future__ import annotations

import json
from pathlib import Path

from walcheck.cli import main


def test_bench_hunts_reports_each_seed_of_a_hunt(tmp_path: Path) -> None:
    report = tmp_path / "hunts.json"
    code = main(["bench", "--hunts", "--seeds", "3", "--defect", "D3", "--json", str(report)])
    rows = json.loads(report.read_text())
    assert code == 0, rows
    assert [(row["defect"], row["seeds"], row["found"]) for row in rows] == [("D3", 3, 3)]
    # D3's shortest trace (spec/defects.md): the create alone.
    assert rows[0]["median_steps"] == 1 and rows[0]["worst_seconds"] < 60


def test_bench_hunts_refuses_an_unknown_defect() -> None:
    assert main(["bench", "--hunts", "--defect", "D9"]) == 2
