"""The one rule for comparing a candidate with the current code, used by every view.

Runtimes are compared only on the tests both the candidate and the current code pass: for each
such test the sandbox's median wall time of each side, summed over those tests (the same
aggregation everywhere), with their noise estimates summed likewise. The two sums tie when the
sandbox's rule (``orps_sandbox.compare_runtime``) cannot tell them apart. A candidate that fails
a test the current code passes gets no speed-up at all: it is never called faster. A candidate
is *preferred* (offered first, "best" in the lens) only when it passes every test the current
code passes and is either faster beyond noise or passes strictly more tests without being
slower beyond noise; with a stub (no baseline), the best-ranked candidate that passes every
test is preferred. ``verdict`` is the one line every view shows about that choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orps.search.records import (
    Candidate,
    CandidateSummary,
    RankingChanged,
    SearchEvent,
    SearchFinished,
    SearchResult,
)
from orps.units import format_ratio
from orps_sandbox import ExecutionReport, TestResult, TestStatus, compare_runtime, total_runtime


@dataclass(frozen=True)
class Comparison:
    """How one candidate compares with the current code on the tests both pass."""

    compared_tests: int = 0
    runtime_ns: int | None = None
    current_runtime_ns: int | None = None
    speedup: float | None = None
    tie: bool = False
    current_tests_failed: int = 0
    """Tests the current code passes that this candidate does not."""

    @property
    def ratio_text(self) -> str:
        return format_ratio(self.speedup, self.tie)


def timed_passes(report: ExecutionReport | None) -> dict[str, TestResult]:
    """The tests a report passed, by id (times may be missing: the caller checks)."""
    if report is None or report.status != "completed":
        return {}
    return {t.id: t for t in report.tests if t.status is TestStatus.PASSED}


def compare_with_current(candidate: Candidate, current: Candidate | None) -> Comparison:
    """The candidate against the current code, per test, on the tests both pass."""
    if current is None:
        return Comparison()
    mine, theirs = timed_passes(candidate.execution), timed_passes(current.execution)
    failed = sum(1 for test_id in theirs if test_id not in mine)
    both = [
        (mine[i], theirs[i])
        for i in theirs
        if i in mine and mine[i].wall_ns is not None and theirs[i].wall_ns is not None
    ]
    if not both:
        return Comparison(current_tests_failed=failed)
    own, own_noise = total_runtime([(a.wall_ns or 0, a.wall_ns_spread or 0) for a, _ in both])
    base, base_noise = total_runtime([(b.wall_ns or 0, b.wall_ns_spread or 0) for _, b in both])
    if candidate.origin == "current" or candidate.id == current.id:
        return Comparison(len(both), own, base)
    tie = compare_runtime(own, own_noise, base, base_noise) == 0
    speedup = round(base / own, 4) if own > 0 and not failed else None
    return Comparison(
        compared_tests=len(both),
        runtime_ns=own,
        current_runtime_ns=base,
        speedup=speedup,
        tie=tie and not failed,
        current_tests_failed=failed,
    )


def comparison_fields(candidate: Candidate, current: Candidate | None) -> dict[str, object]:
    """The ``CandidateSummary`` fields of the comparison (``summarize`` merges them in)."""
    comparison = compare_with_current(candidate, current)
    return {
        "origin": str(candidate.origin),
        "compared_tests": comparison.compared_tests,
        "runtime_compared_ns": comparison.runtime_ns,
        "current_runtime_compared_ns": comparison.current_runtime_ns,
        "speedup": comparison.speedup,
        "speedup_vs_current": comparison.speedup,
        "tie": comparison.tie,
        "ratio_text": comparison.ratio_text,
        "fails_current_tests": comparison.current_tests_failed > 0,
        "current_tests_failed": comparison.current_tests_failed,
    }


def qualifies(candidate: CandidateSummary, current: CandidateSummary | None) -> bool:
    """Whether the candidate may be preferred over the current code (or, with a stub, at all).
    A candidate the integrity checks flagged never is."""
    if candidate.status != "completed" or candidate.flags:
        return False
    if current is None:
        return candidate.tests_total > 0 and candidate.tests_passed == candidate.tests_total
    if candidate.fails_current_tests:
        return False
    if candidate.speedup is not None and candidate.speedup > 1 and not candidate.tie:
        return True
    more_tests = candidate.tests_passed > current.tests_passed
    not_slower = candidate.tie or candidate.speedup is None or candidate.speedup >= 1
    return more_tests and not_slower


def mark_preferred(
    ranked: Sequence[CandidateSummary], current: CandidateSummary | None
) -> CandidateSummary | None:
    """Set ``preferred`` on at most one candidate (the best-ranked that qualifies); return it."""
    chosen: CandidateSummary | None = None
    for candidate in ranked:
        candidate.preferred = chosen is None and qualifies(candidate, current)
        if candidate.preferred:
            chosen = candidate
    return chosen


def verdict(ranked: Sequence[CandidateSummary], current: CandidateSummary | None) -> str:
    """One line on what the search found, relative to the current code (or to no baseline)."""
    chosen = next((c for c in ranked if c.preferred), None)
    if current is None:
        head = "no baseline: the function is a stub"
        if chosen is not None:
            return f"{head}; #{chosen.rank} passes {chosen.tests_passed}/{chosen.tests_total} tests"
        if not ranked:
            return f"{head}; no candidate yet"
        best = ranked[0]
        if best.tests_total == 0:
            generated = (
                f"; #{best.rank} passes {best.generated_passed}/{best.generated_total} "
                "generated tests"
                if best.generated_total
                else ""
            )
            return f"{head} and has no tests of yours{generated}"
        return (
            f"{head}; no candidate passes every test "
            f"(#{best.rank} passes {best.tests_passed}/{best.tests_total})"
        )
    if chosen is not None:
        if chosen.speedup is not None and chosen.speedup > 1 and not chosen.tie:
            return f"#{chosen.rank} is {chosen.ratio_text} than the current code"
        return (
            f"#{chosen.rank} passes {chosen.tests_passed}/{chosen.tests_total} tests, "
            f"the current code {current.tests_passed}/{current.tests_total}"
        )
    if not ranked:
        return "the current code stays best: no candidate yet"
    return (
        "the current code stays best: no candidate is faster beyond noise while passing its tests"
    )


def judge_result(result: SearchResult) -> None:
    """Mark the preferred candidate of a final result and say so in its verdict."""
    mark_preferred(result.candidates, result.current)
    result.baseline = "current" if result.current is not None else "none"
    result.verdict = verdict(result.candidates, result.current)


def ran_only(ranked: list[CandidateSummary]) -> None:
    """Drop (in place) candidates not yet run in the sandbox, renumbering the ranks."""
    ran = [c for c in ranked if c.status != "not_run"]
    for number, candidate in enumerate(ran, start=1):
        candidate.rank = number
    ranked[:] = ran


def judge(event: SearchEvent) -> None:
    """Keep only candidates that ran, and mark the preferred one, in the ranked lists an event
    carries (in place)."""
    if isinstance(event, RankingChanged):
        ran_only(event.ranked)
        mark_preferred(event.ranked, event.current)
    elif isinstance(event, SearchFinished):
        ran_only(event.result.candidates)
        judge_result(event.result)


def empty_reason(
    *,
    stopped: str,
    error: str | None,
    dropped_replies: int,
    duplicates: int,
    cached_calls: int,
    llm_calls: int,
) -> str:
    """Why a search produced no candidate, in words (every front end says it the same way)."""
    reasons: list[str] = []
    if stopped == "cancelled":
        reasons.append("cancelled before any candidate ran")
    if error:
        reasons.append(f"model error ({error})")
    if dropped_replies:
        reasons.append(f"{dropped_replies} reply(ies) without usable code")
    if duplicates:
        reasons.append(f"{duplicates} duplicate(s) of earlier code")
    if cached_calls:
        reasons.append(f"{cached_calls} of {llm_calls} replies replayed from the response cache")
    if not reasons:
        reasons.append(f"{llm_calls} model call(s), none gave a candidate")
    return "; ".join(reasons)
