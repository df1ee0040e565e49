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
from typing import Any

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


def _split_assert(source: str) -> ast.Compare | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    condition = tree.body[0].test
    if isinstance(condition, ast.Compare) and len(condition.ops) == 1:
        return condition
    return None


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
    condition = _split_assert(test.source)
    if condition is None or not isinstance(condition.ops[0], ast.Eq | ast.NotEq):
        return None
    if (judgement.mode == "eq") != isinstance(condition.ops[0], ast.Eq):
        raise ProtocolViolation("a judgement's operator does not match the test")
    left_literal, left = _literal(condition.left)
    right_literal, right = _literal(condition.comparators[0])
    if not left_literal:
        left = actual
    if not right_literal:
        right = decode(judgement.expected)
    equal = values_equal(left, right)
    shown = condition.left if not left_literal or right_literal else condition.comparators[0]
    value, other = (left, right) if shown is condition.left else (right, left)
    text = ast.get_source_segment(test.source, shown) or "value"
    verb = "returned" if isinstance(shown, ast.Call) else "is"
    if judgement.mode == "eq":
        if equal:
            return True, ""
        return False, f"{text} {verb} {safe_repr(value)}, expected {safe_repr(other)}"
    if not equal:
        return True, ""
    return False, f"{text} is {safe_repr(value)}, expected a different value"


def _literal_text(text: str) -> tuple[bool, Any]:
    if "..." in text:
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
