"""The response cache: keys, persistence, corruption, threads, and replay through ``LLMClient``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from orps.model.cache import CACHE_FILE_NAME, ResponseCache, default_cache_dir, open_cache
from orps.model.chat import ChatMessage, Completion, SamplingParams
from orps.model.client import LLMClient
from orps.model.local import LocalModel
from orps.settings import Settings

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You are a Python programmer."},
    {"role": "user", "content": "Write add(a, b)."},
]
REPLIES = [Completion("def add(a, b):\n    return a + b\n", 12, 9), Completion("ü ✓", 12, 3)]


def test_key_is_stable_and_covers_every_input() -> None:
    params = SamplingParams(temperature=0.5, max_tokens=100, seed=1, n=2)
    key = ResponseCache.key("model-a", MESSAGES, params)

    assert key == ResponseCache.key("model-a", [dict(m) for m in MESSAGES], params)  # type: ignore[misc]
    assert len(key) == 64
    variants = [
        ResponseCache.key("model-b", MESSAGES, params),
        ResponseCache.key("model-a", MESSAGES, SamplingParams(0.6, 100, 1, 2)),
        ResponseCache.key("model-a", MESSAGES, SamplingParams(0.5, 101, 1, 2)),
        ResponseCache.key("model-a", MESSAGES, SamplingParams(0.5, 100, 2, 2)),
        ResponseCache.key("model-a", MESSAGES, SamplingParams(0.5, 100, None, 2)),
        ResponseCache.key("model-a", MESSAGES, SamplingParams(0.5, 100, 1, 1)),
        ResponseCache.key("model-a", MESSAGES[1:], params),
        ResponseCache.key(
            "model-a", [MESSAGES[0], {"role": "assistant", "content": "Write add(a, b)."}], params
        ),
        ResponseCache.key(
            "model-a", [MESSAGES[0], {"role": "user", "content": "Write add(a, b). "}], params
        ),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_put_get_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "responses.sqlite3"
    with ResponseCache(path) as cache:
        assert cache.get("missing") is None
        cache.put("k", REPLIES)
        assert cache.get("k") == REPLIES
        assert len(cache) == 1

    with ResponseCache(path) as reopened:
        assert reopened.get("k") == REPLIES


def test_a_corrupt_file_is_recreated_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "responses.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    with caplog.at_level(logging.WARNING, logger="orps.model.cache"), ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", REPLIES)
        assert cache.get("k") == REPLIES

    assert "unreadable" in caplog.text
    assert (tmp_path / "responses.sqlite3.corrupt").exists()


def test_a_truncated_file_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    with ResponseCache(path) as cache:
        for i in range(200):
            cache.put(f"k{i}", [Completion("x" * 500, i, i)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with ResponseCache(path) as cache:
        for i in range(200):
            assert cache.get(f"k{i}") in (None, [Completion("x" * 500, i, i)])
        cache.put("new", REPLIES)
        assert cache.get("new") == REPLIES


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite3") as cache:
        cache.put("k", REPLIES)
        assert cache._conn is not None
        cache._conn.execute("UPDATE replies SET completions = 'not json'")

        assert cache.get("k") is None


def test_threads_share_one_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite3")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(50):
                key = f"{worker}-{i}"
                cache.put(key, [Completion(key, i, i)])
                assert cache.get(key) == [Completion(key, i, i)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) == 400
    cache.close()


def test_open_cache_follows_the_settings(tmp_path: Path) -> None:
    assert open_cache(Settings(cache=False)) is None
    cache = open_cache(Settings(cache=True, cache_dir=str(tmp_path / "here")))
    assert cache is not None
    assert cache.path == tmp_path / "here" / CACHE_FILE_NAME
    cache.close()
    assert default_cache_dir().name == "orps"


@pytest.mark.local_model
async def test_an_identical_second_run_makes_no_model_calls(
    local_model: LocalModel, tmp_path: Path
) -> None:
    async def run() -> tuple[list[Completion], LLMClient]:
        cache = ResponseCache(tmp_path / "responses.sqlite3")
        client = LLMClient(model=local_model, max_calls=10, cache=cache)
        first = await client.complete(MESSAGES, SamplingParams(max_tokens=32, seed=3, n=2))
        follow_up: list[ChatMessage] = [
            *MESSAGES,
            {"role": "assistant", "content": first[0].text},
            {"role": "user", "content": "Make it shorter."},
        ]
        second = await client.complete(follow_up, SamplingParams(max_tokens=32, seed=3))
        cache.close()
        return first + second, client

    before = local_model.generation_count
    fresh, first_client = await run()
    generated = local_model.generation_count - before
    replayed, second_client = await run()

    assert generated == 3
    assert local_model.generation_count - before == 3  # the second run never reached the model
    assert replayed == fresh
    assert first_client.usage.cached_calls == 0
    assert second_client.usage.calls == 3
    assert second_client.usage.cached_calls == second_client.usage.calls
