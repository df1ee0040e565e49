"""Searches the language server runs: one per function at a time, their results kept.

``Refinements`` owns every running search (an asyncio task per function) and the last result
of each function, including the full engine candidates so they can be re-run when the tests
change. It knows nothing of LSP messages: it reports through a ``RefinementListener``, which the
server implements by sending notifications and progress. A second refine of a function cancels
the running one (the latest code and settings win); cancelling a search's task stops its model
calls and closes its sandbox, which kills the processes it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orps.lsp.functions import DocumentError, locate, span_named, span_range, spans_of
from orps.lsp.payload import (
    CandidatesPayload,
    CandidateView,
    GeneratedTestView,
    ProgressView,
    WireRange,
)
from orps.lsp.presentation import progress_line
from orps.project.discovery import (
    TestDiscoveryError,
    VisibleTests,
    discover_tests,
    file_specs,
    is_test_file,
)
from orps.project.target import FunctionTarget
from orps.search.comparison import empty_reason, verdict
from orps.search.records import (
    Candidate,
    Origin,
    ProgressReported,
    RankingChanged,
    SearchFinished,
    SearchStarted,
    Warned,
)
from orps.settings import Settings
from orps_sandbox import IsolationUnavailable, TestSpec

if TYPE_CHECKING:
    from orps.search.beam import Search

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # how long a superseded search may take to wind down before we move on
RERUN_CANCELLED = "the re-run was cancelled; the previous result is shown"
PROGRESS_INTERVAL_S = 0.25  # at most one progress-only orps/candidates per function this often


class RefinementError(Exception):
    """A search could not start or failed outright; the message is one line for the user."""


@dataclass(frozen=True)
class FunctionKey:
    uri: str
    qualname: str


@dataclass(frozen=True)
class RefinementRequest:
    """What a search needs from the editor: the document as it is now and the settings."""

    uri: str
    path: Path
    source: str
    version: int | None
    qualname: str
    roots: tuple[Path, ...]
    settings: Settings

    @property
    def key(self) -> FunctionKey:
        return FunctionKey(self.uri, self.qualname)


@dataclass
class FunctionRecord:
    """The last search of a function: what was sent, and what re-running it needs."""

    key: FunctionKey
    payload: CandidatesPayload
    target: FunctionTarget | None  # None for a result restored after a server restart
    settings: Settings
    roots: tuple[Path, ...]
    tests: list[TestSpec] = field(default_factory=list)
    test_files: list[Path] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    current: Candidate | None = None


@dataclass
class SearchRun:
    """One running search."""

    key: FunctionKey
    search_id: str
    task: asyncio.Task[CandidatesPayload | None]


class RefinementListener(Protocol):
    """How ``Refinements`` tells the outside world what happens."""

    def candidates_changed(self, payload: CandidatesPayload) -> None: ...

    def progress_reported(self, run: SearchRun, progress: ProgressView) -> None: ...

    def warned(self, key: FunctionKey, message: str) -> None: ...

    def running_changed(self) -> None: ...

    def document_source(self, uri: str) -> str | None:
        """The live text of an open document (to find a function again after edits)."""
        ...


def rediscover(target: FunctionTarget, record: FunctionRecord) -> VisibleTests:
    """The tests now, as discovery finds them; TestDiscoveryError when a file that fed the
    result no longer parses (discovery alone would silently drop it, and every test with it)."""
    for path in record.test_files:
        if path.exists():
            file_specs(path)
    return discover_tests(target, None, list(record.roots))


def warm_up() -> None:
    """Import the engine (the model client is slow to import) ahead of the first search."""
    import orps.lsp.reevaluation
    import orps.search.beam
    import orps.session  # noqa: F401


def keeps_result(record: FunctionRecord | None) -> bool:
    """Whether an earlier result is worth keeping over a cancelled re-run's empty one."""
    return record is not None and not record.payload.running and bool(record.payload.candidates)


def new_search_id() -> str:
    return uuid.uuid4().hex[:12]


class Refinements:
    """Every search of the session and the stored results, keyed by (document, function)."""

    def __init__(self, listener: RefinementListener) -> None:
        self.listener = listener
        self.records: dict[FunctionKey, FunctionRecord] = {}
        self.running: dict[FunctionKey, SearchRun] = {}
        self.retests: dict[FunctionKey, asyncio.Task[None]] = {}
        self.stale: set[FunctionKey] = set()
        """Running searches whose tests changed: their candidates are re-run when they end."""
        self.sent_at: dict[FunctionKey, float] = {}
        self.pending: dict[FunctionKey, asyncio.TimerHandle] = {}

    # -- searches ---------------------------------------------------------------------------

    def start(self, request: RefinementRequest) -> SearchRun:
        """Start a search of the requested function, cancelling one already running for it."""
        key = request.key
        previous = self.running.pop(key, None)
        if previous is not None:
            previous.task.cancel()
        if (retest := self.retests.pop(key, None)) is not None:
            retest.cancel()
        self.stale.discard(key)  # the new search discovers the tests afresh
        search_id = new_search_id()
        task = asyncio.create_task(self._search(request, search_id, previous))
        run = SearchRun(key=key, search_id=search_id, task=task)
        self.running[key] = run
        task.add_done_callback(lambda _: self._forget(run))
        self.listener.running_changed()
        return run

    async def finish(self, run: SearchRun) -> CandidatesPayload | None:
        """Wait for a run to end; its final payload (None when it never started)."""
        try:
            return await asyncio.shield(run.task)
        except asyncio.CancelledError:
            if run.task.cancelled():
                return None
            raise

    def cancel(self, keys: Iterable[FunctionKey] | None = None) -> int:
        """Cancel the given searches (all when None); how many were running."""
        chosen = list(self.running) if keys is None else [k for k in keys if k in self.running]
        for key in chosen:
            self.running[key].task.cancel()
        return len(chosen)

    def cancel_search(self, search_id: str) -> None:
        for run in self.running.values():
            if run.search_id == search_id:
                run.task.cancel()

    async def close(self) -> None:
        tasks = [r.task for r in self.running.values()] + list(self.retests.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)

    def _forget(self, run: SearchRun) -> None:
        if self.running.get(run.key) is run:
            del self.running[run.key]
            self.listener.running_changed()
            if run.key in self.stale:
                self.stale.discard(run.key)
                record = self.records.get(run.key)
                if record is not None and (record.candidates or record.current):
                    self._start_retest(record)

    async def verify_accept(
        self,
        key: FunctionKey,
        code: str,
        flags: list[str],
        passed_before: int,
        path: Path,
        accepted: str | None = None,
    ) -> str:
        """Re-run a candidate in a fresh worker before the editor writes it; why not ("" = ok).

        ``accepted``: the document's text once the edit is made (what runs, when given).
        Integrity flags always refuse; otherwise the re-run must pass at least as many tests as
        the search saw the candidate pass.
        """
        from orps.search.verification import verify_for_apply
        from orps.session import make_sandbox

        record = self.records.get(key)
        if record is None:
            return "the search that produced this candidate is gone; refine again"
        source = self.listener.document_source(key.uri)
        if record.target is None:
            # Restored after a server restart: find the function and its tests afresh.
            if source is None:
                return "the document is not open; refine again"
            try:
                target = locate(source, key.qualname, path)
                visible = await asyncio.to_thread(discover_tests, target, None, list(record.roots))
            except (DocumentError, TestDiscoveryError) as exc:
                return str(exc)
            tests = list(visible.tests)
        else:
            target, tests = record.target, record.tests
            if source is not None:
                with contextlib.suppress(DocumentError):
                    target = locate(source, key.qualname, record.target.path)
        sandbox = await asyncio.to_thread(make_sandbox, record.settings)
        async with sandbox:
            verdict = await verify_for_apply(target, tests, code, sandbox, flags, accepted)
        if verdict.allowed:
            return ""
        if not verdict.forceable or verdict.report is None:
            return verdict.reason
        passed = verdict.report.passed
        total = len(verdict.report.tests)
        if passed < passed_before:
            return f"the re-run passed {passed}/{total} tests where the search saw {passed_before}"
        return ""

    def payload(self, key: FunctionKey) -> CandidatesPayload | None:
        record = self.records.get(key)
        return record.payload if record else None

    def payloads_of(self, uri: str) -> dict[str, CandidatesPayload]:
        return {k.qualname: r.payload for k, r in self.records.items() if k.uri == uri}

    async def _search(
        self, request: RefinementRequest, search_id: str, previous: SearchRun | None
    ) -> CandidatesPayload | None:
        if previous is not None:
            # Let the superseded search close its sandbox before this one opens another.
            # asyncio.wait neither raises the old search's outcome nor swallows this one's
            # cancellation (Python 3.11's wait_for can drop a cancel that arrives as the
            # awaited task ends, CPython gh-86296).
            await asyncio.wait({previous.task}, timeout=CANCEL_GRACE_S)
        try:
            target = locate(request.source, request.qualname, request.path)
        except DocumentError as exc:
            raise RefinementError(str(exc)) from None
        visible: VisibleTests | None = None
        try:
            visible = await asyncio.to_thread(discover_tests, target, None, list(request.roots))
        except TestDiscoveryError as exc:
            raise RefinementError(str(exc)) from None
        except asyncio.CancelledError:
            pass  # cancelled while finding the tests: still answer with a cancelled payload
        span = span_named(spans_of(request.source), request.qualname)
        assert span is not None  # locate succeeded on the same text
        earlier = self.records.get(request.key)
        payload = CandidatesPayload(
            uri=request.uri,
            name=request.qualname,
            range=WireRange.of(span_range(request.source, span)),
            version=request.version,
            search_id=search_id,
            running=True,
            tests_total=len(visible.tests) if visible else 0,
            test_sources=visible.sources if visible else [],
            current_code=target.dedented_source,
            baseline="none" if target.is_stub else "current",
            verdict=verdict([], None) if target.is_stub else "measuring the current code",
        )
        record = FunctionRecord(
            key=request.key,
            payload=payload,
            target=target,
            settings=request.settings,
            roots=request.roots,
            tests=list(visible.tests) if visible else [],
            test_files=list(visible.files) if visible else [],
        )
        self.records[request.key] = record
        if visible is None:
            return self._cancelled_early(record, earlier, search_id)
        self.send(record)
        searches: list[Search] = []
        stopped, error = "completed", None
        from orps.model.chat import ModelError  # light: value types and errors only

        try:
            await asyncio.to_thread(warm_up)  # a first import would otherwise stall the loop
            from orps.session import run_search

            async for event in run_search(
                target, visible, request.settings, observe=searches.append
            ):
                self._handle(record, search_id, event)
                if isinstance(event, SearchFinished):
                    stopped, error = event.result.stopped, event.result.error
        except asyncio.CancelledError:
            stopped = "cancelled"
        except ModelError as exc:
            # The pipeline raises only when the model failed before producing any candidate.
            stopped, error = "model_error", str(exc)
            raise RefinementError(error) from None
        except TestDiscoveryError as exc:
            stopped, error = "error", str(exc)
            raise RefinementError(error) from None
        except IsolationUnavailable as exc:  # fails closed: bubblewrap installed but unusable
            stopped, error = "error", str(exc)
            raise RefinementError(error) from None
        finally:
            self.flush(record.key)
            payload.running = False
            payload.stopped = stopped
            if searches:
                search = searches[0]
                record.candidates = [node.candidate for node in search.nodes.values()]
                record.current = search.current
                if not payload.candidates:
                    payload.empty_reason = empty_reason(
                        stopped=stopped,
                        error=error,
                        dropped_replies=search.dropped_replies,
                        duplicates=search.duplicates,
                        cached_calls=search.llm.usage.cached_calls,
                        llm_calls=search.llm.usage.calls,
                    )
            elif not payload.candidates:
                payload.empty_reason = empty_reason(
                    stopped=stopped,
                    error=error,
                    dropped_replies=0,
                    duplicates=0,
                    cached_calls=0,
                    llm_calls=0,
                )
            if stopped == "cancelled" and not payload.candidates and keeps_result(earlier):
                assert earlier is not None
                record = self.keep_earlier(earlier, search_id)
                payload = record.payload
            self.send(record)
        if error:
            self.listener.warned(request.key, f"the search stopped early: {error}")
        return payload

    def _cancelled_early(
        self, record: FunctionRecord, earlier: FunctionRecord | None, search_id: str
    ) -> CandidatesPayload:
        """A search cancelled before it started: the previous result, or an empty one saying so."""
        payload = record.payload
        payload.running = False
        payload.stopped = "cancelled"
        payload.empty_reason = empty_reason(
            stopped="cancelled",
            error=None,
            dropped_replies=0,
            duplicates=0,
            cached_calls=0,
            llm_calls=0,
        )
        if keeps_result(earlier):
            assert earlier is not None
            record = self.keep_earlier(earlier, search_id)
        self.send(record)
        return record.payload

    def keep_earlier(self, earlier: FunctionRecord, search_id: str) -> FunctionRecord:
        """A re-run cancelled before any candidate ran: the previous result stays, marked so."""
        payload = earlier.payload.model_copy(deep=True)
        payload.search_id = search_id
        payload.running = False
        payload.stopped = "cancelled"
        if not payload.verdict.startswith(RERUN_CANCELLED):
            payload.verdict = f"{RERUN_CANCELLED} ({payload.verdict})"
        earlier.payload = payload
        self.records[earlier.key] = earlier
        return earlier

    # -- notifications ----------------------------------------------------------------------

    def send(self, record: FunctionRecord) -> None:
        """Send the record's payload now (and forget a throttled one still pending)."""
        if (pending := self.pending.pop(record.key, None)) is not None:
            pending.cancel()
        self.sent_at[record.key] = time.monotonic()
        self.listener.candidates_changed(record.payload)

    def send_soon(self, record: FunctionRecord) -> None:
        """Send the payload for a progress change, at most every ``PROGRESS_INTERVAL_S``."""
        if record.key in self.pending:
            return
        wait = self.sent_at.get(record.key, 0.0) + PROGRESS_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.send(record)
            return
        loop = asyncio.get_running_loop()
        self.pending[record.key] = loop.call_later(wait, self._send_pending, record.key)

    def _send_pending(self, key: FunctionKey) -> None:
        self.pending.pop(key, None)
        record = self.records.get(key)
        if record is not None:
            self.send(record)

    def flush(self, key: FunctionKey) -> None:
        if (pending := self.pending.pop(key, None)) is not None:
            pending.cancel()

    # -- results kept across a restart ------------------------------------------------------

    def restore(self, payloads: Iterable[CandidatesPayload], settings: Settings) -> int:
        """Store payloads a client kept across a server restart (no search re-runs them)."""
        count = 0
        for payload in payloads:
            key = FunctionKey(payload.uri, payload.name)
            if key in self.running:
                continue  # a search started since the restart: its result wins
            payload.running = False
            payload.stopped = "restored"
            payload.progress = None
            self.records[key] = FunctionRecord(
                key=key, payload=payload, target=None, settings=settings, roots=()
            )
            self.send(self.records[key])
            count += 1
        return count

    def accepted(self, key: FunctionKey, candidate_id: str) -> None:
        """After an accept: the accepted code is the current code; the others await a re-run."""
        record = self.records.get(key)
        if record is None or (chosen := record.payload.candidate(candidate_id)) is None:
            return
        payload = record.payload
        payload.current = chosen.model_copy(
            update={
                "origin": "current",
                "rank": 0,
                "preferred": False,
                "speedup": None,
                "speedup_vs_current": None,
                "tie": False,
                "ratio_text": "",
            }
        )
        payload.current_code = chosen.code
        payload.baseline = "current"
        others = [c for c in payload.candidates if c.id != candidate_id]
        payload.candidates = [
            c.model_copy(
                update={
                    "rank": i + 1,
                    "preferred": False,
                    "speedup": None,
                    "speedup_vs_current": None,
                    "tie": False,
                    "ratio_text": "",
                }
            )
            for i, c in enumerate(others)
        ]
        payload.stopped = "accepted"
        payload.verdict = (
            f"#{chosen.rank} was accepted and is now the current code; "
            "refine again to compare the other candidates with it"
        )
        engine = next((c for c in record.candidates if c.id == candidate_id), None)
        record.candidates = [c for c in record.candidates if c.id != candidate_id]
        # Re-runs against changed tests now measure the accepted code as the current code.
        record.current = engine.model_copy(update={"origin": Origin.CURRENT}) if engine else None
        self.send(record)

    def _handle(self, record: FunctionRecord, search_id: str, event: object) -> None:
        payload = record.payload
        run = self.running.get(record.key)
        if isinstance(event, SearchStarted):
            payload.model = event.model
        elif isinstance(event, RankingChanged):
            payload.candidates = [CandidateView.of(s) for s in event.ranked]
            payload.current = CandidateView.of(event.current) if event.current else None
            payload.verdict = verdict(payload.candidates, payload.current)
            self.send(record)
        elif isinstance(event, ProgressReported):
            payload.progress = ProgressView.of(event.progress, progress_line(event.progress))
            if run is not None and run.search_id == search_id:
                self.listener.progress_reported(run, payload.progress)
            self.send_soon(record)
        elif isinstance(event, Warned):
            self.listener.warned(record.key, event.message)
        elif isinstance(event, SearchFinished):
            result = event.result
            payload.candidates = [CandidateView.of(s) for s in result.candidates]
            payload.current = CandidateView.of(result.current) if result.current else None
            payload.verdict = result.verdict or verdict(payload.candidates, payload.current)
            payload.generated_tests = [
                GeneratedTestView.model_validate(t.model_dump()) for t in result.generated_tests
            ]
            payload.generated_imports = result.generated_imports
            payload.scale_note = result.scale_note

    # -- tests that changed -----------------------------------------------------------------

    def affected_by(self, paths: Iterable[Path]) -> list[FunctionKey]:
        """Results (stored, or still being searched) whose tests may have changed."""
        changed = {p.resolve() for p in paths}
        test_paths = {p for p in changed if is_test_file(p)}
        keys: list[FunctionKey] = []
        for key, record in self.records.items():
            if key not in self.running and not (record.candidates or record.current):
                continue
            fed = changed & {p.resolve() for p in record.test_files}
            if fed or test_paths:
                keys.append(key)
        return keys

    def retest(self, paths: Iterable[Path]) -> list[FunctionKey]:
        """Re-run the stored candidates of every result whose tests changed, in the background.

        A search still running keeps the tests it started with (changing them half way would
        make its candidates incomparable); its candidates are re-run as soon as it ends.
        """
        keys = self.affected_by(paths)
        for key in keys:
            if key in self.running:
                self.stale.add(key)
            else:
                self._start_retest(self.records[key])
        return keys

    def _start_retest(self, record: FunctionRecord) -> None:
        key = record.key
        if (previous := self.retests.pop(key, None)) is not None:
            previous.cancel()
        task = asyncio.create_task(self._retest(record))
        self.retests[key] = task
        task.add_done_callback(functools.partial(self._retest_done, key))

    def _retest_done(self, key: FunctionKey, task: asyncio.Task[None]) -> None:
        if self.retests.get(key) is task:
            del self.retests[key]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("re-running %s failed: %s", key.qualname, exc, exc_info=exc)

    async def _retest(self, record: FunctionRecord) -> None:
        await asyncio.to_thread(warm_up)
        from orps.lsp.reevaluation import reevaluate
        from orps.session import make_sandbox

        if record.target is None:
            return  # a restored result: nothing to re-run it with
        target = record.target
        source = self.listener.document_source(record.key.uri)
        if source is not None:
            with contextlib.suppress(DocumentError):
                target = locate(source, record.key.qualname, record.target.path)
        try:
            visible = await asyncio.to_thread(rediscover, target, record)
        except TestDiscoveryError as exc:
            self.listener.warned(record.key, f"{exc}; the previous ranking stays")
            return
        if visible.tests == record.tests:
            return  # the change did not touch the tests this result saw
        sandbox = await asyncio.to_thread(make_sandbox, record.settings)
        async with sandbox:
            outcome = await reevaluate(
                target, visible.tests, record.candidates, record.current, sandbox
            )
        record.target = target
        record.tests = list(visible.tests)
        record.test_files = list(visible.files)
        record.candidates = outcome.candidates
        record.current = outcome.current_candidate
        payload = record.payload
        payload.candidates = [CandidateView.of(s) for s in outcome.ranked]
        payload.current = CandidateView.of(outcome.current) if outcome.current else None
        payload.tests_total = len(visible.tests)
        payload.test_sources = visible.sources
        payload.stopped = "retested"
        payload.verdict = verdict(payload.candidates, payload.current)
        self.send(record)
