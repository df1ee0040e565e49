"""The OpenAI-compatible chat backend: any chat-completions endpoint over HTTP.

Streaming or not, ``n`` > 1, retries on 429/5xx and timeouts; failures become the model
layer's errors with one readable line. A request with a stop rule (``SamplingParams.stop``) is
always streamed: the rule is checked on each choice's text after every chunk, the text is cut
where it fires (the same place the embedded model cuts it), and once every choice has ended the
stream is closed, so the endpoint stops generating. The endpoint reports usage only at the end
of a stream, so a request cut short counts the chunks it read as its completion tokens (one a
token on llama.cpp, vLLM and OpenAI) and reports no prompt tokens.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import openai

from orps.model.chat import (
    ChatMessage,
    Completion,
    ModelAuthError,
    ModelError,
    ModelUnavailable,
    SamplingParams,
)
from orps.model.stopping import stop_point


class OpenAICompatibleModel:
    """Any OpenAI-compatible ``/chat/completions`` endpoint, through ``openai.AsyncOpenAI``.

    Timeouts, 429 and 5xx are retried with exponential backoff and jitter; an unreachable
    endpoint or a rejected key raises a ``ModelError`` with a one-line message.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        timeout_s: float = 120.0,
        retries: int = 4,
        concurrency: int = 4,
        backoff_s: float = 0.5,
        stream: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.api_key = api_key
        self._retries = retries
        self._backoff_s = backoff_s
        self._concurrency = concurrency
        self._stream = stream
        # The openai client's own retries are off: ours classify and report errors.
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=0,
        )

    @property
    def identity(self) -> str:
        return f"{self.model_name} @ {self.base_url}"

    @property
    def max_concurrency(self) -> int:
        return self._concurrency

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        attempt = 0
        while True:
            try:
                return await self._complete_once(messages, params)
            except openai.AuthenticationError as exc:
                raise ModelAuthError(
                    f"the endpoint {self.base_url} rejected the API key ({exc.status_code})"
                ) from None
            except openai.PermissionDeniedError as exc:
                raise ModelAuthError(
                    f"the endpoint {self.base_url} refused access ({exc.status_code})"
                ) from None
            except openai.NotFoundError:
                raise ModelUnavailable(
                    f"the endpoint {self.base_url} has no model {self.model_name!r} "
                    "(or no /chat/completions route)"
                ) from None
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                if attempt >= self._retries:
                    kind = (
                        "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
                    )
                    raise ModelUnavailable(f"the endpoint {self.base_url} {kind}") from None
            except openai.APIStatusError as exc:
                retryable = exc.status_code == 429 or exc.status_code >= 500
                if not retryable or attempt >= self._retries:
                    raise ModelError(
                        f"the endpoint {self.base_url} answered HTTP {exc.status_code}: "
                        f"{_first_line(exc.message)}"
                    ) from None
            attempt += 1
            await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))

    async def _complete_once(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        kwargs: dict[str, object] = {}
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.n != 1:
            kwargs["n"] = params.n
        messages_payload = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self._stream or params.stop is not None:
            return await self._complete_streaming(messages_payload, params, kwargs)
        create: Any = self._client.chat.completions.create
        response = await create(
            model=self.model_name,
            messages=messages_payload,
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            **kwargs,
        )
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        texts = [choice.message.content or "" for choice in response.choices] or [""]
        return _spread_usage(texts, prompt_tokens, completion_tokens)

    async def _complete_streaming(
        self,
        messages_payload: list[dict[str, str]],
        params: SamplingParams,
        kwargs: dict[str, object],
    ) -> list[Completion]:
        """Accumulate streamed deltas per choice, cut by the stop rule; a cancel lands between
        chunks."""
        create: Any = self._client.chat.completions.create
        stream = await create(
            model=self.model_name,
            messages=messages_payload,
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
            **kwargs,
        )
        rule = params.stop
        texts: dict[int, str] = {}
        chunks: dict[int, int] = {}  # content chunks read, per choice
        ended: set[int] = set()  # choices that finished or that the rule cut
        cut = early = False
        prompt_tokens = completion_tokens = 0
        try:
            async for chunk in stream:
                for choice in chunk.choices:
                    index = choice.index
                    texts.setdefault(index, "")
                    if index in ended:
                        continue
                    if choice.delta is not None and choice.delta.content:
                        texts[index] += choice.delta.content
                        chunks[index] = chunks.get(index, 0) + 1
                        point = stop_point(rule, texts[index]) if rule is not None else None
                        if point is not None:
                            texts[index] = texts[index][:point]
                            ended.add(index)
                            cut = True
                    if choice.finish_reason is not None:
                        ended.add(index)
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                if cut and len(ended) >= max(1, params.n):
                    early = True  # every choice has ended: nothing more is worth reading
                    break
        finally:
            await stream.close()
        order = sorted(texts) or [0]
        if not early:  # read to the end: the endpoint's usage, if it sent any
            return _spread_usage(
                [texts.get(i, "") for i in order], prompt_tokens, completion_tokens
            )
        share = max(1, len(order))
        return [
            Completion(texts.get(i, ""), prompt_tokens // share, chunks.get(i, 0)) for i in order
        ]

    async def aclose(self) -> None:
        await self._client.close()


def _spread_usage(texts: list[str], prompt_tokens: int, completion_tokens: int) -> list[Completion]:
    """Usage is reported for the whole request; spread it over the choices."""
    share = max(1, len(texts))
    return [Completion(text, prompt_tokens // share, completion_tokens // share) for text in texts]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:200]
