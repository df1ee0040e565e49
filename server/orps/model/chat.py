"""The chat protocol every model backend speaks, its value types and its errors.

``ChatModel`` is what a backend implements (an OpenAI-compatible endpoint, the embedded local
model); the search talks to one through ``orps.model.client.LLMClient``. This module imports
nothing else of orps but the stop rules (``orps.model.stopping``, which imports nothing), so
every other part of the model layer can build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict

from orps.model.stopping import StopRule


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """Everything besides the messages that decides a reply (and so keys the cache)."""

    temperature: float = 0.5
    max_tokens: int = 1500
    seed: int | None = None
    n: int = 1
    stop: StopRule | None = None
    """Where the reply ends once the rest cannot matter (``orps.model.stopping``): every
    backend cuts the reply at the same place and stops generating or reading there."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_reused: int = field(default=0, compare=False)
    """Prompt tokens served from the model's KV cache rather than evaluated (embedded model
    only; how the reply was computed, not what it is, so equality ignores it)."""


class ModelError(Exception):
    """A model call failed for good; the message is one readable line for the user."""


class ModelUnavailable(ModelError):
    """The endpoint cannot be reached or the local model cannot be loaded."""


class ModelAuthError(ModelError):
    """The endpoint rejected the API key."""


class BudgetExhausted(Exception):
    """The call budget is spent; the search stops asking."""


class ChatModel(Protocol):
    """A chat-completions backend."""

    @property
    def identity(self) -> str:
        """Stable text naming the endpoint and the model (shown to users, keys the cache)."""
        ...

    @property
    def max_concurrency(self) -> int:
        """How many calls the backend serves usefully at once."""
        ...

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        """Return ``params.n`` completions for the conversation."""
        ...

    async def aclose(self) -> None: ...
