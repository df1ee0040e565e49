"""How ``orps refine`` shows a search in a terminal: live progress on stderr while it runs, then
the ranked table and the best code on stdout."""

from __future__ import annotations

from typing import Any

from orps.search.records import (
    ProgressReported,
    RankingChanged,
    SearchResult,
    SearchStarted,
    Warned,
)
from orps.units import format_bytes, format_ns


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
            self.console.print(f"[bold]orps[/] refining {event.target}")
            self.console.print(f"  model: {event.model}")
            self.console.print(f"  sandbox: {event.isolation}")
            for reason in event.isolation_reasons:
                self.console.print(f"  [yellow]sandbox weaker than the best:[/] {reason}")
            self.console.print(f"  tests: {tests}")
        elif isinstance(event, Warned):
            self.console.print(f"[yellow]warning:[/] {event.message}")
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

        table = Table(title=f"{result.target}: {len(result.candidates)} candidate(s)")
        for column in (
            "rank",
            "tests",
            "runtime",
            "± noise",
            "× current",
            "peak memory",
            "score",
            "round",
            "status",
        ):
            table.add_column(column, justify="right" if column != "status" else "left")
        rows = list(result.candidates[: self.show])
        if result.current is not None:
            c = result.current
            table.add_row(
                "current",
                f"{c.tests_passed}/{c.tests_total}",
                format_ns(c.runtime_ns),
                format_ns(c.runtime_noise_ns),
                "1.00",
                format_bytes(c.peak_memory_bytes),
                f"{c.score:.2f}",
                "-",
                c.status,
            )
        for c in rows:
            table.add_row(
                str(c.rank),
                f"{c.tests_passed}/{c.tests_total}",
                format_ns(c.runtime_ns),
                format_ns(c.runtime_noise_ns),
                f"{c.speedup_vs_current:.2f}" if c.speedup_vs_current else "-",
                format_bytes(c.peak_memory_bytes),
                f"{c.score:.2f}",
                str(c.round),
                c.status,
            )
        self.out.print(table)
        for c in rows:
            if c.flags:
                self.out.print(f"[red]#{c.rank} flagged:[/] " + "; ".join(c.flags[:3]))
        if result.candidates:
            best = result.candidates[0]
            self.out.print(
                f"[bold]Best candidate[/] ({best.tests_passed}/{best.tests_total} tests, {format_ns(best.runtime_ns)}):"
            )
            self.out.print(Syntax(best.code, "python", line_numbers=False))
            if best.failures:
                self.out.print("[yellow]failures:[/] " + "; ".join(best.failures[:3]))
        if result.tests_total == 0:
            self.out.print(
                "[yellow]No tests were found: candidates were only checked to import and run.[/]"
            )
        cached = f", {result.cached_calls} from cache" if result.cached_calls else ""
        reused = (
            f" ({result.prompt_tokens_reused} prompt tokens reused)"
            if result.prompt_tokens_reused
            else ""
        )
        self.out.print(
            f"{result.llm_calls} LLM calls{cached}, {result.prompt_tokens}+{result.completion_tokens} tokens{reused}, "
            f"{result.elapsed_s:.1f} s; {result.duplicates} duplicate(s), {result.dropped_replies} reply(ies) without code; "
            f"stopped: {result.stopped}"
        )
        if result.error:
            self.out.print(f"[red]model error:[/] {result.error}")
        if result.isolation is not None:
            weaker = "; ".join(result.isolation.reasons)
            self.out.print(
                f"sandbox: {result.isolation.kind}"
                + (f" [yellow](weaker than the best: {weaker})[/]" if weaker else "")
            )
