"""Stop rules: where a reply ends once the rest of it cannot matter to whoever reads it.

A ``StopRule`` is plain data carried in ``SamplingParams.stop``, so it is part of a request's
identity (the response cache keys on it). ``stop_point(rule, text)`` says where the reply
``text`` ends under the rule, or ``None`` while it goes on. It is a function of the text alone
and looks at the earliest point where the rule fires, so it gives the same answer on every
prefix of the reply that reaches that point, however the text arrived (token by token in the
embedded model, in chunks of a stream, or all at once): every backend cuts the same reply at the
same place. Three triggers, the earliest wins:

- ``block``: after the closing fence of the first fenced block (``FENCE``, the grammar the
  search reads replies with) whose text matches this regular expression (``re.MULTILINE``).
  The reply ends with that fence.
- ``lines``: after the first line (ended by a newline) by which every one of these regular
  expressions has matched; the reply ends with that line, without its newline. The expressions
  should not match across a line end after their last character (``SCORE: 4`` is final once
  the line ends).
- ``repeats``: degenerate repetition. The text is read as units (a line, or a sentence within
  one: text up to ``.``, ``!`` or ``?`` and a space); when the same run of one to
  ``MAX_PERIOD`` units (of at least ``MIN_REPEATED_CHARS`` characters) comes ``repeats``
  times in a row, the reply ends after its first occurrence. Code is never cut this way: inside
  a fence, where a line repeated many times can be legitimate (rows of a table, ``pass`` in
  several branches), repetition counts only when the block so far cannot be Python whatever
  follows (``codeop`` finds a syntax error no continuation repairs): prose inside a fence.

A rule never cuts a reply before any of these points, and a reply that ends on its own (end of
turn, ``max_tokens``) before one of them is left alone.
"""

from __future__ import annotations

import codeop
import functools
import re
import warnings
from dataclasses import dataclass

FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
"""A fenced block, optionally tagged python: group 1 is its text. ``orps.search.extraction``
reads replies with this same expression. (Changing it changes what a block rule keeps: bump
``orps.model.cache.KEY_VERSION`` with it.)"""

DEGENERATE_REPEATS = 3
"""The ``repeats`` the search's rules use: the same prose three times in a row is a loop."""

MIN_REPEATED_CHARS = 8
"""Shorter runs ("Yes.", "- ok") never count as a repetition: they can repeat in good prose."""

MAX_PERIOD = 4
"""The longest run of units that counts as one repetition (a line of up to four sentences)."""

# What ends a unit of prose: a fence marker (which also opens or closes a block), a line end, or
# the first space after the end of a sentence. Each is decided by at most three characters.
_DELIMITER = re.compile(r"```|\n|(?<=[.!?])[ \t]")


@dataclass(frozen=True)
class StopRule:
    """Where a reply may end early; see the module's docstring. An empty rule never fires."""

    block: str | None = None
    lines: tuple[str, ...] = ()
    repeats: int = 0


def stop_point(rule: StopRule, text: str) -> int | None:
    """How many characters of ``text`` the reply keeps under ``rule``, or ``None`` if the rule
    has not fired in ``text`` (yet)."""
    found = [
        point
        for point in (_after_block(rule, text), _after_lines(rule, text), _repeated(rule, text))
        if point is not None
    ]
    if not found:
        return None
    return min(found)[1]


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


# Each trigger returns (where it fired, where the reply ends), or None.


def _after_block(rule: StopRule, text: str) -> tuple[int, int] | None:
    if rule.block is None:
        return None
    wanted = _compiled(rule.block)
    for match in FENCE.finditer(text):
        if wanted.search(match.group(1)):
            return match.end(), match.end()
    return None


def _after_lines(rule: StopRule, text: str) -> tuple[int, int] | None:
    if not rule.lines:
        return None
    patterns = [_compiled(p) for p in rule.lines]
    # The first line end by which every expression has matched: each match is final by then.
    # No match in a prefix starts before the leftmost match in the whole text.
    first = 0
    for pattern in patterns:
        match = pattern.search(text)
        if match is None:
            return None
        first = max(first, match.start())
    end = text.find("\n", first)
    while end != -1:
        if all(p.search(text, 0, end) for p in patterns):
            return end + 1, end
        end = text.find("\n", end + 1)
    return None


def _repeated(rule: StopRule, text: str) -> tuple[int, int] | None:
    if rule.repeats < 2:
        return None
    in_fence = False
    block_start = 0  # where the open block's text starts (after its opening fence's line)
    units: list[tuple[str, int]] = []  # the units since the last fence marker, and their ends
    start = 0
    for delimiter in _DELIMITER.finditer(text):
        piece = text[start : delimiter.start()]
        start = delimiter.end()
        stripped = piece.strip()
        if stripped:
            units.append((stripped, delimiter.start() - (len(piece) - len(piece.rstrip()))))
            cut = _period_end(units, rule.repeats)
            trigger = delimiter.start() + 1
            if cut is not None and (not in_fence or _not_python(text[block_start:trigger])):
                return trigger, cut
        if delimiter.group() == "```":
            in_fence = not in_fence
            units = []
            block_start = text.find("\n", delimiter.end()) + 1 or len(text)
    return None


def _not_python(block: str) -> bool:
    """True when no continuation of ``block`` compiles as Python: prose inside a fence."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes and the like
        try:
            codeop.compile_command(block, "<block>", "exec")
        except (SyntaxError, ValueError, OverflowError):
            return True
    return False


def _period_end(units: list[tuple[str, int]], repeats: int) -> int | None:
    """Where the first of ``repeats`` equal runs of 1 to ``MAX_PERIOD`` units that end
    ``units`` ends, if there are such runs of at least ``MIN_REPEATED_CHARS`` characters."""
    for period in range(1, MAX_PERIOD + 1):
        if len(units) < period * repeats:
            break
        tail = [text for text, _ in units[-period * repeats :]]
        block = tail[:period]
        if sum(map(len, block)) >= MIN_REPEATED_CHARS and tail == block * repeats:
            return units[-period * repeats + period - 1][1]
    return None


__all__ = [
    "DEGENERATE_REPEATS",
    "FENCE",
    "MAX_PERIOD",
    "MIN_REPEATED_CHARS",
    "StopRule",
    "stop_point",
]
