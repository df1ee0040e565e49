"""The one comparison rule: per test, on the tests both pass; never faster while failing a test
the current code passes; ties within noise; at most one preferred candidate; one verdict."""

from __future__ import annotations

from orps.search.comparison import compare_with_current, judge, judge_result, verdict
from orps.search.records import Candidate, Origin, RankingChanged, SearchResult
from orps.search.scoring import apply_report, summarize
from orps_sandbox import ExecutionReport, ExecutionStatus, TestResult, TestStatus


def measured(
    cid: str, times: dict[str, int | None], spread: int = 0, origin: Origin = Origin.GENERATED
) -> Candidate:
    """A candidate whose tests ran: ``None`` for a failed test, else its median wall time."""
    tests = [
        TestResult(id=name, status=TestStatus.FAILED)
        if ns is None
        else TestResult(id=name, status=TestStatus.PASSED, wall_ns=ns, wall_ns_spread=spread)
        for name, ns in times.items()
    ]
    candidate = Candidate(id=cid, code=f"def f():\n    return {cid!r}\n", origin=origin)
    apply_report(candidate, ExecutionReport(status=ExecutionStatus.COMPLETED, tests=tests), 3)
    return candidate


CURRENT = measured(
    "cur", {"tiny": 1_000, "small": 10_000, "big": 1_000_000_000}, origin=Origin.CURRENT
)


def test_runtimes_are_compared_on_the_tests_both_pass() -> None:
    fast = measured("fast", {"tiny": 500, "small": 5_000, "big": 500_000_000})
    comparison = compare_with_current(fast, CURRENT)
    assert comparison.compared_tests == 3 and not comparison.tie
    assert comparison.runtime_ns == 500_005_500
    assert comparison.current_runtime_ns == 1_000_011_000
    assert comparison.ratio_text == "2.0× faster"


def test_failing_a_current_test_is_never_faster() -> None:
    # Passes only the tiny tests, very fast there: the old mean-based figure said "54.9× faster".
    partial = measured("partial", {"tiny": 10, "small": 100, "big": None})
    comparison = compare_with_current(partial, CURRENT)
    assert comparison.current_tests_failed == 1 and comparison.compared_tests == 2
    assert comparison.speedup is None and comparison.ratio_text == "" and not comparison.tie


def test_runtimes_within_noise_tie() -> None:
    close = measured("close", {"tiny": 1_010, "small": 10_100, "big": 1_010_000_000}, spread=10**7)
    comparison = compare_with_current(close, CURRENT)
    assert comparison.tie and comparison.ratio_text == "≈ same"


def result(*candidates: Candidate, current: Candidate | None = CURRENT) -> SearchResult:
    summaries = [summarize(c, i + 1, current) for i, c in enumerate(candidates)]
    return SearchResult(
        target="m.py::f",
        candidates=summaries,
        current=summarize(current, 0, current) if current is not None else None,
    )


def test_a_slower_candidate_is_not_preferred_and_the_current_code_stays_best() -> None:
    slow = measured("slow", {"tiny": 2_000, "small": 20_000, "big": 2_000_000_000})
    final = result(slow)
    judge_result(final)
    assert not final.candidates[0].preferred
    assert final.candidates[0].ratio_text == "2.0× slower"
    assert final.baseline == "current"
    assert final.verdict.startswith("the current code stays best")


def test_the_best_ranked_qualifying_candidate_is_the_one_preferred() -> None:
    partial = measured("partial", {"tiny": 10, "small": 100, "big": None})
    fast = measured("fast", {"tiny": 500, "small": 5_000, "big": 300_000_000})
    faster = measured("faster", {"tiny": 400, "small": 4_000, "big": 200_000_000})
    final = result(partial, fast, faster)
    judge_result(final)
    assert [c.preferred for c in final.candidates] == [False, True, False]
    assert final.verdict == "#2 is 3.3× faster than the current code"
    assert final.current is not None and final.current.origin == "current"
    assert final.current.rank == 0 and final.current.speedup is None


def test_a_flagged_candidate_is_never_preferred() -> None:
    flagged = measured("flagged", {"tiny": 100, "small": 1_000, "big": 100_000_000})
    flagged.flags = ["reaches into the judge: sys._getframe"]
    fast = measured("fast", {"tiny": 500, "small": 5_000, "big": 300_000_000})
    final = result(flagged, fast)
    judge_result(final)
    assert [c.preferred for c in final.candidates] == [False, True]
    alone = result(flagged)
    judge_result(alone)
    assert not alone.candidates[0].preferred
    assert alone.verdict.startswith("the current code stays best")


def test_with_a_stub_there_is_no_baseline() -> None:
    passing = measured("ok", {"a": 100, "b": 100, "c": 100})
    final = result(passing, current=None)
    judge_result(final)
    assert final.baseline == "none" and final.candidates[0].preferred
    assert final.candidates[0].ratio_text == "" and final.candidates[0].speedup is None
    assert final.verdict == "no baseline: the function is a stub; #1 passes 3/3 tests"
    assert verdict([], None) == "no baseline: the function is a stub; no candidate yet"


def test_candidates_not_yet_run_never_appear() -> None:
    waiting = Candidate(id="waiting", code="def f():\n    return 0\n")
    ran = measured("ran", {"tiny": 500, "small": 5_000, "big": 500_000_000})
    event = RankingChanged(
        ranked=[summarize(waiting, 1, CURRENT), summarize(ran, 2, CURRENT)],
        current=summarize(CURRENT, 0, CURRENT),
    )
    judge(event)
    assert [(c.id, c.rank, c.preferred) for c in event.ranked] == [("ran", 1, True)]
