"""The functions of an open document: where they are, which one a position is in, and the edit
that replaces one of them with a candidate.

Everything here is pure: it takes the document's text and returns ranges, names and
``TextEdit`` objects, so a handler never touches the AST itself. Ranges cover whole lines,
from a function's first decorator to its last statement, exactly the text ``FunctionTarget``
replaces; an edit is only produced when the spliced module still parses, so accepting a
candidate can never leave a file broken or empty.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from orps.project.grafting import LineEdit, graft_edits, grafted_as_tested
from orps.project.target import (
    FunctionTarget,
    TargetError,
    find_function_node,
    list_functions,
    locate_function,
    split_lines,
)


class DocumentError(Exception):
    """The document cannot be refined; the message is one readable line for the user."""


@dataclass(frozen=True)
class FunctionSpan:
    """A top-level function or method of a document, by qualified name and line span."""

    qualname: str
    start_line: int  # 0-based, first decorator or the def
    end_line: int  # 0-based, exclusive
    def_line: int  # 0-based line of the ``def`` keyword

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def contains(self, line: int) -> bool:
        return self.start_line <= line < self.end_line


def parse_module(source: str, filename: str = "<document>") -> ast.Module:
    """The document's AST, or a DocumentError naming the first syntax error."""
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        name = Path(filename).name
        raise DocumentError(f"syntax error in {name} line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise DocumentError(f"{Path(filename).name} cannot be parsed: {exc}") from None


def function_spans(tree: ast.Module) -> list[FunctionSpan]:
    """Every top-level function and method (not nested functions), in document order."""
    spans: list[FunctionSpan] = []
    for qualname in list_functions(tree):
        node = find_function_node(tree, qualname)
        if node is None:
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        end = node.end_lineno or node.lineno
        spans.append(FunctionSpan(qualname, start, end, node.lineno - 1))
    return sorted(spans, key=lambda s: (s.start_line, s.qualname))


def spans_of(source: str) -> list[FunctionSpan]:
    """Function spans of a document; with a syntax error, those of the blocks that parse."""
    return function_spans(tolerant_module(source))


CONTINUATIONS = ("else", "elif", "except", "finally", ")", "]", "}", "#")


def top_level_blocks(source: str) -> list[tuple[int, str]]:
    """The document cut at each line that starts a top-level statement: (0-based line, text).

    Decorators stay with what they decorate; a block that is really a continuation of another
    (``else:``, a closing bracket) stays with it.
    """
    blocks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(split_lines(source)):
        starts = bool(line.strip()) and not line[0].isspace() and not line.startswith(CONTINUATIONS)
        glued = (
            bool(blocks)
            and blocks[-1][1][0].startswith("@")
            and all(not ln.strip() or ln.startswith(("@", "#")) for ln in blocks[-1][1])
        )
        if not blocks or (starts and not glued):
            blocks.append((number, [line]))
        else:
            blocks[-1][1].append(line)
    return [(start, "".join(lines)) for start, lines in blocks]


def tolerant_module(source: str) -> ast.Module:
    """The document's AST; with a syntax error, the top-level blocks that still parse (their
    line numbers as in the document), so functions elsewhere keep their lenses and actions."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    body: list[ast.stmt] = []
    for start, text in top_level_blocks(source):
        try:
            block = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        ast.increment_lineno(block, start)
        body.extend(block.body)
    return ast.Module(body=body, type_ignores=[])


def syntax_error(source: str, filename: str = "<document>") -> str | None:
    """The document's first syntax error as one line, or None when it parses."""
    try:
        parse_module(source, filename)
    except DocumentError as exc:
        return str(exc)
    return None


def span_at(spans: list[FunctionSpan], line: int) -> FunctionSpan | None:
    """The innermost span containing ``line`` (a method rather than its class's neighbour)."""
    found: FunctionSpan | None = None
    for span in spans:
        if span.contains(line) and (found is None or span.start_line >= found.start_line):
            found = span
    return found


def span_named(spans: list[FunctionSpan], qualname: str) -> FunctionSpan | None:
    return next((s for s in spans if s.qualname == qualname), None)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def span_range(source: str, span: FunctionSpan) -> types.Range:
    """The LSP range of the span's whole lines (to the start of the next line when there is one)."""
    lines = split_lines(source)
    if span.end_line < len(lines) or (lines and lines[-1].endswith("\n")):
        end = types.Position(line=span.end_line, character=0)
    else:
        last = lines[span.end_line - 1] if lines else ""
        end = types.Position(line=span.end_line - 1, character=utf16_length(last.rstrip("\r\n")))
    return types.Range(start=types.Position(line=span.start_line, character=0), end=end)


def signature_range(source: str, span: FunctionSpan) -> types.Range:
    """The ``def`` line, where code lenses sit."""
    lines = split_lines(source)
    text = lines[span.def_line].rstrip("\r\n") if span.def_line < len(lines) else ""
    return types.Range(
        start=types.Position(line=span.def_line, character=0),
        end=types.Position(line=span.def_line, character=utf16_length(text)),
    )


def locate(source: str, qualname: str, path: Path) -> FunctionTarget:
    """The engine's target for ``qualname`` in this text; DocumentError when it is missing."""
    parse_module(source, str(path))
    try:
        return locate_function(source, qualname, path)
    except TargetError as exc:
        raise DocumentError(str(exc)) from None


def replacement_edit(source: str, qualname: str, code: str, path: Path) -> types.TextEdit | None:
    """The edit replacing exactly the function's current text with ``code``, re-indented.

    None when the function is no longer there, the document does not parse, the result would
    not parse, or nothing would change: callers then offer nothing rather than a bad edit.
    """
    if not code.strip():
        return None
    try:
        target = locate(source, qualname, path)
    except DocumentError:
        return None
    spliced = target.splice(code)
    lines = split_lines(source)
    prefix = "".join(lines[: target.start_line])
    suffix = "".join(lines[target.end_line :])
    if not (spliced.startswith(prefix) and spliced.endswith(suffix)):
        return None
    new_text = spliced[len(prefix) : len(spliced) - len(suffix)]
    if not new_text.strip() or new_text == target.source:
        return None
    try:
        ast.parse(spliced)
    except (SyntaxError, ValueError):
        return None
    span = FunctionSpan(qualname, target.start_line, target.end_line, target.start_line)
    return types.TextEdit(range=span_range(source, span), new_text=new_text)


def accept_edits(source: str, qualname: str, code: str, path: Path) -> list[types.TextEdit] | None:
    """The edits accepting ``code`` for ``qualname``: the user's signature and docstring kept,
    the candidate's body in, its imports hoisted to the module's (``grafting``).

    Falls back to replacing the whole function when the body cannot be grafted (a one-line
    function). None when the function is gone, nothing would change or the result would not
    parse (with a syntax error elsewhere in the document: when the function would not parse).
    """
    if not code.strip():
        return None
    module = tolerant_module(source)
    node = find_function_node(module, qualname)
    if node is None:
        return None
    grafted = graft_edits(source, module, node, code)
    if grafted is None:
        if syntax_error(source) is not None:
            return None
        whole = replacement_edit(source, qualname, code, path)
        return [whole] if whole is not None else None
    edits = [text_edit(source, edit) for edit in grafted]
    result = apply_text_edits(source, edits)
    if result == source:
        return None
    if syntax_error(source) is None:
        if syntax_error(result) is not None:
            return None
    else:
        new_module = tolerant_module(result)
        if find_function_node(new_module, qualname) is None:
            return None
    return edits


def accepted_as_tested(source: str, qualname: str, code: str) -> bool:
    """Whether ``accept_edits`` puts the candidate's body under the call shape it was tested
    under (``grafted_as_tested``); a whole-function replacement always does."""
    node = find_function_node(tolerant_module(source), qualname)
    return node is None or grafted_as_tested(node, code)


def text_edit(source: str, edit: LineEdit) -> types.TextEdit:
    """The LSP edit of a line edit: whole lines, to the end of the text when the last line
    has no newline."""
    lines = split_lines(source)

    def position(index: int) -> types.Position:
        if index < len(lines) or not lines or lines[-1].endswith("\n"):
            return types.Position(line=index, character=0)
        return types.Position(line=len(lines) - 1, character=utf16_length(lines[-1]))

    return types.TextEdit(
        range=types.Range(start=position(edit.start), end=position(edit.end)), new_text=edit.text
    )


def apply_text_edits(source: str, edits: list[types.TextEdit]) -> str:
    """Apply non-overlapping edits given against the same text, as a client would."""
    ordered = sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    )
    for edit in ordered:
        source = apply_text_edit(source, edit)
    return source


def apply_text_edit(source: str, edit: types.TextEdit) -> str:
    """Apply one edit to a text (UTF-16 positions), as a client would."""
    lines = split_lines(source)

    def offset(position: types.Position) -> int:
        before = sum(len(line) for line in lines[: position.line])
        if position.line >= len(lines):
            return len(source)
        line = lines[position.line]
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return before + index
            units += utf16_length(char)
        return before + len(line)

    start, end = offset(edit.range.start), offset(edit.range.end)
    return source[:start] + edit.new_text + source[end:]
