"""Trusted comparison and rendering of values that come from candidate code.

``values_equal`` judges ``assert a == b`` and literal doctest wants type-aware: numbers of exact
builtin types by value (``math.isclose`` with ``rel_tol=1e-9``), builtin containers recursively
(subclasses only when their ``__eq__`` is a stdlib one), any other type only against the same
type (then with its own ``__eq__``), so an object whose ``__eq__`` always returns True never
passes against a builtin value: a value from candidate code never gets to judge itself.
``safe_repr`` renders such a value in bounded length, whatever its ``__repr__`` does. Part of the
harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from typing import Any

REPR_LIMIT = 200

NUMBER_TYPES = (int, float, complex, bool)
_TRUSTED_EQ: dict[type, Callable[..., Any]] = {
    list: list.__eq__,
    tuple: tuple.__eq__,
    dict: dict.__eq__,
    set: set.__eq__,
    frozenset: frozenset.__eq__,
    str: str.__eq__,
    bytes: bytes.__eq__,
    bytearray: bytearray.__eq__,
}
_TRUSTED_SUBCLASS_EQ = {
    dict.__eq__,
    list.__eq__,
    tuple.__eq__,
    OrderedDict.__eq__,
    Counter.__eq__,
    defaultdict.__eq__,
    deque.__eq__,
}


def builtin_base(value: object) -> type | None:
    """The builtin container/scalar type a value behaves as, if its equality is a trusted one."""
    kind = type(value)
    if kind in _TRUSTED_EQ:
        return kind
    for base in (dict, list, tuple, str, bytes, set, frozenset):
        if isinstance(value, base) and getattr(kind, "__eq__", None) in _TRUSTED_SUBCLASS_EQ:
            return base
    if isinstance(value, deque) and kind.__eq__ in _TRUSTED_SUBCLASS_EQ:
        return deque
    return None


def values_equal(actual: object, expected: object, depth: int = 0) -> bool:
    """Equality that cannot be faked by an ``__eq__`` that always returns True."""
    if depth > 200:
        return False
    if type(actual) in NUMBER_TYPES and type(expected) in NUMBER_TYPES:
        if actual == expected:
            return True
        if isinstance(actual, float | int) and isinstance(expected, float | int):
            try:
                return math.isclose(actual, expected, rel_tol=1e-9)
            except OverflowError:  # an int beyond any float: only an equal int is equal
                return False
        return False
    if actual is None or expected is None:
        return actual is expected
    base_a, base_e = builtin_base(actual), builtin_base(expected)
    if base_a is not None or base_e is not None:
        if base_a is not base_e:
            return False
        if base_a in (list, tuple, deque):
            seq_a, seq_e = list(actual), list(expected)  # type: ignore[call-overload]
            if len(seq_a) != len(seq_e):
                return False
            if _exact_scalars(seq_a) and _exact_scalars(seq_e) and list.__eq__(seq_a, seq_e):
                return True  # compared in C: for these types ``==`` is what we would decide
            return all(values_equal(x, y, depth + 1) for x, y in zip(seq_a, seq_e, strict=True))
        if base_a is dict:
            map_a: dict[Any, Any] = dict(actual)  # type: ignore[call-overload]
            map_e: dict[Any, Any] = dict(expected)  # type: ignore[call-overload]
            if len(map_a) != len(map_e):
                return False
            for key, value in map_e.items():
                if not _trusted_hashable(key) or key not in map_a:
                    return False
                if not values_equal(map_a[key], value, depth + 1):
                    return False
            return True
        if base_a in (set, frozenset):
            items_a, items_e = list(actual), list(expected)  # type: ignore[call-overload]
            if not all(_trusted_hashable(x) for x in items_a + items_e):
                return False
            return set(items_a) == set(items_e)
        assert base_a is not None
        return bool(_TRUSTED_EQ[base_a](actual, expected))
    if type(actual) is not type(expected):
        return False
    # Same user-defined type on both sides: its own __eq__ is the only definition we have.
    try:
        return bool(actual == expected)
    except Exception:
        return False


_EXACT_SCALARS = frozenset({int, str, bool, type(None)})
"""Types whose builtin ``==`` equal means ``values_equal``: no float (NaN, and ``==`` on lists
takes the same NaN object for equal) and no container."""


def _exact_scalars(items: list[Any]) -> bool:
    return set(map(type, items)) <= _EXACT_SCALARS


def values_close(actual: object, expected: object, atol: float, depth: int = 0) -> bool:
    """``values_equal``, except that floats (and lists or tuples of them, element by element)
    match within ``atol`` (as the EvalPlus tasks with a tolerance are graded)."""
    if depth > 200:
        return False
    floats = type(actual) is float or type(expected) is float
    if floats and type(actual) in NUMBER_TYPES and type(expected) in NUMBER_TYPES:
        try:
            return actual == expected or abs(actual - expected) <= atol  # type: ignore[operator]
        except OverflowError:  # an int beyond any float is within no tolerance of one
            return False
    sequences = (list, tuple)
    if type(expected) in sequences and type(actual) in sequences:
        seq_a, seq_e = list(actual), list(expected)  # type: ignore[call-overload]
        return len(seq_a) == len(seq_e) and all(
            values_close(x, y, atol, depth + 1) for x, y in zip(seq_a, seq_e, strict=True)
        )
    return values_equal(actual, expected, depth)


def _trusted_hashable(value: object) -> bool:
    kind = type(value)
    if kind in NUMBER_TYPES or kind in (str, bytes, type(None), frozenset):
        return kind is not frozenset or all(_trusted_hashable(x) for x in value)  # type: ignore[attr-defined]
    if kind is tuple:
        return all(_trusted_hashable(x) for x in value)  # type: ignore[attr-defined]
    return False


def safe_repr(value: object, limit: int = REPR_LIMIT) -> str:
    kind = type(value)
    if kind in (str, bytes, bytearray, list, tuple) and len(value) > limit:  # type: ignore[arg-type]
        # A 7 MB string is not copied, nor a list of millions written out, to show 200
        # characters: each item takes at least one, so the first ``limit`` items show as many.
        value = value[:limit]  # type: ignore[index]
    try:
        text = repr(value)
    except BaseException as exc:  # candidate objects may raise anything
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
