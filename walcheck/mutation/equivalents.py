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
