"""Imports among mlxa's modules go one way: no module reaches itself through the imports its
module body runs (including those under `if TYPE_CHECKING:`, which tie the layers as much), and
every module imports (one that needs an optional backend at module level, as an adapter
imported on first use may, is skipped without it)."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import ROOT

SRC = ROOT / "src"


def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "mlxa").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _top_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements the module body runs: not inside functions or classes."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt
        elif isinstance(stmt, ast.If):
            yield from _top_level_imports(stmt.body)
            yield from _top_level_imports(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody,
                          *(h.body for h in stmt.handlers)):
                yield from _top_level_imports(block)


def _targets(stmt: ast.Import | ast.ImportFrom, package: str, modules: set[str]) -> set[str]:
    """The mlxa modules a statement imports: `from pkg import name` imports the submodule
    pkg.name when there is one, else pkg itself."""
    if isinstance(stmt, ast.Import):
        return {a.name for a in stmt.names} & modules
    base = stmt.module or ""
    if stmt.level:
        parts = package.split(".")
        base = ".".join(parts[:len(parts) - stmt.level + 1] + ([base] if base else []))
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
            for a in stmt.names} & modules


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        stmts = _top_level_imports(ast.parse(path.read_text(), str(path)).body)
        graph[name] = set().union(*(_targets(s, package, set(files)) for s in stmts)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None: depth-first search with an explicit stack,
    O(modules + imports)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_mlxa_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(n for n in module_files() if not n.endswith("__main__")))
def test_every_module_imports(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:  # an adapter's backend (jax for xla_rules), not ours
        if (e.name or "").partition(".")[0] == "mlxa":
            raise
        pytest.skip(f"{name} needs {e.name}")
