"""The Rust side (ports/rust, spec/porting.md P6): memvid's original wal.rs,
compiled unmodified into a protocol driver, checked step by step against the
ORIGINAL model; and the Rust port of FIXED, checked against the FIXED model.

The cargo build happens here, in release mode (a debug build of the original
panics on D2's overflow). It needs cargo and Debian's packaged crates
(.ci/run installs them: librust-blake3-dev, librust-tracing-dev,
librust-tempfile-dev), and memvid's wal.rs: ``$MEMVID_WAL_RS``, else
``../shared/seed/embedded_wal.rs`` beside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_driver_protocol import REFERENCE, check_protocol_session, converse, short_file_session

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "ports" / "rust"
SEED = ROOT.parent / "shared" / "seed" / "embedded_wal.rs"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
# CI's share: 1,000 traces each way; a local run takes fewer unless asked.
TRACES = int(os.environ.get("WALCHECK_RUST_TRACES", "1000" if IN_CI else "300"))


def _cargo() -> str | None:
    found = shutil.which("cargo")
    if found is None and (Path.home() / ".cargo" / "bin" / "cargo").exists():
        found = str(Path.home() / ".cargo" / "bin" / "cargo")
    return found


def _wal_source() -> Path:
    return Path(os.environ.get("MEMVID_WAL_RS", SEED))


def _cargo_run(*args: str) -> subprocess.CompletedProcess[str]:
    """cargo in the workspace, offline, with memvid's wal.rs named."""
    cargo = _cargo()
    assert cargo is not None
    env = {**os.environ, "MEMVID_WAL_RS": str(_wal_source())}
    return subprocess.run(
        [cargo, *args], cwd=WORKSPACE, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _walcheck(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The walcheck command, as a porter runs it."""
    command = [sys.executable, "-c", "import sys; from walcheck.cli import main; sys.exit(main())", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


class Binaries:
    def __init__(self, directory: Path, seconds: float) -> None:
        self.original = str(directory / "original-driver")
        self.fixed = str(directory / "fixed-driver")
        self.build_seconds = seconds


@pytest.fixture(scope="module")
def binaries() -> Iterator[Binaries]:
    cargo = _cargo()
    if cargo is None:
        pytest.skip("cargo not found: install Rust (cargo) to build ports/rust")
    if not _wal_source().exists():
        pytest.skip(f"memvid's wal.rs not found at {_wal_source()}: set MEMVID_WAL_RS")
    started = time.monotonic()
    built = _cargo_run("build", "--release", "--offline", "--workspace", "--bins")
    seconds = time.monotonic() - started
    if built.returncode != 0 and "librust" not in built.stderr and "no matching package" in built.stderr:
        pytest.skip(
            f"a crate is missing: apt-get install the librust-*-dev packages of .ci/run\n{built.stderr}"
        )
    assert built.returncode == 0, built.stderr
    sys.stderr.write(f"\nports/rust: cargo build --release took {seconds:.1f} s\n")
    yield Binaries(WORKSPACE / "target" / "release", seconds)


def _conform_json(*args: str) -> dict[str, Any]:
    result = _walcheck("conform", "--json", "--quiet", *args)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_cargo_test_passes(binaries: Binaries) -> None:
    """The workspace's own tests: the JSON codec and dispatch, memvid's three
    unit tests in wal.rs, the port's unit tests, both vector directories
    replayed in process (and the planted bugs that replay must catch), and
    rustfmt's layout."""
    tested = _cargo_run("test", "--release", "--offline", "--workspace")
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-4000:]
    for test in (
        "wal::tests::append_and_recover",  # memvid's own
        "the_fixed_vectors_pass",
        "the_original_vectors_pass",
        "planted_bugs::a_port_without_the_mark_fails_on_the_region",
        "wal::tests::the_worked_example_byte_for_byte",
    ):
        assert f"test {test} ... ok" in tested.stdout, test
    formatted = _cargo_run("fmt", "--all", "--check")
    # rustfmt ships with rustup's toolchains, not with every cargo.
    if "no such command" not in formatted.stderr:
        assert formatted.returncode == 0, formatted.stdout[-3000:]


def _vector_count(design: str) -> int:
    """Every vector on disk, so that one the replay skipped shows (walcheck vectors wrote them)."""
    count = len(list((ROOT / "spec" / "vectors" / design).glob("*.json")))
    assert count >= 23, f"spec/vectors/{design} holds {count} vectors"
    return count


def test_the_port_replays_the_fixed_vectors(binaries: Binaries) -> None:
    result = _walcheck("conform", "--vectors", "spec/vectors/fixed", "--", binaries.fixed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{_vector_count('fixed')} vectors, 0 failed" in result.stdout


def test_the_port_conforms_to_the_fixed_model(binaries: Binaries) -> None:
    """The Rust port of FIXED: every answer, region byte (D6's marks included)
    and state equals the FIXED model's, and the oracle finds G1-G6 kept."""
    report = _conform_json("--examples", str(TRACES), "--seed", "13", "--", binaries.fixed)
    assert report["ok"], json.dumps(report["failures"], indent=1)[:4000]
    assert report["examples"] == TRACES
    assert report["states_compared"] > 0 and report["crash_images"] > 0 and report["growths"] > 0


def test_original_conforms_to_the_original_model(binaries: Binaries) -> None:
    """memvid's own module, step by step: every answer, region byte and private
    field (read from its Debug text, spec/porting.md P6.3) equals the ORIGINAL model's."""
    report = _conform_json(
        "--design",
        "original",
        "--no-guarantees",
        "--examples",
        str(TRACES),
        "--seed",
        "13",
        "--",
        binaries.original,
    )
    assert report["ok"], json.dumps(report["failures"], indent=1)[:4000]
    assert report["examples"] == TRACES
    assert report["states_compared"] > 0 and report["crash_images"] > 0 and report["growths"] > 0


def test_original_replays_the_original_vectors(binaries: Binaries) -> None:
    result = _walcheck(
        "conform",
        "--design",
        "original",
        "--no-guarantees",
        "--vectors",
        "spec/vectors/original",
        "--",
        binaries.original,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{_vector_count('original')} vectors, 0 failed" in result.stdout


def test_original_breaks_the_guarantees_d1_to_d4_name(binaries: Binaries) -> None:
    """With the guarantees on, conform reports memvid's defects (spec/defects.md)
    on memvid's own code, each with a minimal trace."""
    report = _conform_json(
        "--design", "original", "--examples", "400", "--seed", "13", "--", binaries.original
    )
    assert not report["ok"]
    messages = [str(failure["message"]) for failure in report["failures"]]
    shown = "\n".join(messages)
    # Each defect's guarantee (spec/defects.md): D1 loses pending records (G1), D2
    # wraps the sequence to 0 (G4), D3 writes past a region under 48 bytes (G6),
    # D4's empty record (and D1's sentinel at 0) leave a log that does not scan (G5).
    expected = {
        "D1": "G1 violated: ",
        "D2": "G4 violated: append returned sequence 0",
        "D3": "G6 violated: the port changed the file after the WAL region",
        "D4": "'reason': 'wal record length invalid'",
    }
    for defect, message in expected.items():
        assert any(message in text for text in messages), f"{defect} not reported:\n{shown}"
    # Nothing else: G2 and G3 hold on memvid's code when no crash is involved.
    assert {text.split(" ", 1)[0] for text in messages} <= {"G1", "G4", "G5", "G6"}, shown


@pytest.mark.parametrize("which", ["original", "fixed"])
def test_rust_drivers_answer_the_protocols_errors(binaries: Binaries, tmp_path: Path, which: str) -> None:
    """The same session as the reference's driver (P1.2, P1.4, P3): the
    protocol's error kinds, a failed open leaving nothing open, Io reasons
    without Rust's " (os error N)"."""
    check_protocol_session([getattr(binaries, which)], tmp_path)


def test_the_original_reads_a_short_file_as_the_reference_says(binaries: Binaries, tmp_path: Path) -> None:
    """S3.2: memvid's Rust and the reference's ORIGINAL give the same answers
    and leave the same bytes on a file shorter than its region; FIXED (the
    reference and the port) refuses it at once."""
    (tmp_path / "rust").mkdir()
    (tmp_path / "python").mkdir()
    rust_path, rust_lines = short_file_session(tmp_path / "rust")
    python_path, python_lines = short_file_session(tmp_path / "python")
    rust = converse([binaries.original], rust_lines)
    python = converse([*REFERENCE, "--design", "original"], python_lines)
    assert rust == python
    assert rust[0] == {"ok": True} and rust[2] == {"ok": True, "sequence": 2}
    assert rust_path.read_bytes() == python_path.read_bytes()
    for command in ([binaries.fixed], REFERENCE):
        refused = converse(command, rust_lines[:1])[0]
        assert refused["error"] == {"kind": "Io", "reason": "failed to fill whole buffer"}


def test_real_crash_states_of_the_rust_drivers(binaries: Binaries) -> None:
    """spec/porting.md P8 on the Rust side: each driver's real system calls
    recorded under strace, every crash state opened by the driver itself. The
    port survives every one; memvid's own code does not open some (C1: a torn
    append is WalCorruption to memvid)."""
    if shutil.which("strace") is None:
        pytest.skip("strace not found: apt-get install strace (.ci/run installs it)")
    port = _walcheck("conform", "--recorded-crashes", "--", binaries.fixed)
    assert port.returncode == 0, port.stdout[-3000:] + port.stderr[-3000:]
    assert "none broken" in port.stdout
    original = _walcheck("conform", "--recorded-crashes", "--design", "original", "--", binaries.original)
    assert original.returncode == 1, original.stdout[-3000:]
    assert "G5 broken" in original.stdout and "wal record checksum mismatch" in original.stdout
