"""`walcheck conform` and the driver protocol (spec/porting.md).

The reference's FIXED driver must conform; the ORIGINAL driver must conform to
the ORIGINAL model and break guarantees (its defects) with a minimal trace;
drivers with a planted bug, a hang or garbage on stdout must be caught.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import model as m
from walcheck import figures
from walcheck.cli import main
from walcheck.conformance.search import run_conform
from walcheck.conformance.transcript import Exchange, Rewrite, transcript
from walcheck.trace import Append, AppendNearLimit, Pending, Reopen, Trace, Truncate

REFERENCE = [sys.executable, "-m", "reference.driver"]
ORIGINAL = [*REFERENCE, "--design", "original"]


def _mutant(tmp_path: Path, body: str) -> list[str]:
    """A driver: the reference's, with one method replaced."""
    script = tmp_path / "mutant_driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from reference.driver import Driver, serve
            from reference.wal import Design

            class Mutant(Driver):
            {body}

            serve(Mutant(Design.FIXED), sys.stdin, sys.stdout)
            """
        ).replace("{body}", textwrap.indent(textwrap.dedent(body), "    "))
    )
    return [sys.executable, str(script)]


def test_reference_driver_conforms() -> None:
    report = run_conform(REFERENCE, examples=150, seed=1)
    assert report.ok, report.render()
    assert report.examples >= 150
    done = report.figures
    assert done.crash_images > 0 and done.growths > 0 and done.state_compared > 0
    assert "result: PASS" in report.render()
    figures.add(figures.CONFORM_TRACES, figures.FIXED, report.examples)
    figures.add(figures.CONFORM_REQUESTS, figures.FIXED, report.figures.requests)
    figures.add(figures.CONFORM_CRASH_IMAGES, figures.FIXED, report.figures.crash_images)


def test_original_driver_conforms_to_the_original_model() -> None:
    report = run_conform(ORIGINAL, design=m.Design.ORIGINAL, examples=150, seed=1, guarantees=False)
    assert report.ok, report.render()


def test_original_driver_breaks_guarantees_with_a_minimal_trace() -> None:
    report = run_conform(ORIGINAL, design=m.Design.ORIGINAL, examples=200, seed=2)
    assert not report.ok
    # Faithful to its model: every failure is a broken guarantee, none a divergence.
    assert {f.kind for f in report.failures} == {"guarantee"}, report.render()
    shortest: dict[str, int] = {}
    for failure in report.failures:
        guarantee = failure.message.split(" ", 1)[0]
        shortest[guarantee] = min(shortest.get(guarantee, 99), len(failure.trace.steps))
        assert failure.exchanges, "the report shows the requests and answers"
    # D1 loses records (G1), D2 wraps the sequence (G4), D4 leaves a WAL that
    # does not open (G5), D3 writes past the region (G6): each in a few steps.
    assert set(shortest) >= {"G1", "G4", "G5", "G6"}, report.render()
    assert shortest["G6"] == 0 and shortest["G1"] <= 2 and shortest["G5"] <= 2, shortest
    assert "minimal trace" in report.render() and "result: FAIL" in report.render()


def test_original_driver_fails_against_the_fixed_model() -> None:
    report = run_conform(ORIGINAL, examples=100, seed=3)
    assert not report.ok
    shortest = min(report.failures, key=lambda f: len(f.trace.steps))
    assert len(shortest.trace.steps) <= 2, shortest.render()


def test_a_planted_bug_in_pending_is_caught(tmp_path: Path) -> None:
    command = _mutant(
        tmp_path,
        """
        def answer(self, line):
            answer = Driver.answer(self, line)
            records = answer.get("records")
            if records and len(records) >= 2:
                answer["records"] = records[:-1]  # drops the newest pending record
            return answer
        """,
    )
    report = run_conform(command, examples=200, seed=4)
    assert not report.ok
    kinds = {f.kind for f in report.failures}
    assert "guarantee" in kinds or "divergence" in kinds
    shortest = min(report.failures, key=lambda f: len(f.trace.steps))
    # Two appends and a pending (the open's own pending comes first) is the least that shows it.
    assert sum(isinstance(s, Append) for s in shortest.trace.steps) == 2, shortest.render()


def test_a_planted_bug_in_state_only_is_a_divergence(tmp_path: Path) -> None:
    command = _mutant(
        tmp_path,
        """
        def state(self, request):
            fields = Driver.state(self, request)
            if fields["pending_bytes"] > 100:
                fields["write_head"] += 1
            return fields
        """,
    )
    report = run_conform(command, examples=200, seed=5, guarantees=True)
    assert [f.kind for f in report.failures] == ["divergence"], report.render()
    assert "state differs" in report.failures[0].message


def test_a_hanging_driver_is_reported(tmp_path: Path) -> None:
    command = _mutant(
        tmp_path,
        """
        def answer(self, line):
            if '"op": "stats"' in line:
                import time
                time.sleep(60)
            return Driver.answer(self, line)
        """,
    )
    # 0.5 s: above any real answer (0.2 s was hit by plain opens at a load of 8), below the
    # hang; shrinking waits it out once per attempt that reaches stats (about 50).
    report = run_conform(command, examples=50, seed=1, timeout=0.5)
    assert [f.kind for f in report.failures] == ["driver"], report.render()
    assert "no answer within 0.5 s" in report.failures[0].message
    assert [type(s).__name__ for s in report.failures[0].trace.steps] == ["Stats"]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform"]) == 2
    assert main(["conform", "--", str(tmp_path / "no-such-driver")]) == 2
    assert main(["conform", "--quiet", "--examples", "20", "--seed", "1", "--", *REFERENCE]) == 0
    capsys.readouterr()
    code = main(["conform", "--json", "--quiet", "--examples", "50", "--seed", "1", "--", *ORIGINAL])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["failures"] and report["failures"][0]["trace"]


def test_transcript_is_what_the_model_says() -> None:
    """The transcript's answers come from the model: one append, then a reopen
    returns it as pending, and the region holds its bytes at position 0."""
    events = transcript(Trace(160, 0, (Append(b"abc"), Reopen(), Pending())), m.Design.FIXED)
    exchanges = [e for e in events if isinstance(e, Exchange)]
    answers = [(e.request["op"], e.response) for e in exchanges]
    assert answers[2] == ("append", {"ok": True, "sequence": 1})
    pending = [a for op, a in answers if op == "pending"]
    assert pending[-1] == {"ok": True, "records": [{"sequence": 1, "payload": "616263"}]}
    region = exchanges[-1].region
    assert region[:8] == (1).to_bytes(8, "little") and region[8:12] == (3).to_bytes(4, "little")


# -- The protocol's gaps (spec/porting.md P2.5, P3): short files, region offsets,
# entries near the region's size, Io reasons across languages -------------------


def _replay_on(command: list[str], trace: Trace, design: m.Design, tmp_path: Path) -> str | None:
    """Replay one trace's transcript; the failure's text, or None."""
    from walcheck.conformance.driver import DriverProcess
    from walcheck.conformance.replay import ConformanceFailure, replay

    driver = DriverProcess(command)
    driver.start()
    try:
        replay(transcript(trace, design), driver, tmp_path / "wal.mv2", guarantees=False)
    except ConformanceFailure as failure:
        return failure.detail
    finally:
        driver.stop()
    return None


SHORT = Trace(160, 0, (Append(b"hello"), Truncate(110), Pending(), Append(b"x" * 40), Pending()))


def test_a_short_file_is_compared_in_both_designs(tmp_path: Path) -> None:
    """S3.2 through conform: ORIGINAL opens the cut file (its log ends inside
    it) and lengthens it; FIXED refuses it. Each reference driver matches its
    model, and neither matches the other's."""
    events = transcript(SHORT, m.Design.ORIGINAL)
    rewrite = next(e for e in events if isinstance(e, Rewrite) and e.short)
    assert len(rewrite.region) == 110 and rewrite.damage
    lengthened = [e for e in events if isinstance(e, Exchange) and e.file_end is not None]
    # Record 1 [0, 53), then the append of 40 bytes [53, 141) and its sentinel [141, 160): the
    # file is lengthened to the region's end.
    assert max(e.file_end or 0 for e in lengthened) == 160
    assert _replay_on(ORIGINAL, SHORT, m.Design.ORIGINAL, tmp_path) is None
    assert _replay_on(REFERENCE, SHORT, m.Design.FIXED, tmp_path) is None
    fixed = [e.response for e in transcript(SHORT, m.Design.FIXED) if isinstance(e, Exchange)]
    assert {"ok": False, "error": {"kind": "Io", "reason": "failed to fill whole buffer"}} in fixed
    assert "answer differs" in (_replay_on(REFERENCE, SHORT, m.Design.ORIGINAL, tmp_path) or "")


def test_a_port_that_ignores_the_region_offset_fails(tmp_path: Path) -> None:
    command = _mutant(
        tmp_path,
        """
        def open(self, request):
            return Driver.open(self, {**request, "region_offset": 4096})
        """,
    )
    moved = Trace(160, 0, (Append(b"hello"), Pending()), region_offset=8192)
    assert _replay_on(REFERENCE, moved, m.Design.FIXED, tmp_path) is None
    # It writes at 4096 + its positions: the canary before the region is hit.
    assert "the port changed the file before the WAL region" in (
        _replay_on(command, moved, m.Design.FIXED, tmp_path) or ""
    )


def test_entries_near_the_region_size_meet_every_refusal() -> None:
    """F2.2, F4, D1: AppendNearLimit reaches "too small for entry" on both sides
    of the FIXED window and an entry of exactly the region's size."""
    steps = tuple(AppendNearLimit(delta) for delta in (-3, 47, 48, 49, 53))
    answers = [
        e.response
        for e in transcript(Trace(200, 0, steps), m.Design.FIXED)
        if isinstance(e, Exchange) and e.request["op"] == "append"
    ]
    reasons = [a.get("error", {}).get("reason", "ok") for a in answers]
    assert reasons == [
        "ok",  # entry 200 - 48 - 3: fits, a sentinel after it
        "embedded WAL region too small for entry",  # entry 199: alone it would leave 1 byte (D1)
        "embedded WAL region full",  # entry 200 fits alone, but one is pending
        "embedded WAL region too small for entry",  # entry 201 > 200
        "embedded WAL region too small for entry",
    ]


def test_io_reasons_are_compared_without_language_decorations(tmp_path: Path) -> None:
    """P3: a driver that passes Rust's or Python's decorations through still
    conforms; one with another message does not."""
    from walcheck.conformance.replay import normalise_io_reason

    assert normalise_io_reason("No such file or directory (os error 2)") == "No such file or directory"
    assert normalise_io_reason("[Errno 2] No such file or directory: '/x'") == "No such file or directory"
    decorated = _mutant(
        tmp_path,
        """
        def answer(self, line):
            answer = Driver.answer(self, line)
            if answer.get("error", {}).get("kind") == "Io":
                answer["error"]["reason"] += " (os error 5)"
            return answer
        """,
    )
    assert _replay_on(decorated, SHORT, m.Design.FIXED, tmp_path) is None
    wrong = _mutant(
        tmp_path,
        """
        def answer(self, line):
            answer = Driver.answer(self, line)
            if answer.get("error", {}).get("kind") == "Io":
                answer["error"]["reason"] = "Input/output error"
            return answer
        """,
    )
    assert "answer differs" in (_replay_on(wrong, SHORT, m.Design.FIXED, tmp_path) or "")
