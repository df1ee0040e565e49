"""Typed records of a search: candidates, critiques, events and the final result.

Front ends (the command line, the language server, the benchmark harness) consume these and
serialise them as they are; nothing downstream builds result dictionaries by hand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from orps_sandbox import ExecutionReport, ExecutionStatus, IsolationInfo

RAN_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.TIMEOUT})
"""Execution statuses under which a candidate's test results count (pass ratio)."""

GENERATED_TEST_PREFIX = "generated:"
"""Test ids of generated tests start with this; everything else is the user's."""


class ScalePoint(BaseModel):
    """The runtime of one call on the input ``perf_input(scale)`` (median of repetitions)."""

    scale: int
    runtime_ns: int
    noise_ns: int = 0


class GeneratedTest(BaseModel):
    """One test the test writer produced, kept or dropped with the reason."""

    id: str = Field(description="'generated:<function name>'.")
    source: str = Field(description="The test function's source.")
    kept: bool = True
    reason: str = Field("", description="Why it was dropped (empty when kept).")


class Origin(StrEnum):
    """Where a candidate came from."""

    GENERATED = "generated"
    CURRENT = "current"


class Critique(BaseModel):
    """The critic's verdict on one step."""

    text: str = ""
    score: int = Field(3, ge=1, le=5, description="Process score, clamped to 1..5.")
    done: bool = False
    parsed: bool = Field(True, description="False when the reply was malformed (neutral score).")


class Candidate(BaseModel):
    """One distinct implementation the search produced, with what executing it showed."""

    id: str = Field(description="Stable id: a hash of the candidate's normalised AST.")
    code: str = Field(description="The function's source, as it would replace the original.")
    reasoning: str = ""
    round: int = 0
    parent_id: str | None = None
    style: str = ""
    origin: Origin = Origin.GENERATED
    execution: ExecutionReport | None = None
    critique: Critique | None = None
    tests_passed: int = 0
    tests_total: int = 0
    runtime_ns: int | None = Field(
        None, description="Mean over passing tests of the per-test median wall time."
    )
    runtime_noise_ns: int | None = Field(None, description="Noise estimate of runtime_ns.")
    peak_memory_bytes: int | None = None
    generated_passed: int = 0
    generated_total: int = 0
    scaling: list[ScalePoint] = Field(default_factory=list)
    growth: float | None = Field(None, description="Slope of log runtime against log scale.")
    scale_timeout: int | None = Field(None, description="The scale at which it timed out.")
    scale_outlier: bool = False
    outcome_score: float = 0.0
    process_score: float = 3.0
    score: float = 0.0
    flags: list[str] = Field(
        default_factory=list,
        description="Why this candidate's results are not trusted: the tampering screen's "
        "findings and the sandbox's integrity findings. A flagged candidate is never ranked "
        "first, preferred or applied.",
    )

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def pass_ratio(self) -> float:
        if self.tests_total == 0:
            return 1.0 if self.valid else 0.0
        return self.tests_passed / self.tests_total

    @property
    def valid(self) -> bool:
        """It imported and ran its tests (whatever they said: a test that timed out is one
        failed test, not an invalid candidate)."""
        return self.execution is not None and self.execution.status in RAN_STATUSES


class CandidateSummary(BaseModel):
    """The public, serialisable view of a ranked candidate (the CLI's ``--json`` fields)."""

    rank: int
    id: str
    code: str
    reasoning: str
    tests_passed: int
    tests_total: int
    runtime_ns: int | None
    runtime_noise_ns: int | None
    peak_memory_bytes: int | None
    score: float
    process_score: float
    outcome_score: float
    round: int
    status: str
    failures: list[str] = Field(default_factory=list)
    speedup_vs_current: float | None = Field(
        None, description="The same figure as ``speedup`` (kept for older readers)."
    )
    # The comparison with the current code (``orps.search.comparison``): on the tests both pass.
    origin: str = Field("generated", description="generated | current")
    compared_tests: int = Field(0, description="Tests both this and the current code pass.")
    runtime_compared_ns: int | None = Field(
        None, description="Sum over the compared tests of this candidate's per-test medians."
    )
    current_runtime_compared_ns: int | None = Field(
        None, description="The same sum for the current code."
    )
    speedup: float | None = Field(
        None,
        description="current_runtime_compared_ns ÷ runtime_compared_ns; None without a "
        "baseline, without a compared test, or when this fails a test the current code passes.",
    )
    tie: bool = Field(False, description="The two compared runtimes are within noise.")
    ratio_text: str = Field("", description="'3.2× faster', '140× slower', '≈ same' or ''.")
    preferred: bool = Field(False, description="The one candidate offered over the current code.")
    fails_current_tests: bool = Field(
        False, description="Fails at least one test the current code passes."
    )
    current_tests_failed: int = Field(
        0, description="How many tests the current code passes that this one fails."
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Integrity findings: why this candidate may not be ranked first or applied.",
    )
    generated_passed: int = 0
    generated_total: int = 0
    scaling: list[ScalePoint] = Field(default_factory=list)
    growth: float | None = None
    scale_timeout: int | None = None
    scale_outlier: bool = Field(
        False, description="Its outputs on the scale inputs differ from most passing candidates."
    )


class Progress(BaseModel):
    round: int
    rounds: int
    llm_calls: int
    max_calls: int
    candidates: int
    best: CandidateSummary | None = None
    message: str = ""


class SearchStarted(BaseModel):
    kind: Literal["started"] = "started"
    target: str
    tests_total: int
    test_sources: list[str]
    model: str
    isolation: str
    isolation_reasons: list[str] = Field(
        default_factory=list, description="Why the sandbox is weaker than bubblewrap + seccomp."
    )


class CandidateEvaluated(BaseModel):
    kind: Literal["candidate"] = "candidate"
    candidate: Candidate


class RankingChanged(BaseModel):
    kind: Literal["ranking"] = "ranking"
    ranked: list[CandidateSummary]
    current: CandidateSummary | None = None


class ProgressReported(BaseModel):
    kind: Literal["progress"] = "progress"
    progress: Progress


class Warned(BaseModel):
    kind: Literal["warning"] = "warning"
    message: str


class SearchResult(BaseModel):
    """The final answer: every distinct candidate, ranked best first."""

    target: str
    model: str = ""
    candidates: list[CandidateSummary]
    current: CandidateSummary | None = None
    tests_total: int = 0
    test_sources: list[str] = Field(default_factory=list)
    llm_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_reused: int = Field(
        0,
        description="Of prompt_tokens, those the embedded model served from its KV cache "
        "rather than evaluated.",
    )
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    dropped_replies: int = Field(0, description="Programmer replies without code.")
    duplicates: int = Field(0, description="Candidates whose AST matched an earlier one.")
    stopped: str = Field(
        "completed", description="completed | budget | cancelled | model_error | error"
    )
    error: str | None = None
    isolation: IsolationInfo | None = Field(
        None, description="The sandbox's confinement in force and why it is weaker, if it is."
    )
    baseline: str = Field("none", description="current | none (the function is a stub)")
    verdict: str = Field("", description="One line: the preferred candidate, or why none is.")
    generated_tests: list[GeneratedTest] = Field(default_factory=list)
    generated_imports: str = Field("", description="The import lines of the generated tests.")
    scale_note: str | None = Field(None, description="Why runtimes at scale are missing, if so.")


class SearchFinished(BaseModel):
    kind: Literal["finished"] = "finished"
    result: SearchResult


SearchEvent = Annotated[
    SearchStarted
    | CandidateEvaluated
    | RankingChanged
    | ProgressReported
    | Warned
    | SearchFinished,
    Field(discriminator="kind"),
]
