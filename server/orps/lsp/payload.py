"""The records the server sends to clients about a function's candidates (``orps/candidates``).

They are the engine's ``CandidateSummary`` and ``Progress`` re-expressed with camelCase field
names, plus where the function is (the document URI, its qualified name and current range) and
what the comparison with the current code concluded (``baseline``, ``verdict``), or why there is
no candidate (``emptyReason``).
``docs/protocol.md`` is the contract; these models are its single implementation.
"""

from __future__ import annotations

from typing import Any, Literal

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from orps.search.records import CandidateSummary, Progress
from orps_sandbox import IsolationInfo


class WireModel(BaseModel):
    """A record serialised with camelCase names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class ScalePointView(WireModel):
    """One runtime at one input scale: ``{scale, runtimeNs, noiseNs}``."""

    scale: int
    runtime_ns: int
    noise_ns: int = 0


class GeneratedTestView(WireModel):
    """One generated test: ``{id, source, kept, reason}``."""

    id: str
    source: str
    kept: bool
    reason: str = ""


class CandidateView(CandidateSummary):
    """One ranked candidate: the CLI's ``--json`` fields, camelCase; ``id`` is stable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    scaling: list[ScalePointView] = Field(default_factory=list)  # type: ignore[assignment]

    @classmethod
    def of(cls, summary: CandidateSummary) -> CandidateView:
        return cls.model_validate(summary.model_dump())


class WirePosition(WireModel):
    line: int
    character: int


class WireRange(WireModel):
    start: WirePosition
    end: WirePosition

    @classmethod
    def of(cls, value: types.Range) -> WireRange:
        return cls(
            start=WirePosition(line=value.start.line, character=value.start.character),
            end=WirePosition(line=value.end.line, character=value.end.character),
        )


class ProgressView(WireModel):
    round: int
    rounds: int
    llm_calls: int
    max_calls: int
    candidates: int
    message: str = ""

    @classmethod
    def of(cls, progress: Progress, message: str = "") -> ProgressView:
        return cls(
            round=progress.round,
            rounds=progress.rounds,
            llm_calls=progress.llm_calls,
            max_calls=progress.max_calls,
            candidates=progress.candidates,
            message=message or progress.message,
        )


class CandidatesPayload(WireModel):
    """Everything known about the candidates of one function."""

    uri: str
    name: str
    range: WireRange
    version: int | None
    search_id: str
    running: bool
    stopped: str | None = None
    progress: ProgressView | None = None
    model: str = ""
    tests_total: int = 0
    test_sources: list[str] = []
    current_code: str = ""
    current: CandidateView | None = None
    candidates: list[CandidateView] = []
    baseline: Literal["current", "none"] = "none"
    verdict: str = ""
    empty_reason: str | None = None
    generated_tests: list[GeneratedTestView] = []
    generated_imports: str = ""
    scale_note: str | None = None

    def candidate(self, candidate_id: str) -> CandidateView | None:
        return next((c for c in self.candidates if c.id == candidate_id), None)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class RunningSearch(WireModel):
    uri: str
    name: str
    search_id: str


class IsolationView(WireModel):
    """How candidates are confined with the current settings, and why that is weaker, if it is.

    ``kind`` is ``bubblewrap`` or ``rlimits``, ``refused`` when searches cannot run (bubblewrap
    installed but unusable: ``description`` is the one-line cause and remedy), or ``checking``
    while the probe runs.
    """

    kind: str
    choice: str
    description: str = ""
    reasons: list[str] = []

    @classmethod
    def of(cls, info: IsolationInfo) -> IsolationView:
        return cls(
            kind=info.kind,
            choice=info.choice,
            description=info.description,
            reasons=list(info.reasons),
        )


class StatusPayload(WireModel):
    """``orps/status``: the model in use, the sandbox's isolation and the searches running now."""

    model: str
    running: list[RunningSearch]
    isolation: IsolationView | None = None
    settings_applied: str | None = None


class RestoreParams(WireModel):
    """``orps/restore``: the payloads a client kept across a server restart."""

    payloads: list[CandidatesPayload]
