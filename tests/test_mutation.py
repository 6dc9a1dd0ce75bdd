"""``walcheck mutate`` (walcheck/mutation/): Cosmic Ray's mutants, run in a copy
of the project against a pytest killer, scored per file; survivors listed in
spec/mutants.md count as equivalent. Here on a file whose every mutant a
cheap killer must kill, and on the catalogue's format. Needs the
``mutation`` extra (.ci/run installs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from walcheck.mutation.equivalents import load_equivalents, mutated_lines, parse_equivalents

ROOT = Path(__file__).resolve().parents[1]


def _mutate(*args: str) -> subprocess.CompletedProcess[str]:
    """``walcheck mutate ARGS`` in the project, killed by one cheap machine; it must exit 0."""
    completed = subprocess.run(
        [sys.executable, "-m", "walcheck.mutation", *args, "--select", "TestStatefulSmallRegionFixed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def test_mutate_scores_the_mutants_of_a_file(tmp_path: Path) -> None:
    pytest.importorskip("cosmic_ray", reason="Cosmic Ray: pip install -e '.[mutation]'")
    report = tmp_path / "mutants.json"
    completed = _mutate("--file", "model/digest.py", "--sample", "2", "--json", str(report))
    document = json.loads(report.read_text())
    assert document["population"] == 2 and document["judged"] == 2 and document["killed"] == 2, document
    assert {mutant["outcome"] for mutant in document["mutants"]} == {"killed"}
    assert "model/digest.py" in completed.stdout and "100.0%" in completed.stdout
    # --rerun runs an earlier run's survivors again: here both, marked survived.
    for mutant in document["mutants"]:
        mutant["outcome"] = "survived"
    report.write_text(json.dumps(document))
    again = tmp_path / "again.json"
    _mutate("--rerun", str(report), "--json", str(again))
    rerun_document = json.loads(again.read_text())
    assert [(m["path"], m["operator"], m["occurrence"]) for m in rerun_document["mutants"]] == [
        (m["path"], m["operator"], m["occurrence"]) for m in document["mutants"]
    ]
    assert rerun_document["killed"] == 2, rerun_document
    # The working tree never saw a mutant.
    assert subprocess.run(["git", "diff", "--quiet", "--", "model"], cwd=ROOT, check=False).returncode == 0


def test_equivalents_match_a_diff_by_its_lines() -> None:
    rows = parse_equivalents(
        "| file | as written | mutated | why |\n|---|---|---|---|\n"
        "| `model/wal.py` | `x = a < b` | `x = a <= b` | a never equals b here |\n"
    )
    assert len(rows) == 1
    removed, added = mutated_lines("--- a\n+++ b\n@@ -1 +1 @@\n-    x = a < b\n+    x = a <= b\n")
    assert rows[0].matches("model/wal.py", removed, added)
    assert not rows[0].matches("reference/wal.py", removed, added)
    assert all(row.reason for row in load_equivalents())


def test_every_equivalent_row_names_a_line_of_its_file() -> None:
    """A row of M1 whose line was since rewritten matches no mutant again and
    only hides that its reason went unchecked: each row's line as written must
    still be a line of its file, and its mutated line must differ from it."""
    stale = []
    for row in load_equivalents():
        lines = {line.strip() for line in (ROOT / row.path).read_text(encoding="utf-8").splitlines()}
        if row.original not in lines or row.mutated == row.original:
            stale.append((row.path, row.original, row.mutated))
    assert not stale, stale
    assert len(load_equivalents()) > 50


def test_the_killer_runs_the_fixed_machines_first() -> None:
    """The mutation plugin's order (walcheck/mutation/pytest_profile.py): every
    entry names collected tests (a renamed test would fall to the end), and
    nothing is deselected by it."""
    from walcheck.mutation.pytest_profile import KILLER_ORDER

    def collected(*plugin: str) -> list[str]:
        listing = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *plugin,
                "--collect-only",
                "-k",
                "stateful",
                "tests",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return [line for line in listing.stdout.splitlines() if line.startswith("tests/")]

    ordered = collected("-p", "walcheck.mutation.pytest_profile")
    assert sorted(ordered) == sorted(collected())
    assert ordered[0].startswith("tests/test_stateful.py::TestStatefulSmallRegionFixed")
    for prefix in KILLER_ORDER:
        assert any(nodeid.startswith(prefix) for nodeid in ordered), prefix


def test_a_mutant_inside_an_annotation_is_equivalent_only_when_annotations_are_postponed() -> None:
    from walcheck.mutation.equivalents import in_annotation

    body = "def f(data: bytes | None = None) -> int | None:\n    return 1 | 2\n"
    postponed = "from __future__ import annotations\n" + body
    assert in_annotation(postponed, (2, 18), (2, 19))  # the | of the argument's annotation
    assert in_annotation(postponed, (2, 40), (2, 41))  # the | of the return annotation
    assert not in_annotation(postponed, (3, 13), (3, 14))  # 1 | 2 runs
    assert not in_annotation(body, (1, 18), (1, 19))  # evaluated when the def runs


def test_a_bare_star_made_a_slash_is_equivalent_only_after_self_or_cls_alone() -> None:
    from walcheck.mutation.equivalents import keyword_marker_made_positional

    method = "class C:\n    def f(self, *, lock: bool = False) -> None:\n        pass\n"
    assert keyword_marker_made_positional(method, (2, 16), "core/ReplaceBinaryOperator_Mul_Div")
    # Other operators make a syntax error, which the killer's import catches.
    assert not keyword_marker_made_positional(method, (2, 16), "core/ReplaceBinaryOperator_Mul_Add")
    # A parameter before the marker other than self: equivalent while no call names it.
    function = "def f(size, *, lock: bool = False) -> None:\n    pass\n"
    div = "core/ReplaceBinaryOperator_Mul_Div"
    assert keyword_marker_made_positional(function, (1, 12), div, ["f(3, lock=True)\n"])
    assert not keyword_marker_made_positional(function, (1, 12), div, ["f(size=3)\n"])
    assert not keyword_marker_made_positional(function, (1, 12), div, ["f(**options)\n"])
    assert not keyword_marker_made_positional(
        function, (1, 12), div, ["run = f\n"]
    )  # called as run(size=...)?
    # A method is reached only as an attribute: a bare name spelled like it (a
    # flag `create`) is another object, an attribute taken as a value is not.
    factory = (
        "class C:\n    @classmethod\n    def create(cls, path, *, wal: int = 1) -> None:\n        pass\n"
    )
    assert keyword_marker_made_positional(
        factory, (3, 26), div, ["def g(create: bool) -> bool:\n    return create\n"]
    )
    assert keyword_marker_made_positional(factory, (3, 26), div, ["C.create('p', wal=2)\n"])
    assert not keyword_marker_made_positional(factory, (3, 26), div, ["opener = C.create\n"])
    assert not keyword_marker_made_positional(factory, (3, 26), div, ["C.create(path='p')\n"])
    # ...but a function of a module is reached by its bare name.
    assert not keyword_marker_made_positional(
        function, (1, 12), div, ["def g(f: int) -> int:\n    return f\n"]
    )
    # A default before the marker and none after: the mutant does not compile.
    defaults = "def f(size=1, *, lock: bool) -> None:\n    pass\n"
    assert not keyword_marker_made_positional(defaults, (1, 14), div, ["f(3, lock=True)\n"])
    # A * that multiplies.
    body = "class C:\n    def f(self, *, n: int = 2) -> int:\n        return n * 3\n"
    assert not keyword_marker_made_positional(body, (3, 17), "core/ReplaceBinaryOperator_Mul_Div")


def test_slots_made_false_is_equivalent_only_on_a_frozen_dataclass_nothing_introspects() -> None:
    from walcheck.mutation.equivalents import slots_of_a_frozen_dataclass

    source = "@dataclass(frozen=True, slots=True)\nclass Stats:\n    size: int\n"
    slots, frozen = (1, 30), (1, 18)  # the True of slots=, of frozen=
    flip = "core/ReplaceTrueWithFalse"
    assert slots_of_a_frozen_dataclass(source, slots, flip, [])
    assert not slots_of_a_frozen_dataclass(source, frozen, flip, [])  # unfrozen: assignable, unhashable
    assert not slots_of_a_frozen_dataclass(source, slots, "core/ReplaceComparisonOperator_Eq_NotEq", [])
    unfrozen = "@dataclass(slots=True)\nclass Stats:\n    size: int\n"
    assert not slots_of_a_frozen_dataclass(unfrozen, (1, 17), flip, [])
    # A module that can tell: slots read, a weak reference, a size measured.
    assert not slots_of_a_frozen_dataclass(source, slots, flip, ["print(Stats.__slots__)\n"])
    assert not slots_of_a_frozen_dataclass(source, slots, flip, ["import weakref\n"])
    assert not slots_of_a_frozen_dataclass(source, slots, flip, ["from sys import getsizeof\n"])
    # vars() raises on a slotted instance, so using it tells nothing the mutant could break.
    assert slots_of_a_frozen_dataclass(source, slots, flip, ["print(vars(x))\n"])
    # The words in a string are not a use.
    assert slots_of_a_frozen_dataclass(source, slots, flip, ['TELLS = ("weakref", "__slots__")\n'])


def test_a_default_is_equivalent_only_when_its_parameter_is_never_read() -> None:
    from walcheck.mutation.equivalents import default_of_an_unread_parameter

    source = (
        "def open_path(self, *, create: bool = False, lock: bool = True) -> int:\n"
        "    return 1 if create else 2\n"
    )
    lock_default, create_default = ((1, 58), (1, 62)), ((1, 38), (1, 43))
    assert default_of_an_unread_parameter(source, *lock_default)
    assert not default_of_an_unread_parameter(source, *create_default)  # create is read
    assert not default_of_an_unread_parameter(source, (2, 11), (2, 12))  # the body, not a default
    introspecting = source.replace("return 1 if create else 2", "return len(locals())")
    assert not default_of_an_unread_parameter(introspecting, *lock_default)
    positional = "def f(size=4, chunk=8):\n    return size\n"
    assert default_of_an_unread_parameter(positional, (1, 20), (1, 21))
    assert not default_of_an_unread_parameter(positional, (1, 11), (1, 12))


def test_identity_made_equality_is_equivalent_only_against_a_plain_enum_member() -> None:
    from walcheck.mutation.equivalents import enum_identity_made_equality

    enum = "import enum\nclass Design(enum.Enum):\n    FIXED = 'fixed'\n"
    source = "def f(d, x):\n    return d is Design.FIXED, x is None, type(x) is bytes\n"
    is_eq, not_eq = "core/ReplaceComparisonOperator_Is_Eq", "core/ReplaceComparisonOperator_IsNot_NotEq"
    member, none, kind = ((2, 13), (2, 15)), ((2, 32), (2, 34)), ((2, 51), (2, 53))
    assert enum_identity_made_equality(source, *member, is_eq, [enum])
    assert not enum_identity_made_equality(source, *member, not_eq, [enum])  # not this operator's
    assert not enum_identity_made_equality(source, *member, is_eq, [])  # Design is no enum here
    assert not enum_identity_made_equality(source, *none, is_eq, [enum])  # x == None: x may say so
    assert enum_identity_made_equality(source, *kind, is_eq, [enum])
    equal = enum + "    def __eq__(self, other: object) -> bool:\n        return True\n"
    assert not enum_identity_made_equality(source, *member, is_eq, [equal])
    negated = source.replace("d is Design", "d is not Design")
    assert enum_identity_made_equality(negated, (2, 13), (2, 19), not_eq, [enum])


def test_a_mutant_in_a_protocol_stub_is_equivalent_only_when_nothing_derives_from_it() -> None:
    from walcheck.mutation.equivalents import in_protocol_stub

    source = (
        "from typing import Protocol\n"
        "class Storage(Protocol):\n"
        "    def sync(self, *, lock: bool = False) -> None:\n"
        '        """Sync."""\n'
        "        ...\n"
        "    def size(self) -> int:\n"
        "        return 1 + 2\n"
    )
    default = ((3, 35), (3, 40))  # the False of sync's default
    assert in_protocol_stub(source, *default, others=[])
    assert not in_protocol_stub(source, (7, 17), (7, 18), others=[])  # a body that runs
    assert not in_protocol_stub(source, (3, 19), (3, 20), others=[])  # the * made a syntax error
    deriving = "from x import Storage\nclass File(Storage):\n    pass\n"
    assert not in_protocol_stub(source, *default, others=[deriving])
    plain = source.replace("(Protocol)", "")
    assert not in_protocol_stub(plain, *default, others=[])
