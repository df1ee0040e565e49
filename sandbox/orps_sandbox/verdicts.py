"""The parent's own judgement of a comparison, from plain data the harness sent.

For a doctest with a literal want, and for a split assert of the form ``assert a == b`` (or
``!=``), the harness sends both sides' values type-tagged (``_orps_values.encode``) and this module
decides: it decodes the data into fresh builtin values (``decode``; malformed data is a
``ProtocolViolation``), takes any side that is a literal in the test's own source from that source
rather than from the child (so a candidate that swaps the expected value in the child's memory
swaps nothing), and compares with ``values_equal``, the same trusted comparison the harness uses,
run here where no candidate code exists.
"""

from __future__ import annotations

import ast
import collections
import functools
from typing import Any, NamedTuple

from orps_sandbox._orps_harness._orps_compare import safe_repr, values_equal
from orps_sandbox.protocol import Judgement, ProtocolViolation
from orps_sandbox.spec import TestKind, TestSpec

MAX_INT_DIGITS = 4300
_SEQUENCES: dict[str, Any] = {
    "list": list,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "deque": collections.deque,
}


def decode(data: Any, depth: int = 0) -> Any:
    """Tagged plain data → a builtin value; ``ProtocolViolation`` for anything malformed."""
    try:
        return _decode(data, depth)
    except ProtocolViolation:
        raise
    except (TypeError, ValueError, IndexError, RecursionError, OverflowError) as exc:
        raise ProtocolViolation(f"a value failed its schema ({type(exc).__name__})") from None


def _decode(data: Any, depth: int) -> Any:
    if depth > 80 or not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ValueError("malformed value")
    tag = data[0]
    if tag == "none" and len(data) == 1:
        return None
    if len(data) != 2:
        raise ValueError("malformed value")
    payload = data[1]
    if tag == "bool" and isinstance(payload, bool):
        return payload
    if tag == "int" and isinstance(payload, str) and len(payload) <= MAX_INT_DIGITS + 1:
        return int(payload)
    if tag == "float" and isinstance(payload, str) and len(payload) <= 40:
        return float(payload)
    if tag == "complex" and isinstance(payload, str) and len(payload) <= 100:
        return complex(payload)
    if tag == "str" and isinstance(payload, str):
        return payload
    if tag in ("bytes", "bytearray") and isinstance(payload, str):
        raw = bytes.fromhex(payload)
        return raw if tag == "bytes" else bytearray(raw)
    if tag in _SEQUENCES and isinstance(payload, list):
        return _SEQUENCES[tag](_decode(item, depth + 1) for item in payload)
    if tag == "dict" and isinstance(payload, list):
        result: dict[Any, Any] = {}
        for pair in payload:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("malformed pair")
            result[_decode(pair[0], depth + 1)] = _decode(pair[1], depth + 1)
        return result
    raise ValueError(f"unknown tag {tag[:20]!r}")


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


class _SplitAssert(NamedTuple):
    """What the parent reads from ``assert a == b`` (or ``!=``) once per test source."""

    equal_op: bool
    left_literal: bool
    left: Any
    right_literal: bool
    right: Any
    shows_left: bool
    """Whether a failure names the left side (the call, when the other side is a literal)."""
    shown_text: str
    shown_is_call: bool
    left_is_call: bool
    has_message: bool
    left_text: str | None
    right_text: str | None
    """Each side's own text, when the test is one line (what the harness compiles)."""


@functools.lru_cache(maxsize=4096)
def _split_assert(source: str) -> _SplitAssert | None:
    """The parsed test, cached: a batch's candidates share their tests, so each is parsed once.
    (The cached literals are only ever compared, never handed out or changed.)"""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    node = tree.body[0]
    condition = node.test
    if not isinstance(condition, ast.Compare) or len(condition.ops) != 1:
        return None
    if not isinstance(condition.ops[0], ast.Eq | ast.NotEq):
        return None
    left_node, right_node = condition.left, condition.comparators[0]
    left_literal, left = _literal(left_node)
    right_literal, right = _literal(right_node)
    shows_left = not left_literal or right_literal
    shown = left_node if shows_left else right_node
    left_text = _one_line_segment(source, left_node)
    shown_text = left_text if shows_left else _one_line_segment(source, right_node)
    return _SplitAssert(
        equal_op=isinstance(condition.ops[0], ast.Eq),
        left_literal=left_literal,
        left=left,
        right_literal=right_literal,
        right=right,
        shows_left=shows_left,
        shown_text=shown_text or ast.get_source_segment(source, shown) or "value",
        shown_is_call=isinstance(shown, ast.Call),
        left_is_call=isinstance(left_node, ast.Call),
        has_message=node.msg is not None,
        left_text=left_text,
        right_text=_one_line_segment(source, right_node),
    )


@functools.lru_cache(maxsize=4096)
def _given_sides(left: str, right: str) -> _SplitAssert | None:
    """A split its builder gave (``TestSpec.sides``, a call and a literal): only the literal
    expected side is read."""
    found, value = _literal_text(right)
    if not found or "\n" in left or "\n" in right:
        return None
    return _SplitAssert(
        equal_op=True,
        left_literal=False,
        left=None,
        right_literal=True,
        right=value,
        shows_left=True,
        shown_text=left,
        shown_is_call=True,
        left_is_call=True,
        has_message=False,
        left_text=left,
        right_text=right,
    )


def _split_of(test: TestSpec) -> _SplitAssert | None:
    if test.sides is not None:
        given = _given_sides(*test.sides)
        if given is not None:
            return given
    return _split_assert(test.source)


def _one_line_segment(source: str, node: ast.expr) -> str | None:
    if "\n" in source or node.lineno != 1 or node.end_lineno != 1 or node.end_col_offset is None:
        return None
    return source.encode()[node.col_offset : node.end_col_offset].decode()


def split_for_harness(test: TestSpec) -> dict[str, Any] | None:
    """The two sides of a one-line ``assert a == b`` / ``!=`` without a message, as text, for the
    harness: it then compiles the sides without parsing the test, and leaves a literal expected
    side to the parent (which compares with its own copy), so it never builds it at all."""
    if test.kind is not TestKind.ASSERT:
        return None
    split = _split_of(test)
    if split is None or split.has_message or split.left_text is None or split.right_text is None:
        return None
    return {
        "op": "eq" if split.equal_op else "ne",
        "left": split.left_text,
        "right": split.right_text,
        "parent_judges": split.right_literal and not split.left_literal,
        "left_is_call": split.left_is_call,
    }


def judge(test: TestSpec, judgement: Judgement) -> tuple[bool, str] | None:
    """(passed, detail) decided here, or None when this test is not one the parent can judge."""
    actual = decode(judgement.actual)
    if test.kind is TestKind.DOCTEST and judgement.mode == "doctest":
        found, expected = _literal_text(test.expected_output or "")
        if not found:
            return None
        if values_equal(actual, expected):
            return True, ""
        want = (test.expected_output or "").strip()[:200]
        return False, f"{test.source.strip()} returned {safe_repr(actual)}, expected {want}"
    if test.kind is not TestKind.ASSERT or judgement.mode not in ("eq", "ne"):
        return None
    split = _split_of(test)
    if split is None:
        return None
    if (judgement.mode == "eq") != split.equal_op:
        raise ProtocolViolation("a judgement's operator does not match the test")
    left = split.left if split.left_literal else actual
    right = split.right if split.right_literal else decode(judgement.expected)
    equal = values_equal(left, right)
    if equal == (judgement.mode == "eq"):
        return True, ""
    value, other = (left, right) if split.shows_left else (right, left)
    text = split.shown_text
    if judgement.mode == "eq":
        verb = "returned" if split.shown_is_call else "is"
        return False, f"{text} {verb} {safe_repr(value)}, expected {safe_repr(other)}"
    return False, f"{text} is {safe_repr(value)}, expected a different value"


def _literal_text(text: str) -> tuple[bool, Any]:
    if "..." in text:
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
