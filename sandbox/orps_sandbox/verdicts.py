"""The parent's own judgement of a comparison, from plain data the harness sent.

For a doctest with a literal want, and for a split assert of the form ``assert a == b`` (or
``!=``), the harness sends both sides' values type-tagged (``_orps_values.encode``) and this module
decides: it decodes the data into fresh builtin values (``decode``; malformed data is a
``ProtocolViolation``), takes any side that is a literal in the test's own source from that source
rather than from the child (so a candidate that swaps the expected value in the child's memory
swaps nothing), and compares with ``values_equal``, the same trusted comparison the harness uses,
run here where no candidate code exists (``values_close`` for a test with a tolerance).

When the expected side is a literal, the harness is never sent it: only the call's text, or, for
a call with literal arguments, the callee's name and the arguments as ``marshal`` data
(``TestReader.for_harness``). What the parent reads from a test is computed once per test and
kept by the sandbox's ``TestReader``, with the expected value's own encoding, so that the common
case, a value encoded exactly as expected, is judged by comparing the two encodings. A test built
by a program from values (``TestSpec.data``) is never parsed at all.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import json
import marshal
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from orps_sandbox._orps_harness._orps_compare import safe_repr, values_close, values_equal
from orps_sandbox._orps_harness._orps_values import MAX_VALUE_BYTES, Unencodable, encode_checked
from orps_sandbox.protocol import Judgement, ProtocolViolation
from orps_sandbox.spec import TestKind, TestSpec

MAX_INT_HEX = 4 * 1024 * 1024
"""Hex digits of the largest int a value may carry (16 million bits)."""
CACHED_TESTS = 1 << 17
"""Tests whose reading a ``TestReader`` keeps (a batch's candidates share their suite; a
benchmark's suites hold up to a thousand tests each)."""
_T = TypeVar("_T")
_CALLEE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SEQUENCES: dict[str, Any] = {
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "deque": collections.deque,
}


def decode(data: Any, depth: int = 0) -> Any:
    """Encoded plain data (``_orps_values.encode``) → a builtin value; ``ProtocolViolation`` for
    anything malformed."""
    try:
        return _decode(data, depth)
    except ProtocolViolation:
        raise
    except (TypeError, ValueError, IndexError, RecursionError, OverflowError) as exc:
        raise ProtocolViolation(f"a value failed its schema ({type(exc).__name__})") from None


_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
"""What ``json.loads`` makes of JSON's scalars (exactly these types)."""


def _decode(data: Any, depth: int) -> Any:
    if depth > 200:
        raise ValueError("value too deep")
    if isinstance(data, _PLAIN):  # JSON's own: a str, int, finite float, bool or null
        return data
    if isinstance(data, list):
        if set(map(type, data)) <= _PLAIN_TYPES:  # the commonest value: nothing to decode
            return data
        return [_decode(item, depth + 1) for item in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError("malformed value")
    ((tag, payload),) = data.items()
    if tag in _SEQUENCES and isinstance(payload, list):
        if set(map(type, payload)) <= _PLAIN_TYPES:
            return _SEQUENCES[tag](payload)
        return _SEQUENCES[tag](_decode(item, depth + 1) for item in payload)
    if tag == "dict" and isinstance(payload, list):
        result: dict[Any, Any] = {}
        for pair in payload:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("malformed pair")
            result[_decode(pair[0], depth + 1)] = _decode(pair[1], depth + 1)
        return result
    if tag in ("bytes", "bytearray") and isinstance(payload, str):
        raw = bytes.fromhex(payload)
        return raw if tag == "bytes" else bytearray(raw)
    if tag == "float" and payload in ("inf", "-inf", "nan"):
        return float(payload)
    if tag == "int" and isinstance(payload, str) and len(payload) <= MAX_INT_HEX:
        return int(payload, 16)
    if tag == "complex" and isinstance(payload, str) and len(payload) <= 100:
        return complex(payload)
    raise ValueError(f"unknown tag {str(tag)[:20]!r}")


def _parse(text: str | None) -> Any:
    """A value's JSON text from the harness; ``ProtocolViolation`` when it is not JSON."""
    if text is None:
        raise ProtocolViolation("a judgement without the value it compares")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolViolation("a value failed its schema (not JSON)") from None


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _literal_text(text: str) -> tuple[bool, Any]:
    if "..." in text:
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


class _SplitAssert:
    """What the parent reads from ``assert a == b`` (or ``!=``) once per test."""

    __slots__ = (
        "_right",
        "_right_text_data",
        "atol",
        "call",
        "encoded",
        "equal_op",
        "has_message",
        "left",
        "left_is_call",
        "left_literal",
        "left_text",
        "right_literal",
        "right_text",
        "shown_is_call",
        "shown_text",
        "shows_left",
    )

    def __init__(
        self,
        *,
        equal_op: bool,
        left_literal: bool,
        left: Any,
        right_literal: bool,
        right: Any = None,
        right_text_data: str | None = None,
        shows_left: bool,
        shown_text: str,
        shown_is_call: bool,
        left_is_call: bool,
        has_message: bool,
        left_text: str | None,
        right_text: str | None,
        atol: float | None = None,
    ) -> None:
        self.equal_op = equal_op
        self.left_literal = left_literal
        self.left = left
        self.right_literal = right_literal
        self._right = right
        self._right_text_data = right_text_data
        self.shows_left = shows_left
        """Whether a failure names the left side (the call, when the other side is a literal)."""
        self.shown_text = shown_text
        self.shown_is_call = shown_is_call
        self.left_is_call = left_is_call
        self.has_message = has_message
        self.left_text = left_text
        self.right_text = right_text
        """Each side's own text, when the test is one line (what the harness compiles)."""
        self.atol = atol
        """The test's tolerance for floats (``TestSpec.atol``): compared with ``values_close``."""
        self.call: tuple[str, bytes] | None = None
        """A left side calling a name with literal arguments: the name and the arguments as
        ``marshal`` data, so the harness builds them without compiling them."""
        self.encoded: str | None = None
        """The JSON text the harness sends for a value equal to the right side's literal
        (None when none is known: it does not encode, or holds a NaN, which equals nothing, so
        equal texts would not prove it; ``_encoded`` and ``expected_text`` leave those out)."""

    @property
    def right(self) -> Any:
        """The right side's value; a test built from values keeps only its plain data's text
        (``TestSpec.data``), read when a failure needs it, so a suite of a thousand expected
        values is neither parsed nor a thousand live objects."""
        if self._right_text_data is not None:
            return decode(_parse(self._right_text_data))
        return self._right

    @property
    def parent_judges(self) -> bool:
        """The harness sends the left value and the parent compares it with its literal."""
        return (
            self.right_literal
            and not self.left_literal
            and not self.has_message
            and self.left_text is not None
            and self.right_text is not None
        )


def _literal_call(node: ast.expr) -> tuple[str, bytes] | None:
    """``name(*[a, b])`` or ``name(a, b)`` with literal arguments: (name, marshal data)."""
    if not isinstance(node, ast.Call) or node.keywords:
        return None
    callee = node.func
    while isinstance(callee, ast.Attribute):
        callee = callee.value
    if not isinstance(callee, ast.Name):
        return None
    args: list[Any] = []
    if len(node.args) == 1 and isinstance(node.args[0], ast.Starred):
        found, value = _literal(node.args[0].value)
        if not found or not isinstance(value, list | tuple):
            return None
        args = list(value)
    else:
        for argument in node.args:
            found, value = _literal(argument)
            if not found:
                return None
            args.append(value)
    try:
        return ast.unparse(node.func), marshal.dumps(tuple(args))
    except (ValueError, RecursionError):
        return None


def expected_text(value: Any) -> str | None:
    """A value's plain data as the harness sends a value (``TestSpec.data``), or None when it
    is not plain data, too large to judge, or holds a NaN (which equals nothing: no text of a
    value can match it)."""
    text = _encoded(value)
    return text if text is not None and len(text) <= MAX_VALUE_BYTES else None


def _encoded(value: Any) -> str | None:
    """The JSON text of the expected value's encoding, for the fast comparison: None when it
    does not encode or holds a NaN (equal texts must mean equal values, and NaN equals
    nothing)."""
    try:
        data, nan = encode_checked(value)
        return None if nan else json.dumps(data)
    except (Unencodable, ValueError, RecursionError):
        return None


def _one_line_segment(source: str, node: ast.expr) -> str | None:
    if "\n" in source or node.lineno != 1 or node.end_lineno != 1 or node.end_col_offset is None:
        return None
    return source.encode()[node.col_offset : node.end_col_offset].decode()


def _read_assert(source: str) -> _SplitAssert | None:
    """``assert a == b`` / ``a != b`` parsed from the test's source, or None for anything else."""
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
    split = _SplitAssert(
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
    if split.parent_judges:
        split.call = _literal_call(left_node)
        split.encoded = _encoded(right)
    return split


def _call_equals_literal(
    left: str,
    right: str,
    atol: float | None,
    *,
    value: Any = None,
    right_text_data: str | None = None,
) -> _SplitAssert:
    """The split of ``assert <left> == <literal right>`` a builder gave: the parent judges it,
    with the literal as a value or (``right_text_data``) as the text of its plain data."""
    return _SplitAssert(
        equal_op=True,
        left_literal=False,
        left=None,
        right_literal=True,
        right=value,
        right_text_data=right_text_data,
        shows_left=True,
        shown_text=left,
        shown_is_call=True,
        left_is_call=True,
        has_message=False,
        left_text=left,
        right_text=right,
        atol=atol,
    )


def _data_call(left: str, arguments: bytes) -> tuple[str, bytes] | None:
    """The call of a test built from values (``TestSpec.data``) as the harness makes it: the
    callee's name and the arguments' marshal data, or None when the name is not a plain one."""
    callee = left.split("(", 1)[0]
    return (callee, arguments) if _CALLEE.fullmatch(callee) else None


def _given(test: TestSpec) -> _SplitAssert | None:
    """A split its builder gave (``TestSpec.sides``, a call and a literal): the literal expected
    side is read, or, with ``TestSpec.data``, nothing is parsed at all."""
    assert test.sides is not None
    left, right = test.sides
    if "\n" in left:
        return None
    if test.data is not None:  # the right side's text is for failures only: never compiled
        arguments, encoded = test.data
        split = _call_equals_literal(left, right, test.atol, right_text_data=encoded)
        split.call = _data_call(left, arguments)
        split.encoded = encoded  # holds no NaN (``expected_text``)
        return split
    if "\n" in right:
        return None
    found, value = _literal_text(right)
    if not found:
        return None
    try:
        node = ast.parse(left, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    split = _call_equals_literal(left, right, test.atol, value=value)
    split.call = _literal_call(node)
    split.encoded = _encoded(value)
    return split


def _read_split(test: TestSpec) -> _SplitAssert | None:
    split = _given(test) if test.sides is not None else None
    return split if split is not None else _read_assert(test.source)


class _PerTest(Generic[_T]):
    """Values computed from tests, kept by ``id`` of the test, which the entry keeps alive (so
    the id cannot be reused while the entry lasts): hashing a test's fields for every result
    would cost more than reading it. At most ``capacity``, the oldest read first out."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: collections.OrderedDict[int, tuple[TestSpec, _T]] = collections.OrderedDict()

    def get(self, test: TestSpec, compute: Callable[[TestSpec], _T]) -> _T:
        known = self._entries.get(id(test))
        if known is not None and known[0] is test:
            return known[1]
        value = compute(test)
        self._entries[id(test)] = (test, value)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return value


class TestReader:
    """What the parent reads from tests, kept per test (at most ``capacity``, the oldest read
    first out) for the life of one sandbox: its candidates share their tests, so each test
    is read once. The values kept are only ever compared, never handed out or changed."""

    __test__ = False  # not a pytest test class

    def __init__(self, capacity: int = CACHED_TESTS) -> None:
        self.capacity = capacity
        self._splits: _PerTest[_SplitAssert | None] = _PerTest(capacity)
        self._wants: collections.OrderedDict[str, tuple[bool, Any]] = collections.OrderedDict()
        self._digests: _PerTest[tuple[str, int] | None] = _PerTest(capacity)
        """The digest and length of the expected side's text, for tests whose value was
        offered by its digest."""

    @staticmethod
    def _data_left(test: TestSpec) -> str | None:
        """The call's text of an ``assert`` built from values (``TestSpec.data``) whose split is
        given and judged here, read without building the split (the common test of a large
        suite), or None for any other test."""
        if test.data is None or test.sides is None or test.kind is not TestKind.ASSERT:
            return None
        left, right = test.sides
        return left if right and "\n" not in left else None

    def split_of(self, test: TestSpec) -> _SplitAssert | None:
        if test.data is not None and test.sides is not None:
            # Nothing to parse: cheaper to read again than to keep (a cache of every test of a
            # large run costs the collector more).
            return _given(test)
        return self._splits.get(test, _read_split)

    def _want(self, text: str) -> tuple[bool, Any]:
        wants = self._wants
        if text not in wants:
            wants[text] = _literal_text(text)
            if len(wants) > self.capacity:
                wants.popitem(last=False)
        return wants[text]

    def for_harness(self, test: TestSpec) -> dict[str, Any] | None:
        """The sides of a one-line ``assert a == b`` / ``!=`` without a message, for the harness:
        it then compiles the sides without parsing the test. A literal expected side stays with
        the parent (which compares with its own copy): the harness is not even sent it, and a
        call with literal arguments comes as the callee's name and the arguments' marshal data."""
        left = self._data_left(test)
        if left is not None:  # what ``_given`` reads from it, without the split
            assert test.data is not None
            return {
                "op": "eq",
                "left": left,
                "right": None,
                "call": _data_call(left, test.data[0]),
                "parent_judges": True,
                "left_is_call": True,
            }
        if test.kind is not TestKind.ASSERT:
            return None
        split = self.split_of(test)
        if split is None or split.has_message or split.left_text is None or not split.right_text:
            return None
        judged = split.parent_judges
        return {
            "op": "eq" if split.equal_op else "ne",
            "left": split.left_text,
            "right": None if judged else split.right_text,
            "call": split.call if judged else None,
            "parent_judges": judged,
            "left_is_call": split.left_is_call,
        }

    def parent_judges(self, test: TestSpec) -> bool:
        """Whether the harness must send this test's value for the parent to judge: a passed
        verdict without it is not believed."""
        if self._data_left(test) is not None:
            return True
        if test.kind is not TestKind.ASSERT:
            return False
        split = self.split_of(test)
        return split is not None and split.parent_judges

    def judge(self, test: TestSpec, judgement: Judgement) -> tuple[bool, str] | None:
        """(passed, detail) decided here, or None when this test is not one the parent judges."""
        if (
            judgement.mode == "eq"
            and test.data is not None
            and judgement.actual == test.data[1]
            and self._data_left(test) is not None
        ):
            return True, ""  # the very text of the expected value's plain data (as below)
        if judgement.mode == "opaque":
            return self._judge_opaque(test, judgement)
        if test.kind is TestKind.DOCTEST and judgement.mode == "doctest":
            found, expected = self._want(test.expected_output or "")
            if not found:
                return None
            actual = decode(_parse(judgement.actual))
            if values_equal(actual, expected):
                return True, ""
            want = (test.expected_output or "").strip()[:200]
            return False, f"{test.source.strip()} returned {safe_repr(actual)}, expected {want}"
        if test.kind is not TestKind.ASSERT or judgement.mode not in ("eq", "ne"):
            return None
        split = self.split_of(test)
        if split is None:
            return None
        if (judgement.mode == "eq") != split.equal_op:
            raise ProtocolViolation("a judgement's operator does not match the test")
        encoded = split.encoded
        if split.equal_op and encoded is not None and judgement.actual == encoded:
            return True, ""  # the very text of the expected literal: equal (and close)
        left = split.left if split.left_literal else decode(_parse(judgement.actual))
        right = split.right if split.right_literal else decode(_parse(judgement.expected))
        if split.atol is not None:
            equal = values_close(left, right, split.atol)
        else:
            equal = values_equal(left, right)
        if equal == split.equal_op:
            return True, ""
        value, other = (left, right) if split.shows_left else (right, left)
        text = split.shown_text
        if split.equal_op:
            verb = "returned" if split.shown_is_call else "is"
            return False, f"{text} {verb} {safe_repr(value)}, expected {safe_repr(other)}"
        return False, f"{text} is {safe_repr(value)}, expected a different value"

    def digest_of(self, test: TestSpec) -> tuple[str, int] | None:
        """The SHA-256 digest and length of the text a value equal to the test's literal is
        sent as (what the harness offers for a large value), or None when there is none."""
        return self._digests.get(test, self._digest)

    def _digest(self, test: TestSpec) -> tuple[str, int] | None:
        split = self.split_of(test) if test.kind is TestKind.ASSERT else None
        if split is None or not split.parent_judges or split.encoded is None:
            return None
        return hashlib.sha256(split.encoded.encode()).hexdigest(), len(split.encoded)

    def judge_match(self, test: TestSpec) -> tuple[bool, str]:
        """The verdict for a value the parent matched by its digest: equal to the literal."""
        split = self.split_of(test)
        assert split is not None
        if split.equal_op:
            return True, ""
        return False, f"{split.shown_text} is {safe_repr(split.right)}, expected a different value"

    def _judge_opaque(self, test: TestSpec, judgement: Judgement) -> tuple[bool, str]:
        """A value that is not plain data, against the literal the parent holds: never equal (a
        value ``values_equal`` accepts for a literal always encodes), so ``==`` fails and
        ``!=`` holds."""
        split = self.split_of(test) if test.kind is TestKind.ASSERT else None
        if split is None or not split.parent_judges:
            raise ProtocolViolation("an opaque value for a test the parent does not judge")
        if not split.equal_op:
            return True, ""
        shown = str(judgement.actual)[:200]
        what = str(judgement.expected)[:120]
        verb = "returned" if split.shown_is_call else "is"
        return (
            False,
            f"{split.shown_text} {verb} {shown} ({what}), expected {safe_repr(split.right)}",
        )


def split_for_harness(test: TestSpec) -> dict[str, Any] | None:
    """``TestReader.for_harness`` for one test, without a sandbox's reader."""
    return TestReader(capacity=1).for_harness(test)
