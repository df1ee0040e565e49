"""Typed records of a search: candidates, critiques, events and the final result.

Front ends (the command line, the language server, the benchmark harness) consume these and
serialise them as they are; nothing downstream builds result dictionaries by hand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from orps_sandbox import ExecutionReport

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

    @property
    def pass_ratio(self) -> float:
        if self.tests_total == 0:
            return 1.0 if self.valid else 0.0
        return self.tests_passed / self.tests_total

    @property
    def valid(self) -> bool:
        """It imported and ran to the end (whatever its tests said)."""
        return self.execution is not None and self.execution.status == "completed"


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
        None, description="Current runtime ÷ this runtime, when both were measured."
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
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    dropped_replies: int = Field(0, description="Programmer replies without code.")
    duplicates: int = Field(0, description="Candidates whose AST matched an earlier one.")
    stopped: str = Field("completed", description="completed | budget | cancelled | model_error")
    error: str | None = None
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
