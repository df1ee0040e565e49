"""Running the benchmark: every (task, method, budget) through the engine, recorded as it finishes.

Work units stream per task, up to ``jobs`` at once; each one gets its own budgeted
``LLMClient`` from the run's one ``Engine`` (shared model, response cache and sandbox). After every unit
the results file is rewritten atomically, so an interrupted run loses at most the units in
flight, and a rerun with the same output directory skips every key already recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orps.bench.datasets import BenchTask, PlusTask
from orps.bench.evaluation import score_answer
from orps.bench.expected import resolve_expected
from orps.bench.methods import MethodAnswer, OrpsShape, Problem, Sampling, solve
from orps.bench.outcomes import BenchRun, Method, OutcomeKey, RunSettings, TaskOutcome
from orps.model.chat import ModelAuthError, ModelUnavailable
from orps.project.target import FunctionTarget, locate_function
from orps.session import Engine

RESULTS_FILE = "results.json"


class ResultsError(Exception):
    """The results file cannot be used; one readable line."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"


class ResultsStore:
    """The run's JSON file: loaded on start, rewritten atomically after every outcome."""

    def __init__(self, out_dir: Path, settings: RunSettings, command: str) -> None:
        self.path = out_dir / RESULTS_FILE
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(
                f"cannot create the results directory {out_dir}: {exc.strerror or exc}"
            ) from None
        if self.path.exists():
            try:
                self.run = BenchRun.model_validate_json(self.path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ResultsError(
                    f"{self.path} is not a results file ({str(exc).splitlines()[0]})"
                ) from None
            previous = self.run.settings
            if (previous.model, previous.max_tokens, previous.seed) != (
                settings.model,
                settings.max_tokens,
                settings.seed,
            ):
                raise ResultsError(
                    f"{self.path} holds a run with model {previous.model!r}, max_tokens "
                    f"{previous.max_tokens}, seed {previous.seed}: use another --out to compare"
                )
        else:
            self.run = BenchRun(settings=settings, command=command, started=now())

    @property
    def finished(self) -> set[OutcomeKey]:
        return {o.key for o in self.run.outcomes}

    def add(self, outcome: TaskOutcome) -> None:
        self.run.outcomes = [o for o in self.run.outcomes if o.key != outcome.key] + [outcome]
        self.save()

    def save(self) -> None:
        self.run.updated = now()
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(self.run.model_dump_json(indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def task_target(task: BenchTask) -> FunctionTarget:
    """The stub as the engine's target; it lives in memory only (nothing on sys.path)."""
    path = Path("/orps-bench") / task.dataset / task.slug / "solution.py"
    target = locate_function(task.module_source, task.entry, path)
    return dataclasses.replace(target, search_paths=())


@dataclass
class BenchPlan:
    """What to run and with what."""

    tasks: Sequence[BenchTask | PlusTask]
    methods: Sequence[Method]
    budgets: Sequence[int]
    sampling: Sampling
    shape: OrpsShape
    jobs: int = 1


@dataclass
class BenchRunner:
    """Runs a plan through one engine (model, cache, sandbox), recording into a store."""

    engine: Engine
    store: ResultsStore
    on_unit_done: Callable[[TaskOutcome | None], None] | None = None

    def pending(self, plan: BenchPlan) -> list[tuple[BenchTask | PlusTask, Method, int]]:
        done = self.store.finished
        return [
            (task, method, budget)
            for task in plan.tasks
            for budget in plan.budgets
            for method in plan.methods
            if (task.dataset, task.task_id, method.value, budget) not in done
        ]

    async def run(self, plan: BenchPlan) -> None:
        units = self.pending(plan)
        by_task: dict[tuple[str, str], list[tuple[Method, int]]] = {}
        tasks: dict[tuple[str, str], BenchTask | PlusTask] = {}
        for task, method, budget in units:
            key = (task.dataset, task.task_id)
            by_task.setdefault(key, []).append((method, budget))
            tasks[key] = task
        gate = asyncio.Semaphore(max(1, plan.jobs))

        async def one_task(key: tuple[str, str]) -> None:
            async with gate:
                task = tasks[key]
                ready = (
                    await resolve_expected(task, self.engine.sandbox)
                    if isinstance(task, PlusTask)
                    else task
                )
                for method, budget in by_task[key]:
                    outcome = await self.run_unit(ready, method, budget, plan)
                    self.store.add(outcome)
                    if self.on_unit_done is not None:
                        self.on_unit_done(outcome)

        async with asyncio.TaskGroup() as group:
            for key in by_task:
                group.create_task(one_task(key))

    async def run_unit(
        self, task: BenchTask, method: Method, budget: int, plan: BenchPlan
    ) -> TaskOutcome:
        """One method on one task: solve with the visible tests, score on the held-out ones."""
        started = time.monotonic()
        target = task_target(task)
        llm = self.engine.client(budget)
        problem = Problem(target=target, visible=task.visible)
        try:
            answer = await solve(method, problem, llm, self.engine, plan.sampling, plan.shape)
        except (ModelUnavailable, ModelAuthError):
            raise  # the model is gone: stop the run, finished units stay recorded
        except Exception as exc:
            answer = MethodAnswer(
                code=None, stopped="error", error=f"{type(exc).__name__}: {exc}"[:500]
            )
        wall_s = round(time.monotonic() - started, 3)
        score = await score_answer(task, target, answer.code, self.engine.sandbox)
        usage = llm.usage
        return TaskOutcome(
            dataset=task.dataset,
            task_id=task.task_id,
            method=method,
            budget=budget,
            answer=answer.code,
            candidates=answer.candidates,
            visible_passed=answer.visible_passed,
            visible_total=len(task.visible),
            held_out_passed=score.passed,
            held_out_total=score.total,
            held_out_dropped=score.dropped,
            valid=score.valid,
            candidate_runtime_ns=score.candidate_runtime_ns,
            reference_runtime_ns=score.reference_runtime_ns,
            relative_runtime=score.relative_runtime,
            llm_calls=usage.calls,
            cached_calls=usage.cached_calls,
            prompt_tokens=usage.prompt_tokens,
            prompt_tokens_reused=usage.prompt_tokens_reused,
            completion_tokens=usage.completion_tokens,
            wall_s=wall_s,
            stopped=answer.stopped,
            error=answer.error,
            notes=list(task.notes),
        )
