"""KV-cache prefix reuse gives the text a cold model gives: across a search, for ``n > 1``, in a
pool, when a prompt continues from a saved prefix other than the copy's last prompt, and with
stop rules, which end a reply where they fire on the text the rule-less request would give.

The real bundled model runs every request; a model with ``reuse_prefix=False`` (every prompt
evaluated from its first token) is the reference the reused runs must match byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orps.cli.options import OneLineParser, add_model_options, settings_from_args
from orps.model.backends import make_chat_model
from orps.model.chat import ChatMessage, ChatModel, Completion, SamplingParams
from orps.model.local import LocalModel, LocalModelPool, PrefixStore, SavedPrefix
from orps.model.stopping import StopRule, stop_point
from orps.project.discovery import discover_tests
from orps.project.target import load_target
from orps.search.extraction import PROGRAMMER_STOP
from orps.search.prompts import CRITIC_STOP
from orps.search.records import SearchFinished, SearchResult
from orps.session import Engine, make_sandbox, run_search
from orps.settings import Settings

pytestmark = pytest.mark.local_model

SYSTEM: ChatMessage = {
    "role": "system",
    "content": "You are an expert Python programmer. Think step by step, then answer with one "
    "fenced Python block that defines the requested function. Prefer clear, efficient code. "
    "Use only the standard library. Keep the reasoning short. Name edge cases (empty input, "
    "one element, very large input) before writing the code, and never print anything.",
}
TASK: ChatMessage = {
    "role": "user",
    "content": "Write a function is_palindrome(text: str) -> bool that ignores case, spaces and "
    "punctuation. Examples: is_palindrome('A man, a plan, a canal: Panama') is True; "
    "is_palindrome('hello') is False; is_palindrome('') is True.",
}
MODULE = '''
def count_vowels(text: str) -> int:
    """Return how many of the characters of text are vowels (a, e, i, o, u, either case).

    >>> count_vowels("Hello World")
    3
    >>> count_vowels("")
    0
    """
    ...
'''


@dataclass
class RecordingModel:
    """Passes every call to the real model and keeps each request with its replies."""

    inner: ChatModel
    calls: list[tuple[list[ChatMessage], SamplingParams, list[Completion]]] = field(
        default_factory=list
    )

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def max_concurrency(self) -> int:
        return self.inner.max_concurrency

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        completions = await self.inner.complete(messages, params)
        self.calls.append((list(messages), params, completions))
        return completions

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_search_with_reuse_gives_the_text_of_cold_evaluation(
    tmp_path: Path, gguf_path: Path
) -> None:
    source = tmp_path / "vowels.py"
    source.write_text(MODULE)
    settings = Settings(
        model_path=str(gguf_path),
        concurrency=2,
        cache=False,
        seed=3,
        max_calls=6,
        children=2,
        beam_width=1,
        rounds=1,
        max_tokens=64,
    )
    target = load_target(source, "count_vowels")
    model = RecordingModel(make_chat_model(settings))
    assert isinstance(model.inner, LocalModelPool)
    assert all(copy.reuse_prefix for copy in model.inner.copies)  # on by default
    engine = Engine(settings=settings, model=model, sandbox=make_sandbox(settings))
    result: SearchResult | None = None
    try:
        async with engine.sandbox:
            async for event in run_search(target, discover_tests(target), settings, engine=engine):
                if isinstance(event, SearchFinished):
                    result = event.result
    finally:
        await model.aclose()

    assert result is not None and result.llm_calls == len(model.calls) >= 4
    # Every call carried its role's stop rule, which the cold replay below applies again.
    assert {p.stop for _, p, _ in model.calls} >= {PROGRAMMER_STOP, CRITIC_STOP}
    assert result.prompt_tokens_reused > 0  # later requests reused earlier prompts' slices
    assert result.prompt_tokens_reused == sum(
        c.prompt_tokens_reused for _, _, completions in model.calls for c in completions
    )
    assert json.loads(result.model_dump_json())["prompt_tokens_reused"] > 0  # what --json shows
    threads = model.inner.copies[0].threads
    cold = LocalModel(gguf_path, threads=threads, reuse_prefix=False)
    try:
        for messages, params, completions in model.calls:
            again = await cold.complete(messages, params)
            assert [c.text for c in again] == [c.text for c in completions]
            assert [c.prompt_tokens for c in again] == [c.prompt_tokens for c in completions]
            assert all(c.prompt_tokens_reused == 0 for c in again)
    finally:
        cold.close()


async def test_shared_prefixes_and_n_completions_match_a_cold_model(gguf_path: Path) -> None:
    follow_up: list[ChatMessage] = [
        SYSTEM,
        TASK,
        {
            "role": "assistant",
            "content": "```python\ndef is_palindrome(text):\n    return text == text[::-1]\n```",
        },
        {"role": "user", "content": "It fails on 'A man, a plan, a canal: Panama'. Fix it."},
    ]
    # Shares only the system prompt (more than one 64-token slice) with the others.
    other: list[ChatMessage] = [SYSTEM, {"role": "user", "content": "Rate this code: x = 1"}]
    requests = [
        ([SYSTEM, TASK], SamplingParams(temperature=0.8, max_tokens=40, seed=5, n=2)),
        (follow_up, SamplingParams(temperature=0.8, max_tokens=40, seed=6)),
        (other, SamplingParams(temperature=0.0, max_tokens=24, seed=7)),
        ([SYSTEM, TASK], SamplingParams(temperature=0.8, max_tokens=40, seed=5, n=2)),
    ]
    reused = LocalModel(gguf_path, threads=1)
    cold = LocalModel(gguf_path, threads=1, reuse_prefix=False)
    try:
        warm_replies = [await reused.complete(m, p) for m, p in requests]
        cold_replies = [await cold.complete(m, p) for m, p in requests]
    finally:
        reused.close()
        cold.close()

    assert [[c.text for c in r] for r in warm_replies] == [
        [c.text for c in r] for r in cold_replies
    ]
    counts = [[c.prompt_tokens_reused for c in r] for r in warm_replies]
    assert counts[0][0] == 0  # nothing in the cache yet
    assert all(count > 0 and count % 64 == 0 for row in counts[1:] for count in row)
    assert counts[0][1] > 0  # the second of n reuses the first one's prompt
    assert all(c.prompt_tokens_reused == 0 for r in cold_replies for c in r)
    assert reused.prompt_tokens_reused == sum(map(sum, counts))


async def test_the_pool_routes_a_request_to_the_copy_holding_its_prefix(gguf_path: Path) -> None:
    pool = LocalModelPool([LocalModel(gguf_path, threads=1) for _ in range(2)])
    first: list[ChatMessage] = [SYSTEM, TASK]
    second: list[ChatMessage] = [
        {"role": "system", "content": "You review Python code. " + TASK["content"] * 2},
        {"role": "user", "content": "Review: def f(): pass"},
    ]
    params = SamplingParams(temperature=0.5, max_tokens=16, seed=1)
    try:
        await asyncio.gather(pool.complete(first, params), pool.complete(second, params))
        # Both copies are idle again; each follow-up must find the copy that read its prefix.
        again = await asyncio.gather(
            pool.complete([*second, {"role": "user", "content": "Shorter."}], params),
            pool.complete([*first, {"role": "user", "content": "Shorter."}], params),
        )
    finally:
        await pool.aclose()

    assert all(c.prompt_tokens_reused >= 64 for completions in again for c in completions)


CRITIC: ChatMessage = {
    "role": "system",
    "content": "Role: critic. You review one step of a search for the best implementation of a "
    "Python function. Read the programmer's reasoning, the code and the execution results, say "
    "what is wrong and what would make it faster, then end with SCORE: 1-5 and DONE: yes or no. "
    "Be specific: name the failing tests and the lines that cause them.",
}


def _alternating_requests() -> list[tuple[list[ChatMessage], SamplingParams]]:
    """A, B, A', B', A'': programmer and critic conversations interleaved, each extending its
    own earlier one, so the copy's previous prompt never is the one to continue from."""
    reply: ChatMessage = {
        "role": "assistant",
        "content": "## Code\n```python\ndef is_palindrome(text):\n    return text == text[::-1]\n```",
    }
    feedback: ChatMessage = {
        "role": "user",
        "content": "## Execution results\n2 of 3 tests passed. Failed: "
        "is_palindrome('A man, a plan, a canal: Panama') returned False, expected True.",
    }
    review: ChatMessage = {"role": "user", "content": TASK["content"] + "\n\n" + reply["content"]}
    score: ChatMessage = {"role": "assistant", "content": "SCORE: 2"}
    why: ChatMessage = {"role": "user", "content": "Why?"}
    again: ChatMessage = {"role": "user", "content": "Still failing. Strip punctuation first."}
    a = [SYSTEM, TASK]
    b = [CRITIC, review]
    a2 = [*a, reply, feedback]
    b2 = [*b, score, why]
    a3 = [*a2, reply, again]
    sampled = SamplingParams(temperature=0.8, max_tokens=32, seed=11)
    greedy = SamplingParams(temperature=0.0, max_tokens=32, seed=12)
    return [(a, sampled), (b, greedy), (a2, sampled), (b2, sampled), (a3, greedy), (b, greedy)]


async def test_alternating_prompts_continue_from_saved_prefixes(gguf_path: Path) -> None:
    requests = _alternating_requests()
    reused = LocalModel(gguf_path, threads=1)
    cold = LocalModel(gguf_path, threads=1, reuse_prefix=False)
    try:
        warm_replies = [(await reused.complete(m, p))[0] for m, p in requests]
        cold_replies = [(await cold.complete(m, p))[0] for m, p in requests]
        cold_tokens = [c.prompt_tokens for c in cold_replies]
    finally:
        reused.close()
        cold.close()

    assert [c.text for c in warm_replies] == [c.text for c in cold_replies]
    counts = [c.prompt_tokens_reused for c in warm_replies]
    assert counts[:2] == [0, 0]  # A and B share less than one slice
    # A' follows B, yet continues from A's saved full slices (and A'' from A''s, B' from B's):
    # everything but the partial last slice and the last token.
    for i in (2, 3, 4):
        previous = cold_tokens[i - 2] - 1
        assert counts[i] >= previous - previous % 64 > 0
    assert counts[5] == (cold_tokens[5] - 1) // 64 * 64  # B again: from B''s saved state
    assert reused.prefix_store.restored == 4
    assert all(c.prompt_tokens_reused == 0 for c in cold_replies)


async def test_copies_sharing_a_store_and_a_store_too_small_for_two(gguf_path: Path) -> None:
    requests = _alternating_requests()
    shared = PrefixStore()
    first = LocalModel(gguf_path, threads=1, prefix_store=shared)
    second = LocalModel(gguf_path, threads=1, prefix_store=shared)
    cold = LocalModel(gguf_path, threads=1, reuse_prefix=False)
    try:
        # Two requests per copy in turn (A, B on the first; A', B' on the second; ...): each
        # conversation continues on the other copy, from the state its last prompt saved there.
        pair = [
            (await (first if i // 2 % 2 == 0 else second).complete(m, p))[0]
            for i, (m, p) in enumerate(requests)
        ]
        # Room for the largest saved prefix alone: saving it evicts the other conversation's.
        tiny = LocalModel(
            gguf_path, threads=1, prefix_store=PrefixStore(max_bytes=shared.largest_bytes)
        )
        try:
            small = [(await tiny.complete(m, p))[0] for m, p in requests]
        finally:
            tiny.close()
        expected = [(await cold.complete(m, p))[0].text for m, p in requests]
    finally:
        for model in (first, second, cold):
            model.close()

    assert [c.text for c in pair] == expected
    assert [c.prompt_tokens_reused > 0 for c in pair] == [False, False, True, True, True, True]
    assert shared.restored == 4 and shared.evicted == 0
    assert [c.text for c in small] == expected
    assert tiny.prefix_store.evicted >= 1
    assert tiny.prefix_store.peak_bytes <= shared.largest_bytes


async def test_a_copy_waits_for_the_copy_evaluating_the_prefix_it_shares(gguf_path: Path) -> None:
    # About 450 shared tokens: seconds of evaluation, so the second call starts mid-way.
    long_task = TASK["content"] + " Handle unicode letters and digits as letters." * 40
    first: list[ChatMessage] = [SYSTEM, {"role": "user", "content": long_task + " Be concise."}]
    second: list[ChatMessage] = [SYSTEM, {"role": "user", "content": long_task + " Be clear."}]
    params = SamplingParams(temperature=0.8, max_tokens=16, seed=2)
    store = PrefixStore()
    pool = LocalModelPool([LocalModel(gguf_path, threads=1, prefix_store=store) for _ in (1, 2)])
    cold = LocalModel(gguf_path, threads=1, reuse_prefix=False)
    try:
        replies = await asyncio.gather(pool.complete(first, params), pool.complete(second, params))
        expected = [await cold.complete(m, params) for m in (first, second)]
        tokens = [cold.prompt_tokens(m)[:-1] for m in (first, second)]
    finally:
        await pool.aclose()
        cold.close()

    shared = next(i for i, (a, b) in enumerate(zip(*tokens, strict=False)) if a != b)
    assert [r[0].text for r in replies] == [r[0].text for r in expected]
    assert store.waits == 1 and store.restored == 1
    # One evaluated the shared slices, the other waited and continued from its saved state.
    assert sorted(r[0].prompt_tokens_reused for r in replies) == [0, shared - shared % 64]
    assert shared >= 384


async def test_stop_rules_cut_the_reply_the_same_with_reuse_on_and_off(gguf_path: Path) -> None:
    review: ChatMessage = {
        "role": "user",
        "content": TASK["content"] + "\n\nRate this code, then end with SCORE: 1-5 and "
        "DONE: yes or no.\n```python\ndef is_palindrome(text):\n    return text == text[::-1]\n```",
    }
    first_def = StopRule(lines=(r"def ",))
    requests: list[tuple[list[ChatMessage], StopRule]] = [
        ([SYSTEM, TASK], PROGRAMMER_STOP),
        ([CRITIC, review], CRITIC_STOP),
        ([SYSTEM, TASK], first_def),
        ([SYSTEM, {"role": "user", "content": TASK["content"] + " Be brief."}], PROGRAMMER_STOP),
    ]
    reused = LocalModel(gguf_path, threads=1)
    cold = LocalModel(gguf_path, threads=1, reuse_prefix=False)
    try:
        replies = {}
        for label, model in (("reused", reused), ("cold", cold)):
            replies[label] = [
                (await model.complete(m, SamplingParams(0.8, 160, seed=21, stop=rule)))[0]
                for m, rule in requests
            ]
        # The same requests without a rule, generated to the end.
        whole = [
            (await cold.complete(m, SamplingParams(0.8, 160, seed=21)))[0] for m, _ in requests
        ]
    finally:
        reused.close()
        cold.close()

    assert [c.text for c in replies["reused"]] == [c.text for c in replies["cold"]]
    assert sum(c.prompt_tokens_reused for c in replies["reused"]) > 0
    expected = []
    for (_, rule), full in zip(requests, whole, strict=True):
        cut = stop_point(rule, full.text)
        expected.append(full.text if cut is None else full.text[:cut])
    assert [c.text for c in replies["cold"]] == expected
    stopped = [i for i, full in enumerate(whole) if expected[i] != full.text]
    assert 2 in stopped and len(stopped) >= 2  # the rules fired; their tokens were not computed
    for i in stopped:
        assert replies["cold"][i].completion_tokens < whole[i].completion_tokens


def test_the_store_keeps_the_longest_of_nested_prefixes_and_evicts_the_least_recent() -> None:
    def saved(tokens: range) -> SavedPrefix:
        return SavedPrefix(tuple(tokens), bytes(len(tokens)), len(tokens))

    store = PrefixStore(max_bytes=400)
    store.add(saved(range(128)))
    store.add(saved(range(192)))  # extends the first, which it replaces
    assert len(store) == 1 and store.bytes_used == 192
    store.add(saved(range(1000, 1128)))
    assert store.best([*range(150), 7]) == (128, store.best(range(192))[1])
    assert store.best(range(1000, 1063)) == (0, None)  # less than one full slice
    store.add(saved(range(2000, 2128)))  # over 400 bytes: the least recently used goes
    assert store.bytes_used == 320 and store.best(range(1000, 1128))[0] == 0
    assert store.best(range(192))[0] == 192 and store.peak_bytes == 320


def test_no_prefix_reuse_flag_and_setting(gguf_path: Path) -> None:
    parser = OneLineParser(prog="orps refine")
    add_model_options(parser)
    on = settings_from_args(parser.parse_args(["--model-path", str(gguf_path)]))
    off = settings_from_args(
        parser.parse_args(["--model-path", str(gguf_path), "--no-prefix-reuse"])
    )

    assert on.prefix_reuse and not off.prefix_reuse
    pool = make_chat_model(off.model_copy(update={"concurrency": 2}))
    single = make_chat_model(off.model_copy(update={"concurrency": 1}))
    assert isinstance(pool, LocalModelPool) and isinstance(single, LocalModel)
    assert not any(copy.reuse_prefix for copy in pool.copies) and not single.reuse_prefix
    assert Settings.model_validate({"prefixReuse": False}).prefix_reuse is False
