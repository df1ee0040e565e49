"""Stop rules: where each role's reply ends, the same however the text arrives, without changing
what the search reads from it; the OpenAI-compatible backend cutting a real HTTP stream.

Replies come from ``tests/fixtures/smollm2_replies.json`` (the demo's twelve replies from the
bundled SmolLM2-135M, before any stop rule existed) and from hand-written cases.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from orps.model.cache import ResponseCache
from orps.model.chat import ChatMessage, SamplingParams
from orps.model.openai_compat import OpenAICompatibleModel
from orps.model.stopping import FENCE, StopRule, stop_point
from orps.project.target import FunctionTarget, load_target
from orps.search.extraction import PROGRAMMER_STOP, extract_function, split_reply
from orps.search.generated_tests import TEST_WRITER_STOP, parse_tests
from orps.search.prompts import CRITIC_STOP, parse_critique
from orps.search.scaling import INPUT_GENERATOR_STOP, parse_generator
from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = json.loads((FIXTURES / "smollm2_replies.json").read_text())
RULES = {
    "programmer": PROGRAMMER_STOP,
    "critic": CRITIC_STOP,
    "test_writer": TEST_WRITER_STOP,
    "input_generator": INPUT_GENERATOR_STOP,
}
BLOCK = "```python\ndef is_palindrome(text):\n    t = [c.lower() for c in text if c.isalnum()]\n    return t == t[::-1]\n```"
WRITTEN = [
    ("programmer", f"## Reasoning\nFilter, then compare.\n\n## Code\n{BLOCK}\n\nMore:\n{BLOCK}\n"),
    # The first block defines nothing: the second one is taken, and the reply ends after it.
    ("programmer", f"```python\n# the function\n```\n\n{BLOCK}\nThe end. " * 2),
    # Unterminated: nothing to stop at, the reply is kept whole.
    ("programmer", "```python\ndef is_palindrome(text):\n    return text == text[::-1]\n"),
    ("programmer", "I think. " * 10 + BLOCK),
    ("critic", critic(2, "no", "Fails on punctuation.") + "SCORE: 5\nDONE: yes\n"),
    ("critic", "Good.\nDONE: no\nStill thinking.\nSCORE: 4\nmore text"),
    ("critic", "Fails on 'hello'. Fails on 'hello'. Fails on 'hello'. SCORE: 2\nDONE: no\n"),
    (
        "test_writer",
        "```python\ndef is_palindrome(t):\n    return True\n```\n"
        "```python\nfrom m import is_palindrome\n\n\ndef test_a():\n    assert is_palindrome('a')\n"
        "```\n```python\ndef test_b():\n    assert is_palindrome('')\n```",
    ),
    (
        "input_generator",
        "```python\ndef perf_input(scale: int) -> tuple:\n    return ('a' * scale,)\n```\nAnd:\n"
        "```python\ndef perf_input(scale):\n    return ('b',)\n```",
    ),
]
CASES = [(c["role"], c["reply"]) for c in REAL] + WRITTEN


def _target(tmp_path: Path) -> FunctionTarget:
    source = tmp_path / "textutils.py"
    source.write_text('def is_palindrome(text: str) -> bool:\n    """Doc."""\n    ...\n')
    return load_target(source, "is_palindrome")


def _first_stop(rule: StopRule, text: str, step: int) -> int | None:
    """The cut as a stream sees it: the rule checked after every ``step`` characters."""
    for end in [*range(step, len(text), step), len(text)]:
        cut = stop_point(rule, text[:end])
        if cut is not None:
            return cut
    return None


@pytest.mark.parametrize(("role", "reply"), CASES)
def test_the_cut_is_the_same_however_the_text_arrives(role: str, reply: str) -> None:
    rule = RULES[role]
    whole = stop_point(rule, reply)
    assert all(_first_stop(rule, reply, step) == whole for step in (1, 2, 3, 7, 50))
    if whole is not None:  # and a stopped reply stays stopped where it was
        assert stop_point(rule, reply[:whole]) in (whole, None)


@pytest.mark.parametrize(("role", "reply"), [c for c in CASES if c[0] == "programmer"])
def test_a_stopped_programmer_reply_gives_the_same_reasoning_and_code(
    tmp_path: Path, role: str, reply: str
) -> None:
    cut = stop_point(PROGRAMMER_STOP, reply)
    by_block = stop_point(StopRule(block=PROGRAMMER_STOP.block), reply)
    if cut is None or cut != by_block:
        return  # nothing to compare (never stopped), or stopped in a loop of prose (below)
    target = _target(tmp_path)
    stopped, full = split_reply(reply[:cut]), split_reply(reply)
    assert stopped == full and full[1] is not None
    assert extract_function(stopped[1] or "", target) == extract_function(full[1], target)
    assert reply[:cut].endswith("```")


def test_the_demo_replies_lose_what_nobody_read() -> None:
    kept = {i: stop_point(RULES[c["role"]], c["reply"]) for i, c in enumerate(REAL) if c["reply"]}
    programmers = [i for i, c in enumerate(REAL) if c["role"] == "programmer"]
    # Every programmer reply wrote its code and then went on writing more blocks.
    assert all(kept[i] is not None and kept[i] < len(REAL[i]["reply"]) / 2 for i in programmers)
    # The input generator wrote prose inside a fence, looping: it ends after the first loop.
    generator = REAL[0]["reply"]
    assert kept[0] is not None and kept[0] < len(generator) / 2
    assert generator[: kept[0]].count("You can use this function to print the list of all") == 1
    # Two of the critics looped on one sentence and are cut after its first occurrence.
    looping = REAL[4]["reply"]
    cut = kept[4]
    assert cut is not None and looping[:cut].endswith(
        "handles the case of empty strings correctly."
    )
    assert looping[:cut].count("The function is a stub") == 1


def test_other_roles_keep_what_their_parsers_read(tmp_path: Path) -> None:
    target = _target(tmp_path)
    for role, reply in WRITTEN:
        cut = stop_point(RULES[role], reply)
        if role == "test_writer":
            assert cut is not None
            stopped, full = parse_tests(reply[:cut]), parse_tests(reply)
            assert [t.name for t in stopped[1]] == [t.name for t in full[1]] == ["test_a"]
        elif role == "input_generator":
            assert cut is not None
            assert parse_generator(reply[:cut]) == parse_generator(reply)
            assert "'a' * scale" in (parse_generator(reply) or "")
    assert target.name == "is_palindrome"


def test_the_critic_ends_with_its_score_and_done_lines() -> None:
    reply = critic(2, "no", "Fails on punctuation.") + "Also consider speed.\nSCORE: 5\n"
    cut = stop_point(CRITIC_STOP, reply)
    assert cut is not None and reply[:cut].endswith("SCORE: 2\nDONE: no")
    assert parse_critique(reply[:cut]) == parse_critique(critic(2, "no", "Fails on punctuation."))
    # DONE before SCORE: the reply ends with the line that completes the pair.
    either = "Good.\nDONE: no\nStill thinking.\nSCORE: 4\nmore text"
    assert either[: stop_point(CRITIC_STOP, either)].endswith("SCORE: 4")
    # A score line is final only once it ends: "SCORE: 4" may still become "SCORE: 45".
    assert stop_point(CRITIC_STOP, "DONE: no\nSCORE: 4") is None


def test_repetition_is_cut_in_prose_and_never_in_code() -> None:
    loop = "The function is a stub, it does nothing.\n\n" * 5
    assert loop[: stop_point(PROGRAMMER_STOP, loop)] == "The function is a stub, it does nothing."
    sentences = "Intro. It's just a stub. It's just a stub. It's just a stub. It's"
    assert sentences[: stop_point(CRITIC_STOP, sentences)] == "Intro. It's just a stub."
    # A line of two sentences, three times over, is one repetition too.
    pair = "A start.\n" + "First sentence here. Second one here.\n" * 3
    assert (
        pair[: stop_point(CRITIC_STOP, pair)] == "A start.\nFirst sentence here. Second one here."
    )
    # Short units repeat in good prose; two repeats are not a loop.
    assert stop_point(CRITIC_STOP, "Yes.\nYes.\nYes.\nYes.\n") is None
    assert stop_point(CRITIC_STOP, "Fails on 'a'.\nFails on 'a'.\nThen something else.\n") is None
    # Inside a fence the same line may repeat in code that is or may become valid Python...
    code = "```python\nrows = [\n" + "    [0, 0, 0, 0],\n" * 6 + "]\n"
    assert stop_point(PROGRAMMER_STOP, code) is None
    counting = "```python\ndef f(x):\n" + "    x += 1\n" * 5 + "    return x\n"
    assert stop_point(PROGRAMMER_STOP, counting) is None
    # ... but prose written inside a fence is prose (the demo's input generator did this).
    fenced = "```\n\nI will not write it.\n\n" + "You can print the list of values.\n\n" * 4
    cut = stop_point(INPUT_GENERATOR_STOP, fenced)
    assert cut is not None and fenced[:cut].endswith(
        "will not write it.\n\nYou can print the list of values."
    )
    assert stop_point(StopRule(repeats=3), code + "```\n" + "Again and again.\n" * 3) is not None
    assert FENCE.search(code + "```") is not None


def test_the_stop_rule_is_part_of_the_cache_key() -> None:
    messages: list[ChatMessage] = [{"role": "user", "content": "Write f."}]
    plain = SamplingParams(seed=1)
    keys = {
        ResponseCache.key("m", messages, params)
        for params in (
            plain,
            SamplingParams(seed=1, stop=PROGRAMMER_STOP),
            SamplingParams(seed=1, stop=CRITIC_STOP),
            SamplingParams(seed=1, stop=StopRule(block=PROGRAMMER_STOP.block)),
        )
    }
    assert len(keys) == 4
    assert ResponseCache.key("m", messages, SamplingParams(seed=1, stop=CRITIC_STOP)) in keys


LONG_REPLY = programmer("def f(x):\n    return x + 1\n") + " ".join(["filler"] * 400)


@pytest.mark.parametrize("stream", [False, True])
async def test_the_http_backend_stops_reading_where_the_rule_fires(
    scripted: ScriptedServer, stream: bool
) -> None:
    scripted.load({"programmer": [LONG_REPLY], "chunk_delay_s": 0.002})
    model = OpenAICompatibleModel(scripted.url, "scripted", None, stream=stream)
    try:
        [completion] = await model.complete(
            [{"role": "user", "content": "Write f."}], SamplingParams(stop=PROGRAMMER_STOP)
        )
    finally:
        await model.aclose()
    assert completion.text == LONG_REPLY[: stop_point(PROGRAMMER_STOP, LONG_REPLY)]
    assert completion.text.endswith("return x + 1\n```")
    # Streamed whatever the backend's setting, and closed long before the end of the reply.
    assert scripted.requests[0]["stream"] is True
    [record] = await asyncio.to_thread(scripted.wait_for_streams)
    assert record["hung_up"] and record["chunks"] < record["total"] / 2, record
    assert 0 < completion.completion_tokens <= record["chunks"]


async def test_the_http_backend_cuts_each_of_n_choices(scripted: ScriptedServer) -> None:
    loop = "Still a stub here.\n" * 30
    scripted.load({"critic": [critic(4, "yes") + "Extra words " * 50, loop]})
    model = OpenAICompatibleModel(scripted.url, "scripted", None)
    messages: list[ChatMessage] = [{"role": "system", "content": "Role: critic"}]
    try:
        completions = await model.complete(messages, SamplingParams(n=2, stop=CRITIC_STOP))
        # Without a rule the stream is read to its end, with the usage chunk.
        [plain] = await model.complete(messages, SamplingParams())
    finally:
        await model.aclose()
    assert [c.text for c in completions] == [
        critic(4, "yes").rstrip("\n"),
        "Still a stub here.",
    ]
    assert plain.completion_tokens > 0 and plain.prompt_tokens > 0
    assert scripted.requests[-1].get("stream") in (None, False)
