"""The equivalent mutants listed in spec/mutants.md, and matching a mutant's diff to them.

A row of the table there names the file, the line as written and the line as
mutated (each in backticks, stripped of indentation), and why no test can tell
the two apart. A mutant matches a row when its diff removes that line and adds
the mutated one in that file: line numbers move with every edit, the code does
not.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parents[2] / "spec" / "mutants.md"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]*)`\s*\|\s*`([^`]*)`\s*\|\s*(.+?)\s*\|\s*$")


@dataclass(frozen=True)
class Equivalent:
    path: str
    original: str
    mutated: str
    reason: str

    def matches(self, path: str, removed: Sequence[str], added: Sequence[str]) -> bool:
        return path == self.path and self.original in removed and self.mutated in added


def parse_equivalents(text: str) -> list[Equivalent]:
    rows: list[Equivalent] = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            path, original, mutated, reason = match.groups()
            # A | inside a table cell is written \| (markdown), even in code.
            original, mutated = (text.replace("\\|", "|").strip() for text in (original, mutated))
            rows.append(Equivalent(path, original, mutated, reason))
    return rows


def load_equivalents(path: Path = CATALOGUE) -> list[Equivalent]:
    return parse_equivalents(path.read_text(encoding="utf-8")) if path.exists() else []


def mutated_lines(diff: str) -> tuple[list[str], list[str]]:
    """The lines a unified diff removes and adds, stripped."""
    removed: list[str] = []
    added: list[str] = []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return removed, added


# A class of equivalent mutants the table need not list one by one.
ANNOTATION_REASON = (
    "changes a type annotation only: the module has `from __future__ import annotations`, so "
    "annotations are strings no code evaluates (mypy --strict, not pytest, holds them)"
)


def in_annotation(source: str, start: tuple[int, int], end: tuple[int, int]) -> bool:
    """Whether the span from ``start`` to ``end`` (line from 1, column from 0)
    lies inside one annotation of ``source``, a module that postpones the
    evaluation of its annotations (PEP 563)."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return False
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    for annotation in annotations:
        assert annotation.end_lineno is not None and annotation.end_col_offset is not None
        first = (annotation.lineno, annotation.col_offset)
        last = (annotation.end_lineno, annotation.end_col_offset)
        if first <= start and end <= last:
            return True
    return False


MARKER_REASON = (
    "turns the bare `*` of a function's parameters into `/`: the parameters after it may "
    "then be passed by position too, and those before it by position only; no call in the "
    "project passes one of those by keyword or through `**`, and the function is never "
    "taken as a value to be called under another name, so every call binds its arguments "
    "exactly as before (mypy --strict checks each call against the signature as written)"
)

PROTOCOL_REASON = (
    "lies in a method of a `typing.Protocol` class whose body is a docstring and `...`: "
    "no class of the project derives from that Protocol, so nothing ever runs the "
    "method or reads its defaults (isinstance on a runtime_checkable Protocol looks "
    "at names only)"
)


def _parameters_span(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[tuple[int, int], tuple[int, int]]:
    """From the function's first line to the start of its body: where its
    parameters are written (decorators excluded)."""
    return (node.lineno, node.col_offset), (node.body[0].lineno, node.body[0].col_offset)


def _called_only_positionally(
    name: str, parameters: set[str], sources: Sequence[str], *, method: bool = False
) -> bool:
    """Whether every use of ``name`` in ``sources`` is a call (its function
    named ``name`` directly or as an attribute) that passes none of
    ``parameters`` by keyword and unpacks no mapping. A ``method`` is reached
    only as an attribute (``Memory.create``, ``self.create``): a bare name
    spelled the same (a parameter ``create: bool``) is another object."""
    for text in sources:
        tree = ast.parse(text)
        called: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            named = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
            if named != name:
                continue
            called.add(id(function))
            for keyword in node.keywords:
                if keyword.arg is None or keyword.arg in parameters:
                    return False
        for node in ast.walk(tree):
            if method and isinstance(node, ast.Name):
                continue
            used = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if isinstance(node, (ast.Name, ast.Attribute)) and used == name and id(node) not in called:
                return False
    return True


def keyword_marker_made_positional(
    source: str, start: tuple[int, int], operator: str, others: Sequence[str] = ()
) -> bool:
    """Whether a mutant by ``operator`` at ``start`` turns a function's bare
    ``*`` marker into ``/`` where no call can tell: the parameters before it
    are ``self`` or ``cls`` alone, or no use of the function in ``source``
    and ``others`` passes one of them by keyword or takes the function as a
    value."""
    if operator.removeprefix("core/") != "ReplaceBinaryOperator_Mul_Div":
        return False
    lines = source.splitlines()
    line, column = start
    if not (0 < line <= len(lines)) or lines[line - 1][column : column + 1] != "*":
        return False
    mutated = [*lines]
    mutated[line - 1] = mutated[line - 1][:column] + "/" + mutated[line - 1][column + 1 :]
    try:
        # A default before the marker and none after it: the mutant does not
        # compile, and the killer's import catches it.
        ast.parse("\n".join(mutated))
    except SyntaxError:
        return False
    tree = ast.parse(source)
    methods = {
        id(member)
        for owner in ast.walk(tree)
        if isinstance(owner, ast.ClassDef)
        for member in owner.body
        if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first, last = _parameters_span(node)
        arguments = node.args
        if not (first <= start < last and arguments.vararg is None and arguments.kwonlyargs):
            continue
        if arguments.posonlyargs:
            return False
        before = [argument.arg for argument in arguments.args]
        if before and before[0] in ("self", "cls"):
            before = before[1:]
        return not before or _called_only_positionally(
            node.name, set(before), (source, *others), method=id(node) in methods
        )
    return False


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(node.body)
    first = body[0].value if body and isinstance(body[0], ast.Expr) else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        body = body[1:]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and body[0].value.value is Ellipsis
    )


def _base_names(node: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def in_protocol_stub(
    source: str, start: tuple[int, int], end: tuple[int, int], others: Sequence[str]
) -> bool:
    """Whether the span lies in a stub method (docstring and ``...``) of a
    class of ``source`` that derives from ``Protocol`` directly, when no class
    of ``source`` or ``others`` (the project's other modules) names that class
    among its bases."""
    lines = source.splitlines()
    if start[0] == end[0] and lines[start[0] - 1][start[1] : end[1]] == "*":
        # A bare * marker: every operator but / makes a syntax error, which
        # the killer's import catches (and / is keyword_marker_made_positional's).
        return False
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef) or "Protocol" not in _base_names(node):
            continue
        for method in node.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _is_stub(method):
                continue
            assert method.end_lineno is not None and method.end_col_offset is not None
            if not (
                (method.lineno, method.col_offset) <= start
                and end <= (method.end_lineno, method.end_col_offset)
            ):
                continue
            for text in (source, *others):
                for other in ast.walk(ast.parse(text)):
                    if isinstance(other, ast.ClassDef) and node.name in _base_names(other):
                        return False
            return True
    return False


SLOTS_REASON = (
    "turns `slots=True` into `slots=False` in the `@dataclass` of a frozen class: a frozen "
    "instance refuses every assignment with or without slots, and whatever works on a "
    "slotted instance works alike on one with a `__dict__`; the other only also allows "
    "`vars()`, `__dict__`, weak references and new attributes, each of which raises on a "
    "slotted one, so the two differ only where code reads `__slots__` or an instance's size, "
    "or needs one of those to raise (a weak reference or a `cached_property` that only works "
    "unslotted, an `object.__setattr__` of a name that is no field); no module of the project "
    "does any of those"
)

# What tells a slotted instance from one with a __dict__ (SLOTS_REASON): names
# read as attributes, called, or imported, found in a module's syntax tree (so
# not in strings or comments, this module's own included). vars() and
# __dict__ are not among them: on a slotted instance they raise, so code that
# uses them works the same or better unslotted.
_SLOTS_ATTRIBUTES = frozenset({"__slots__", "__weakref__", "cached_property", "getsizeof"})
_SLOTS_NAMES = frozenset({"weakref", "cached_property", "getsizeof"})


def _tells_slots(text: str) -> bool:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Attribute) and node.attr in _SLOTS_ATTRIBUTES:
            return True
        if isinstance(node, ast.Name) and node.id in _SLOTS_NAMES:
            return True
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] in _SLOTS_NAMES for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (
            (node.module or "").split(".")[0] in _SLOTS_NAMES
            or any(alias.name in _SLOTS_NAMES for alias in node.names)
        ):
            return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "__setattr__"
            and isinstance(node.value, ast.Name)
            and node.value.id == "object"
        ):
            return True
    return False


def _keyword_is_true(call: ast.Call, name: str) -> ast.keyword | None:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant) and keyword.value.value is True:
            return keyword
    return None


def slots_of_a_frozen_dataclass(
    source: str, start: tuple[int, int], operator: str, others: Sequence[str] = ()
) -> bool:
    """Whether a mutant by ``operator`` at ``start`` turns the ``True`` of
    ``slots=True`` into ``False`` in a class's ``@dataclass(...)`` decorator
    that also says ``frozen=True``, when no module (``source`` or ``others``)
    uses what tells slots apart (SLOTS_REASON)."""
    if operator.removeprefix("core/") != "ReplaceTrueWithFalse":
        return False
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and _names_dataclass(decorator.func)):
                continue
            slots = _keyword_is_true(decorator, "slots")
            if slots is None or _keyword_is_true(decorator, "frozen") is None:
                continue
            if (slots.value.lineno, slots.value.col_offset) != start:
                continue
            return not any(_tells_slots(text) for text in (source, *others))
    return False


def _names_dataclass(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "dataclass") or (
        isinstance(func, ast.Attribute) and func.attr == "dataclass"
    )


UNREAD_DEFAULT_REASON = (
    "lies in the default value of a parameter its function never reads (the name is not "
    "loaded anywhere in the body, which calls neither `locals()` nor `vars()`): the default "
    "is evaluated once, when the function is defined, and then only bound to a name nothing "
    "uses, so no call can tell it from the one written (an interface's parameter, kept for "
    "its callers: MemoryDirectory's `lock`, say)"
)


def default_of_an_unread_parameter(source: str, start: tuple[int, int], end: tuple[int, int]) -> bool:
    """Whether the span lies inside the default of a parameter of a function
    of ``source`` whose body never loads the parameter's name."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        pairs = list(
            zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True)
        )
        pairs += [
            (arg, default)
            for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if default
        ]
        for arg, default in pairs:
            assert default.end_lineno is not None and default.end_col_offset is not None
            if not (
                (default.lineno, default.col_offset) <= start
                and end <= (default.end_lineno, default.end_col_offset)
            ):
                continue
            for statement in node.body:
                for inner in ast.walk(statement):
                    if isinstance(inner, ast.Name) and inner.id in {arg.arg, "locals", "vars"}:
                        return False
            return True
    return False


ENUM_REASON = (
    "turns `is` into `==` (or `is not` into `!=`) where one side is a member of one of the "
    "project's `enum.Enum` classes, none of which defines `__eq__`: an Enum member compares "
    "equal only to itself (Enum's equality is identity, and the other side, a member, a "
    "string or None, claims no equality of its own), so both answer alike on every value; "
    "or where the left side is `type(x)` and the right a class's name: a type is equal to "
    "itself alone"
)

_IDENTITY_TO_EQUALITY = {
    "ReplaceComparisonOperator_Is_Eq": ast.Is,
    "ReplaceComparisonOperator_IsNot_NotEq": ast.IsNot,
}


def _plain_enums(sources: Sequence[str]) -> set[str]:
    """The project's classes deriving from Enum directly that define no ``__eq__``."""
    names: set[str] = set()
    for text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and "Enum" in _base_names(node):
                methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
                if "__eq__" not in methods:
                    names.add(node.name)
    return names


def _names_a_member(node: ast.expr, enums: set[str]) -> bool:
    """``Design.FIXED`` or ``m.Design.FIXED``: an attribute of a name or an attribute naming an enum."""
    if not isinstance(node, ast.Attribute):
        return False
    owner = node.value
    return (isinstance(owner, ast.Name) and owner.id in enums) or (
        isinstance(owner, ast.Attribute) and owner.attr in enums
    )


def enum_identity_made_equality(
    source: str, start: tuple[int, int], end: tuple[int, int], operator: str, others: Sequence[str] = ()
) -> bool:
    """Whether a mutant by ``operator`` turns the identity test of a
    comparison spanning ``start``..``end`` into equality, where one side
    names a member of a plain Enum of the project (ENUM_REASON)."""
    wanted = _IDENTITY_TO_EQUALITY.get(operator.removeprefix("core/"))
    if wanted is None:
        return False
    enums = _plain_enums([source, *others])
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare) or len(node.ops) != 1 or not isinstance(node.ops[0], wanted):
            continue
        assert node.end_lineno is not None and node.end_col_offset is not None
        if not ((node.lineno, node.col_offset) <= start and end <= (node.end_lineno, node.end_col_offset)):
            continue
        if _names_a_member(node.left, enums) or _names_a_member(node.comparators[0], enums):
            return True
        if _is_type_call(node.left) and isinstance(node.comparators[0], ast.Name):
            return True  # type(x) is bytes: a type is equal to itself alone
    return False


def _is_type_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "type"
        and len(node.args) == 1
    )


def structural_reason(
    source: str, start: tuple[int, int], end: tuple[int, int], operator: str, others: Sequence[str]
) -> str | None:
    """Why the mutant at ``start``..``end`` of ``source`` (by ``operator``) is
    equivalent by one of M1's classes, or None: each class is decided from the
    code, so the mutant need not run."""
    if in_annotation(source, start, end):
        return ANNOTATION_REASON
    if keyword_marker_made_positional(source, start, operator, others):
        return MARKER_REASON
    if in_protocol_stub(source, start, end, others):
        return PROTOCOL_REASON
    if slots_of_a_frozen_dataclass(source, start, operator, others):
        return SLOTS_REASON
    if default_of_an_unread_parameter(source, start, end):
        return UNREAD_DEFAULT_REASON
    if enum_identity_made_equality(source, start, end, operator, others):
        return ENUM_REASON
    return None
