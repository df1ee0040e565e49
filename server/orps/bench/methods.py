"""The four methods compared, all built from the same engine pieces and the same budgeted client.

Each method gets a fresh ``LLMClient`` whose hard cap is the per-task budget, the task's stub as
a ``FunctionTarget``, its visible tests and the shared sandbox; it returns the function it would
answer with. None of them ever sees the held-out tests.

- ``direct``: one programmer sample (think, then code) under the neutral style directive; no
  test is run to choose it.
- ``bon``: N = budget programmer samples, each under a different style directive as in ORPS
  round 0; the best by the engine's ranking on the visible tests wins.
- ``reflexion``: sample (the first prompt is ``direct``'s), run the visible tests, show the
  programmer its own attempt with the execution analysis and ask for a fix; repeat until the
  visible tests pass or the budget is spent. The self-reflection is the reply's reasoning section (no critic role).
- ``orps``: the engine's search with the critic through the one pipeline (``orps.session``),
  ``max_calls`` = budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from orps.bench.outcomes import Method
from orps.model.chat import (
    BudgetExhausted,
    ChatMessage,
    ModelAuthError,
    ModelError,
    ModelUnavailable,
    SamplingParams,
)
from orps.model.client import LLMClient
from orps.project.discovery import VisibleTests
from orps.project.target import FunctionTarget
from orps.search.beam import SearchConfig, execute
from orps.search.extraction import PROGRAMMER_STOP, extract_function, fingerprint, split_reply
from orps.search.prompts import (
    STYLE_DIRECTIVES,
    closing_instruction,
    execution_analysis,
    feedback_turn,
    programmer_messages,
    task_prompt,
)
from orps.search.records import Candidate, SearchFinished, SearchResult
from orps.search.scoring import rank, rescore
from orps.session import Engine, run_search
from orps_sandbox import Sandbox, TestSpec

REFLEXION_MEMORY = 2  # attempts kept in the conversation; older ones would overflow small contexts
FIRST_ATTEMPT_DIRECTIVE = STYLE_DIRECTIVES[-1]  # the neutral one: correctness before speed
REFLEXION_DIRECTIVE = "First explain what went wrong in the last attempt, then fix it."
NO_CODE_FEEDBACK = (
    "## Execution results\nYour reply had no usable ```python block defining the function, "
    "so nothing was run. Reply in the required format."
)


@dataclass(frozen=True)
class Sampling:
    """The sampling settings every method uses."""

    temperature: float = 0.5
    max_tokens: int = 1500
    seed: int | None = 0

    def params(self, index: int) -> SamplingParams:
        """A programmer call's settings (every call of the baselines is one), seed + index."""
        seed = None if self.seed is None else self.seed + index
        return SamplingParams(
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
            stop=PROGRAMMER_STOP,
        )


@dataclass(frozen=True)
class OrpsShape:
    """Beam shape of the ORPS search; the budget, not the rounds, normally ends it."""

    beam_width: int = 3
    children: int = 3
    rounds: int = 5


@dataclass
class MethodAnswer:
    """What a method settled on, and how it got there."""

    code: str | None
    candidates: int = 0
    visible_passed: int = 0
    stopped: str = "completed"
    error: str | None = None


@dataclass
class Problem:
    """One task as the methods see it: the stub target and its visible tests only."""

    target: FunctionTarget
    visible: Sequence[TestSpec]

    @property
    def task_text(self) -> str:
        return task_prompt(self.target, self.visible)


async def sample_candidate(
    problem: Problem, llm: LLMClient, messages: list[ChatMessage], params: SamplingParams
) -> tuple[str, Candidate | None]:
    """One programmer call: the raw reply and the candidate in it (None without usable code)."""
    reply = (await llm.complete(messages, params))[0].text
    reasoning, block = split_reply(reply)
    code = extract_function(block, problem.target) if block is not None else None
    if code is None:
        return reply, None
    return reply, Candidate(id=fingerprint(code), code=code, reasoning=reasoning)


def first_attempt_messages(problem: Problem) -> list[ChatMessage]:
    """The single prompt of ``direct``, also ``reflexion``'s first: with the same seed both
    methods start from the same sample (and the response cache serves it once)."""
    return programmer_messages(
        problem.task_text, [], closing_instruction(problem.target, FIRST_ATTEMPT_DIRECTIVE)
    )


def answer_from(pool: dict[str, Candidate], stopped: str, error: str | None) -> MethodAnswer:
    ranked = rank(list(pool.values()))
    best = ranked[0] if ranked else None
    return MethodAnswer(
        code=best.code if best else None,
        candidates=len(pool),
        visible_passed=best.tests_passed if best else 0,
        stopped=stopped,
        error=error,
    )


def _fatal(exc: ModelError) -> bool:
    return isinstance(exc, ModelUnavailable | ModelAuthError)


async def solve_direct(
    problem: Problem, llm: LLMClient, sandbox: Sandbox, sampling: Sampling
) -> MethodAnswer:
    messages = first_attempt_messages(problem)
    try:
        _, candidate = await sample_candidate(problem, llm, messages, sampling.params(0))
    except BudgetExhausted:
        return MethodAnswer(code=None, stopped="budget")
    except ModelError as exc:
        if _fatal(exc):
            raise
        return MethodAnswer(code=None, stopped="model_error", error=str(exc))
    if candidate is None:
        return MethodAnswer(code=None)
    # Run once on the visible tests only to report them; the choice does not depend on it.
    await execute(problem.target, problem.visible, [candidate], sandbox)
    return MethodAnswer(code=candidate.code, candidates=1, visible_passed=candidate.tests_passed)


async def solve_best_of_n(
    problem: Problem, llm: LLMClient, sandbox: Sandbox, sampling: Sampling
) -> MethodAnswer:
    task = problem.task_text
    count = llm.max_calls

    async def one(index: int) -> Candidate | None:
        style = STYLE_DIRECTIVES[index % len(STYLE_DIRECTIVES)]
        messages = programmer_messages(task, [], closing_instruction(problem.target, style))
        try:
            return (await sample_candidate(problem, llm, messages, sampling.params(index)))[1]
        except BudgetExhausted:
            return None

    stopped, error = "completed", None
    try:
        samples = await asyncio.gather(*(one(i) for i in range(count)))
    except ModelError as exc:
        if _fatal(exc):
            raise
        samples, stopped, error = [], "model_error", str(exc)
    pool: dict[str, Candidate] = {}
    for candidate in samples:
        if candidate is not None and candidate.id not in pool:
            pool[candidate.id] = candidate
    await execute(problem.target, problem.visible, list(pool.values()), sandbox)
    rescore(pool.values())
    return answer_from(pool, stopped, error)


async def solve_reflexion(
    problem: Problem, llm: LLMClient, sandbox: Sandbox, sampling: Sampling
) -> MethodAnswer:
    task = problem.task_text
    pool: dict[str, Candidate] = {}
    memory: list[tuple[str, str]] = []  # (reply, feedback) of the latest attempts
    stopped, error = "budget", None
    for index in range(llm.max_calls):
        if memory:
            messages = programmer_messages(
                task,
                memory[-REFLEXION_MEMORY:],
                closing_instruction(problem.target, REFLEXION_DIRECTIVE),
            )
        else:
            messages = first_attempt_messages(problem)
        try:
            reply, candidate = await sample_candidate(
                problem, llm, messages, sampling.params(index)
            )
        except BudgetExhausted:
            break
        except ModelError as exc:
            if _fatal(exc):
                raise
            stopped, error = "model_error", str(exc)
            break
        if candidate is None:
            memory.append((reply, NO_CODE_FEEDBACK))
            continue
        if candidate.id in pool:
            candidate = pool[candidate.id]  # a repeat: same feedback, nothing new to run
        else:
            pool[candidate.id] = candidate
            await execute(problem.target, problem.visible, [candidate], sandbox)
            rescore(pool.values())
        best = rank(list(pool.values()))[0]
        analysis = execution_analysis(candidate, problem.visible, best)
        memory.append((reply, feedback_turn(analysis, None)))
        if candidate.valid and problem.visible and candidate.tests_passed == len(problem.visible):
            stopped = "solved"
            break
    return answer_from(pool, stopped, error)


async def solve_orps(
    problem: Problem,
    llm: LLMClient,
    engine: Engine,
    sampling: Sampling,
    shape: OrpsShape,
    *,
    generated_tests: bool = False,
) -> MethodAnswer:
    """The engine's search through the one pipeline, on the run's shared engine.

    With ``generated_tests`` the search sees no visible test, only what the test writer writes.
    """
    config = SearchConfig(
        beam_width=shape.beam_width,
        children=shape.children,
        rounds=shape.rounds,
        temperature=sampling.temperature,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed,
        generate_tests=generated_tests,
    )
    visible = VisibleTests(tests=[] if generated_tests else list(problem.visible))
    result: SearchResult | None = None
    try:
        async for event in run_search(
            problem.target, visible, engine.settings, engine=engine, client=llm, config=config
        ):
            if isinstance(event, SearchFinished):
                result = event.result
    except (ModelUnavailable, ModelAuthError):
        raise  # the model is gone: the runner stops the run
    except ModelError as exc:
        return MethodAnswer(code=None, stopped="model_error", error=str(exc))
    assert result is not None
    best = result.candidates[0] if result.candidates else None
    return MethodAnswer(
        code=best.code if best else None,
        candidates=len(result.candidates),
        visible_passed=best.tests_passed if best else 0,
        stopped=result.stopped,
        error=result.error,
    )


async def solve(
    method: Method,
    problem: Problem,
    llm: LLMClient,
    engine: Engine,
    sampling: Sampling,
    shape: OrpsShape,
) -> MethodAnswer:
    """Run ``method`` on ``problem``; the client's cap bounds the calls whatever happens."""
    if method is Method.DIRECT:
        return await solve_direct(problem, llm, engine.sandbox, sampling)
    if method is Method.BON:
        return await solve_best_of_n(problem, llm, engine.sandbox, sampling)
    if method is Method.REFLEXION:
        return await solve_reflexion(problem, llm, engine.sandbox, sampling)
    if method is Method.ORPS_GENERATED:
        return await solve_orps(problem, llm, engine, sampling, shape, generated_tests=True)
    return await solve_orps(problem, llm, engine, sampling, shape)
