"""Scoring an answer on the held-out tests, and the paper's metrics over many outcomes.

The answer and the dataset's reference solution run on the held-out tests in one sandbox batch,
so both are timed on the same machine under the same load, interleaved. A held-out test the
reference itself fails is a broken test (the public splits have a few): it is dropped from the
score and counted. Relative runtime per task is the answer's mean time over the tests it passes
divided by the reference's mean over the same tests, capped at 10×. Over tasks (the paper's
Time): the mean of those ratios divided by the mean held-out pass fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orps.bench.datasets import MODULE_NAME, BenchTask
from orps.bench.outcomes import Method, MethodSummary, TaskOutcome
from orps.project.target import FunctionTarget
from orps.search.beam import module_spec
from orps_sandbox import ExecutionReport, ModuleSpec, Sandbox, TestStatus

RUNTIME_CAP = 10.0
SANDBOX_START_FAILURE = "the sandbox failed to start"


@dataclass(frozen=True)
class HeldOutScore:
    passed: int
    total: int
    dropped: int
    valid: bool
    candidate_runtime_ns: int | None
    reference_runtime_ns: int | None

    @property
    def relative_runtime(self) -> float | None:
        if not self.candidate_runtime_ns or not self.reference_runtime_ns:
            return None
        return round(min(RUNTIME_CAP, self.candidate_runtime_ns / self.reference_runtime_ns), 4)


def reference_spec(task: BenchTask) -> ModuleSpec:
    return ModuleSpec(
        name=MODULE_NAME,
        source=task.reference_source,
        filename=f"<reference {task.task_id}>",
        entry=task.entry,
    )


def _passing_times(report: ExecutionReport) -> dict[str, int | None]:
    if report.status != "completed":
        return {}
    return {t.id: t.wall_ns for t in report.tests if t.status is TestStatus.PASSED}


def _mean(values: Sequence[int]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def held_out_score(reference: ExecutionReport, answer: ExecutionReport | None) -> HeldOutScore:
    """Compare the answer's held-out results with the reference's from the same batch."""
    reference_times = _passing_times(reference)
    total = len(reference_times)
    dropped = len(reference.tests) - total if reference.tests else 0
    if answer is None:
        return HeldOutScore(0, total, dropped, False, None, None)
    answer_times = _passing_times(answer)
    passed_ids = [i for i in answer_times if i in reference_times]
    timed = [i for i in passed_ids if answer_times[i] and reference_times[i]]
    return HeldOutScore(
        passed=len(passed_ids),
        total=total,
        dropped=dropped,
        valid=answer.status == "completed",
        candidate_runtime_ns=_mean([answer_times[i] or 0 for i in timed]),
        reference_runtime_ns=_mean([reference_times[i] or 0 for i in timed]),
    )


async def score_answer(
    task: BenchTask, target: FunctionTarget, code: str | None, sandbox: Sandbox
) -> HeldOutScore:
    """Run the reference and the answer on the held-out tests, interleaved in one batch."""
    tests = list(task.held_out)
    jobs = [(reference_spec(task), tests)]
    if code is not None:
        jobs.append((module_spec(target, code), tests))
    reports = await sandbox.run_many(jobs)
    if any(SANDBOX_START_FAILURE in r.detail for r in reports):
        reports = await sandbox.run_many(jobs)  # an infrastructure hiccup, not the code: once more
    return held_out_score(reports[0], reports[1] if code is not None else None)


def summarize(
    outcomes: Iterable[TaskOutcome], dataset: str, method: Method, budget: int
) -> MethodSummary:
    """The paper's metrics over the outcomes of one method and budget."""
    every = list(outcomes)
    # A task whose reference passes no held-out test cannot be scored (its tests are broken).
    rows = [o for o in every if o.held_out_total > 0]
    unscorable = len(every) - len(rows)
    count = len(rows)
    if count == 0:
        return MethodSummary(
            dataset=dataset,
            method=method,
            budget=budget,
            tasks=0,
            pass_at_1=0.0,
            mean_pass_ratio=0.0,
            valid_ratio=0.0,
            unscorable=unscorable,
        )
    mean_pass = sum(o.pass_ratio for o in rows) / count
    ratios = [o.relative_runtime for o in rows if o.relative_runtime is not None]
    relative = None
    if ratios and mean_pass > 0:
        relative = round(sum(ratios) / len(ratios) / mean_pass, 4)
    wall = sum(o.wall_s for o in rows)
    return MethodSummary(
        dataset=dataset,
        method=method,
        budget=budget,
        tasks=count,
        pass_at_1=round(100 * sum(o.passed_all for o in rows) / count, 2),
        mean_pass_ratio=round(mean_pass, 4),
        valid_ratio=round(sum(o.valid for o in rows) / count, 4),
        relative_runtime=relative,
        timed_tasks=len(ratios),
        mean_llm_calls=round(sum(o.llm_calls for o in rows) / count, 2),
        mean_tokens=round(sum(o.prompt_tokens + o.completion_tokens for o in rows) / count, 1),
        mean_wall_s=round(wall / count, 2),
        total_wall_s=round(wall, 1),
        errors=sum(1 for o in rows if o.error),
        unscorable=unscorable,
    )


def complete_tasks(outcomes: Sequence[TaskOutcome]) -> list[TaskOutcome]:
    """The outcomes of the tasks that every (method, budget) of the run has finished.

    Methods are only compared on the same tasks: a run stopped part way through a task (or
    resumed with another method added) leaves tasks that some methods have not seen.
    """
    groups = {(o.method, o.budget) for o in outcomes}
    seen: dict[tuple[str, str], set[tuple[Method, int]]] = {}
    for o in outcomes:
        seen.setdefault((o.dataset, o.task_id), set()).add((o.method, o.budget))
    return [o for o in outcomes if seen[(o.dataset, o.task_id)] == groups]


@dataclass(frozen=True)
class HeadToHead:
    """Per task, one method's held-out pass ratio against another's at the same budget."""

    method: Method
    other: Method
    budget: int
    better: int
    same: int
    worse: int


def head_to_head(outcomes: Sequence[TaskOutcome], method: Method) -> list[HeadToHead]:
    """``method`` against every other method, task by task, on tasks both finished and scored.

    With a few tasks, the per-task comparison says more than differences of means.
    """
    index = {o.key: o for o in outcomes if o.held_out_total > 0}
    result = []
    pairs = sorted(
        {(o.method, o.budget) for o in outcomes if o.method is not method},
        key=lambda g: (g[1], list(Method).index(g[0])),
    )
    for other, budget in pairs:
        tally = [0, 0, 0]
        for key, mine in index.items():
            if key[2] != method.value or key[3] != budget:
                continue
            theirs = index.get((key[0], key[1], other.value, budget))
            if theirs is None:
                continue
            diff = mine.pass_ratio - theirs.pass_ratio
            tally[0 if diff > 0 else 1 if diff == 0 else 2] += 1
        if sum(tally):
            result.append(HeadToHead(method, other, budget, *tally))
    return result


def summaries(outcomes: Sequence[TaskOutcome]) -> list[MethodSummary]:
    """Per dataset and over all datasets, for every (method, budget) present.

    Pass ``complete_tasks(outcomes)`` to compare the methods on the same tasks.
    """
    datasets = sorted({o.dataset for o in outcomes})
    groups = sorted(
        {(o.method, o.budget) for o in outcomes}, key=lambda g: (g[1], list(Method).index(g[0]))
    )
    result: list[MethodSummary] = []
    scopes = [*datasets, "all"] if len(datasets) > 1 else datasets
    for scope in scopes:
        for method, budget in groups:
            rows = [
                o
                for o in outcomes
                if o.method is method and o.budget == budget and scope in ("all", o.dataset)
            ]
            if rows:
                result.append(summarize(rows, scope, method, budget))
    return result
