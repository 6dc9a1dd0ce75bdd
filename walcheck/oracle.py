"""The independent oracle: what the caller appended and what it was told.

Nothing here is derived from the model or the reference. It knows only the
payloads the test passed in, the sequences ``append_entry`` returned, which
appends were acknowledged (S5), and which commits returned. From that alone it
checks the guarantees of spec/semantics.md S6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class GuaranteeViolation(AssertionError):
    """A guarantee of spec S6 does not hold. ``guarantee`` is its number ("G1")."""

    def __init__(self, guarantee: str, detail: str) -> None:
        super().__init__(f"{guarantee} violated: {detail}")
        self.guarantee = guarantee
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Appended:
    sequence: int
    payload: bytes


def _show(records: Sequence[tuple[int, bytes]]) -> str:
    def one(sequence: int, payload: bytes) -> str:
        shown = payload if len(payload) <= 12 else payload[:12] + b"..."
        return f"({sequence}, {shown!r} len={len(payload)})"

    return "[" + ", ".join(one(s, p) for s, p in records) + "]"


@dataclass
class Oracle:
    initial_sequence: int
    appended: list[Appended] = field(default_factory=list)
    # appended[:applied] were returned by a commit and checkpointed (S5).
    applied: int = 0
    # appended[:acknowledged] were acknowledged to the caller (S5.1).
    acknowledged: int = 0
    issued: set[int] = field(default_factory=set)
    # The append under way when the process died, if any: a crash image may
    # hold it (it was never acknowledged, so it may also be missing).
    in_flight: Appended | None = None

    @property
    def last_sequence(self) -> int:
        return self.appended[-1].sequence if self.appended else self.initial_sequence

    def unapplied(self) -> list[tuple[int, bytes]]:
        return [(a.sequence, a.payload) for a in self.appended[self.applied :]]

    def begin_append(self, payload: bytes) -> None:
        self.in_flight = Appended(self.last_sequence + 1, bytes(payload))

    def on_append(self, sequence: int, payload: bytes, *, synced: bool) -> None:
        self.in_flight = None
        expected = self.last_sequence + 1
        if sequence != expected:
            raise GuaranteeViolation(
                "G4", f"append returned sequence {sequence}, expected {expected} (one more than the last)"
            )
        if sequence in self.issued:
            raise GuaranteeViolation("G3", f"sequence {sequence} was issued twice")
        self.issued.add(sequence)
        self.appended.append(Appended(sequence, bytes(payload)))
        if synced:
            self.acknowledged = len(self.appended)

    def on_flush(self) -> None:
        self.acknowledged = len(self.appended)

    def _applied_after_crash(self, durable_checkpoint: int) -> int:
        """How many appends a crash image counts as applied: those the oracle
        saw committed, and more if a commit in flight made its checkpoint durable
        before the process died (memvid had applied them by then)."""
        applied = self.applied
        while applied < len(self.appended) and self.appended[applied].sequence <= durable_checkpoint:
            applied += 1
        return applied

    def check_after_crash(
        self,
        records: Sequence[tuple[int, bytes]],
        durable_checkpoint: int,
        where: str,
        *,
        media_damage: bool = False,
    ) -> None:
        """spec/faults.md: after a crash the pending records are the unapplied
        appends in order, every acknowledged one included (G1), followed by
        none, some or all of the unacknowledged ones, and nothing else (G2)."""
        applied = self._applied_after_crash(durable_checkpoint)
        candidates = [(a.sequence, a.payload) for a in self.appended[applied:]]
        if self.in_flight is not None:
            candidates.append((self.in_flight.sequence, self.in_flight.payload))
        # Media damage to acknowledged data loses it; what is returned must still
        # be exactly what was appended (spec/faults.md: damage is never data).
        must_have = 0 if media_damage else max(0, self.acknowledged - applied)
        returned = list(records)
        if returned[: len(candidates)] != candidates[: len(returned)] or len(returned) > len(candidates):
            missing = [r for r in candidates[:must_have] if r not in returned]
            if missing:
                raise GuaranteeViolation("G1", f"{where} lost acknowledged records {_show(missing)}")
            raise GuaranteeViolation(
                "G2", f"{where} returned {_show(returned)}; the unapplied appends were {_show(candidates)}"
            )
        if len(returned) < must_have:
            raise GuaranteeViolation(
                "G1", f"{where} lost acknowledged records {_show(candidates[len(returned) : must_have])}"
            )

    def check_next_sequence(
        self, next_sequence: int, records: Sequence[tuple[int, bytes]], durable_checkpoint: int, where: str
    ) -> None:
        """G3, G4 across a crash: the first append after recovery takes the
        sequence after everything that survived: the recovered records, and the
        applied ones the checkpoint covers. A sequence lost with an
        unacknowledged record may be issued again; these may not."""
        applied = self._applied_after_crash(durable_checkpoint)
        taken = [s for s, _ in records] + [a.sequence for a in self.appended[:applied]]
        floor = max([durable_checkpoint, self.initial_sequence, *taken])
        if next_sequence <= floor:
            raise GuaranteeViolation(
                "G3",
                f"{where}: the next append was issued {next_sequence}, already taken (up to {floor})",
            )
        if next_sequence != floor + 1:
            raise GuaranteeViolation(
                "G4", f"{where}: the next append was issued {next_sequence}, expected {floor + 1}"
            )

    def restart_after_crash(self, records: Sequence[tuple[int, bytes]], durable_checkpoint: int) -> None:
        """Continue from a crash image whose recovery returned ``records``: what
        was lost was never acknowledged, and its sequences may be issued again."""
        applied = self._applied_after_crash(durable_checkpoint)
        self.appended = self.appended[:applied] + [Appended(s, p) for s, p in records]
        self.applied = applied
        self.acknowledged = len(self.appended)
        self.issued = {a.sequence for a in self.appended}
        self.in_flight = None

    def check_pending(self, records: Sequence[tuple[int, bytes]], where: str) -> None:
        """G1 and G2: pending records are exactly the unapplied appends, in order."""
        expected = self.unapplied()
        if list(records) == expected:
            return
        returned = {(s, p) for s, p in records}
        missing = [r for r in expected if r not in returned]
        if missing:
            raise GuaranteeViolation(
                "G1",
                f"{where} lost acknowledged records {_show(missing)}; "
                f"returned {_show(records)}, expected {_show(expected)}",
            )
        raise GuaranteeViolation(
            "G2", f"{where} returned {_show(records)}, expected exactly {_show(expected)}"
        )

    def on_commit(self, records: Sequence[tuple[int, bytes]]) -> None:
        self.check_pending(records, "commit (pending_records)")
        self.applied = len(self.appended)

    def check_records_after(self, after: int, records: Sequence[tuple[int, bytes]]) -> None:
        """G1, G2 for records_after: every unapplied append above ``after`` is
        there; everything returned was appended, with its payload, in order,
        each sequence once."""
        known = {a.sequence: a.payload for a in self.appended}
        for sequence, payload in records:
            if sequence <= after:
                raise GuaranteeViolation("G2", f"records_after({after}) returned sequence {sequence}")
            if known.get(sequence) != payload:
                raise GuaranteeViolation(
                    "G2", f"records_after({after}) returned {_show([(sequence, payload)])}, never appended"
                )
        sequences = [s for s, _ in records]
        if sequences != sorted(set(sequences)):
            raise GuaranteeViolation("G2", f"records_after({after}) returned sequences {sequences}")
        required = [r for r in self.unapplied() if r[0] > after]
        returned = set(records)
        missing = [r for r in required if r not in returned]
        if missing:
            raise GuaranteeViolation("G1", f"records_after({after}) lost {_show(missing)}")
