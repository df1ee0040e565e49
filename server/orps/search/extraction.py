"""Turning a model's reply into a candidate function, and recognising duplicates.

The programmer is asked for one fenced Python block. From it we take the definition of the
target function; imports and helpers the model wrote beside it move into the function's body,
so that accepting a candidate replaces exactly the function's text and nothing else. The
original's decorators and docstring are kept when the candidate omits them.

``PROGRAMMER_STOP`` ends a programmer's reply after the closing fence of the block
``split_reply`` takes (or in a degenerate repetition of its prose): the blocks after it are
never read, so the rule changes neither the reasoning nor the code taken from a reply.
"""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap

from orps.model.stopping import DEGENERATE_REPEATS, FENCE, StopRule
from orps.project.target import FunctionNode, FunctionTarget

DEFINES_FUNCTION = r"^\s*(async\s+)?def\s"
"""A block with a line starting a function definition (``re.MULTILINE``)."""
PROGRAMMER_STOP = StopRule(block=DEFINES_FUNCTION, repeats=DEGENERATE_REPEATS)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*)$", re.DOTALL | re.IGNORECASE)


def split_reply(text: str) -> tuple[str, str | None]:
    """(reasoning, code) from a programmer reply; code is None when there is no Python block.

    The first fenced block that defines a function wins; an unterminated final fence (a reply
    cut off by the token limit) is accepted if it parses.
    """
    blocks = [m.group(1) for m in FENCE.finditer(text)]
    first = FENCE.search(text)
    reasoning_end = first.start() if first else len(text)
    if not blocks:
        tail = _OPEN_FENCE.search(text)
        if tail:
            blocks = [tail.group(1)]
            reasoning_end = tail.start()
    reasoning = text[:reasoning_end].strip()
    for block in blocks:
        if re.search(DEFINES_FUNCTION, block, re.MULTILINE):
            return reasoning, block
    bare = _unfenced_code(text)
    if bare is not None:
        return text[: text.index(bare)].strip(), bare
    return reasoning, None


def _unfenced_code(text: str) -> str | None:
    """A function written without a fence: from a ``def`` line to the longest prefix that parses."""
    match = re.search(r"^(?:@.*\n)*(?:async\s+)?def\s+\w+\s*\(.*$", text, re.MULTILINE)
    if match is None:
        return None
    lines = text[match.start() :].split("\n")
    end = 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t")):
        end += 1
    for stop in range(end, 0, -1):
        candidate = "\n".join(lines[:stop]).rstrip() + "\n"
        try:
            ast.parse(candidate)
        except SyntaxError:
            continue
        return candidate
    return None


def extract_function(block: str, target: FunctionTarget) -> str | None:
    """The candidate's function source (unindented), or None if the block has no usable def."""
    block = textwrap.dedent(block)
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return None
    name = target.name
    function = _find_def(tree.body, name)
    if function is None:
        return None
    original = _original_node(target)
    extras = [
        stmt
        for stmt in tree.body
        if stmt is not function
        and not _is_test_or_main(stmt)
        and isinstance(
            stmt,
            ast.Import
            | ast.ImportFrom
            | ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef
            | ast.Assign
            | ast.AnnAssign,
        )
        and not (isinstance(stmt, ast.ClassDef) and _find_def(stmt.body, name) is function)
        and not _defines_existing(stmt, target)
    ]
    modified = bool(extras)
    if original is not None:
        if not function.decorator_list and original.decorator_list:
            modified = True
            function.decorator_list = original.decorator_list
        doc = ast.get_docstring(original, clean=False)
        if doc is not None and ast.get_docstring(function, clean=False) is None:
            modified = True
            function.body.insert(0, ast.Expr(ast.Constant(doc)))
    if not modified and not any(_is_bare_ellipsis(s) for s in function.body):
        # Keep the model's own text (comments, layout) when nothing needs moving.
        segment = _source_segment(block, function)
        if segment is not None:
            return segment
    if extras:
        insert_at = 1 if ast.get_docstring(function, clean=False) is not None else 0
        function.body[insert_at:insert_at] = extras
    function.body = [s for s in function.body if not _is_bare_ellipsis(s)] or [ast.Pass()]
    ast.fix_missing_locations(function)
    try:
        return ast.unparse(function) + "\n"
    except (ValueError, RecursionError):
        return None


def _source_segment(block: str, function: FunctionNode) -> str | None:
    lines = block.split("\n")
    start = min([function.lineno, *(d.lineno for d in function.decorator_list)]) - 1
    end = function.end_lineno or function.lineno
    text = textwrap.dedent("\n".join(lines[start:end])).rstrip() + "\n"
    try:
        ast.parse(text)
    except SyntaxError:
        return None
    return text


def _find_def(body: list[ast.stmt], name: str) -> FunctionNode | None:
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == name:
            return stmt
    for stmt in body:
        if isinstance(stmt, ast.ClassDef):
            found = _find_def(stmt.body, name)
            if found is not None:
                return found
    return None


def _original_node(target: FunctionTarget) -> FunctionNode | None:
    try:
        tree = ast.parse(target.dedented_source)
    except SyntaxError:
        return None
    return _find_def(tree.body, target.name)


def _is_test_or_main(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("test"):
        return True
    if isinstance(stmt, ast.If):
        return True
    return False


def _defines_existing(stmt: ast.stmt, target: FunctionTarget) -> bool:
    """True for a class or function the module already defines (models like to repeat them)."""
    if isinstance(stmt, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return (
            re.search(
                rf"^(class|def|async\s+def)\s+{re.escape(stmt.name)}\b",
                target.module_source,
                re.MULTILINE,
            )
            is not None
        )
    return False


def _is_bare_ellipsis(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is Ellipsis
    )


def fingerprint(function_code: str) -> str:
    """A stable id for a candidate: the hash of its AST without docstrings or formatting."""
    try:
        tree = ast.parse(function_code)
    except SyntaxError:
        return hashlib.sha256(function_code.encode()).hexdigest()[:12]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:12]
