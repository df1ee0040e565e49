"""The ORPS search end to end: scripted model over HTTP, real sandbox, real ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from orps.model.client import LLMClient
from orps.model.openai_compat import OpenAICompatibleModel
from orps.project.discovery import discover_tests
from orps.project.target import load_target
from orps.search.beam import EMPTY_ROUND_RETRIES, Search, SearchConfig
from orps.search.records import CandidateEvaluated, RankingChanged, SearchFinished, SearchResult
from orps_sandbox import Sandbox
from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer

STUB = '''
def total(n: int) -> int:
    """Return 0 + 1 + ... + (n - 1).

    >>> total(4)
    6
    """
    ...
'''

TESTS = """
from mod import total

def test_small():
    assert total(1) == 0
    assert total(5) == 10

def test_large():
    assert total(600) == 179700
"""

WRONG = "def total(n: int) -> int:\n    return n * n\n"
SLOW = (
    "def total(n: int) -> int:\n"
    "    s = 0\n"
    "    for i in range(n):\n"
    "        for _ in range(i):\n"
    "            s += 1\n"
    "    return s\n"
)
FAST = "def total(n: int) -> int:\n    return n * (n - 1) // 2\n"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\nversion='0'\n")
    (tmp_path / "mod.py").write_text(STUB)
    (tmp_path / "test_mod.py").write_text(TESTS)
    return tmp_path / "mod.py"


async def _search(
    tmp_path: Path, scripted: ScriptedServer, config: SearchConfig, max_calls: int = 30
) -> tuple[SearchResult, list[object]]:
    target = load_target(_project(tmp_path), "total")
    visible = discover_tests(target)
    model = OpenAICompatibleModel(scripted.url, "scripted", None)
    llm = LLMClient(model=model, max_calls=max_calls)
    events: list[object] = []
    async with Sandbox() as sandbox:
        search = Search(target, visible.tests, llm, sandbox, config, visible.sources)
        async for event in search.events():
            events.append(event)
    await model.aclose()
    finished = events[-1]
    assert isinstance(finished, SearchFinished)
    return finished.result, events


async def test_ranking_puts_correct_fast_first_then_slow_then_wrong(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    scripted.load(
        {
            "programmer": [programmer(WRONG), programmer(SLOW), programmer(FAST)],
            "critic": [critic(3)],
        }
    )
    result, events = await _search(
        tmp_path, scripted, SearchConfig(beam_width=3, children=3, rounds=0)
    )
    bodies = [c.code.rstrip().splitlines()[-1].strip() for c in result.candidates]
    assert bodies == ["return n * (n - 1) // 2", "return s", "return n * n"]
    assert all('"""Return 0 + 1' in c.code for c in result.candidates)  # the docstring is kept
    fast, slow, wrong = result.candidates
    assert result.tests_total == 3  # one doctest and two pytest tests
    assert (fast.tests_passed, slow.tests_passed) == (3, 3)
    assert wrong.tests_passed < 3
    assert fast.runtime_ns is not None and slow.runtime_ns is not None
    assert slow.runtime_ns > 5 * fast.runtime_ns
    assert result.llm_calls == 6  # three programmer and three critic calls
    assert any(isinstance(e, RankingChanged) for e in events)
    assert sum(isinstance(e, CandidateEvaluated) for e in events) == 3


async def test_duplicates_run_once_and_codeless_replies_are_dropped(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    twin = FAST.replace("return", "return ")  # same AST, other layout
    scripted.load(
        {
            "programmer": [programmer(FAST), programmer(twin), "I have no code for you."],
            "critic": [critic(4)],
        }
    )
    result, _ = await _search(tmp_path, scripted, SearchConfig(children=3, rounds=0))
    assert len(result.candidates) == 1
    assert result.duplicates == 1
    assert result.dropped_replies == 1
    critic_requests = [
        r for r in scripted.requests if r["messages"][0]["content"].startswith("Role: critic")
    ]
    assert len(critic_requests) == 1


async def test_a_round_without_usable_code_is_asked_again_while_budget_remains(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    # Round 0 (two children) gets no code at all; the retry of round 0 finds the answer.
    scripted.load(
        {
            "programmer": [
                "No code, sorry.",
                "Still thinking.",
                programmer(FAST),
                programmer(SLOW),
            ],
            "critic": [critic(3)],
        }
    )
    result, _ = await _search(
        tmp_path, scripted, SearchConfig(beam_width=2, children=2, rounds=0), max_calls=20
    )
    assert result.dropped_replies == 2
    assert [c.round for c in result.candidates] == [0, 0]
    assert result.candidates[0].code.rstrip().endswith("return n * (n - 1) // 2")
    assert result.llm_calls == 6  # 2 dropped + 2 programmer + 2 critic; rounds=0 then ends it


async def test_empty_rounds_are_retried_a_bounded_number_of_times(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    scripted.load({"programmer": ["Nothing usable here."], "critic": [critic(3)]})
    result, _ = await _search(
        tmp_path, scripted, SearchConfig(beam_width=2, children=2, rounds=3), max_calls=40
    )
    assert result.candidates == []
    assert result.dropped_replies == 2 * (1 + EMPTY_ROUND_RETRIES)
    assert result.llm_calls == 2 * (1 + EMPTY_ROUND_RETRIES)


async def test_seeds_follow_the_planned_steps_not_the_finishing_order(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    replies = [programmer(FAST.replace("// 2", f"// 2 + {i} * 0")) for i in range(3)]
    scripted.load({"programmer": replies, "critic": [critic(3)]})
    await _search(tmp_path, scripted, SearchConfig(children=3, rounds=0, seed=10))

    def seeds(critic_role: bool) -> set[int]:
        return {
            r["seed"]
            for r in scripted.requests
            if r["messages"][0]["content"].startswith("Role: critic") == critic_role
        }

    assert seeds(critic_role=False) == {10, 12, 14}  # seed + 2·step
    assert seeds(critic_role=True) == {11, 13, 15}  # seed + 2·step + 1


@pytest.mark.parametrize("max_calls", [1, 4, 7])
async def test_budget_is_never_exceeded(
    tmp_path: Path, scripted: ScriptedServer, max_calls: int
) -> None:
    replies = [programmer(FAST.replace("// 2", f"// 2 + {i} * 0")) for i in range(40)]
    scripted.load({"programmer": replies, "critic": [critic(3)]})
    result, _ = await _search(
        tmp_path, scripted, SearchConfig(beam_width=2, children=2, rounds=3), max_calls=max_calls
    )
    assert len(scripted.requests) <= max_calls
    assert result.llm_calls == len(scripted.requests)
    assert result.stopped == "budget"


async def test_later_rounds_see_the_path_and_feedback(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    scripted.load(
        {"programmer": [programmer(WRONG), programmer(FAST)], "critic": ["garbage without a score"]}
    )
    result, _ = await _search(tmp_path, scripted, SearchConfig(beam_width=1, children=1, rounds=1))
    assert [c.round for c in result.candidates] == [1, 0]
    second = [
        r for r in scripted.requests if not r["messages"][0]["content"].startswith("Role: critic")
    ][1]
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    feedback = second["messages"][-1]["content"]
    assert "total(4) returned 16, expected 6" in feedback  # expected vs actual reach the model
    assert "Tests passed: 0/3" in feedback
    # the malformed critique counted as a neutral 3
    assert all(c.process_score == 3 for c in result.candidates)


async def test_no_tests_still_runs_and_says_so(tmp_path: Path, scripted: ScriptedServer) -> None:
    (tmp_path / "lonely.py").write_text("def f(x):\n    ...\n")
    target = load_target(tmp_path / "lonely.py", "f")
    scripted.load({"programmer": [programmer("def f(x):\n    return x\n")], "critic": [critic(4)]})
    model = OpenAICompatibleModel(scripted.url, "scripted", None)
    async with Sandbox() as sandbox:
        search = Search(
            target,
            [],
            LLMClient(model=model, max_calls=2),
            sandbox,
            SearchConfig(children=1, rounds=0),
        )
        events = [e async for e in search.events()]
    await model.aclose()
    assert any(getattr(e, "kind", "") == "warning" and "no tests" in e.message for e in events)  # type: ignore[attr-defined]
    result = events[-1].result  # type: ignore[attr-defined]
    assert result.tests_total == 0
    assert result.candidates[0].status == "completed"
