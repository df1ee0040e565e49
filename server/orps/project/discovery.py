"""Finding the visible tests of a function: its doctests and the user's own test files.

Test files come from ``--tests`` (files or directories) or, without it, from the project's
``test_*.py`` / ``*_test.py`` files that import the function's module. A file with pytest test
functions or classes is run through pytest (fixtures included), one test per function; a file
without them is split into its top-level ``assert`` statements, each run after the statements
before it.
"""

from __future__ import annotations

import ast
import doctest
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orps.project.target import FunctionTarget, find_project_root
from orps_sandbox import TestKind, TestSpec

SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "env",
    ".tox",
    ".nox",
    "node_modules",
    "__pycache__",
    "build",
    "dist",
    "site-packages",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}
MAX_FILES_SCANNED = 5000


class TestDiscoveryError(Exception):
    """A test source cannot be used; the message is one readable line."""

    __test__ = False


@dataclass
class VisibleTests:
    """The tests the search sees, and where they came from."""

    tests: list[TestSpec] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    doctests: int = 0

    @property
    def sources(self) -> list[str]:
        out = [f"{self.doctests} doctest example(s)"] if self.doctests else []
        out.extend(str(p) for p in self.files)
        return out


def doctest_specs(target: FunctionTarget) -> list[TestSpec]:
    """One test per doctest example that expects output; the statements before it are setup."""
    if not target.docstring:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(target.docstring)
    except ValueError:
        return []
    specs: list[TestSpec] = []
    setup: list[str] = []
    for example in examples:
        if example.want.strip() or example.exc_msg:
            specs.append(
                TestSpec(
                    id=f"doctest:{len(specs) + 1}",
                    kind=TestKind.DOCTEST,
                    source=example.source,
                    setup="".join(setup),
                    expected_output=example.want,
                    label=f"{example.source.strip()}  ->  {example.want.strip()}",
                )
            )
        else:
            setup.append(example.source)
    return specs


def imports_module(tree: ast.Module, module_name: str) -> bool:
    """Whether the parsed file imports ``module_name`` (or names from it)."""
    parent, _, leaf = module_name.rpartition(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(
                a.name == module_name or a.name.startswith(module_name + ".") for a in node.names
            ):
                return True
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == module_name or node.module.startswith(module_name + "."):
                return True
            if parent and node.module == parent and any(a.name == leaf for a in node.names):
                return True
    return False


def is_test_file(path: Path) -> bool:
    return path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))


def iter_python_files(root: Path) -> Iterable[Path]:
    count = 0
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir():
                if entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                    stack.append(entry)
            elif entry.suffix == ".py":
                count += 1
                if count > MAX_FILES_SCANNED:
                    return
                yield entry


def find_test_files(target: FunctionTarget, roots: Sequence[Path] = ()) -> list[Path]:
    """The test files under the project roots that import the target's module."""
    search_roots = list(roots) or [find_project_root(target.path.parent)]
    found: list[Path] = []
    for root in search_roots:
        for path in iter_python_files(root):
            if not is_test_file(path) or path.resolve() == target.path:
                continue
            try:
                tree = ast.parse(path.read_bytes())
            except (SyntaxError, ValueError, OSError):
                continue
            if imports_module(tree, target.module_name):
                found.append(path.resolve())
    return sorted(set(found))


def expand_test_paths(paths: Sequence[Path]) -> list[Path]:
    """Files given with --tests; directories contribute their test files."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise TestDiscoveryError(f"tests file not found: {path}")
        if path.is_dir():
            files.extend(p.resolve() for p in iter_python_files(path) if is_test_file(p))
        elif path.suffix != ".py":
            raise TestDiscoveryError(f"tests file is not a Python file: {path}")
        else:
            files.append(path.resolve())
    return files


def file_specs(path: Path) -> list[TestSpec]:
    """The tests of one file: pytest items, or else its top-level asserts."""
    try:
        source = path.read_bytes().decode("utf-8-sig")  # a BOM is no text
        tree = ast.parse(source, filename=str(path))
    except (UnicodeDecodeError, OSError) as exc:
        raise TestDiscoveryError(f"cannot read tests file {path}: {exc}") from None
    except SyntaxError as exc:
        raise TestDiscoveryError(
            f"tests file {path.name} does not parse: line {exc.lineno}: {exc.msg}"
        ) from None
    items = pytest_items(tree)
    if items and "parametrize" in source:
        items = _expand_parametrized(path, items)
    if items:
        return [
            TestSpec(
                id=f"{path}::{node}",
                kind=TestKind.PYTEST,
                path=str(path),
                node=node,
                source=snippet,
                label=f"{path.name}::{node}",
            )
            for node, snippet in items
        ]
    specs: list[TestSpec] = []
    setup: list[str] = []
    for stmt in tree.body:
        text = ast.get_source_segment(source, stmt) or ast.unparse(stmt)
        if isinstance(stmt, ast.Assert):
            specs.append(
                TestSpec(
                    id=f"{path}:{stmt.lineno}",
                    kind=TestKind.ASSERT,
                    source=text,
                    setup="\n".join(setup),
                    label=text if len(text) < 200 else text[:197] + "...",
                )
            )
        elif not (isinstance(stmt, ast.If) and _is_main_guard(stmt)):
            setup.append(text)
    return specs


def import_statements(path: Path) -> str:
    """The file's top-level import statements as source, for an import check."""
    try:
        source = path.read_bytes().decode("utf-8-sig")  # a BOM is no text
        tree = ast.parse(source)
    except (UnicodeDecodeError, OSError, SyntaxError):
        return ""
    return "\n".join(
        ast.get_source_segment(source, stmt) or ast.unparse(stmt)
        for stmt in tree.body
        if isinstance(stmt, ast.Import | ast.ImportFrom)
    )


def _expand_parametrized(path: Path, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Item ids of parametrised tests (``test_f[1-2]``), from pytest's own collection.

    Collection imports the user's test file (the user's code, not model output) in a separate
    process; if it fails, each function stays one test and the sandbox reports what happens.
    """
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                str(path),
            ],
            cwd=find_project_root(path.parent),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return items
    sources = dict(items)
    expanded: list[tuple[str, str]] = []
    for line in proc.stdout.splitlines():
        _, sep, node = line.strip().partition("::")
        base = node.split("[", 1)[0]
        if sep and base in sources:
            expanded.append((node, sources[base]))
    return expanded or items


def pytest_items(tree: ast.Module) -> list[tuple[str, str]]:
    """(node name, source) of pytest test functions and methods of ``Test*`` classes."""
    items: list[tuple[str, str]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith(
            "test"
        ):
            items.append((stmt.name, ast.unparse(stmt)))
        elif isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
            for sub in stmt.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and sub.name.startswith(
                    "test"
                ):
                    items.append((f"{stmt.name}::{sub.name}", ast.unparse(sub)))
    return items


def _is_main_guard(stmt: ast.If) -> bool:
    test = stmt.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def discover_tests(
    target: FunctionTarget,
    test_paths: Sequence[Path] | None = None,
    roots: Sequence[Path] = (),
) -> VisibleTests:
    """All visible tests: doctests, plus ``test_paths`` if given, else the discovered files."""
    visible = VisibleTests()
    doctests = doctest_specs(target)
    visible.tests.extend(doctests)
    visible.doctests = len(doctests)
    files = expand_test_paths(test_paths) if test_paths else find_test_files(target, roots)
    for path in files:
        specs = file_specs(path)
        if specs:
            visible.files.append(path)
            visible.tests.extend(specs)
    return visible
