"""Values from candidate code turned into plain, type-tagged data for the parent to judge.

``encode`` walks a value of the builtin types the trusted comparison knows (``None``, ``bool``,
``int``, ``float``, ``complex``, ``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``set``,
``frozenset``, ``dict``, ``deque``, and subclasses whose ``__eq__`` is a stdlib one, tagged as their
base) into JSON: JSON's own types where they say it all (``None``, ``bool``, ``int``, a finite
``float``, ``str``, ``list``), every other one as a one-key object naming it (``{"tuple": [...]}``,
``{"dict": [[k, v], ...]}``, ``{"bytes": hex}``, ``{"float": "inf"}``, a huge ``{"int": hex}``), so
the parent parses most
values as fast as JSON allows; it refuses anything else, anything deeper than
``MAX_DEPTH`` or larger than ``MAX_NODES`` nodes / ``MAX_CHARS`` characters (``Unencodable``). It
calls no method a candidate's class defines: exact types are read through the builtin types'
own functions. The parent decodes the data and compares it with ``values_equal`` outside the
candidate's process; a value too large for one record travels in several (``chunks``). Part of
the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from typing import TYPE_CHECKING, Any

# mypy sees these modules as orps_sandbox._orps_harness.*; at run time they import flat (the
# parent imports this one too, to encode its own expected values the same way).
if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_compare import builtin_base
else:
    try:
        from _orps_compare import builtin_base
    except ImportError:
        from orps_sandbox._orps_harness._orps_compare import builtin_base

MAX_DEPTH = 200
"""As deep as ``values_equal`` compares (and as Python's parser nests a literal)."""
MAX_NODES = 8_000_000
MAX_CHARS = 64 * 1024 * 1024
"""Per value. A value whose JSON exceeds ``INLINE_BYTES`` is sent in pieces of ``CHUNK_BYTES``
before the record that refers to it, up to ``MAX_VALUE_BYTES``, which the parent enforces."""
MAX_VALUE_BYTES = 96 * 1024 * 1024
"""Most JSON one value may take (in pieces): a larger one is not sent, and not judged."""
INLINE_BYTES = 256 * 1024
CHUNK_BYTES = 512 * 1024
"""A piece of a value's JSON text; escaped again as a string in its record, it stays within
half the parent's record cap."""


class Unencodable(Exception):
    """The value is not plain builtin data, or too large to send."""


class _Budget:
    __slots__ = ("chars", "nan", "nodes")

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0
        self.nan = False
        """Whether a NaN was met (it equals nothing, not even its own encoding's value)."""

    def spend(self, chars: int) -> None:
        self.nodes += 1
        self.chars += chars
        if self.nodes > MAX_NODES or self.chars > MAX_CHARS:
            raise Unencodable("value too large")


_ITERATORS: dict[type, Any] = {
    deque: deque.__iter__,
    list: list.__iter__,
    tuple: tuple.__iter__,
    set: set.__iter__,
    frozenset: frozenset.__iter__,
}
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})
_INTEGERS = frozenset({int, bool})
_INT_BOUND = 1 << 13_000
"""Beyond about 3,900 digits an int would not survive JSON (``sys.set_int_max_str_digits``):
it travels as ``{"int": hex}`` instead."""


def _flat(items: list[Any], base: type, budget: _Budget) -> Any:
    """The items of a sequence or set when all are of types JSON carries as they are (``str``,
    ``bool``, ``None``, an ``int`` of bounded size, a finite ``float``: the common output of a
    benchmark), encoded without a walk; else None."""
    kinds = set(map(type, items))
    if not items or not kinds <= _JSON_SCALARS:
        return None
    size = len(items)
    if kinds <= _NUMBERS:
        width = 24  # a float's longest text
        if kinds <= _INTEGERS:  # the widest int's digits, its sign ("true"/"false" for a bool)
            widest = max(-min(items), max(items))  # C compares exact ints: no candidate method
            if int.bit_length(widest) > 1024:
                return None  # an int beyond any float: walked item by item (as the pass would)
            width = int(int.bit_length(widest) * 0.30103) + 2
            width = max(width, 5) if bool in kinds else width
        if budget.chars + (width + 1) * size > MAX_CHARS:
            raise Unencodable("value too large")  # before the pass below, as spend would after
        try:  # one pass in C: no NaN, no infinity, no int too large for a float (nor JSON)
            if not all(map(math.isfinite, items)):
                return None
        except OverflowError:
            return None
        size += width * len(items)
    elif kinds == {str}:
        size += sum(map(len, items))
    else:  # mixed with strings or None: rare, checked item by item
        numbers = [x for x in items if type(x) in _NUMBERS]
        try:
            if not all(map(math.isfinite, numbers)):
                return None
        except OverflowError:
            return None
        size += 24 * len(numbers) + sum(len(x) for x in items if type(x) is str)
    budget.nodes += len(items) - 1
    budget.spend(size)
    return items if base is list else {base.__name__: items}


_ENCODE_STR = json.encoder.encode_basestring_ascii
_INT_REPR = int.__repr__
_FLOAT_REPR = float.__repr__
_SCALAR_STR_CHARS = 4096
_ESCAPED = bytes(range(0x20)) + b'"\\\x7f'
"""The ASCII that ``json.dumps`` escapes: control characters, the quote, the backslash, DEL."""
_SHA256 = hashlib.sha256


def str_text_digest(text: str) -> tuple[str, int] | None:
    """The SHA-256 digest and length of ``json.dumps(text)`` for an exact str that JSON writes
    as it is between its quotes (printable ASCII with no quote or backslash), without making
    that text: for a value of megabytes, escaping costs several times what hashing does. None
    for any other str (its text must be made)."""
    if not str.isascii(text):
        return None
    raw = str.encode(text)
    if len(raw.translate(None, _ESCAPED)) != len(raw):
        return None
    digest = _SHA256(b'"')
    digest.update(raw)
    digest.update(b'"')
    return digest.hexdigest(), len(raw) + 2


def scalar_text(value: object) -> str | None:
    """``json.dumps(encode(value))`` for the commonest return values, an int below
    ``_INT_BOUND``, a finite float, a str of at most ``_SCALAR_STR_CHARS``, a bool or None,
    without the encoder's set-up for every value (the same builtin functions ``json.dumps``
    calls); None for anything else."""
    kind = type(value)
    if kind is int:
        number: int = value  # type: ignore[assignment]
        return _INT_REPR(number) if -_INT_BOUND < number < _INT_BOUND else None
    if kind is str:
        text: str = value  # type: ignore[assignment]
        return _ENCODE_STR(text) if len(text) <= _SCALAR_STR_CHARS else None
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float:
        real: float = value  # type: ignore[assignment]
        return _FLOAT_REPR(real) if real - real == 0.0 else None
    return None


def encode(value: object) -> Any:
    """The value as tagged plain data; raises ``Unencodable``."""
    return encode_checked(value)[0]


def encode_checked(value: object) -> tuple[Any, bool]:
    """``encode``, and whether the value holds a NaN."""
    budget = _Budget()
    try:
        data = _encode(value, budget, 0)
    except (RecursionError, ValueError, TypeError, MemoryError) as exc:
        raise Unencodable(type(exc).__name__) from exc
    return data, budget.nan


def _encode(value: object, budget: _Budget, depth: int) -> Any:
    """JSON's own types where they say it all (``None``, ``bool``, ``int``, finite ``float``,
    ``str``, ``list``); every other type as a one-key object naming it."""
    if depth > MAX_DEPTH:
        raise Unencodable("value too deep")
    kind = type(value)
    if value is None or kind is bool:
        budget.spend(1)
        return value
    if kind is int:
        number = int.__int__(value)  # type: ignore[arg-type]
        if -_INT_BOUND < number < _INT_BOUND:
            budget.spend(8)
            return number
        text = format(number, "x")  # hex has no digit limit, and is linear to convert
        budget.spend(len(text))
        return {"int": text}
    if kind is float:
        budget.spend(24)
        real = float.__float__(value)  # type: ignore[arg-type]
        if real - real == 0.0:  # finite
            return real
        budget.nan = budget.nan or real != real
        return {"float": float.__repr__(real)}
    if kind is complex:
        budget.spend(48)
        budget.nan = budget.nan or value != value
        return {"complex": complex.__repr__(value)}  # type: ignore[arg-type]
    base = builtin_base(value)
    if base is None:
        raise Unencodable(f"{kind.__name__} is not plain data")
    if base is str:
        text = str.__str__(value)  # type: ignore[arg-type]
        budget.spend(len(text))
        return text
    if base in (bytes, bytearray):
        raw = bytes(value)  # type: ignore[call-overload]
        budget.spend(2 * len(raw))
        return {base.__name__: raw.hex()}
    budget.spend(2)
    if base is dict:
        mapping: Any = value
        pairs = [
            [_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
            for k, v in dict.items(mapping)
        ]
        return {"dict": pairs}
    if budget.nodes + base.__len__(value) > MAX_NODES:  # type: ignore[attr-defined]
        raise Unencodable("value too large")  # known before a walk that would find it out
    members = list(_ITERATORS[base](value))
    flat = _flat(members, base, budget)
    if flat is not None:
        return flat
    items = [_encode(item, budget, depth + 1) for item in members]
    return items if base is list else {base.__name__: items}
