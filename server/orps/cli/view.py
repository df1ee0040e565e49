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
            self.console.print(f"[bold]orps[/] refining {event.target}")
            self.console.print(f"  model: {event.model}")
            self.console.print(f"  sandbox: {event.isolation}")
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
        self.render_scaling(result)
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
        self.out.print(
            f"{result.llm_calls} LLM calls{cached}, {result.prompt_tokens}+{result.completion_tokens} tokens, "
            f"{result.elapsed_s:.1f} s; {result.duplicates} duplicate(s), {result.dropped_replies} reply(ies) without code; "
            f"stopped: {result.stopped}"
        )
        if result.error:
            self.out.print(f"[red]model error:[/] {result.error}")

    def render_scaling(self, result: SearchResult) -> None:
        """The generated tests and the runtimes at scale, when the search had them."""
        from rich.table import Table

        if result.generated_tests:
            kept = [t for t in result.generated_tests if t.kept]
            self.out.print(
                f"generated tests: {len(kept)} kept, {len(result.generated_tests) - len(kept)} "
                "dropped (counted apart from yours)"
            )
            for test in result.generated_tests:
                if not test.kept:
                    self.out.print(f"  dropped {test.id}: {test.reason}")
        if result.scale_note:
            self.out.print(f"[yellow]scale:[/] {result.scale_note}")
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
