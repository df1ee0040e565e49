"""The function being refined: finding it in its module, splicing candidates in, applying one.

A target is named ``path/to/module.py::function`` or ``path/to/module.py::Class.method``. Its
text is the whole lines from its first decorator to its last statement; a candidate under test
replaces exactly those lines, re-indented to the original's indentation, and every other byte of
the file stays as it was. Accepting one into the file keeps more of the user's text
(``grafting``).
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import hashlib
import os
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


class TargetError(Exception):
    """The target cannot be used; the message is one readable line."""


@dataclass(frozen=True)
class FunctionTarget:
    """A function located in a module's source text."""

    path: Path
    module_source: str
    qualname: str
    start_line: int  # 0-based first line (first decorator or the def)
    end_line: int  # 0-based exclusive
    indent: str
    is_stub: bool
    docstring: str | None
    module_name: str
    search_paths: tuple[str, ...] = field(default_factory=tuple)
    byte_order_mark: bool = False
    """The file starts with a UTF-8 byte order mark (not part of ``module_source``; written
    back in front of it)."""

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.path.name}::{self.qualname}"

    @property
    def source(self) -> str:
        """The function's text as it stands in the file (indented as there)."""
        lines = split_lines(self.module_source)
        return "".join(lines[self.start_line : self.end_line])

    @property
    def dedented_source(self) -> str:
        """The function's text unindented, its lines ending in "\\n" whatever the file uses
        (``textwrap.dedent`` takes a blank "\\r\\n" line for one without indentation)."""
        return textwrap.dedent(self.source.replace("\r\n", "\n"))

    def splice(self, function_code: str) -> str:
        """The module source with the function replaced by ``function_code`` (unindented)."""
        lines = split_lines(self.module_source)
        newline = "\r\n" if self.source.endswith("\r\n") else "\n"
        code_lines = function_code.replace("\r\n", "\n").rstrip("\n").split("\n")
        # Blank lines stay empty rather than carrying trailing indentation.
        body = "".join(
            (self.indent + line if line.strip() else "") + newline for line in code_lines
        )
        if self.end_line == len(lines) and lines and not lines[-1].endswith("\n"):
            body = body[: -len(newline)]
        return "".join(lines[: self.start_line]) + body + "".join(lines[self.end_line :])


def parse_target_spec(spec: str) -> tuple[Path, str]:
    """Split ``path.py::qualname``."""
    path_text, sep, qualname = spec.rpartition("::")
    if not sep or not path_text or not qualname:
        raise TargetError(f"target {spec!r} must look like path/to/module.py::function")
    return Path(path_text), qualname


def load_target(path: Path, qualname: str) -> FunctionTarget:
    """Read ``path`` and locate ``qualname`` in it."""
    if not path.exists():
        raise TargetError(f"no such file: {path}")
    if path.is_dir():
        raise TargetError(f"{path} is a directory, not a Python file")
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TargetError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise TargetError(f"cannot read {path}: {exc.strerror}") from None
    target = locate_function(text, qualname, path.resolve())
    if data.startswith(codecs.BOM_UTF8):
        target = replace(target, byte_order_mark=True)
    return target


def locate_function(source: str, qualname: str, path: Path) -> FunctionTarget:
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(f"syntax error in {path.name} line {exc.lineno}: {exc.msg}") from None
    node = find_function_node(tree, qualname)
    if node is None:
        available = ", ".join(sorted(list_functions(tree))[:12]) or "none"
        raise TargetError(f"no function {qualname!r} in {path.name} (functions: {available})")
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    end = node.end_lineno or node.lineno
    lines = split_lines(source)
    indent_line = lines[start].rstrip("\r\n")
    indent = indent_line[: len(indent_line) - len(indent_line.lstrip())]
    module_name, root = module_identity(path)
    return FunctionTarget(
        path=path,
        module_source=source,
        qualname=qualname,
        start_line=start,
        end_line=end,
        indent=indent,
        is_stub=is_stub(node),
        docstring=ast.get_docstring(node),
        module_name=module_name,
        search_paths=(str(root),),
    )


def split_lines(text: str) -> list[str]:
    """Lines with their endings ("\\n" or "\\r\\n"), split only at "\\n" as ast numbers them."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def find_function_node(tree: ast.Module, qualname: str) -> FunctionNode | None:
    scope: list[ast.stmt] = tree.body
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found: ast.stmt | None = None
        for stmt in scope:
            if last and isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if stmt.name == part:
                    found = stmt
            elif not last and isinstance(stmt, ast.ClassDef) and stmt.name == part:
                found = stmt
        if found is None:
            return None
        if last:
            assert isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef)
            return found
        assert isinstance(found, ast.ClassDef)
        scope = found.body
    return None


def list_functions(tree: ast.Module) -> list[str]:
    """Qualified names of the module's functions and methods (not nested functions)."""
    names: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(stmt.name)
        elif isinstance(stmt, ast.ClassDef):
            names.extend(
                f"{stmt.name}.{s.name}"
                for s in stmt.body
                if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def function_at_line(source: str, line: int) -> str | None:
    """The qualname of the innermost top-level function or method spanning 0-based ``line``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best: str | None = None
    for qualname in list_functions(tree):
        node = find_function_node(tree, qualname)
        if node is None:
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        end = (node.end_lineno or node.lineno) - 1
        if start <= line <= end:
            best = qualname  # methods come after their class, so the innermost wins
    return best


def is_stub(node: FunctionNode) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body = body[1:]
    if not body:
        return True
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def find_project_root(start: Path) -> Path:
    """The nearest ancestor holding a project marker, else ``start`` itself."""
    for directory in [start, *start.parents]:
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            return directory
    return start


def module_identity(path: Path) -> tuple[str, Path]:
    """The dotted import name of ``path`` and the directory that must be on sys.path for it."""
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def file_fingerprint(path: Path) -> str:
    """A digest of the file's bytes, to refuse applying over a file that changed."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def apply_to_file(target: FunctionTarget, new_source: str, expected_fingerprint: str) -> None:
    """Write ``new_source`` (the module with a candidate accepted: ``accepted_source``) over the
    target's file, atomically, if the file is as it was when read."""
    if not target.path.exists():
        raise TargetError(f"{target.path} no longer exists")
    current = target.path.read_bytes()
    if hashlib.sha256(current).hexdigest() != expected_fingerprint:
        raise TargetError(f"{target.path.name} changed since the search began; not applied")
    ast.parse(new_source)  # never write a file that no longer parses
    tmp = target.path.with_name(f".{target.path.name}.orps-tmp")
    try:
        tmp.write_bytes((codecs.BOM_UTF8 if target.byte_order_mark else b"") + new_source.encode())
        os.chmod(tmp, target.path.stat().st_mode & 0o7777)
        os.replace(tmp, target.path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise TargetError(
            f"cannot write {target.path}: {exc.strerror or exc}; not applied"
        ) from None
