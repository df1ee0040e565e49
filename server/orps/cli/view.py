"""How ``orps refine`` shows a search in a terminal: live progress on stderr while it runs, then
the ranked table and the best code on stdout."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from orps.search.comparison import empty_reason
from orps.search.records import (
    CandidateSummary,
    ProgressReported,
    RankingChanged,
    SearchResult,
    SearchStarted,
    Warned,
)
from orps.units import format_bytes, format_growth, format_ns, format_scale


class TerminalView:
    """Live progress on stderr while the search runs, then the ranked table and the best code."""

    def __init__(self, *, enabled: bool, show: int) -> None:
        from rich.console import Console

        self.enabled = enabled
        self.show = show
        self.console = Console(stderr=True, highlight=False)
        self.out = Console(highlight=False)
        if not self.out.is_terminal:
            self.out = Console(highlight=False, width=120)
        self._status: Any = None

    def __enter__(self) -> TerminalView:
        if self.enabled and self.console.is_terminal:
            self._status = self.console.status("starting...")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
            self._status = None

    def handle(self, event: Any) -> None:
        if not self.enabled:
            return
        if isinstance(event, SearchStarted):
            tests = (
                f"{event.tests_total} visible test(s) from {', '.join(event.test_sources)}"
                if event.tests_total
                else "no tests found"
            )
            self.console.print(f"[bold]orps[/] refining {escape(event.target)}")
            self.console.print(f"  model: {escape(terminal_safe(event.model))}")
            self.console.print(f"  sandbox: {event.isolation}")
            for reason in event.isolation_reasons:
                self.console.print(f"  [yellow]sandbox weaker than the best:[/] {escape(reason)}")
            self.console.print(f"  tests: {escape(tests)}")
        elif isinstance(event, Warned):
            self.console.print(f"[yellow]warning:[/] {escape(terminal_safe(event.message))}")
        elif isinstance(event, ProgressReported):
            p = event.progress
            best = p.best
            best_text = (
                f"best {best.tests_passed}/{best.tests_total} tests, {format_ns(best.runtime_ns)}"
                if best
                else "no candidate yet"
            )
            line = f"round {p.round}/{p.rounds} · calls {p.llm_calls}/{p.max_calls} · {p.candidates} candidates · {best_text}"
            if self._status is not None:
                self._status.update(line)
        elif isinstance(event, RankingChanged) and self._status is None and event.ranked:
            top = event.ranked[0]
            self.console.print(
                f"  ranking: #1 {top.tests_passed}/{top.tests_total} tests, {format_ns(top.runtime_ns)} ({len(event.ranked)} candidates)"
            )

    def render_result(self, result: SearchResult) -> None:
        from rich.syntax import Syntax
        from rich.table import Table
        from rich.text import Text

        baseline = result.current is not None
        table = Table(
            title=Text(f"{terminal_safe(result.target)}: {len(result.candidates)} candidate(s)"),
            caption=RUNTIME_CAPTION if baseline else STUB_CAPTION,
        )
        columns = ("rank", "tests", "runtime", "± noise", "vs current", "peak memory")
        for column in (*columns, "score", "round", "status"):
            table.add_column(column, justify="left" if column == "status" else "right")
        if result.current is not None:
            table.add_row(*current_row(result.current), style="bold")
        for c in result.candidates[: self.show]:
            table.add_row(*candidate_row(c, baseline), style="green" if c.preferred else None)
        self.out.print(table)
        for c in result.candidates[: self.show]:
            if c.flags:
                self.out.print(
                    Text.assemble(
                        (f"#{c.rank} flagged: ", "red"), terminal_safe("; ".join(c.flags[:3]))
                    )
                )
        self.out.print(Text(result.verdict or "", style="bold"))
        self.render_scaling(result)
        if result.candidates:
            best = next((c for c in result.candidates if c.preferred), result.candidates[0])
            runtime = format_ns(best.runtime_compared_ns if baseline else best.runtime_ns)
            label = "Preferred candidate" if best.preferred else "Best-ranked candidate"
            self.out.print(
                Text.assemble(
                    (label, "bold"),
                    f" #{best.rank} ({best.tests_passed}/{best.tests_total} tests, {runtime}):",
                )
            )
            self.out.print(Syntax(terminal_safe(best.code), "python", line_numbers=False))
            if best.failures:
                self.out.print(
                    Text.assemble(
                        ("failures: ", "yellow"),
                        terminal_safe("; ".join(_shown(f) for f in best.failures[:3])),
                    )
                )
        if result.tests_total == 0:
            self.out.print(
                Text(
                    "No tests were found: candidates were only checked to import and run.", "yellow"
                )
            )
        if not result.candidates and (reason := result_empty_reason(result)):
            self.out.print(Text(f"0 candidates: {reason}", "yellow"))
        cached = f", {result.cached_calls} from cache" if result.cached_calls else ""
        reused = (
            f" ({result.prompt_tokens_reused} prompt tokens reused)"
            if result.prompt_tokens_reused
            else ""
        )
        self.out.print(
            Text(
                f"{result.llm_calls} LLM calls{cached}, "
                f"{result.prompt_tokens}+{result.completion_tokens} tokens{reused}, "
                f"{result.elapsed_s:.1f} s; {result.duplicates} duplicate(s), "
                f"{result.dropped_replies} reply(ies) without code; stopped: {result.stopped}"
            )
        )
        if result.error:
            self.out.print(Text.assemble(("model error: ", "red"), terminal_safe(result.error)))
        if result.isolation is not None:
            weaker = "; ".join(result.isolation.reasons)
            self.out.print(
                f"sandbox: {result.isolation.kind}"
                + (f" [yellow](weaker than the best: {escape(weaker)})[/]" if weaker else "")
            )

    def render_scaling(self, result: SearchResult) -> None:
        """The generated tests and the runtimes at scale, when the search had them."""
        from rich.table import Table
        from rich.text import Text

        if result.generated_tests:
            kept = [t for t in result.generated_tests if t.kept]
            self.out.print(
                f"generated tests: {len(kept)} kept, {len(result.generated_tests) - len(kept)} "
                "dropped (counted apart from yours)"
            )
            for test in result.generated_tests:
                if not test.kept:
                    self.out.print(Text(terminal_safe(f"  dropped {test.id}: {test.reason}")))
        if result.scale_note:
            self.out.print(Text.assemble(("scale: ", "yellow"), terminal_safe(result.scale_note)))
        rows = [c for c in result.candidates[: self.show] if c.scaling or c.generated_total]
        current = result.current
        if not rows and (current is None or not current.scaling):
            return
        table = Table(title="generated tests and runtime at scale")
        for column in ("rank", "generated", "runtime at n", "n", "growth", "note"):
            table.add_column(column, justify="left" if column == "note" else "right")
        labelled = [("current", current)] if current is not None and current.scaling else []
        labelled += [(str(c.rank), c) for c in rows]
        for label, c in labelled:
            top = c.scaling[-1] if c.scaling else None
            notes = []
            if c.scale_timeout is not None:
                notes.append(f"timed out at n = {format_scale(c.scale_timeout)}")
            if c.scale_outlier:
                notes.append("outputs differ from most candidates")
            table.add_row(
                label,
                f"{c.generated_passed}/{c.generated_total}" if c.generated_total else "-",
                format_ns(top.runtime_ns) if top else "-",
                format_scale(top.scale) if top else "-",
                format_growth(c.growth),
                "; ".join(notes),
            )
        self.out.print(table)


RUNTIME_CAPTION = (
    "runtime: each test's median wall time, summed over the tests both the candidate and the "
    "current code pass (the current row: over every test it passes); vs current: the current "
    "code's sum over the same tests ÷ the candidate's, ≈ when within noise"
)
STUB_CAPTION = (
    "no baseline (the function is a stub); runtime: the mean of each passing test's median "
    "wall time"
)

CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9, 10)} | {127: "\\x7f"}


def terminal_safe(text: str) -> str:
    """Candidate-provided text fit for a terminal: control bytes (ESC...) shown as ``\\x1b``."""
    return text.translate(CONTROL)


def current_row(c: CandidateSummary) -> list[Any]:
    from rich.text import Text

    return [
        Text("current"),
        Text(f"{c.tests_passed}/{c.tests_total}"),
        Text(format_ns(c.runtime_compared_ns if c.compared_tests else c.runtime_ns)),
        Text(format_ns(c.runtime_noise_ns)),
        Text("baseline"),
        Text(format_bytes(c.peak_memory_bytes)),
        Text(f"{c.score:.2f}"),
        Text("-"),
        Text(terminal_safe(c.status)),
    ]


def candidate_row(c: CandidateSummary, baseline: bool) -> list[Any]:
    from rich.text import Text

    if not baseline:
        versus = "no baseline"
    elif c.fails_current_tests:
        versus = f"fails {c.current_tests_failed} current test(s)"
    else:
        versus = c.ratio_text or "-"
    return [
        Text(f"#{c.rank}" + (" ★" if c.preferred else "")),
        Text(f"{c.tests_passed}/{c.tests_total}"),
        Text(format_ns(c.runtime_compared_ns if baseline else c.runtime_ns)),
        Text(format_ns(c.runtime_noise_ns)),
        Text(versus),
        Text(format_bytes(c.peak_memory_bytes)),
        Text(f"{c.score:.2f}"),
        Text(str(c.round)),
        Text(terminal_safe(c.status)),
    ]


def result_empty_reason(result: SearchResult) -> str:
    return empty_reason(
        stopped=result.stopped,
        error=result.error,
        dropped_replies=result.dropped_replies,
        duplicates=result.duplicates,
        cached_calls=result.cached_calls,
        llm_calls=result.llm_calls,
    )


FAILURE_CHARS = 300
"""What the terminal shows of one failure (``--json`` has it whole)."""


def _shown(failure: str) -> str:
    return failure if len(failure) <= FAILURE_CHARS else failure[: FAILURE_CHARS - 1] + "…"
