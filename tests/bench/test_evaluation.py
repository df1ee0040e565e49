"""Metric arithmetic on known reports, and EvalPlus expected outputs computed in the real sandbox."""

from __future__ import annotations

from pathlib import Path

from orps.bench.datasets import MODULE_NAME, PlusTask, load_tasks, rewrite_code_import
from orps.bench.evaluation import (
    complete_tasks,
    head_to_head,
    held_out_score,
    summaries,
    summarize,
)
from orps.bench.expected import resolve_expected
from orps.bench.outcomes import Method, TaskOutcome
from orps_sandbox import (
    ExecutionReport,
    ExecutionStatus,
    ModuleSpec,
    Sandbox,
    TestResult,
    TestStatus,
)

FIXTURES = Path(__file__).parent / "fixtures"


def report(times: dict[str, int | None], failed: tuple[str, ...] = ()) -> ExecutionReport:
    tests = [TestResult(id=i, status=TestStatus.PASSED, wall_ns=t) for i, t in times.items()]
    tests += [TestResult(id=i, status=TestStatus.FAILED) for i in failed]
    return ExecutionReport(status=ExecutionStatus.COMPLETED, tests=tests)


def test_tests_the_reference_fails_are_dropped_and_runtime_is_capped() -> None:
    reference = report({"a": 100, "b": 100}, failed=("broken",))
    answer = report({"a": 5000, "b": 900}, failed=("broken",))
    score = held_out_score(reference, answer)
    assert (score.passed, score.total, score.dropped) == (2, 2, 1)
    assert score.relative_runtime == 10.0  # (5000 + 900) / 2 ÷ 100 = 29.5, capped


def test_runtime_compares_only_the_tests_the_answer_passes() -> None:
    reference = report({"a": 100, "b": 300})
    answer = report({"a": 150}, failed=("b",))
    score = held_out_score(reference, answer)
    assert (score.passed, score.total) == (1, 2)
    assert score.relative_runtime == 1.5


def outcome(task: str, passed: int, total: int, ratio: float | None) -> TaskOutcome:
    return TaskOutcome(
        dataset="mbpp",
        task_id=task,
        method=Method.BON,
        budget=20,
        held_out_passed=passed,
        held_out_total=total,
        valid=True,
        relative_runtime=ratio,
        llm_calls=20,
    )


def test_summary_follows_the_paper_formulas() -> None:
    rows = [outcome("t1", 4, 4, 0.8), outcome("t2", 1, 2, 1.2), outcome("t3", 0, 3, None)]
    summary = summarize(rows, "mbpp", Method.BON, 20)
    assert summary.pass_at_1 == 33.33
    assert summary.mean_pass_ratio == 0.5
    # mean capped ratio over timed tasks (1.0) ÷ mean pass fraction (0.5)
    assert summary.relative_runtime == 2.0
    assert summary.timed_tasks == 2 and summary.mean_llm_calls == 20


def test_methods_are_compared_only_on_tasks_every_method_finished() -> None:
    bon = [outcome("t1", 4, 4, 1.0), outcome("t2", 2, 2, 1.0)]
    orps = [outcome("t1", 0, 4, None).model_copy(update={"method": Method.ORPS})]
    kept = complete_tasks([*bon, *orps])
    assert sorted((o.task_id, o.method.value) for o in kept) == [("t1", "bon"), ("t1", "orps")]
    by_method = {s.method: s for s in summaries(kept)}
    assert by_method[Method.BON].tasks == 1 and by_method[Method.BON].pass_at_1 == 100.0
    assert by_method[Method.ORPS].tasks == 1 and by_method[Method.ORPS].pass_at_1 == 0.0


def test_head_to_head_counts_tasks_where_orps_is_higher_equal_or_lower() -> None:
    def as_method(o: TaskOutcome, method: Method) -> TaskOutcome:
        return o.model_copy(update={"method": method})

    bon = [outcome("t1", 1, 4, None), outcome("t2", 2, 2, 1.0), outcome("t3", 1, 3, None)]
    orps = [
        as_method(outcome("t1", 3, 4, 1.0), Method.ORPS),
        as_method(outcome("t2", 2, 2, 1.0), Method.ORPS),
        as_method(outcome("t3", 0, 3, None), Method.ORPS),
        as_method(outcome("t4", 1, 1, 1.0), Method.ORPS),  # no bon outcome: not compared
        as_method(outcome("t5", 0, 0, None), Method.ORPS),  # unscorable: not compared
    ]
    [duel] = head_to_head([*bon, *orps], Method.ORPS)
    assert (duel.other, duel.budget) == (Method.BON, 20)
    assert (duel.better, duel.same, duel.worse) == (1, 1, 1)


def test_code_imports_are_rewritten_to_the_candidate_module() -> None:
    assert rewrite_code_import("from code import f, g\n") == f"from {MODULE_NAME} import f, g\n"


async def test_evalplus_outputs_come_from_the_reference_in_the_sandbox() -> None:
    tasks = load_tasks(FIXTURES, "mbppplus", plus_limit=5)
    plus = [t for t in tasks if isinstance(t, PlusTask)]
    assert [t.task_id for t in plus] == ["Mbpp/3", "Mbpp/4"]
    async with Sandbox() as sandbox:
        ready = [await resolve_expected(t, sandbox) for t in plus]
        prime = ready[0]
        assert len(prime.visible) == 5 and len(prime.held_out) == 5
        assert prime.visible[0].source == "assert is_not_prime(*[1]) == True"
        reference = ModuleSpec(
            name=MODULE_NAME, source=prime.reference_source, filename="ref.py", entry=prime.entry
        )
        wrong = ModuleSpec(
            name=MODULE_NAME,
            source="def is_not_prime(n):\n    return False\n",
            filename="wrong.py",
            entry=prime.entry,
        )
        tests = [*prime.visible, *prime.held_out]
        good, bad = await sandbox.run_many([(reference, tests), (wrong, tests)])
    assert good.passed == len(tests)
    assert 0 < bad.passed < len(tests)


def test_tasks_without_a_scorable_held_out_test_are_left_out() -> None:
    rows = [outcome("t1", 2, 2, 1.0), outcome("t2", 0, 0, None)]
    summary = summarize(rows, "mbpp", Method.BON, 20)
    assert (summary.tasks, summary.unscorable, summary.pass_at_1) == (1, 1, 100.0)
