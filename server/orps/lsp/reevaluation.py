"""Re-running a finished search's candidates against tests that changed since.

The search is not repeated: no model is called. Copies of the stored candidates (and of the
current implementation, when it was measured) are executed side by side in one sandbox batch
against the new tests, rescored and ranked exactly as the search ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orps.project.target import FunctionTarget
from orps.search.beam import execute
from orps.search.comparison import mark_preferred
from orps.search.records import Candidate, CandidateSummary
from orps.search.scoring import rank, rescore, summarize
from orps_sandbox import Sandbox, TestSpec


@dataclass(frozen=True)
class Reevaluation:
    """The re-ranked candidates and the re-measured current code."""

    ranked: list[CandidateSummary]
    current: CandidateSummary | None
    candidates: list[Candidate]
    current_candidate: Candidate | None


def fresh_copy(candidate: Candidate) -> Candidate:
    """The candidate without the figures of its previous execution (critique kept)."""
    return candidate.model_copy(
        update={
            "execution": None,
            "tests_passed": 0,
            "tests_total": 0,
            "runtime_ns": None,
            "runtime_noise_ns": None,
            "peak_memory_bytes": None,
        },
        deep=True,
    )


async def reevaluate(
    target: FunctionTarget,
    tests: Sequence[TestSpec],
    candidates: Sequence[Candidate],
    current: Candidate | None,
    sandbox: Sandbox,
) -> Reevaluation:
    """Execute copies of ``candidates`` (and ``current``) against ``tests`` and rank them."""
    pool = [fresh_copy(c) for c in candidates]
    measured_current = fresh_copy(current) if current is not None else None
    batch = [*pool, *([measured_current] if measured_current is not None else [])]
    await execute(target, tests, batch, sandbox)
    rescore(pool)
    if measured_current is not None:
        rescore([measured_current])
    ranked = [summarize(c, i + 1, measured_current) for i, c in enumerate(rank(pool))]
    current_summary = summarize(measured_current, 0, measured_current) if measured_current else None
    mark_preferred(ranked, current_summary)
    return Reevaluation(
        ranked=ranked,
        current=current_summary,
        candidates=pool,
        current_candidate=measured_current,
    )
