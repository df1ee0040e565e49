"""The on-disk LLM response cache: identical requests to the same model replay their replies.

A request is keyed by a SHA-256 over a canonical JSON of the model's identity, every sampling
setting (temperature, max_tokens, seed, n, the stop rule) and the full message list, so a
different model, a different seed or one changed character in a prompt is a miss. Entries live in
one SQLite file (WAL journal, so several processes can share it); a connection is guarded by a
lock, so one ``ResponseCache`` is safe to use from several threads. The cache is an optimisation:
a file that turns out to be corrupt is moved aside and recreated with a warning, never a crash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from orps.model.chat import ChatMessage, Completion, SamplingParams

if TYPE_CHECKING:
    from orps.settings import Settings

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "responses.sqlite3"
# Bump when the key recipe or the stored layout changes: old entries then simply miss.
KEY_VERSION = 3  # 3: the stop rule joined the key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    completions TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class ResponseCache:
    """Completions stored by request key in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        with self._lock:
            self._conn = self._open_or_recreate()

    @staticmethod
    def key(identity: str, messages: Sequence[ChatMessage], params: SamplingParams) -> str:
        """The request's cache key: SHA-256 hex of a canonical JSON of everything that decides it."""
        request = {
            "version": KEY_VERSION,
            "identity": identity,
            # 1 and 1.0 are the same temperature; JSON would spell them differently.
            "params": {**dataclasses.asdict(params), "temperature": float(params.temperature)},
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        }
        canonical = json.dumps(
            request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def get(self, key: str) -> list[Completion] | None:
        """The stored completions, or ``None`` on a miss (or an unreadable entry)."""
        with self._lock:
            if self._conn is None:
                return None
            try:
                row = self._conn.execute(
                    "SELECT completions FROM replies WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return None
        if row is None:
            return None
        return _decode(str(row[0]))

    def put(self, key: str, completions: Sequence[Completion]) -> None:
        """Store ``completions`` under ``key`` (replacing any earlier entry)."""
        payload = json.dumps([dataclasses.asdict(c) for c in completions], ensure_ascii=False)
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO replies (key, completions, created) VALUES (?, ?, ?)",
                    (key, payload, time.time()),
                )
            except sqlite3.DatabaseError as exc:
                self._recover(exc)

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return 0
            try:
                row = self._conn.execute("SELECT COUNT(*) FROM replies").fetchone()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return 0
        return int(row[0])

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute("DELETE FROM replies")
            except sqlite3.DatabaseError as exc:
                self._recover(exc)

    def close(self) -> None:
        """Close the file; later reads miss and writes are dropped."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The helpers below run with the lock held.

    def _open_or_recreate(self) -> sqlite3.Connection:
        try:
            return _connect(self.path)
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
            return _connect(self.path)

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """A read or write failed: a corrupt file is set aside and replaced by an empty one."""
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            logger.warning("response cache %s is busy; request not cached", self.path)
            return
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        try:
            self._set_aside(exc)
            self._conn = _connect(self.path)
        except (OSError, sqlite3.Error) as again:
            logger.warning("response cache %s disabled (%s)", self.path, again)

    def _set_aside(self, exc: Exception) -> None:
        logger.warning("response cache %s is unreadable (%s); starting a new one", self.path, exc)
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.replace(Path(f"{self.path}{suffix}.corrupt"))


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit: every statement here is a single atomic read or write.
    conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        # Reading the schema is not enough to notice damage further in the file.
        conn.execute("SELECT COUNT(*) FROM replies").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def _decode(payload: str) -> list[Completion] | None:
    try:
        items: Any = json.loads(payload)
        return [
            Completion(
                text=str(item["text"]),
                prompt_tokens=int(item.get("prompt_tokens", 0)),
                completion_tokens=int(item.get("completion_tokens", 0)),
            )
            for item in items
        ]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def default_cache_dir() -> Path:
    """The per-user cache directory (e.g. ``~/.cache/orps`` on Linux)."""
    return Path(platformdirs.user_cache_dir("orps"))


def open_cache(settings: Settings) -> ResponseCache | None:
    """The response cache the settings ask for, or ``None`` when caching is off or impossible."""
    if not settings.cache:
        return None
    directory = Path(settings.cache_dir).expanduser() if settings.cache_dir else default_cache_dir()
    try:
        return ResponseCache(directory / CACHE_FILE_NAME)
    except (OSError, sqlite3.Error) as exc:
        logger.warning("response cache disabled: cannot open %s (%s)", directory, exc)
        return None


__all__ = ["CACHE_FILE_NAME", "ResponseCache", "default_cache_dir", "open_cache"]
