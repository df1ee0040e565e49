"""Bounded text inside the sandbox: a capped writer for captured output and trimmed details.

``BoundedWriter`` stands in for ``sys.stdout`` while a doctest runs (and swallows pytest's own
terminal output): it keeps at most ``limit`` characters and only counts the rest, so a candidate
that prints 100 MB costs the harness no memory. ``trim`` caps the detail text of a verdict before
it travels to the parent. Part of the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import io

DETAIL_LIMIT = 2000


def trim(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n... (truncated)"


def trim_middle(text: str, limit: int) -> str:
    """The head and the tail of a long text: a pytest report ends with its ``E`` lines, the
    part that says what went wrong."""
    if len(text) <= limit:
        return text
    keep = (limit - 40) // 2
    return f"{text[:keep]}\n... ({len(text) - 2 * keep} characters cut) ...\n{text[-keep:]}"


class BoundedWriter(io.TextIOBase):
    """A text sink that keeps at most ``limit`` characters and silently counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._parts: list[str] = []
        self._kept = 0
        self._limit = limit
        self.dropped = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")
        room = self._limit - self._kept
        if room > 0:
            piece = text[:room]
            self._parts.append(piece)
            self._kept += len(piece)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)
