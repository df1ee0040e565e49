"""Typed records of a benchmark run: one outcome per (task, method, budget), summaries, the run file.

The results file is a ``BenchRun`` serialised as it is. Outcomes are keyed by dataset, task,
method and budget, which is what makes a run resumable: a key already present is not run again.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Method(StrEnum):
    """A way of spending the per-task LLM budget."""

    DIRECT = "direct"
    """One programmer sample: think, then code."""
    BON = "bon"
    """Best of N by visible tests, N = the budget."""
    REFLEXION = "reflexion"
    """Iterative self-repair with visible-test feedback, up to the budget."""
    ORPS = "orps"
    """The engine's beam search with programmer and critic, capped at the budget."""
    ORPS_GENERATED = "orps-generated"
    """The same search shown no visible test: only the prompt and what the test writer wrote
    (``orps bench --generated-tests``); the test writer's call counts in the budget."""


OutcomeKey = tuple[str, str, str, int]


class TaskOutcome(BaseModel):
    """How one method did on one task under one budget."""

    dataset: str
    task_id: str
    method: Method
    budget: int
    answer: str | None = Field(None, description="The final function source, or none produced.")
    candidates: int = Field(0, description="Distinct candidates the method executed.")
    visible_passed: int = 0
    visible_total: int = 0
    held_out_passed: int = 0
    held_out_total: int = Field(0, description="Held-out tests the reference solution passes.")
    held_out_dropped: int = Field(
        0, description="Held-out tests the reference itself fails (broken tests, not scored)."
    )
    valid: bool = Field(False, description="The answer imported and ran without a process error.")
    candidate_runtime_ns: int | None = Field(
        None, description="Answer's mean over its passing held-out tests."
    )
    reference_runtime_ns: int | None = Field(
        None, description="Reference's mean over the same tests, measured in the same batch."
    )
    relative_runtime: float | None = Field(
        None, description="candidate ÷ reference, capped at 10 (None when no test passed)."
    )
    llm_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_reused: int = Field(
        0, description="Of prompt_tokens, those served from the local model's KV cache."
    )
    completion_tokens: int = 0
    wall_s: float = 0.0
    stopped: str = ""
    error: str | None = None
    notes: list[str] = Field(default_factory=list, description="Data caveats, e.g. dropped inputs.")

    @property
    def key(self) -> OutcomeKey:
        return (self.dataset, self.task_id, self.method.value, self.budget)

    @property
    def passed_all(self) -> bool:
        """Pass@1: every scored held-out test passes."""
        return self.held_out_total > 0 and self.held_out_passed == self.held_out_total

    @property
    def pass_ratio(self) -> float:
        return self.held_out_passed / self.held_out_total if self.held_out_total else 0.0


class MethodSummary(BaseModel):
    """The paper's metrics for one method, budget and dataset (or all datasets)."""

    dataset: str
    method: Method
    budget: int
    tasks: int
    pass_at_1: float = Field(
        description="Percent of tasks whose answer passes every held-out test."
    )
    mean_pass_ratio: float = Field(description="Mean fraction of held-out tests passed.")
    valid_ratio: float = Field(description="Fraction of answers that ran without error.")
    relative_runtime: float | None = Field(
        None,
        description="Mean capped candidate/reference time over tasks with a passing test, "
        "divided by the mean pass fraction (the paper's Time; 1.0 = as fast as the reference).",
    )
    timed_tasks: int = 0
    mean_llm_calls: float = 0.0
    mean_tokens: float = 0.0
    mean_wall_s: float = 0.0
    total_wall_s: float = 0.0
    errors: int = 0
    unscorable: int = Field(0, description="Tasks left out: the reference passed no held-out test.")


class RunSettings(BaseModel):
    """What decides the numbers besides the methods: stated in the report."""

    model: str
    max_tokens: int
    temperature: float
    seed: int | None
    cache: bool
    data_dir: str
    machine: str
    sandbox: str = ""
    sandbox_reasons: list[str] = Field(
        default_factory=list, description="Why the sandbox was weaker than bubblewrap + seccomp."
    )
    plus_limit: int = 50


class BenchRun(BaseModel):
    """The results file."""

    settings: RunSettings
    outcomes: list[TaskOutcome] = Field(default_factory=list)
    command: str = ""
    started: str = ""
    updated: str = ""
