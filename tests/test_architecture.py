"""The packages' import graph: no cycles, and each layer imports only the layers below it.

Every ``import`` statement counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``), because a lazy import is still a dependency. The allowed layers mirror the
map in ``docs/architecture.md``; a new edge across layers must be added there and here on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"orps": REPO / "server" / "orps", "orps_sandbox": REPO / "sandbox" / "orps_sandbox"}

# Which layers each layer may import (itself always allowed). Keep in step with
# docs/architecture.md ("What may import what").
ALLOWED: dict[str, set[str]] = {
    "orps_sandbox": set(),
    "orps.settings": set(),
    "orps.units": set(),
    "orps.model": {"orps.settings"},
    "orps.project": {"orps_sandbox"},
    "orps.search": {"orps.model", "orps.project", "orps.units", "orps_sandbox"},
    "orps.session": {"orps.model", "orps.project", "orps.search", "orps.settings", "orps_sandbox"},
    "orps.bench": {
        "orps.session",
        "orps.model",
        "orps.project",
        "orps.search",
        "orps.settings",
        "orps_sandbox",
    },
    "orps.lsp": {
        "orps",  # the package's __version__
        "orps.session",
        "orps.model",
        "orps.project",
        "orps.search",
        "orps.settings",
        "orps.units",
        "orps_sandbox",
    },
    "orps.cli": {
        "orps.bench",
        "orps.lsp",
        "orps.session",
        "orps.model",
        "orps.project",
        "orps.search",
        "orps.settings",
        "orps.units",
        "orps_sandbox",
    },
    "orps": set(),  # orps/__init__.py
    "orps.__main__": {"orps.cli"},
}


def module_files() -> Iterator[tuple[str, Path]]:
    for top, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join([top, *parts]), path


MODULES = dict(module_files())


def resolve(name: str) -> str | None:
    """The project module an imported name refers to (longest known prefix), if any."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module, path) for module, path in MODULES.items()}


def layer_of(module: str) -> str:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    raise AssertionError(f"{module} belongs to no layer: add it to ALLOWED and the docs")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_walk_sees_the_packages() -> None:
    assert "orps.session" in MODULES and "orps_sandbox.sandbox" in MODULES
    assert "orps.search.beam" in GRAPH["orps.session"]  # the walk resolves real imports


def test_no_import_cycles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_lower_layers(module: str) -> None:
    layer = layer_of(module)
    wrong = sorted(
        target
        for target in GRAPH[module]
        if (other := layer_of(target)) != layer and other not in ALLOWED[layer]
    )
    assert not wrong, f"{module} ({layer}) may not import {', '.join(wrong)}"


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        m for m, path in MODULES.items() if ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert not missing, f"modules without a docstring: {', '.join(missing)}"
