"""Values from candidate code turned into plain, type-tagged data for the parent to judge.

``encode`` walks a value of the builtin types the trusted comparison knows (``None``, ``bool``,
``int``, ``float``, ``complex``, ``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``set``,
``frozenset``, ``dict``, ``deque``, and subclasses whose ``__eq__`` is a stdlib one, tagged as their
base) into nested JSON lists ``[tag, payload]``, and refuses anything else, anything deeper than
``MAX_DEPTH`` or larger than ``MAX_NODES`` nodes / ``MAX_CHARS`` characters (``Unencodable``). It
calls no method a candidate's class defines: exact types are read through the builtin types'
own functions. The parent decodes the data and compares it with ``values_equal`` outside the
candidate's process; a value too large for one record travels in several (``chunks``), and a
long string (or bytes) as its digest (``text_digest``), which the parent compares with the
digest of its own expected value: for strings equality is exact, so equal digests are equal
values. Part of the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import hashlib
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
MAX_NODES = 2_000_000
MAX_CHARS = 16 * 1024 * 1024
"""Per value. A value whose JSON exceeds ``INLINE_BYTES`` is sent in pieces of ``CHUNK_BYTES``
before the record that refers to it; the parent caps what it reassembles (``MAX_VALUE_BYTES``
in ``orps_sandbox.protocol``)."""
INLINE_BYTES = 256 * 1024
CHUNK_BYTES = 512 * 1024
"""A piece of a value's JSON text; escaped again as a string in its record, it stays within
half the parent's record cap."""


DIGEST_ABOVE = 64 * 1024
"""Strings and bytes longer than this travel as their digest (``text_digest``)."""
_BLAKE2B = hashlib.blake2b


def text_digest(value: object, above: int = DIGEST_ABOVE) -> list[Any] | None:
    """``["digest", kind, hex, length]`` for a str, bytes or bytearray longer than ``above``
    (read through the builtin types' own functions), else None. A str is hashed as UTF-8 with
    surrogates passed through, so two digests match exactly when the values are equal."""
    base = builtin_base(value)
    if base is str:
        text = str.__str__(value)  # type: ignore[arg-type]
        if len(text) <= above:
            return None
        raw = text.encode("utf-8", "surrogatepass")
        length = len(text)
    elif base in (bytes, bytearray):
        raw = bytes(value)  # type: ignore[call-overload]
        if len(raw) <= above:
            return None
        length = len(raw)
    else:
        return None
    assert base is not None
    digest = _BLAKE2B(raw, digest_size=32).hexdigest()
    return ["digest", base.__name__, digest, length]


class Unencodable(Exception):
    """The value is not plain builtin data, or too large to send."""


class _Budget:
    __slots__ = ("chars", "nodes")

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0

    def spend(self, chars: int) -> None:
        self.nodes += 1
        self.chars += chars
        if self.nodes > MAX_NODES or self.chars > MAX_CHARS:
            raise Unencodable("value too large")


_SCALARS = {bool: "bool", int: "int", float: "float", complex: "complex"}


def encode(value: object) -> Any:
    """The value as tagged plain data; raises ``Unencodable``."""
    return encode_sized(value)[0]


def encode_sized(value: object) -> tuple[Any, int]:
    """``encode``, with a bound on the length of the data's JSON (tags and separators
    included), so a record can be sized without encoding it twice."""
    budget = _Budget()
    try:
        data = _encode(value, budget, 0)
    except (RecursionError, ValueError, TypeError, MemoryError) as exc:
        raise Unencodable(type(exc).__name__) from exc
    return data, 2 * budget.chars + 16 * budget.nodes


def _encode(value: object, budget: _Budget, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise Unencodable("value too deep")
    kind = type(value)
    if value is None:
        budget.spend(1)
        return ["none"]
    tag = _SCALARS.get(kind)
    if tag is not None:
        if kind is bool:
            budget.spend(1)
            return ["bool", bool(value)]
        if kind is int:
            text = int.__repr__(value)  # type: ignore[arg-type]
            budget.spend(len(text))
            return ["int", text]
        if kind is float:
            budget.spend(24)
            return ["float", float.__repr__(value)]  # type: ignore[arg-type]
        budget.spend(48)
        return ["complex", complex.__repr__(value)]  # type: ignore[arg-type]
    base = builtin_base(value)
    if base is None:
        raise Unencodable(f"{kind.__name__} is not plain data")
    if base is str:
        text = str.__str__(value)  # type: ignore[arg-type]
        budget.spend(len(text))
        return ["str", text]
    if base in (bytes, bytearray):
        raw = bytes(value)  # type: ignore[call-overload]
        budget.spend(2 * len(raw))
        return [base.__name__, raw.hex()]
    budget.spend(2)
    if base is dict:
        mapping: Any = value
        pairs = [
            [_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
            for k, v in dict.items(mapping)
        ]
        return ["dict", pairs]
    iterators: dict[type, Any] = {
        deque: deque.__iter__,
        list: list.__iter__,
        tuple: tuple.__iter__,
        set: set.__iter__,
        frozenset: frozenset.__iter__,
    }
    items: list[Any] = list(iterators[base](value))
    return [base.__name__, [_encode(item, budget, depth + 1) for item in items]]
