"""The machines' counterexamples in walcheck/trace.py's words
(walcheck/sidebyside/labels.py): every rule the table names is a rule of the
machines, with the arguments the table gives it, and the words are the
vocabulary's."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import model as m
from walcheck import trace as steps
from walcheck.sidebyside.crash_machines import build_crash_machine, crash_config
from walcheck.sidebyside.hunts import Finding
from walcheck.sidebyside.labels import RULE_OPERATIONS, describe_rule


def test_every_rule_in_the_table_is_a_machine_rule_with_those_arguments() -> None:
    machine = build_crash_machine(crash_config(m.Design.FIXED, "labels"))
    for name, operation in RULE_OPERATIONS.items():
        rule = getattr(machine, name, None)
        assert rule is not None, f"no rule {name} in the machines"
        wanted = [p for p in inspect.signature(rule).parameters if p != "self"]
        assert wanted == list(inspect.signature(operation).parameters), name


def test_a_printed_rule_reads_in_the_vocabulary() -> None:
    assert describe_rule("state.append(payload=b'r1:ab')") == steps.describe(steps.Append(b"r1:ab"))
    assert describe_rule("    state.set_skip_sync(skip=True)") == "batch mode on (skip_sync)"
    assert describe_rule("state.records_after(back=0, anywhere=7)") == "records_after(7)"
    assert describe_rule("state.power_loss(pick=2)") == "power loss"
    # Not operations of the vocabulary, or not rule calls: no words.
    assert describe_rule("state.create(region_size=200, initial_sequence=0)") is None
    assert describe_rule("state.append(payload=some_variable)") is None
    assert describe_rule("Falsifying example:") is None


def test_a_finding_shows_the_code_and_the_words() -> None:
    finding = Finding(
        "M", "guarantee", "G1", "G1 violated: lost", ("state.create(region_size=200)", "state.commit()")
    )
    assert finding.render().splitlines() == [
        "M: G1 violated: lost",
        "    state.create(region_size=200)",
        "    state.commit()  # commit",
    ]


def test_every_operation_of_the_vocabulary_has_words() -> None:
    # A step type added to walcheck/trace.py without words would raise here.
    samples = {"bytes": b"r1:ab", "int": 3, "bool": True, "str": "commit", "int | None": None}
    described = set()
    for kind in typing.get_args(steps.Operation):
        operation = kind(**{f.name: samples[str(f.type)] for f in dataclasses.fields(kind)})
        words = steps.describe(operation)
        assert words, kind
        described.add(words)
    assert len(described) == len(typing.get_args(steps.Operation))  # no two alike
