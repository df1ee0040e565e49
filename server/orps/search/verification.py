"""The last check before a candidate is written into the user's file.

``verify_for_apply`` runs the chosen candidate once more, alone, in a fresh sandbox worker against
the visible tests, just before ``orps refine --apply`` or the editor's accept writes it, and says
why it must not be written: a candidate flagged by the tampering screen, a protocol violation or
tampered timings is refused whatever the caller's ``force``; one that no longer imports, or no
longer passes every test, is refused unless forced. The search's own figures are not trusted for
this: they may be minutes old, or from a worker the candidate had tampered with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orps.project.target import FunctionTarget
from orps.search.beam import module_spec
from orps_sandbox import ExecutionReport, Sandbox, TestSpec, TestStatus, screen


@dataclass(frozen=True)
class ApplyVerdict:
    """Whether the re-run allows writing the candidate, and if not, one line saying why."""

    allowed: bool
    reason: str = ""
    forceable: bool = False
    """True when ``force`` may override the refusal (failing tests), never for integrity flags."""
    report: ExecutionReport | None = None


async def verify_for_apply(
    target: FunctionTarget,
    tests: Sequence[TestSpec],
    code: str,
    sandbox: Sandbox,
    flags: Sequence[str] = (),
    accepted: str | None = None,
) -> ApplyVerdict:
    """Re-run ``code`` in a fresh worker and judge whether it may be written. ``accepted``: the
    module text that would be written (``accepted_source``), run instead of ``code`` spliced
    into the module, so that what is checked is what lands in the file."""
    reasons = [*flags, *screen(code).reasons]
    if reasons:
        return ApplyVerdict(False, f"the candidate is flagged: {reasons[0]}")
    spec = module_spec(target, code)
    if accepted is not None:
        spec = spec.model_copy(update={"source": accepted})
    report = await sandbox.run(spec, list(tests))
    if report.flagged:
        first = report.flags[0] if report.flags else str(report.status)
        return ApplyVerdict(False, f"the re-run flagged the candidate: {first}", report=report)
    if report.status != "completed":
        detail = report.detail.strip().splitlines()
        reason = f"the re-run ended {report.status}" + (f": {detail[0][:200]}" if detail else "")
        return ApplyVerdict(False, reason, forceable=True, report=report)
    passed = sum(1 for t in report.tests if t.status is TestStatus.PASSED)
    if passed < len(report.tests):
        return ApplyVerdict(
            False,
            f"the re-run passed {passed}/{len(report.tests)} tests",
            forceable=True,
            report=report,
        )
    return ApplyVerdict(True, report=report)
