"""The LLM layer over real HTTP against the scripted OpenAI-compatible server."""

from __future__ import annotations

import socket

import openai
import pytest

from orps.model.chat import (
    BudgetExhausted,
    ModelAuthError,
    ModelError,
    ModelUnavailable,
    SamplingParams,
)
from orps.model.client import LLMClient
from orps.model.openai_compat import OpenAICompatibleModel
from tests.support.scripted_server import ScriptedServer

MESSAGES = [
    {"role": "system", "content": "You are the programmer."},
    {"role": "user", "content": "Write f."},
]


def _model(server: ScriptedServer, **kwargs: object) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(server.url, "scripted", "key", backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


async def test_non_streaming_reply_and_usage(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["hello world"]})
    model = _model(scripted)
    [completion] = await model.complete(MESSAGES, SamplingParams(seed=7))  # type: ignore[arg-type]
    assert completion.text == "hello world"
    assert completion.completion_tokens == 2
    assert scripted.requests[0]["seed"] == 7
    await model.aclose()


async def test_streaming_reply_is_assembled(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["one two three four"]})
    model = _model(scripted, stream=True)
    [completion] = await model.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    assert completion.text == "one two three four"
    assert scripted.requests[0]["stream"] is True
    await model.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_n_completions_in_one_request(scripted: ScriptedServer, stream: bool) -> None:
    scripted.load({"programmer": ["a", "b", "c"]})
    model = _model(scripted, stream=stream)
    completions = await model.complete(MESSAGES, SamplingParams(n=3))  # type: ignore[arg-type]
    assert [c.text for c in completions] == ["a", "b", "c"]
    assert len(scripted.requests) == 1
    await model.aclose()


async def test_429_and_5xx_are_retried(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["ok"], "fail_first": [429, 500, 503]})
    model = _model(scripted)
    [completion] = await model.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    assert completion.text == "ok"
    assert len(scripted.requests) == 4
    await model.aclose()


async def test_persistent_5xx_is_a_clear_error(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["never"], "fail_first": [500] * 10})
    model = _model(scripted, retries=2)
    with pytest.raises(ModelError, match="HTTP 500"):
        await model.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    await model.aclose()


async def test_rejected_key(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["x"], "api_key": "right"})
    model = OpenAICompatibleModel(scripted.url, "scripted", "wrong")
    with pytest.raises(ModelAuthError, match="rejected the API key"):
        await model.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    await model.aclose()


async def test_unreachable_endpoint() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAICompatibleModel(
        f"http://127.0.0.1:{port}/v1", "m", None, retries=1, backoff_s=0.01
    )
    with pytest.raises(ModelUnavailable, match="unreachable"):
        await model.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    await model.aclose()


async def test_budget_is_a_hard_cap_and_calls_are_counted(scripted: ScriptedServer) -> None:
    scripted.load({"programmer": ["r"]})
    client = LLMClient(model=_model(scripted), max_calls=3)
    await client.complete(MESSAGES, SamplingParams(n=2))  # type: ignore[arg-type]
    await client.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted):
        await client.complete(MESSAGES, SamplingParams())  # type: ignore[arg-type]
    assert client.usage.calls == 3
    assert len(scripted.requests) == 2
    assert client.usage.completion_tokens > 0


async def test_raw_openai_client_streams_from_the_test_server(scripted: ScriptedServer) -> None:
    """The test double itself speaks the wire format the real client expects."""
    scripted.load({"programmer": ["x y"]})
    client = openai.AsyncOpenAI(base_url=scripted.url, api_key="k")
    stream = await client.chat.completions.create(
        model="scripted",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "x y"
    await client.close()
