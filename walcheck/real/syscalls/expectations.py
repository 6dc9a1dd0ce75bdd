"""What a writer's reports promise at a crash point, and how a reader's answer
is judged (spec/persistence.md PM10, PM11). Imports nothing of the reference,
so that walcheck.conformance can judge a port's driver with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from walcheck.oracle import GuaranteeViolation, Oracle

Records = list[tuple[int, bytes]]


class Unopenable(Exception):
    """The reader could not open the state (G5)."""


@dataclass(frozen=True)
class Reader:
    """One way of opening a crash state. ``name`` is shown; ``design`` is the
    figures' column; ``promised`` says whether its failures break a guarantee
    (FIXED tolerant) or are measured only (ORIGINAL, and strict recovery, which
    refuses a torn tail by contract, spec/faults.md R5)."""

    name: str
    design: str
    promised: bool
    open: Callable[[Path], tuple[Records, int]]
    # Opens a copy for writing and appends once: the sequence issued, or None.
    probe: Callable[[Path], int | None] | None = None


# -- What the writer's reports promise ---------------------------------------------------------


class Expectation:
    """The oracle as the writer's acknowledgement lines before the crash point
    left it. ``created`` is false before the writer said the file was complete:
    nothing is promised there (spec/persistence.md PM10)."""

    def __init__(self) -> None:
        self.oracle = Oracle(initial_sequence=0)
        self.created = False
        self.acknowledged_lines = 0
        self.writer_violations: list[str] = []

    def take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        oracle = self.oracle
        if kind == "created":
            self.created = True
        elif kind == "begin":
            oracle.begin_append(bytes.fromhex(rest))
        elif kind == "append":
            sequence, synced = rest.split()
            assert oracle.in_flight is not None, "an append line without its begin"
            oracle.on_append(int(sequence), oracle.in_flight.payload, synced=synced == "synced")
        elif kind == "flush":
            oracle.on_flush()
        elif kind == "commit":
            applied = {int(s) for s in rest.split(",") if s}
            records = [
                (a.sequence, a.payload) for a in oracle.appended[oracle.applied :] if a.sequence in applied
            ]
            try:
                oracle.on_commit(records)
            except GuaranteeViolation as violation:
                # The writer's own WAL broke a guarantee before any crash (ORIGINAL's D1,
                # say): kept, and the oracle goes on as the writer did, everything applied.
                self.writer_violations.append(str(violation))
                oracle.applied = len(oracle.appended)
        elif kind in ("grow", "put", "note"):
            pass
        else:
            raise ValueError(f"unknown acknowledgement line {line!r}")
        self.acknowledged_lines += 1

    def acknowledged(self) -> int:
        """Acknowledged records no returned commit applied: those a state must hold.
        (A commit inside a batch, to make room, applies records not yet acknowledged.)"""
        return max(0, self.oracle.acknowledged - self.oracle.applied)

    def check(self, reader: Reader, directory: Path, where: str) -> tuple[str, str]:
        """``("ok", what recovery returned)`` or (the guarantee broken, the detail)."""
        try:
            records, checkpoint = reader.open(directory)
        except Unopenable as error:
            return "G5", f"{where}: {reader.name} cannot open it: {error}"
        try:
            self.oracle.check_after_crash(records, checkpoint, f"{where}: {reader.name}")
            if reader.probe is not None:
                issued = reader.probe(directory)
                if issued is not None:
                    self.oracle.check_next_sequence(issued, records, checkpoint, f"{where}: {reader.name}")
        except GuaranteeViolation as violation:
            return violation.guarantee, str(violation)
        shown = ", ".join(str(s) for s, _ in records[:12]) + (", ..." if len(records) > 12 else "")
        return "ok", f"checkpoint {checkpoint}, pending [{shown}]"


def expectation_at(lines: Sequence[str]) -> Expectation:
    expectation = Expectation()
    for line in lines:
        expectation.take(line)
    return expectation
