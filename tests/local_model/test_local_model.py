"""The embedded model generates real text: structure, seeds, ``n``, cancellation, the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from orps.model.backends import make_chat_model
from orps.model.chat import ChatMessage, ModelError, SamplingParams
from orps.model.local import LocalModel, LocalModelPool, default_copies
from orps.settings import Settings

pytestmark = pytest.mark.local_model

TASK: list[ChatMessage] = [
    {"role": "system", "content": "You are a Python programmer. Answer with code only."},
    {"role": "user", "content": "Write a Python function add(a, b) that returns a + b."},
]
STORY: list[ChatMessage] = [
    {"role": "user", "content": "Tell me a very short story about a cat."},
]
ENDLESS: list[ChatMessage] = [
    {"role": "user", "content": "Count from 1 to 5000, one number per line, with no other text."},
]


async def test_generates_text_with_token_counts(local_model: LocalModel) -> None:
    [completion] = await local_model.complete(TASK, SamplingParams(max_tokens=64, seed=0))

    assert completion.text.strip()
    assert completion.prompt_tokens > 20
    assert 0 < completion.completion_tokens <= 64


async def test_identity_names_the_file_without_loading_it(local_model: LocalModel) -> None:
    assert local_model.identity.startswith("local:SmolLM2-135M-Instruct.Q4_1.gguf:")
    assert local_model.max_concurrency == 1
    assert LocalModel(local_model.path).identity == local_model.identity


async def test_same_seed_same_text(local_model: LocalModel) -> None:
    params = SamplingParams(temperature=1.0, max_tokens=48, seed=7)

    [first] = await local_model.complete(STORY, params)
    await local_model.complete(TASK, params)  # history must not matter
    [second] = await local_model.complete(STORY, params)
    [third] = await local_model.complete(STORY, params)

    assert first == second == third


async def test_different_seeds_may_differ(local_model: LocalModel) -> None:
    texts = set()
    for seed in (1, 2, 3):
        [completion] = await local_model.complete(
            STORY, SamplingParams(temperature=1.0, max_tokens=24, seed=seed)
        )
        texts.add(completion.text)

    assert len(texts) >= 2


async def test_n_completions_use_consecutive_seeds(local_model: LocalModel) -> None:
    params = SamplingParams(temperature=1.0, max_tokens=24, seed=11, n=2)

    pair = await local_model.complete(STORY, params)
    [at_11] = await local_model.complete(
        STORY, SamplingParams(temperature=1.0, max_tokens=24, seed=11)
    )
    [at_12] = await local_model.complete(
        STORY, SamplingParams(temperature=1.0, max_tokens=24, seed=12)
    )

    assert [c.text for c in pair] == [at_11.text, at_12.text]


async def test_a_pool_serves_calls_in_parallel_with_the_same_text(
    local_model: LocalModel,
) -> None:
    # Both calls are in flight at once, so each copy serves one.
    pool = LocalModelPool([LocalModel(local_model.path, threads=1) for _ in range(2)])
    try:
        params = SamplingParams(temperature=1.0, max_tokens=24, seed=21)
        first, second = await asyncio.gather(*(pool.complete(STORY, params) for _ in range(2)))

        assert first == second  # same seed and messages, same text, whichever copy served it
        assert pool.identity == local_model.identity and pool.max_concurrency == 2
        assert [copy.generation_count for copy in pool.copies] == [1, 1]  # one call each
    finally:
        await pool.aclose()


def test_concurrency_sets_how_many_copies_run(gguf_path: Path) -> None:
    one = make_chat_model(Settings(model_path=str(gguf_path), concurrency=1))
    two = make_chat_model(Settings(model_path=str(gguf_path), concurrency=2))
    default = make_chat_model(Settings(model_path=str(gguf_path)))

    assert isinstance(one, LocalModel)
    assert isinstance(two, LocalModelPool) and two.max_concurrency == 2
    assert all(copy.threads >= 1 for copy in two.copies)
    assert default.max_concurrency == default_copies()  # one per CPU, at most 4
    assert one.identity == two.identity == default.identity  # the cache is shared


async def test_generation_runs_off_the_event_loop(local_model: LocalModel) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    await local_model.complete(ENDLESS, SamplingParams(temperature=0.0, max_tokens=48, seed=0))
    elapsed = time.monotonic() - started
    ticker.cancel()

    # A loop blocked by the generation would tick once at most, however long it took.
    assert elapsed > 0.05
    assert ticks >= 3


async def test_cancelling_frees_the_model_within_a_second(local_model: LocalModel) -> None:
    before = local_model.generation_count
    long_run = asyncio.create_task(
        local_model.complete(ENDLESS, SamplingParams(temperature=0.0, max_tokens=2000, seed=0))
    )
    await asyncio.sleep(0.5)
    assert local_model.generation_count == before + 1  # it is generating now

    long_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_run
    started = time.monotonic()
    [short] = await local_model.complete(TASK, SamplingParams(max_tokens=1, seed=0))

    # 2000 tokens take 20 s or more; the cancelled run stops at its next token. (About 0.1 s
    # on an idle machine; the margin is for a machine busy with other work.)
    assert time.monotonic() - started < 3.0
    assert short.completion_tokens <= 1


async def test_cancelling_during_a_long_prompt_frees_the_model(local_model: LocalModel) -> None:
    code = "\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(150))
    long_prompt: list[ChatMessage] = [{"role": "user", "content": f"Review:\n{code}"}]
    long_run = asyncio.create_task(
        local_model.complete(long_prompt, SamplingParams(max_tokens=8, seed=0))
    )
    await asyncio.sleep(0.5)

    long_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_run
    started = time.monotonic()
    await local_model.complete(TASK, SamplingParams(max_tokens=1, seed=0))

    # Evaluating the 2,500-token prompt takes 20 CPU-seconds; it stops at the next slice.
    assert time.monotonic() - started < 3.0


async def test_a_conversation_longer_than_the_context_is_one_clear_error(
    local_model: LocalModel,
) -> None:
    too_long: list[ChatMessage] = [{"role": "user", "content": "word " * 12_000}]

    with pytest.raises(ModelError) as caught:
        await local_model.complete(too_long, SamplingParams(max_tokens=16, seed=0))

    message = str(caught.value)
    assert "does not fit" in message and "8192" in message
    assert "\n" not in message
