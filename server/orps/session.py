"""The one search pipeline: every front end (``orps refine``, ``orps serve``, ``orps bench``)
runs its searches through ``run_search``.

``Engine`` owns what a search needs beyond the function and its tests: the model (chosen from
the settings and checked before anything runs), the response cache, the budgeted LLM clients and
the sandbox. ``run_search`` checks that the tests' files import, builds the ``Search``, yields
its events and closes what it opened. The rule for a model that fails before producing anything
lives here once: the pipeline raises the model's own ``ModelError`` (its kind kept), so each
front end only decides how to show it.

Where the front ends differ, they say so through explicit arguments:

- ``engine``: ``orps refine`` and ``orps serve`` pass none and get a fresh engine per search
  (the latest settings win); ``orps bench`` opens one ``Engine`` for a whole run and shares its
  model, cache and sandbox between searches.
- ``client`` and ``config``: the budgeted LLM client and the beam shape, by default a fresh
  client with the settings' budget and the settings' shape (the benchmark passes a client with
  its per-task budget, whose usage it records, and its own shape).
- ``observe``: called with the ``Search`` as soon as it exists, for a front end that keeps the
  engine-side candidates (the language server re-runs them when tests change).

Everything slow to set up (loading TLS certificates, the model, probing the sandbox) runs in a
thread, so an event loop that also serves an editor keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from orps.model.backends import check_endpoint, make_chat_model
from orps.model.cache import ResponseCache, open_cache
from orps.model.chat import ChatModel, ModelError
from orps.model.client import LLMClient
from orps.project.discovery import VisibleTests
from orps.project.target import FunctionTarget
from orps.search.beam import Search, SearchConfig, check_test_imports
from orps.search.comparison import judge
from orps.search.records import SearchEvent, SearchFinished
from orps.settings import Settings
from orps_sandbox import Limits, Sandbox


def make_limits(settings: Settings) -> Limits:
    return Limits(
        test_timeout_s=settings.timeout_seconds,
        total_timeout_s=max(60.0, settings.timeout_seconds * 20),
        memory_mb=settings.memory_limit_mb,
        tmpfs_mb=settings.scratch_limit_mb,
    )


def make_sandbox(settings: Settings) -> Sandbox:
    """The sandbox the settings ask for; raises ``IsolationUnavailable`` (one line) when the
    isolation asked for cannot be had (bubblewrap installed but unable to run fails closed)."""
    return Sandbox(make_limits(settings), isolation=settings.isolation)


def search_config(settings: Settings) -> SearchConfig:
    return SearchConfig(
        beam_width=settings.beam_width,
        children=settings.children,
        rounds=settings.rounds,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        seed=settings.seed,
        generate_tests=settings.generate_tests,
        generate_tests_below=settings.generate_tests_below,
        scale=settings.scale,
        max_scale=settings.max_scale,
        timeout_s=settings.timeout_seconds,
    )


@dataclass
class Engine:
    """The model, response cache and sandbox that searches share; open it with ``Engine.open``."""

    settings: Settings
    model: ChatModel
    sandbox: Sandbox
    cache: ResponseCache | None = None
    _clients: list[LLMClient] = field(default_factory=list, init=False)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Engine]:
        """Build the model, check its endpoint, open the cache and the sandbox; close all after.

        Raises ``ModelError`` (one readable line) when the model cannot be used.
        """
        model = await asyncio.to_thread(make_chat_model, settings)
        try:
            # A separate loop in a thread: the client's TLS set-up must not stall this one.
            await asyncio.to_thread(asyncio.run, check_endpoint(model))
            cache = open_cache(settings) if settings.cache else None
            sandbox = await asyncio.to_thread(make_sandbox, settings)
            async with sandbox:
                yield cls(settings=settings, model=model, sandbox=sandbox, cache=cache)
        finally:
            with contextlib.suppress(Exception):
                await model.aclose()

    def client(self, max_calls: int | None = None) -> LLMClient:
        """A fresh budgeted client over the shared model (default budget: the settings')."""
        return LLMClient(
            model=self.model,
            max_calls=self.settings.max_calls if max_calls is None else max_calls,
            cache=self.cache,
            concurrency=self.settings.concurrency,
        )


async def run_search(
    target: FunctionTarget,
    visible: VisibleTests,
    settings: Settings,
    *,
    engine: Engine | None = None,
    client: LLMClient | None = None,
    config: SearchConfig | None = None,
    observe: Callable[[Search], None] | None = None,
) -> AsyncIterator[SearchEvent]:
    """Search implementations of ``target`` against ``visible``, yielding the search's events.

    The last event is ``SearchFinished``. Raises ``TestDiscoveryError`` when a test file does not
    import against the original module, and ``ModelError`` (of the kind the model raised) when the
    model failed before producing any candidate. Cancelling the consumer cancels the search.
    """
    if engine is None:
        async with Engine.open(settings) as own:
            async for event in run_search(
                target,
                visible,
                settings,
                engine=own,
                client=client,
                config=config,
                observe=observe,
            ):
                yield event
        return
    await check_test_imports(target, visible, engine.sandbox)
    search = Search(
        target=target,
        tests=list(visible.tests),
        llm=client or engine.client(),
        sandbox=engine.sandbox,
        config=config or search_config(settings),
        test_sources=list(visible.sources),
    )
    if observe is not None:
        observe(search)
    async for event in search.events():
        judge(event)  # the one comparison rule: which candidate (if any) beats the current code
        yield event
        if isinstance(event, SearchFinished):
            result = event.result
            if result.stopped == "model_error" and not result.candidates:
                raise search.failure or ModelError(result.error or "the model failed")
