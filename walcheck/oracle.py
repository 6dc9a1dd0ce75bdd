"""The independent oracle: what the caller appended and what it was told.

Nothing here is derived from the model or the reference. It knows only the
payloads the test passed in, the sequences ``append_entry`` returned, which
appends were acknowledged (S5), and which commits returned. From that alone it
checks the guarantees of spec/semantics.md S6.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
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


# -- Many lives of one file ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Life:
    """One process life of a file: it opened the log after ``last_sequence``,
    and ``payload_of(sequence)`` is what it appended with a later sequence
    (whether or not it lived to be told the sequence)."""

    last_sequence: int
    payload_of: Callable[[int], bytes]


@dataclass(frozen=True)
class Recovery:
    """What the oracle found in the records one recovery returned."""

    # Acknowledged, never applied by a returned commit, and not returned (G1).
    lost: tuple[int, ...] = ()
    # Returned with a payload no life appended with that sequence (G2).
    wrong_payloads: tuple[int, ...] = ()
    # Where the returned sequences do not increase by exactly one (G4).
    sequence_errors: tuple[str, ...] = ()
    # Returned records that were appended but never acknowledged (allowed).
    unacknowledged_found: int = 0
    acknowledged_checked: int = 0

    def violations(self) -> list[GuaranteeViolation]:
        found = []
        if self.lost:
            found.append(GuaranteeViolation("G1", f"lost acknowledged sequences {list(self.lost)}"))
        if self.wrong_payloads:
            found.append(GuaranteeViolation("G2", f"wrong payloads at sequences {list(self.wrong_payloads)}"))
        if self.sequence_errors:
            found.append(
                GuaranteeViolation("G4", f"sequences not in succession: {list(self.sequence_errors)}")
            )
        return found


@dataclass
class Lives:
    """The oracle across the lives of one file, each ended by a kill (the
    SIGKILL campaign, walcheck/real/killtest): what every life was told,
    carried across the restarts. ``Oracle`` follows one life append by append;
    here the lives are known only from what they reported before they died:
    the sequences acknowledged, the records returned commits applied, and, from
    each life's opening, what it appended after the log it found.

    A record is required in a recovery when it was acknowledged (S5.1) and no
    returned commit applied it (S5): applied ones may be overwritten. A commit
    whose report the kill cut off still counts when its checkpoint reached the
    header (the next life opens above it): it applied everything at or below.
    A life that opens below an acknowledged, unapplied record has lost it (G1),
    even if that life then issues the sequence again."""

    acknowledged: dict[int, bytes] = field(default_factory=dict)  # sequence -> payload
    applied: set[int] = field(default_factory=set)
    # Every sequence at or below this was applied by a commit whose report the
    # kill cut off (what it applied was never itemised).
    applied_through: int = 0
    # The checkpoint of the last commit that returned.
    reported_checkpoint: int = 0
    lives: list[Life] = field(default_factory=list)
    # Acknowledged, unapplied sequences a later life's open did not find.
    lost_at_open: list[int] = field(default_factory=list)

    def open_life(
        self, durable_checkpoint: int, last_sequence: int, payload_of: Callable[[int], bytes]
    ) -> None:
        """A new life opened the file: its recovery found the log ending at
        ``last_sequence``, the header's checkpoint at ``durable_checkpoint``."""
        if durable_checkpoint > self.reported_checkpoint:
            # A commit the kill interrupted after its header reached the file. A
            # returned commit's checkpoint excuses nothing: a WAL that lost a
            # record would still checkpoint past it; what it applied is itemised.
            self.applied_through = max(self.applied_through, durable_checkpoint)
        self.lost_at_open.extend(s for s in self.required() if s > last_sequence)
        self.lives.append(Life(last_sequence, payload_of))

    def on_acknowledged(self, sequence: int, payload: bytes) -> None:
        self.acknowledged[sequence] = bytes(payload)

    def on_commit(self, applied: Sequence[int], checkpoint: int) -> None:
        """A commit returned: it applied ``applied`` and checkpointed at ``checkpoint``."""
        self.applied.update(applied)
        self.reported_checkpoint = max(self.reported_checkpoint, checkpoint)

    def required(self) -> list[int]:
        """The acknowledged sequences no commit applied: they must be recovered."""
        return sorted(s for s in self.acknowledged if s > self.applied_through and s not in self.applied)

    def _appended_with(self, sequence: int) -> bytes | None:
        # The latest life that opened below this sequence appended it, if any did.
        for life in reversed(self.lives):
            if life.last_sequence < sequence:
                return life.payload_of(sequence)
        return None

    def check_recovered(self, records: Sequence[tuple[int, bytes]]) -> Recovery:
        """G1, G2 and G4 for the records one recovery of the file returned (all of
        them, from the checkpoint on), with every failure found, not the first."""
        recovered = dict(records)
        required = self.required()
        lost = sorted({*self.lost_at_open, *(s for s in required if s not in recovered)})
        wrong_payloads = []
        unacknowledged_found = 0
        for sequence, payload in records:
            expected = self.acknowledged.get(sequence)
            if expected is None:
                expected = self._appended_with(sequence)
                unacknowledged_found += 1
            if payload != expected:
                wrong_payloads.append(sequence)
        sequence_errors = tuple(
            f"{earlier} then {later}"
            for (earlier, _), (later, _) in itertools.pairwise(records)
            if later != earlier + 1
        )
        return Recovery(
            lost=tuple(lost),
            wrong_payloads=tuple(wrong_payloads),
            sequence_errors=sequence_errors,
            unacknowledged_found=unacknowledged_found,
            acknowledged_checked=len(required),
        )
