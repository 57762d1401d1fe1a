"""The layers of archlint/ (issue 12): the CLI sits on top and nothing below imports it, rule
codes of the runtime check live in the rule pack, and the imports of archlint/ have no cycle."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

from .conftest import REPO

PACKAGE = REPO / "archlint"
RUNTIME_CODE = re.compile(r"\bAL5\d\d\b")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every archlint module this module imports when it runs: at module level and inside
    functions (a lazy import still runs), not under ``if TYPE_CHECKING``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imports(tree, name, path.name == "__init__.py"):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_nothing_under_archlint_but_main_imports_the_cli() -> None:
    graph = _graph()
    importers = sorted(m for m in graph if not m.startswith("archlint.cli") and any(
        t == "archlint.cli" or t.startswith("archlint.cli.") for t in graph.successors(m)))
    assert importers == ["archlint.__main__"]


def test_the_walk_sees_the_imports() -> None:
    """The walk itself: it must find the CLI's own edges and lazy imports in functions."""
    graph = _graph()
    assert graph.has_edge("archlint.cli.lint", "archlint.app")
    assert graph.has_edge("archlint.engine", "archlint.runtime.check")  # inside a method
    assert not graph.has_edge("archlint.engine", "archlint.runtime.result")  # TYPE_CHECKING


def test_the_imports_of_archlint_have_no_cycle() -> None:
    cycles = list(nx.simple_cycles(_graph()))
    assert cycles == []


def test_no_runtime_rule_code_is_written_under_archlint() -> None:
    """AL5xx codes live in rules/archlint_rules only; the runtime package observes, the rules
    judge (a misspelt code in the runtime could otherwise drop a finding silently)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and RUNTIME_CODE.search(node.value):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}")
    assert found == []
