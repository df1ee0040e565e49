"""Watching the workspace's test files on disk, so stored rankings follow the user's tests.

A watchdog observer thread reports created, modified, moved and deleted test files
(``test_*.py`` / ``*_test.py``, as discovery names them) into the server's event loop, where
changes are collected for a short quiet period and then handed over in one batch. Clients that
send ``workspace/didChangeWatchedFiles`` feed the same batch, so a change seen twice is
handled once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from orps.project.discovery import SKIPPED_DIRS, is_test_file

log = logging.getLogger(__name__)

QUIET_PERIOD_S = 0.3

ChangeHandler = Callable[[set[Path]], None]


def is_watched(path: Path) -> bool:
    return is_test_file(path) and not any(part in SKIPPED_DIRS for part in path.parts)


class TestFileChanges:
    """Collects changed test files and hands them over after a quiet period, in the loop."""

    __test__ = False

    def __init__(self, loop: asyncio.AbstractEventLoop, on_change: ChangeHandler) -> None:
        self.loop = loop
        self.on_change = on_change
        self.pending: set[Path] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, paths: Iterable[Path]) -> None:
        """Record changes; must run in the loop."""
        fresh = {p for p in paths if is_watched(p)}
        if not fresh:
            return
        self.pending |= fresh
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(QUIET_PERIOD_S, self._flush)

    def add_threadsafe(self, paths: Iterable[Path]) -> None:
        self.loop.call_soon_threadsafe(self.add, list(paths))

    def _flush(self) -> None:
        self._timer = None
        batch, self.pending = self.pending, set()
        if batch:
            self.on_change(batch)


class _Forwarder(FileSystemEventHandler):
    def __init__(self, changes: TestFileChanges) -> None:
        self.changes = changes

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        paths = [Path(str(event.src_path))]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(Path(str(dest)))
        self.changes.add_threadsafe(paths)


class TestFileWatcher:
    """A watchdog observer over the workspace folders."""

    __test__ = False

    def __init__(self, changes: TestFileChanges) -> None:
        self.changes = changes
        self.observer: Observer | None = None  # type: ignore[valid-type]
        self.folders: set[Path] = set()

    def watch(self, folders: Iterable[Path]) -> None:
        """Watch exactly these folders (restarting the observer when they change)."""
        wanted = {f for f in folders if f.is_dir()}
        if wanted == self.folders and self.observer is not None:
            return
        self.stop()
        self.folders = wanted
        if not wanted:
            return
        observer = Observer()
        handler = _Forwarder(self.changes)
        for folder in wanted:
            try:
                observer.schedule(handler, str(folder), recursive=True)
            except OSError as exc:
                log.warning("cannot watch %s: %s", folder, exc)
        observer.daemon = True
        observer.start()
        self.observer = observer

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer = None
