"""Accepting a candidate while keeping what the user wrote: the candidate's body is grafted onto
the user's own signature and docstring, and the imports the candidate needs move to the module's
import block.

The model's reply often restates the signature (sometimes changed) and a shorter docstring (a
lost doctest is a lost test), and extraction moves the imports it wrote beside the function into
its body. Accepting replaces only the body (from the line after the user's docstring, or after
the ``def`` line's colon, to the function's last line) and inserts the candidate's top-level
imports after the module's last leading import, unless the module already binds those names the
same way. An import whose name the module binds differently stays in the body. Everything is
pure text in, line edits out (``LineEdit``, which the language server turns into ``TextEdit``s
and ``orps refine --apply`` applies to the file); ``graft_edits`` gives ``None`` when the
function's shape does not allow a graft (a body on the ``def`` line), and ``accepted_source``
then replaces the whole function. Both front ends accept a candidate the same way, and what is
verified before writing is the module text these edits make.
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize
from dataclasses import dataclass

from orps.project.target import FunctionNode, FunctionTarget, find_function_node, split_lines

Binding = tuple[str, str, str]  # (module, imported name, bound name); module "" for ``import x``


@dataclass(frozen=True)
class LineEdit:
    """Replace ``split_lines(source)[start:end]`` by ``text`` (an insertion when equal)."""

    start: int
    end: int
    text: str


def apply_line_edits(source: str, edits: list[LineEdit]) -> str:
    """``source`` with non-overlapping line edits, all given against it, applied."""
    lines = split_lines(source)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        lines[edit.start : edit.end] = [edit.text]
    return "".join(lines)


@dataclass(frozen=True)
class Graft:
    """The two parts of an accepted candidate: the new body text and the imports to hoist."""

    body: str  # indented for the user's function, each line ending in a newline
    imports: list[str]  # module-level import statements, one per entry
    signature: str | None = None
    """The candidate's ``def`` lines (unindented) when its parameters are named otherwise than
    the user's: its body only fits its own signature (the user's docstring still stays)."""


def candidate_function(code: str, name: str) -> FunctionNode | None:
    """The candidate's function node (the one named ``name``, else the first one)."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return None
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return next((f for f in functions if f.name == name), functions[0] if functions else None)


def first_line(statement: ast.stmt) -> int:
    """A statement's first line, its decorators included."""
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def bindings(statement: ast.Import | ast.ImportFrom) -> set[Binding]:
    if isinstance(statement, ast.Import):
        return {("", a.name, a.asname or a.name.split(".")[0]) for a in statement.names}
    module = "." * statement.level + (statement.module or "")
    return {(module, a.name, a.asname or a.name) for a in statement.names}


def module_bindings(tree: ast.Module) -> tuple[set[Binding], set[str]]:
    """The module's top-level import bindings, and every name bound at top level."""
    imported: set[Binding] = set()
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            found = bindings(statement)
            imported |= found
            names |= {bound for _, _, bound in found}
        elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return imported, names


def body_start_line(
    function_text: str,
    node: FunctionNode,
    offset: int | None = None,
    after_docstring: bool = True,
) -> int | None:
    """0-based line (relative to ``node``'s first line) where the user's body may be replaced:
    after the docstring when there is one (and ``after_docstring``), else after the signature's
    colon. None when the body starts on the signature's line. ``offset``: the 1-based line
    ``function_text`` starts on (default: the first decorator's)."""
    first = node.body[0]
    if after_docstring and is_docstring(first):
        if first.lineno == node.lineno:
            return None  # ``def f(): "doc"; ...``
        return (first.end_lineno or first.lineno) - node.lineno + 1
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(function_text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    depth, seen_def = 0, False
    if offset is None:
        offset = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    for token in tokens:
        if token.type == tokenize.NAME and token.string == "def":
            seen_def = True
        elif token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif seen_def and depth == 0 and token.type == tokenize.OP and token.string == ":":
            colon_line = token.start[0] + offset - 1  # absolute, 1-based
            if first.lineno == colon_line:
                return None  # ``def f(x): return x``
            return colon_line - node.lineno + 1
    return None


def parameter_names(function: FunctionNode) -> list[str]:
    arguments = function.args
    names = [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]
    names += [f"*{a.arg}" for a in (arguments.vararg,) if a is not None]
    names += [f"**{a.arg}" for a in (arguments.kwarg,) if a is not None]
    return names


def call_shape(function: FunctionNode) -> tuple[object, ...]:
    """What a caller meets of a function: ``async`` or not, its parameters' kinds, names and
    defaults (annotations left out: what the body computes does not depend on them)."""
    arguments = function.args
    return (
        isinstance(function, ast.AsyncFunctionDef),
        [a.arg for a in arguments.posonlyargs],
        [a.arg for a in arguments.args],
        arguments.vararg.arg if arguments.vararg else None,
        [a.arg for a in arguments.kwonlyargs],
        arguments.kwarg.arg if arguments.kwarg else None,
        [ast.dump(d) for d in arguments.defaults],
        [ast.dump(d) if d is not None else None for d in arguments.kw_defaults],
    )


def grafted_as_tested(user: FunctionNode, code: str) -> bool:
    """Whether the grafted body keeps the call shape it was tested under: the user's signature
    matches the candidate's in everything but annotations, or the candidate's own is used (its
    parameters are named otherwise). When not (a default or a kind differs), the text accepting
    it must be run again before it is written."""
    function = candidate_function(code, user.name)
    if function is None:
        return False
    if parameter_names(function) != parameter_names(user):
        return True
    return call_shape(function) == call_shape(user)


def graft(code: str, user: FunctionNode, body_indent: str, module: ast.Module) -> Graft | None:
    """The candidate's body re-indented to ``body_indent``, and the imports to hoist; with the
    candidate's own signature when it names its parameters otherwise than ``user`` does (its
    body only fits that one). None when the candidate does not parse or its body starts on its
    ``def`` line."""
    function = candidate_function(code, user.name)
    if function is None:
        return None
    lines = split_lines(textwrap.dedent(code))
    signature: str | None = None
    if parameter_names(function) != parameter_names(user):
        # The body uses other names: only the candidate's own signature fits it.
        first = function.lineno - 1
        text = "".join(lines[first:])
        relative = body_start_line(text, function, function.lineno, after_docstring=False)
        if relative is None:
            return None
        signature = "".join(lines[first : function.lineno - 1 + relative])  # its docstring not
    imported, bound = module_bindings(module)
    hoisted: list[str] = []
    skipped: set[int] = set()  # 1-based candidate lines left out of the body
    statements = list(function.body)
    if statements and is_docstring(statements[0]):
        skipped |= set(range(statements[0].lineno, (statements[0].end_lineno or 0) + 1))
        statements = statements[1:]
    for statement in statements:
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        found = bindings(statement)
        if any(b not in imported and b[2] in bound for b in found):
            continue  # the module binds one of these names otherwise: keep it local
        skipped |= set(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
        if not found <= imported:
            hoisted.append(ast.unparse(statement))
            imported |= found
            bound |= {b[2] for b in found}
    kept = [s for s in statements if s.lineno not in skipped]
    if not kept:
        return Graft(body=f"{body_indent}pass\n", imports=hoisted, signature=signature)
    first = min(first_line(s) for s in kept)
    last = max(s.end_lineno or s.lineno for s in kept)
    source_indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
    body: list[str] = []
    for number in range(first, last + 1):
        if number in skipped:
            continue
        line = lines[number - 1].rstrip("\r\n")
        if not line.strip():
            body.append("\n")
        elif line.startswith(source_indent):
            body.append(body_indent + line[len(source_indent) :] + "\n")
        else:
            body.append(line + "\n")  # inside a multi-line string: leave it as written
    return Graft(body="".join(body), imports=hoisted, signature=signature)


def relative_doc(node: FunctionNode) -> int:
    """Lines from the ``def`` line to the docstring's first line."""
    return node.body[0].lineno - node.lineno


def import_insertion(source: str, module: ast.Module) -> tuple[int, bool]:
    """Where hoisted imports go: (0-based line, whether the module has leading imports)."""
    last_import: ast.stmt | None = None
    docstring: ast.stmt | None = None
    for index, statement in enumerate(module.body):
        if index == 0 and is_docstring(statement):
            docstring = statement
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            last_import = statement
        else:
            break
    if last_import is not None:
        return (last_import.end_lineno or last_import.lineno), True
    if docstring is not None:
        return (docstring.end_lineno or docstring.lineno), False
    lines = split_lines(source)
    line = 0
    while line < len(lines) and lines[line].startswith("#"):
        line += 1  # after a shebang or an encoding line
    return line, False


def graft_edits(
    source: str, module: ast.Module, node: FunctionNode, code: str
) -> list[LineEdit] | None:
    """The edits accepting ``code`` into ``node`` of ``source``: hoisted imports, then the body.

    None when the user's function has no separate body lines (the caller replaces it whole).
    """
    lines = split_lines(source)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    end = node.end_lineno or node.lineno
    function_text = textwrap.dedent("".join(lines[start:end]).replace("\r\n", "\n"))
    relative = body_start_line(function_text, node)
    if relative is None:
        return None
    body_from = node.lineno - 1 + relative  # 0-based first line replaced
    first_statement = node.body[0]
    first_line = lines[first_statement.lineno - 1]
    body_indent = first_line[: len(first_line) - len(first_line.lstrip())]
    grafted = graft(code, node, body_indent, module)
    if grafted is None or body_from > end:
        return None
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    body = grafted.body.replace("\n", newline)
    if grafted.signature is not None:
        # Replace from the ``def`` line: the candidate's signature, the user's docstring kept.
        def_line = lines[node.lineno - 1]
        def_indent = def_line[: len(def_line) - len(def_line.lstrip())]
        kept = (
            "".join(lines[node.lineno - 1 + relative_doc(node) : body_from])
            if is_docstring(first_statement)
            else ""
        )
        signature = (
            "".join(
                def_indent + line if line.strip() else line
                for line in split_lines(grafted.signature)
            )
            .replace("\r\n", "\n")
            .replace("\n", newline)
        )
        body = signature + kept + body
        body_from = node.lineno - 1
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        body = body[: -len(newline)]
    edits: list[LineEdit] = []
    if grafted.imports:
        at, has_imports = import_insertion(source, module)
        text = "".join(f"{line}{newline}" for line in grafted.imports)
        if not has_imports:
            text = (newline if at else "") + text + newline
        if at >= len(lines) and lines and not lines[-1].endswith("\n"):
            text = newline + text
        edits.append(LineEdit(at, at, text))
    edits.append(LineEdit(body_from, end, body))
    return edits


def accepted_source(target: FunctionTarget, code: str) -> str | None:
    """The module text once ``code`` is accepted for ``target``: its body grafted onto the
    user's signature and docstring, its imports hoisted (``graft_edits``), or the whole function
    replaced when the function's shape allows no graft. None when nothing would change or the
    result would not parse."""
    source = target.module_source
    if not code.strip():
        return None
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    node = find_function_node(module, target.qualname)
    if node is None:
        return None
    edits = graft_edits(source, module, node, code)
    result = apply_line_edits(source, edits) if edits is not None else target.splice(code)
    if result == source:
        return None
    try:
        ast.parse(result)
    except (SyntaxError, ValueError):
        return None
    return result
