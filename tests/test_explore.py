"""walcheck explore (spec/explore.md): the bounded breadth-first model checker.

ORIGINAL: each catalogued defect reachable in the model is found, from the
configuration built for it, with a shortest trace of the length measured for
it, and no trace one operation shorter exists (a run bounded one below finds
nothing). FIXED: nothing is broken within the default bounds. Planted bugs in
the model are found, so these tests can fail.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace

import pytest

import model as m
import walcheck.modelcheck.search as search_module
from walcheck.cli import main
from walcheck.exitcodes import ExitCode
from walcheck.modelcheck import command
from walcheck.modelcheck.configurations import (
    CONFIGURATIONS,
    CONFIGURATIONS_BY_NAME,
    Configuration,
)
from walcheck.modelcheck.report import CATALOGUE, CHECKPOINT_ERASES, ExploreReport
from walcheck.modelcheck.search import explore, fingerprint
from walcheck.oracle import Oracle
from walcheck.trace import payload_for

# defect -> (configuration, length of its shortest trace: operations after create-and-open).
# Measured with `walcheck explore --design original`; spec/explore.md shows the traces.
SHORTEST = {
    "D3": ("under-header", 0),
    "D1": ("exact-fit", 1),
    "D4": ("empty-payload", 1),
    "D2": ("sequence-end", 2),
    "C1": ("two-sectors", 3),
    "C3": ("wrap", 4),
    "C2": ("wrap", 5),
    "C4": ("exact-fit", 3),
    "M3": ("caller", 2),
    "M4": ("caller", 3),
}


def _shortest(report: ExploreReport, defect: str) -> int | None:
    lengths = [len(v.trace) for v in report.violations if defect in v.catalogue]
    return min(lengths) if lengths else None


_original_reports: dict[tuple[str, int | None], ExploreReport] = {}


def _original(name: str, depth: int | None = None) -> ExploreReport:
    key = (name, depth)
    if key not in _original_reports:
        _original_reports[key] = explore(m.Design.ORIGINAL, CONFIGURATIONS_BY_NAME[name], depth=depth)
    return _original_reports[key]


class TestOriginal:
    @pytest.mark.parametrize("defect", list(SHORTEST))
    def test_each_defect_is_found_with_a_shortest_trace_of_the_measured_length(self, defect: str) -> None:
        name, length = SHORTEST[defect]
        report = _original(name)
        assert defect in CONFIGURATIONS_BY_NAME[name].expects
        assert _shortest(report, defect) == length, [v.render() for v in report.violations]

    @pytest.mark.parametrize("defect", [d for d, (_, length) in SHORTEST.items() if length > 0])
    def test_no_shorter_trace_exists(self, defect: str) -> None:
        """Breadth first: bounded one operation below the shortest trace, the
        search is complete to that depth and finds no trace of the defect."""
        name, length = SHORTEST[defect]
        report = _original(name, depth=length - 1)
        assert report.depth_complete == length - 1 or report.exhausted
        assert _shortest(report, defect) is None

    def test_the_caller_layer_finds_c4_in_memvid_s_recovery_at_open(self) -> None:
        """spec/defects.md M4: memvid's commit() is staged, so C4 strikes in its
        in-place paths: a kill inside the writable open's recovery, after
        record_checkpoint's sentinel and before the header."""
        report = _original("caller")
        c4 = min((v for v in report.violations if v.catalogue == ("C4",)), key=lambda v: len(v.trace))
        assert c4.trace[-1].operation == "crash inside open with recovery, image 2"
        assert len(c4.trace) == 3

    def test_m3_trace_is_the_doctor_then_an_append(self) -> None:
        """M3: memvid's doctor writes wal_sequence 0; the next append is issued 1 again (G4)."""
        report = _original("caller")
        g4 = [v for v in report.violations if v.guarantee == "G4" and v.catalogue == ("M3",)]
        assert g4
        operations = [step.operation for step in min(g4, key=lambda v: len(v.trace)).trace]
        assert operations == ["append 16 bytes", "doctor", "append 16 bytes"]

    def test_the_start_of_a_region_under_one_header_breaks_g6(self) -> None:
        report = _original("under-header")
        assert [(v.guarantee, v.catalogue, len(v.trace)) for v in report.violations] == [("G6", ("D3",), 0)]

    def test_d1_trace_is_the_append_that_leaves_fewer_than_48_bytes(self) -> None:
        report = _original("exact-fit")
        d1 = min((v for v in report.violations if v.catalogue == ("D1",)), key=lambda v: len(v.trace))
        assert d1.guarantee == "G1"
        assert [step.operation for step in d1.trace] == ["append 16 bytes"]

    def test_c3_trace_is_a_batch_append_and_a_crash_inside_the_commit(self) -> None:
        report = _original("wrap")
        c3 = min((v for v in report.violations if "C3" in v.catalogue), key=lambda v: len(v.trace))
        assert c3.guarantee == "G3"
        operations = [step.operation for step in c3.trace]
        assert operations[:3] == ["append 16 bytes", "batch mode on (skip_sync)", "append 16 bytes"]
        assert operations[3].startswith("crash inside commit, header new")

    def test_c4_trace_is_a_full_region_and_a_kill_inside_the_commit(self) -> None:
        """C4, found first by explore: when the pending entries fill the region
        exactly, ORIGINAL's write head is 0 (modulo the region) and
        record_checkpoint's sentinel erases the first entry before the header
        write; a process killed there loses every acknowledged record."""
        report = _original("exact-fit")
        assert report.uncatalogued == []
        c4 = min((v for v in report.violations if v.catalogue == ("C4",)), key=lambda v: len(v.trace))
        assert c4.guarantee == "G1"
        assert [step.operation for step in c4.trace][:2] == ["append 4 bytes", "append 4 bytes"]
        crash = c4.trace[-1]
        assert crash.operation.startswith("crash inside commit, header old (checkpoint 0), region image 1 ")
        assert crash.operation.endswith("every write kept")
        assert [e.defect for e in crash.evidence] == [CHECKPOINT_ERASES]
        assert "C4" not in explore(m.Design.ORIGINAL, CONFIGURATIONS_BY_NAME["exact-fit"], depth=2).found

    @pytest.mark.parametrize("config", CONFIGURATIONS, ids=lambda c: c.name)
    def test_every_configuration_finds_what_it_expects(self, config: Configuration) -> None:
        report = _original(config.name)
        assert config.expects <= report.found
        assert not report.cut_by_max_states


class TestFixed:
    @pytest.mark.parametrize("config", CONFIGURATIONS, ids=lambda c: c.name)
    def test_nothing_is_broken_within_the_default_bound(self, config: Configuration) -> None:
        report = explore(m.Design.FIXED, config)
        assert report.violations == [], "\n".join(line for v in report.violations for line in v.render())
        assert report.depth_complete == config.depth or report.exhausted
        assert not report.cut_by_max_states
        assert report.states > 1

    def test_the_crash_conditions_are_reached_and_survived(self) -> None:
        """The exploration reaches the images that break ORIGINAL (C1: a partly
        written entry; C2: a record brought back; C3: the header ahead of the
        records), and FIXED recovers from every one of them."""
        reached: set[str] = set()
        for name in ("wrap", "two-sectors"):
            report = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME[name], depth=6)
            assert report.violations == []
            reached |= set(report.crash_conditions)
        assert reached == {"C1", "C2", "C3"}


class TestPlantedBugs:
    """explore must catch bugs planted in the FIXED model (through ``model``'s
    names, which explore calls), and report them as uncatalogued findings."""

    def test_an_append_that_drops_its_record(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = m.append_entry

        def dropping(state: m.State, payload: bytes) -> tuple[m.State, int | m.WalError]:
            after, outcome = real(state, payload)
            if outcome == 2:
                return state, outcome  # the second record is acknowledged, never written
            return after, outcome

        monkeypatch.setattr(m, "append_entry", dropping)
        report = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME["wrap"], depth=3, crashes=False)
        assert report.violations
        shortest = min(report.violations, key=lambda v: len(v.trace))
        assert len(shortest.trace) == 2
        assert shortest.catalogue == ()

    def test_an_open_that_reuses_sequences(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = m.open_wal

        def forgetful(state: m.State, read_only: bool = False) -> tuple[m.State, m.WalError | None]:
            opened, error = real(state, read_only=read_only)
            if opened.wal is None:
                return opened, error
            # The sequence restarts from the header, whatever the scan found.
            wal = replace(opened.wal, sequence=opened.wal.checkpoint_sequence)
            return replace(opened, wal=wal), error

        monkeypatch.setattr(m, "open_wal", forgetful)
        report = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME["wrap"], depth=3)
        guarantees = {v.guarantee for v in report.violations}
        assert guarantees & {"G3", "G4"}, guarantees

    def test_a_miscount_only_the_invariants_see(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Batch mode that miscounts the pending bytes breaks no guarantee at
        once; spec S7's I8 (model/invariants.py), checked on FIXED, sees it."""
        real = m.set_skip_sync

        def miscounting(state: m.State, skip: bool) -> m.State:
            after = real(state, skip)
            assert after.wal is not None
            return replace(after, wal=replace(after.wal, pending_bytes=after.wal.pending_bytes + 1))

        monkeypatch.setattr(m, "set_skip_sync", miscounting)
        report = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME["wrap"], depth=1)
        assert [(v.guarantee, len(v.trace)) for v in report.violations] == [("invariants I8", 1)]

    def test_a_flush_that_does_not_sync(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only a crash shows it: batch append, flush (acknowledged), power loss."""
        monkeypatch.setattr(m, "flush", lambda state: state)
        report = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME["wrap"], depth=4)
        lost = [v for v in report.violations if v.guarantee == "G1"]
        assert lost
        shortest = min(lost, key=lambda v: len(v.trace))
        assert [s.operation for s in shortest.trace][:3] == [
            "batch mode on (skip_sync)",
            "append 16 bytes",
            "flush",
        ]
        assert shortest.trace[-1].operation.startswith("power loss")
        without_crashes = explore(m.Design.FIXED, CONFIGURATIONS_BY_NAME["wrap"], depth=4, crashes=False)
        assert without_crashes.violations == []


class TestFingerprint:
    def test_equal_states_reached_two_ways_are_one(self) -> None:
        """Two appends in different batch-mode histories that leave the same
        bytes, synced, are the same node; the records' provenance does not count."""
        start, _ = m.open_wal(m.initial_state(m.Design.FIXED, 191))
        oracle = Oracle(0)
        payload = payload_for(1, 16)
        direct, _ = m.append_entry(start, payload)
        batched, _ = m.append_entry(m.set_skip_sync(start, True), payload)
        batched = m.set_skip_sync(m.flush(batched), False)
        batched = replace(batched, appends_total=41)
        assert fingerprint(direct, oracle) == fingerprint(batched, oracle)

    def test_an_unsynced_write_makes_a_different_node(self) -> None:
        start, _ = m.open_wal(m.initial_state(m.Design.FIXED, 191))
        oracle = Oracle(0)
        payload = payload_for(1, 16)
        synced, _ = m.append_entry(start, payload)
        unsynced, _ = m.append_entry(m.set_skip_sync(start, True), payload)
        unsynced = m.set_skip_sync(unsynced, False)
        assert fingerprint(synced, oracle) != fingerprint(unsynced, oracle)


class TestCommandLine:
    def _run(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers(dest="command")
        command.add_parser(commands)
        try:
            args = parser.parse_args(["explore", *argv])
        except SystemExit as exit_:
            return int(exit_.code or 0), "", ""
        return command.run(args, out, err), out.getvalue(), err.getvalue()

    def test_fixed_exits_0_and_prints_the_bound(self) -> None:
        code, out, _ = self._run("--design", "fixed", "--config", "wrap", "--depth", "4")
        assert code == ExitCode.OK
        assert "complete to depth 4" in out and "no guarantee broken" in out

    def test_original_exits_0_when_the_expected_defects_are_found(self) -> None:
        code, out, _ = self._run("--design", "original", "--config", "wrap", "--depth", "5")
        assert code == ExitCode.OK, out
        assert "C3" in out

    def test_original_exits_1_when_the_bound_misses_them(self) -> None:
        code, _, _ = self._run("--design", "original", "--config", "wrap", "--depth", "3")
        assert code == ExitCode.FINDING

    def test_original_exits_0_when_exact_fit_finds_d1_and_c4(self) -> None:
        code, out, _ = self._run("--design", "original", "--config", "exact-fit", "--depth", "3")
        assert code == ExitCode.OK, out

    def test_original_exits_1_on_an_uncatalogued_violation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """As before C4 was catalogued: a violation no catalogued defect explains."""
        monkeypatch.setattr(search_module, "CATALOGUE", tuple(d for d in CATALOGUE if d != "C4"))
        code, out, _ = self._run("--design", "original", "--config", "exact-fit", "--depth", "3")
        assert code == ExitCode.FINDING
        assert "FINDING G1 (uncatalogued)" in out

    def test_json(self) -> None:
        code, out, _ = self._run("--design", "original", "--config", "sequence-end", "--json")
        assert code == ExitCode.OK
        document = json.loads(out)
        (report,) = document["reports"]
        assert document["ok"] is True
        assert report["defects_found"] == ["D2"]
        assert report["exhausted"] is True
        assert min(v["length"] for v in report["violations"]) == 2

    def test_progress_is_a_line_per_depth_when_not_a_terminal(self) -> None:
        _, _, err = self._run("--design", "fixed", "--config", "wrap", "--depth", "3")
        assert [line.split(",")[0].strip() for line in err.splitlines()] == [
            f"wrap [fixed]: depth {d} done" for d in (1, 2, 3)
        ]

    @pytest.mark.parametrize(
        "argv",
        [
            ["--depth", "-1"],
            ["--config", "nowhere"],
            ["--payload-sizes", "a,b"],
            ["--region-size", "0"],
            ["--region-size", "100", "--config", "wrap"],
            ["--max-region", "400"],
        ],
    )
    def test_bad_usage_exits_2(self, argv: list[str]) -> None:
        code, _, _ = self._run(*argv)
        assert code == ExitCode.USAGE

    def test_walcheck_explore(self) -> None:
        argv = [
            "explore",
            "--design",
            "fixed",
            "--region-size",
            "100",
            "--payload-sizes",
            "4",
            "--depth",
            "2",
            "--quiet",
        ]
        assert main(argv) == ExitCode.OK
        assert main(["explore", "--no-such-option"]) == ExitCode.USAGE
