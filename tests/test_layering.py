"""The import rules of the project (README, "What is where"), read from the
source with ``ast``: every ``import`` and ``from ... import``, at any depth
(a function's own imports count), and what those modules import in turn.

- ``model`` imports nothing of the project: it is the specification.
- ``reference`` imports neither ``model`` nor ``walcheck``: it must agree with
  the model byte for byte without reading it.
- ``walcheck/oracle.py`` imports neither ``model`` nor ``reference``: it judges
  both from what the caller was told.
- ``walcheck.modelcheck`` and ``walcheck.conformance`` import no ``reference``:
  the model checker checks the model alone, and a port is checked from outside.

The rules hold for what a module reaches, not only for what it names: a
model-checking module importing a side-by-side module that imports the
reference breaks the rule as much as importing the reference itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "reference", "walcheck")


@dataclass(frozen=True)
class Rule:
    """Modules named ``sources`` (or below them) must not reach ``forbidden`` (or below)."""

    text: str
    sources: tuple[str, ...]
    forbidden: tuple[str, ...]


RULES = (
    Rule("model imports nothing of the project", ("model",), ("reference", "walcheck")),
    Rule("reference imports neither model nor walcheck", ("reference",), ("model", "walcheck")),
    Rule("the oracle imports neither side", ("walcheck.oracle",), ("model", "reference")),
    Rule("modelcheck imports no reference", ("walcheck.modelcheck",), ("reference",)),
    Rule("conformance imports no reference", ("walcheck.conformance",), ("reference",)),
)


def _within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the project's packages below ``root``, by dotted name."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def direct_imports(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The project's modules ``module`` imports anywhere in its source.
    ``from a.b import c`` imports ``a.b`` and, when it is a module, ``a.b.c``;
    relative imports are resolved against ``module``'s package."""
    known = set(known)
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            # ``import a.b.c`` also imports ``a`` and ``a.b``: their __init__ runs.
            parts = name.split(".")
            for length in range(1, len(parts) + 1):
                prefix = ".".join(parts[:length])
                if prefix in known:
                    found.add(prefix)
    found.discard(module)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: direct_imports(name, path, modules) for name, path in modules.items()}


def reached(graph: Mapping[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` reaches, each with the module that imports it on a shortest path."""
    via: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for module in frontier:
            for imported in sorted(graph.get(module, ())):
                if imported != start and imported not in via:
                    via[imported] = module
                    following.append(imported)
        frontier = following
    return via


def _path(via: Mapping[str, str], start: str, end: str) -> str:
    chain = [end]
    while chain[-1] != start:
        chain.append(via[chain[-1]])
    return " -> ".join(reversed(chain))


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Each module that breaks a rule, with the rule and the shortest import
    chain that breaks it (to the most specific module: ``reference.wal``, not
    the package ``reference`` its import also ran)."""
    found: list[str] = []
    for rule in RULES:
        for module in sorted(graph):
            if not _within(module, rule.sources):
                continue
            via = reached(graph, module)
            # A package's own modules may import each other (model.wal imports model.format).
            targets = [t for t in via if _within(t, rule.forbidden) and not _within(t, rule.sources)]
            specific = [
                t for t in targets if not any(u.startswith(t + ".") and via[u] == via[t] for u in targets)
            ]
            if specific:
                found.append(f"{rule.text}: {_path(via, module, specific[0])}")
    return found


def test_the_project_keeps_its_import_rules() -> None:
    graph = import_graph(ROOT)
    assert "walcheck.oracle" in graph and "model.wal" in graph and "reference.wal" in graph
    assert violations(graph) == []


def test_every_rule_applies_to_some_module() -> None:
    graph = import_graph(ROOT)
    for rule in RULES:
        assert any(_within(module, rule.sources) for module in graph), rule.text


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    return root


def test_a_planted_import_of_the_reference_in_the_model_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"model/wal.py": "def f() -> None:\n    from reference.wal import scan\n", "reference/wal.py": ""},
    )
    assert violations(import_graph(root)) == [
        "model imports nothing of the project: model.wal -> reference.wal"
    ]


def test_a_rule_broken_through_another_module_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "walcheck/conformance/search.py": "from ..sidebyside import machines\n",
            "walcheck/sidebyside/machines.py": "import reference.wal\n",
            "reference/wal.py": "",
        },
    )
    assert violations(import_graph(root)) == [
        "conformance imports no reference: walcheck.conformance.search -> walcheck.sidebyside.machines "
        "-> reference.wal"
    ]


def test_the_oracle_importing_the_model_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"walcheck/oracle.py": "from model import Design\n"})
    assert violations(import_graph(root)) == ["the oracle imports neither side: walcheck.oracle -> model"]
