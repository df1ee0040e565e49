"""Scores and ranking: the outcome score from execution, the combined beam score, the final order.

Outcome score, as in ORPS: ``ω = pass_ratio · (1 + 0.5·static + 0.5·dynamic)`` in [0, 2], where
``static`` averages ``1/(1 + x/scale)`` over AST size, cyclomatic complexity and line count, and
``dynamic`` is the candidate's time and memory relative to the best passing candidate so far
(1 for the best, smaller for slower ones). The beam keeps children by
``q = 0.5·(ρ−1)/4 + 0.5·ω/2`` with ρ the critic's 1..5 score, both terms scaled to [0, 1].

The final ranking puts every flagged candidate (the tampering screen's findings, a protocol
violation, tampered timings) after every unflagged one, so a flagged candidate is never first;
within each group it prefers the higher visible pass ratio (a timed-out test is one failed test),
then the lower measured runtime, then the higher score. Two runtimes count as different only when their difference exceeds the
measurement noise (``orps_sandbox.compare_runtime``); otherwise the candidates tie on speed and
the next key decides.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Sequence

from orps.search.comparison import comparison_fields
from orps.search.records import GENERATED_TEST_PREFIX, Candidate, CandidateSummary
from orps.search.scaling import largest_common_scale, runtime_at
from orps_sandbox import ExecutionReport, TestStatus, compare_runtime, screen, total_runtime

STATIC_SCALES = {"nodes": 120.0, "complexity": 10.0, "lines": 30.0}


def apply_report(candidate: Candidate, report: ExecutionReport, tests_total: int) -> None:
    """Fill the candidate's figures from what the sandbox measured."""
    candidate.execution = report
    candidate.flags = list(dict.fromkeys([*screen(candidate.code).reasons, *report.flags]))
    if report.flagged and not report.flags:
        candidate.flags.append(f"the sandbox reported {report.status}")
    candidate.tests_total = tests_total
    passing = [t for t in report.tests if t.status is TestStatus.PASSED]
    own = [t for t in passing if not t.id.startswith(GENERATED_TEST_PREFIX)]
    candidate.tests_passed = len(own) if report.status == "completed" or tests_total else 0
    timed = [t for t in passing if t.wall_ns is not None]
    if timed:
        total, noise = total_runtime([(t.wall_ns or 0, t.wall_ns_spread or 0) for t in timed])
        candidate.runtime_ns = round(total / len(timed))
        candidate.runtime_noise_ns = round(noise / len(timed))
    else:
        candidate.runtime_ns = None
        candidate.runtime_noise_ns = None
    peaks = [t.peak_memory_bytes for t in report.tests if t.peak_memory_bytes is not None]
    candidate.peak_memory_bytes = max(peaks) if peaks else report.peak_rss_bytes


def static_quality(code: str) -> float:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0.0
    nodes = sum(1 for _ in ast.walk(tree))
    branches = sum(
        1
        for n in ast.walk(tree)
        if isinstance(
            n,
            ast.If
            | ast.For
            | ast.While
            | ast.AsyncFor
            | ast.ExceptHandler
            | ast.BoolOp
            | ast.IfExp
            | ast.comprehension
            | ast.Match,
        )
    )
    lines = sum(
        1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#")
    )
    terms = (
        1 / (1 + nodes / STATIC_SCALES["nodes"]),
        1 / (1 + (1 + branches) / STATIC_SCALES["complexity"]),
        1 / (1 + lines / STATIC_SCALES["lines"]),
    )
    return sum(terms) / len(terms)


def rescore(candidates: Iterable[Candidate]) -> None:
    """Recompute outcome and combined scores against the current best passing figures."""
    pool = list(candidates)
    times = [c.runtime_ns for c in pool if c.runtime_ns and c.tests_passed]
    mems = [c.peak_memory_bytes for c in pool if c.peak_memory_bytes and c.tests_passed]
    best_time = min(times) if times else None
    best_mem = min(mems) if mems else None
    for c in pool:
        ratio = c.pass_ratio if c.valid or c.tests_passed else 0.0
        dynamic_terms: list[float] = []
        if best_time and c.runtime_ns:
            dynamic_terms.append(best_time / c.runtime_ns)
        if best_mem and c.peak_memory_bytes:
            dynamic_terms.append(best_mem / c.peak_memory_bytes)
        dynamic = sum(dynamic_terms) / len(dynamic_terms) if dynamic_terms else 0.0
        c.outcome_score = round(ratio * (1 + 0.5 * static_quality(c.code) + 0.5 * dynamic), 4)
        c.process_score = float(c.critique.score) if c.critique else 3.0
        c.score = round(0.5 * (c.process_score - 1) / 4 + 0.5 * c.outcome_score / 2, 4)


def runtimes_differ(a: Candidate, b: Candidate) -> bool:
    """True when the runtimes differ by more than their noise (the sandbox's rule)."""
    if a.runtime_ns is None or b.runtime_ns is None:
        return a.runtime_ns != b.runtime_ns
    return (
        compare_runtime(
            a.runtime_ns, a.runtime_noise_ns or 0, b.runtime_ns, b.runtime_noise_ns or 0
        )
        != 0
    )


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best first: unflagged before flagged, then pass ratio, generated tests passed, runtime (ties within noise), score
    and memory."""
    clean = [c for c in candidates if not c.flagged]
    flagged = [c for c in candidates if c.flagged]
    return _rank_group(clean) + _rank_group(flagged)


def _rank_group(candidates: Sequence[Candidate]) -> list[Candidate]:
    by_ratio: dict[tuple[float, int], list[Candidate]] = {}
    for c in candidates:
        key = (round(c.pass_ratio if c.valid else -1.0, 9), c.generated_passed)
        by_ratio.setdefault(key, []).append(c)
    ordered: list[Candidate] = []
    for ratio in sorted(by_ratio, reverse=True):
        group = sorted(
            by_ratio[ratio],
            key=lambda c: (c.runtime_ns is None, c.runtime_ns or 0, -c.score, c.id),
        )
        buckets = scale_buckets(group)
        if buckets is None:  # nobody was timed at scale: compare test runtimes
            buckets = []
            for c in group:
                if buckets and not runtimes_differ(buckets[-1][0], c):
                    buckets[-1].append(c)
                else:
                    buckets.append([c])
        for bucket in buckets:
            ordered.extend(
                sorted(
                    bucket,
                    key=lambda c: (-c.score, c.peak_memory_bytes or 0, c.runtime_ns or 0, c.id),
                )
            )
    return ordered


def scale_buckets(group: Sequence[Candidate]) -> list[list[Candidate]] | None:
    """Speed buckets from runtimes at scale, fastest first; None when no one was measured.

    Candidates measured at every scale are compared at the largest scale they all reached; those
    that timed out (or failed) at some scale follow, the furthest-reaching first; candidates
    never measured at scale come last, in test-runtime order.
    """
    if not any(c.scaling for c in group):
        return None
    complete = [c for c in group if c.scaling and c.scale_timeout is None]
    stopped = [c for c in group if c.scale_timeout is not None]
    unmeasured = [c for c in group if not c.scaling and c.scale_timeout is None]
    buckets: list[list[Candidate]] = []
    common = largest_common_scale(complete)
    if common is not None:
        points = {c.id: runtime_at(c, common) for c in complete}
        complete.sort(key=lambda c: (getattr(points[c.id], "runtime_ns", 0), c.id))
        for c in complete:
            here = points[c.id]
            head = points[buckets[-1][0].id] if buckets else None
            if (
                head is not None
                and here is not None
                and compare_runtime(here.runtime_ns, here.noise_ns, head.runtime_ns, head.noise_ns)
                == 0
            ):
                buckets[-1].append(c)
            else:
                buckets.append([c])
    else:
        buckets.extend([c] for c in complete)
    stopped.sort(
        key=lambda c: (
            -(c.scale_timeout or 0),
            -(c.scaling[-1].scale if c.scaling else 0),
            c.scaling[-1].runtime_ns if c.scaling else 0,
        )
    )
    buckets.extend([c] for c in stopped)
    buckets.extend([c] for c in unmeasured)
    return buckets


def select_beam(children: Sequence[Candidate], width: int) -> list[Candidate]:
    """The top ``width`` children by the combined score (ties: pass ratio, then runtime);
    flagged children only when there are not enough others."""
    return sorted(
        children,
        key=lambda c: (c.flagged, -c.score, -c.pass_ratio, c.runtime_ns or math.inf, c.id),
    )[:width]


def short_test_id(test_id: str) -> str:
    """``/abs/path/test_x.py::test_y`` → ``test_x.py::test_y``; other ids unchanged."""
    path, sep, rest = test_id.partition("::")
    if sep:
        return f"{path.rsplit('/', 1)[-1]}::{rest}"
    return test_id.rsplit("/", 1)[-1]


def failure_headline(detail: str) -> str:
    """One line from a failure's detail: pytest's failing line and its first explanation."""
    lines = [line for line in detail.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    source = next((ln[1:].strip() for ln in lines if ln.startswith(">")), None)
    explanation = next((ln[1:].strip() for ln in lines if ln.startswith("E ")), None)
    if source and explanation:
        return f"{source}  ({explanation})"
    return explanation or lines[0].strip()


def summarize(
    candidate: Candidate, rank_number: int, current: Candidate | None = None
) -> CandidateSummary:
    report = candidate.execution
    failures = [
        f"{short_test_id(t.id)}: {t.status}: {failure_headline(t.detail)}"
        for t in (report.tests if report else [])
        if t.status is not TestStatus.PASSED
    ][:10]
    if report is not None and report.status != "completed":
        failures.insert(0, f"{report.status}: {report.detail.strip()[:300]}")
    for flag in reversed(candidate.flags[:5]):
        failures.insert(0, f"flagged: {flag}")
    return CandidateSummary(
        rank=rank_number,
        id=candidate.id,
        code=candidate.code,
        reasoning=candidate.reasoning,
        tests_passed=candidate.tests_passed,
        tests_total=candidate.tests_total,
        runtime_ns=candidate.runtime_ns,
        runtime_noise_ns=candidate.runtime_noise_ns,
        peak_memory_bytes=candidate.peak_memory_bytes,
        score=candidate.score,
        process_score=candidate.process_score,
        outcome_score=candidate.outcome_score,
        round=candidate.round,
        status=str(report.status) if report else "not_run",
        failures=failures,
        flags=list(candidate.flags),
        generated_passed=candidate.generated_passed,
        generated_total=candidate.generated_total,
        scaling=list(candidate.scaling),
        growth=candidate.growth,
        scale_timeout=candidate.scale_timeout,
        scale_outlier=candidate.scale_outlier,
    ).model_copy(update=comparison_fields(candidate, current))
