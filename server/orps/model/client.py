"""The budgeted client the search talks to, over any ``ChatModel``.

It adds what the search needs on top of a backend: a hard cap on calls, bounded concurrency,
call and token accounting, and the optional on-disk response cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from orps.model.cache import ResponseCache
from orps.model.chat import BudgetExhausted, ChatMessage, ChatModel, Completion, SamplingParams


@dataclass
class Usage:
    """Calls and tokens spent so far. A request for n completions counts as n calls."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_reused: int = 0
    """Of ``prompt_tokens``, those the embedded model served from its KV cache (not evaluated)."""


@dataclass
class LLMClient:
    """The search's view of a model: budgeted, concurrency-limited, counted, optionally cached."""

    model: ChatModel
    max_calls: int
    cache: ResponseCache | None = None
    concurrency: int | None = None
    usage: Usage = field(default_factory=Usage)
    _reserved: int = 0
    _semaphore: asyncio.Semaphore | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.max_calls - self._reserved)

    def reserve(self, calls: int) -> int:
        """Claim up to ``calls`` from the budget now; returns how many were granted."""
        granted = min(calls, self.remaining)
        self._reserved += granted
        return granted

    def release(self, calls: int) -> None:
        """Give back calls that were reserved but not made."""
        self._reserved -= min(calls, self._reserved)

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams, *, reserved: bool = False
    ) -> list[Completion]:
        """One request for ``params.n`` completions, charged to the budget.

        With ``reserved=True`` the caller has already claimed the calls with ``reserve``.
        Raises ``BudgetExhausted`` when the budget cannot cover the request.
        """
        if not reserved and self.reserve(params.n) < params.n:
            raise BudgetExhausted()
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency or self.model.max_concurrency)
        key = None
        if self.cache is not None:
            key = self.cache.key(self.model.identity, messages, params)
            hit = self.cache.get(key)
            if hit is not None:
                self._count(hit, cached=True)
                return hit
        try:
            async with self._semaphore:
                completions = await self.model.complete(messages, params)
        except BaseException:
            self.release(params.n)
            raise
        if self.cache is not None and key is not None:
            self.cache.put(key, completions)
        self._count(completions, cached=False)
        return completions

    def _count(self, completions: list[Completion], *, cached: bool) -> None:
        self.usage.calls += len(completions) if completions else 1
        if cached:
            self.usage.cached_calls += len(completions)
        self.usage.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.usage.completion_tokens += sum(c.completion_tokens for c in completions)
        if not cached:  # a replayed reply evaluated nothing, so it reused nothing either
            self.usage.prompt_tokens_reused += sum(c.prompt_tokens_reused for c in completions)
