"""The ORPS beam search over (reasoning, code) steps, as an async stream of typed events.

Round 0 asks the programmer for N first attempts, each under a different style directive.
Every new distinct candidate is executed in the sandbox and then critiqued with the execution
results in view. Each later round expands every live beam node into N children, the programmer
seeing the whole path so far as a conversation. Across all parents the top K children by the
combined score form the next beam; nodes the critic marks done stop expanding but remain
answers. A round whose replies are all unusable or duplicates is asked again (at most
``EMPTY_ROUND_RETRIES`` times) while the budget lasts. At the end the best passing candidates
and the current implementation are measured once more side by side, interleaved, and
everything is ranked.

Two optional model calls frame the search (``orps.search.generated_tests`` and
``orps.search.scaling``): before round 0 the test writer adds generated tests when the function
has few visible ones; meanwhile the input generator writes ``perf_input(scale)``, with which the
passing candidates are timed at growing scales after the final measurement.

Every call carries its role's stop rule (``orps.model.stopping``), so a reply ends once the
rest of it cannot matter. The engine knows nothing of LSP or terminals: front ends consume
``Search.events()``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from orps.model.chat import BudgetExhausted, ModelError, SamplingParams
from orps.model.client import LLMClient
from orps.model.stopping import StopRule
from orps.project.discovery import TestDiscoveryError, VisibleTests, import_statements
from orps.project.target import FunctionTarget
from orps.search.extraction import PROGRAMMER_STOP, extract_function, fingerprint, split_reply
from orps.search.generated_tests import TEST_WRITER_STOP, GeneratedSuite
from orps.search.prompts import (
    CRITIC_STOP,
    STYLE_DIRECTIVES,
    closing_instruction,
    critic_messages,
    execution_analysis,
    feedback_turn,
    input_generator_messages,
    parse_critique,
    programmer_messages,
    task_prompt,
    test_writer_messages,
)
from orps.search.records import (
    Candidate,
    CandidateEvaluated,
    CandidateSummary,
    Critique,
    Origin,
    Progress,
    ProgressReported,
    RankingChanged,
    SearchEvent,
    SearchFinished,
    SearchResult,
    SearchStarted,
    Warned,
)
from orps.search.scaling import (
    INPUT_GENERATOR_STOP,
    MAX_MEASURED,
    ScaleProfiler,
    apply_scaling,
    parse_generator,
    scalable,
)
from orps.search.scoring import apply_report, rank, rescore, select_beam, summarize
from orps_sandbox import (
    ExecutionReport,
    ExecutionStatus,
    ModuleSpec,
    Sandbox,
    TestKind,
    TestSpec,
    TestStatus,
)

FINAL_REMEASURE = 6  # how many top candidates are measured again side by side at the end
EMPTY_ROUND_RETRIES = 2  # times a round that produced no usable child is asked again
TEST_WRITER_SEED, INPUT_GENERATOR_SEED = 100_000, 100_001  # seed offsets of the two extra calls


@dataclass(frozen=True)
class SearchConfig:
    beam_width: int = 3
    children: int = 3
    rounds: int = 2
    temperature: float = 0.5
    max_tokens: int = 1500
    seed: int | None = 0
    critique: bool = True
    remeasure: bool = True
    generate_tests: bool = False
    generate_tests_below: int = 5
    scale: bool = False
    max_scale: int = 1 << 20
    timeout_s: float = 5.0


@dataclass
class Node:
    """A candidate on a search path: the raw reply that produced it and the feedback it got."""

    candidate: Candidate
    reply: str
    parent: Node | None = None
    feedback: str = ""

    def path(self) -> list[tuple[str, str]]:
        chain: list[Node] = []
        node: Node | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return [(n.reply, n.feedback) for n in reversed(chain)]


def module_spec(target: FunctionTarget, function_code: str) -> ModuleSpec:
    return ModuleSpec(
        name=target.module_name,
        source=target.splice(function_code),
        filename=str(target.path),
        search_paths=list(target.search_paths),
        entry=target.qualname,
    )


async def execute(
    target: FunctionTarget,
    tests: Sequence[TestSpec],
    candidates: Sequence[Candidate],
    sandbox: Sandbox,
    tests_total: int | None = None,
) -> None:
    """Run candidates side by side in one sandbox batch and record what they did.

    ``tests_total`` is the number of the user's tests among ``tests`` (default: all of them);
    the others are generated tests, counted apart.
    """
    if not candidates:
        return
    jobs = [(module_spec(target, c.code), list(tests)) for c in candidates]
    reports: list[ExecutionReport] = await sandbox.run_many(jobs)
    for candidate, report in zip(candidates, reports, strict=True):
        apply_report(candidate, report, len(tests) if tests_total is None else tests_total)


async def check_test_imports(
    target: FunctionTarget, visible: VisibleTests, sandbox: Sandbox
) -> None:
    """Raise TestDiscoveryError when a test file's imports fail against the original module.

    Only the files' top-level import statements run (in the sandbox), so a stub that fails its
    tests is not mistaken for a broken test file.
    """
    checks = [
        TestSpec(id=str(path), kind=TestKind.ASSERT, source=imports)
        for path in visible.files
        if (imports := import_statements(path))
    ]
    if not checks:
        return
    [report] = await sandbox.run_many([(module_spec(target, target.dedented_source), checks)])
    if report.status == ExecutionStatus.IMPORT_ERROR:
        # The module itself, before any test file: every file would fail with it.
        reason = summary_line(report.detail).removeprefix("module failed to import: ")
        if reason.startswith("FileNotFoundError"):
            reason += (
                " (in the sandbox the working directory is an empty scratch directory:"
                " read the project's files by a path built from __file__)"
            )
        raise TestDiscoveryError(f"the module {target.module_name} fails to import: {reason}")
    for result in report.tests:
        if result.status is not TestStatus.PASSED:
            reason = summary_line(result.detail) or str(result.status)
            raise TestDiscoveryError(f"tests file {result.id} fails to import: {reason}")
    if report.status != ExecutionStatus.COMPLETED:
        raise TestDiscoveryError(
            f"the module {target.module_name} fails to import: {report.detail.strip()[:300]}"
        )


def summary_line(detail: str) -> str:
    """A failure's first line ("ImportError: ..."): the traceback's frames follow it."""
    return next((line.strip() for line in detail.splitlines() if line.strip()), "")[:300]


@dataclass
class Search:
    """One ORPS search over one function. Iterate ``events()`` once; the last event is
    ``SearchFinished`` carrying the ``SearchResult``."""

    target: FunctionTarget
    tests: list[TestSpec]
    llm: LLMClient
    sandbox: Sandbox
    config: SearchConfig = field(default_factory=SearchConfig)
    test_sources: list[str] = field(default_factory=list)

    nodes: dict[str, Node] = field(default_factory=dict, init=False)
    current: Candidate | None = field(default=None, init=False)
    dropped_replies: int = field(default=0, init=False)
    duplicates: int = field(default=0, init=False)
    failure: ModelError | None = field(default=None, init=False)
    """The model error that ended the search early, with its kind (unreachable, auth, ...)."""
    _queue: asyncio.Queue[SearchEvent | None] = field(default_factory=asyncio.Queue, init=False)
    _started: float = field(default=0.0, init=False)
    _round: int = field(default=0, init=False)
    _last_ranking: list[tuple[str, int, int | None]] = field(default_factory=list, init=False)
    _steps: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False)
    _task_text: str = field(default="", init=False)
    _warnings: list[str] = field(default_factory=list, init=False)
    generated: GeneratedSuite | None = field(default=None, init=False)
    scale_note: str | None = field(default=None, init=False)
    _generator: asyncio.Task[str] | None = field(default=None, init=False)

    async def events(self) -> AsyncIterator[SearchEvent]:
        """Run the search, yielding events as they happen. Cancelling the consumer cancels
        the search: model calls stop and sandboxes are killed."""
        runner = asyncio.create_task(self._run())
        try:
            while True:
                event = await self._queue.get()
                if event is None:
                    break
                yield event
            await runner
        finally:
            if not runner.done():
                runner.cancel()
                try:
                    await runner
                except (asyncio.CancelledError, Exception):
                    pass

    async def run(self) -> SearchResult:
        """Run to the end and return the result (events are discarded)."""
        result: SearchResult | None = None
        async for event in self.events():
            if isinstance(event, SearchFinished):
                result = event.result
        assert result is not None
        return result

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        self._started = time.monotonic()
        self._rng.seed(self.config.seed if self.config.seed is not None else time.time_ns())
        self._task_text = task_prompt(self.target, self.tests)
        stopped, error = "completed", None
        self._emit(
            SearchStarted(
                target=self.target.label,
                tests_total=len(self.tests),
                test_sources=self.test_sources,
                model=self.llm.model.identity,
                isolation=self.sandbox.isolation.description,
                isolation_reasons=list(self.sandbox.isolation.reasons),
            )
        )
        if not self.tests:
            self._warn("no tests found: candidates are only checked to import and run")
        try:
            self._start_input_generator()
            await self._generate_tests()
            await self._measure_current()
            parents: list[Node | None] = [None]
            round_number, retries = 0, 0
            beam = await self._expand(parents=parents, round_number=0)
            while self.llm.remaining > 0:
                if not beam:
                    # Every reply of the round was unusable or a duplicate: ask the same parents
                    # again (new seeds) rather than end with budget left, a bounded number of times.
                    if retries == EMPTY_ROUND_RETRIES:
                        break
                    retries += 1
                    beam = await self._expand(parents=parents, round_number=round_number)
                    continue
                live = [n for n in beam if not (n.candidate.critique and n.candidate.critique.done)]
                if not live or round_number == self.config.rounds:
                    break
                round_number, retries = round_number + 1, 0
                parents = list(live)
                beam = await self._expand(parents=parents, round_number=round_number)
            if self.llm.remaining == 0:
                stopped = "budget"
        except ModelError as exc:
            stopped, error = "model_error", str(exc)
            self.failure = exc
            self._warn(f"model error: {exc}")
        except asyncio.CancelledError:
            if self._generator is not None:
                self._generator.cancel()
            self._queue.put_nowait(None)
            raise
        except Exception as exc:  # an engine bug must still end the stream with its end marker
            stopped, error = "error", f"internal error: {type(exc).__name__}: {exc}"
            self._warn(error)
        try:
            if self.config.remeasure and stopped != "error":
                await self._remeasure()
            if stopped != "error":
                await self._measure_scale()
        except asyncio.CancelledError:
            self._queue.put_nowait(None)
            raise
        except Exception as exc:
            stopped, error = "error", f"internal error: {type(exc).__name__}: {exc}"
            self._warn(error)
        self._emit(SearchFinished(result=self._result(stopped, error)))
        self._queue.put_nowait(None)

    async def _measure_current(self) -> None:
        if self.target.is_stub:
            return
        code = self.target.dedented_source
        self.current = Candidate(
            id=fingerprint(code), code=code, origin=Origin.CURRENT, reasoning="current code"
        )
        await self._execute([self.current])
        rescore([self.current])
        # The current code is a row of its own from the start, before any candidate exists.
        self._emit(RankingChanged(ranked=[], current=summarize(self.current, 0, self.current)))

    async def _expand(self, parents: Sequence[Node | None], round_number: int) -> list[Node]:
        """Generate N children per parent, execute and critique them; return the new beam."""
        self._round = round_number
        self._report_progress()  # the round changed: say so before its replies arrive
        requests: list[tuple[Node | None, str, int]] = []
        for parent in parents:
            for _ in range(self.config.children):
                requests.append((parent, self._next_style(), self._steps))
                self._steps += 1
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._child(parent, style, round_number, step))
                    for parent, style, step in requests
                ]
        except BaseExceptionGroup as failures:
            # One failed step (a model error) stops its siblings; re-raise it plainly.
            first = next(
                (e for e in failures.exceptions if isinstance(e, ModelError)),
                failures.exceptions[0],
            )
            raise first from None
        children = [node for task in tasks if (node := task.result()) is not None]
        rescore(self._all_candidates())
        return [
            self.nodes[c.id]
            for c in select_beam([n.candidate for n in children], self.config.beam_width)
        ]

    async def _child(
        self, parent: Node | None, style: str, round_number: int, step: int
    ) -> Node | None:
        """One step: the programmer's call, execution, the critic's call.

        The step's number, fixed when the round is planned, seeds both calls (programmer
        ``seed + 2·step``, critic ``seed + 2·step + 1``), so the samples do not depend on which
        parallel call finishes first.
        """
        granted = self.llm.reserve(2 if self.config.critique else 1)
        if granted == 0:
            return None
        critic_reserved = granted - 1
        messages = programmer_messages(
            self._task_text,
            parent.path() if parent else [],
            closing_instruction(self.target, style),
        )
        try:
            completions = await self.llm.complete(
                messages, self._params(2 * step, PROGRAMMER_STOP), reserved=True
            )
            reply = completions[0].text
        except BudgetExhausted:
            self.llm.release(critic_reserved)
            return None
        except ModelError:
            self.llm.release(critic_reserved)
            raise
        self._report_progress()  # one more call used
        reasoning, block = split_reply(reply)
        code = extract_function(block, self.target) if block is not None else None
        if code is None:
            self.dropped_replies += 1
            self.llm.release(critic_reserved)
            self._report_progress(
                f"a reply without usable code was dropped ({self.dropped_replies})"
            )
            return None
        candidate_id = fingerprint(code)
        if candidate_id in self.nodes or (self.current and candidate_id == self.current.id):
            self.duplicates += 1
            self.llm.release(critic_reserved)
            return None
        candidate = Candidate(
            id=candidate_id,
            code=code,
            reasoning=reasoning,
            round=round_number,
            parent_id=parent.candidate.id if parent else None,
            style=style,
        )
        node = Node(candidate=candidate, reply=reply, parent=parent)
        self.nodes[candidate_id] = node  # claimed before awaiting, so a twin is a duplicate
        await self._execute([candidate])
        rescore(self._all_candidates())
        analysis = execution_analysis(candidate, self.tests, self._best())
        if critic_reserved:
            candidate.critique = await self._critique(candidate, analysis, 2 * step + 1)
        else:
            candidate.critique = Critique(text="", score=3, parsed=False)
        node.feedback = feedback_turn(analysis, candidate.critique)
        rescore(self._all_candidates())
        self._emit(CandidateEvaluated(candidate=candidate))
        self._publish_ranking()
        return node

    async def _critique(self, candidate: Candidate, analysis: str, index: int) -> Critique:
        messages = critic_messages(self._task_text, candidate, analysis)
        params = self._params(index, CRITIC_STOP)
        try:
            completions = await self.llm.complete(messages, params, reserved=True)
        except BudgetExhausted:
            return Critique(score=3, parsed=False)
        return parse_critique(completions[0].text if completions else "")

    async def _remeasure(self) -> None:
        """Measure the top candidates and the current code again, interleaved in one batch."""
        ranked = [c for c in rank(list(self._all_candidates())) if c.tests_passed]
        batch = ranked[:FINAL_REMEASURE]
        if self.current is not None and self.current.tests_passed:
            batch.append(self.current)
        if len(batch) < 2:
            return
        await self._execute(batch)
        rescore(self._all_candidates())
        self._publish_ranking()

    # -- generated tests and scale profiles ----------------------------------------------------

    async def _execute(self, candidates: Sequence[Candidate]) -> None:
        """Execute against the user's tests and the generated ones still in play."""
        extra = self.generated.runnable() if self.generated else []
        await execute(self.target, [*self.tests, *extra], candidates, self.sandbox, len(self.tests))
        if self.generated is not None:
            current = [self.current] if self.current is not None else []
            self.generated.update([*self._all_candidates(), *current])

    async def _generate_tests(self) -> None:
        """The test writer's call, when the function has few visible tests and budget allows."""
        config = self.config
        if not config.generate_tests or len(self.tests) >= config.generate_tests_below:
            return
        if self.llm.remaining < 3:
            return
        self._report_progress("the test writer is writing tests")
        try:
            completions = await self.llm.complete(
                test_writer_messages(self.target), self._params(TEST_WRITER_SEED, TEST_WRITER_STOP)
            )
        except BudgetExhausted:
            return
        suite = GeneratedSuite.from_reply(
            completions[0].text if completions else "", self.target, self.tests
        )
        self.generated = suite
        if not suite.tests:
            self._warn("the test writer's reply held no usable test")
            return
        if suite.imports.strip():
            check = TestSpec(id="generated-imports", kind=TestKind.ASSERT, source=suite.imports)
            [report] = await self.sandbox.run_many(
                [(module_spec(self.target, self.target.dedented_source), [check])]
            )
            result = report.tests[0] if report.tests else None
            if result is None or result.status is not TestStatus.PASSED:
                reason = summary_line(result.detail if result else report.detail)
                suite.drop_all(f"fails to import: {reason or 'error'}")
        kept = len(suite.runnable())
        self._report_progress(f"{kept} of {len(suite.tests)} generated test(s) in use")

    def _start_input_generator(self) -> None:
        """Ask for ``perf_input`` now, in parallel with the search; it is needed at the end."""
        if not self.config.scale:
            return
        reason = scalable(self.target)
        if reason is not None:
            self.scale_note = reason
            return
        if self.llm.remaining < 3 or self.llm.reserve(1) == 0:
            self.scale_note = "no budget left for the input generator"
            return

        async def ask() -> str:
            completions = await self.llm.complete(
                input_generator_messages(self.target),
                self._params(INPUT_GENERATOR_SEED, INPUT_GENERATOR_STOP),
                reserved=True,
            )
            return completions[0].text if completions else ""

        self._generator = asyncio.create_task(ask())

    async def _measure_scale(self) -> None:
        """Time the passing candidates at growing scales; on any trouble, a note and a warning."""
        task, self._generator = self._generator, None
        if task is None:
            return
        try:
            reply = await task
        except ModelError as exc:
            self._scale_fallback(f"the input generator failed: {exc}")
            return
        generator = parse_generator(reply)
        if generator is None:
            self._scale_fallback("the input generator's reply held no perf_input function")
            return
        passing = [c for c in rank(self._all_candidates()) if c.valid and c.pass_ratio == 1.0]
        batch = passing[:MAX_MEASURED]
        if self.current is not None and self.current.valid and self.current.pass_ratio == 1.0:
            batch.append(self.current)
        if not batch:
            self._scale_fallback("no candidate passes the tests")
            return
        profiler = ScaleProfiler(
            target=self.target,
            sandbox=self.sandbox,
            module_of=lambda code: module_spec(self.target, code),
            max_scale=self.config.max_scale,
            timeout_s=self.config.timeout_s,
        )
        self._report_progress("checking the input generator")
        problem = await profiler.check(generator)
        if problem is not None:
            self._scale_fallback(problem)
            return
        self._report_progress("probing scales")
        top, note = await profiler.probe(generator, batch)
        if top is None:
            self._scale_fallback(note or "no scale could be measured")
            return
        self._report_progress(f"timing {len(batch)} candidate(s) up to n = {top:,}")
        run = await profiler.measure(generator, top, batch)
        apply_scaling(batch, run)
        self.scale_note = note
        if note:
            self._warn(note)
        self._publish_ranking()

    def _scale_fallback(self, reason: str) -> None:
        self.scale_note = f"{reason}; runtimes are from the tests only"
        self._warn(self.scale_note)

    # -- helpers ------------------------------------------------------------------------------

    def _params(self, index: int, stop: StopRule) -> SamplingParams:
        """The settings of one call: the role's stop rule, seed ``seed + index``."""
        seed = None if self.config.seed is None else self.config.seed + index
        return SamplingParams(
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
            seed=seed,
            stop=stop,
        )

    def _next_style(self) -> str:
        return self._rng.choice(STYLE_DIRECTIVES)

    def _all_candidates(self) -> list[Candidate]:
        return [n.candidate for n in self.nodes.values()]

    def _best(self) -> Candidate | None:
        ranked = rank(self._all_candidates())
        return ranked[0] if ranked and ranked[0].tests_passed else None

    def ranked_summaries(self) -> list[CandidateSummary]:
        ranked = rank(self._all_candidates())
        return [summarize(c, i + 1, self.current) for i, c in enumerate(ranked)]

    def _publish_ranking(self) -> None:
        ranked = self.ranked_summaries()
        key = [(c.id, c.tests_passed, c.runtime_ns) for c in ranked]
        if key != self._last_ranking:
            self._last_ranking = key
            current = summarize(self.current, 0, self.current) if self.current else None
            self._emit(RankingChanged(ranked=ranked, current=current))
        self._report_progress()

    def _report_progress(self, message: str = "") -> None:
        ranked = self.ranked_summaries()
        self._emit(
            ProgressReported(
                progress=Progress(
                    round=self._round,
                    rounds=self.config.rounds,
                    llm_calls=self.llm.usage.calls,
                    max_calls=self.llm.max_calls,
                    candidates=len(self.nodes),
                    best=ranked[0] if ranked else None,
                    message=message,
                )
            )
        )

    def _warn(self, message: str) -> None:
        self._warnings.append(message)
        self._emit(Warned(message=message))

    def _emit(self, event: SearchEvent) -> None:
        self._queue.put_nowait(event)

    def _result(self, stopped: str, error: str | None) -> SearchResult:
        usage = self.llm.usage
        return SearchResult(
            target=self.target.label,
            model=self.llm.model.identity,
            candidates=self.ranked_summaries(),
            current=summarize(self.current, 0, self.current) if self.current else None,
            tests_total=len(self.tests),
            test_sources=self.test_sources,
            llm_calls=usage.calls,
            cached_calls=usage.cached_calls,
            prompt_tokens=usage.prompt_tokens,
            prompt_tokens_reused=usage.prompt_tokens_reused,
            completion_tokens=usage.completion_tokens,
            elapsed_s=round(time.monotonic() - self._started, 3),
            dropped_replies=self.dropped_replies,
            duplicates=self.duplicates,
            stopped=stopped,
            error=error,
            isolation=self.sandbox.isolation,
            generated_tests=list(self.generated.tests) if self.generated else [],
            generated_imports=self.generated.imports if self.generated else "",
            scale_note=self.scale_note,
        )
