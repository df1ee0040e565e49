"""The ``orps`` command line: ``refine``, ``serve``, ``bench``, ``doctor`` and ``model serve``.

A thin front end over the engine: it parses flags into the shared Settings model, builds the
search through ``orps.session``, renders its events for a terminal (or one JSON document with
``--json``), and can apply the best candidate to the file. Bad input ends with one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from orps.discovery import TestDiscoveryError, discover_tests
from orps.llm import ModelError
from orps.records import (
    ProgressReported,
    RankingChanged,
    SearchFinished,
    SearchResult,
    SearchStarted,
    Warned,
)
from orps.settings import Settings, settings_from_environment
from orps.target import (
    TargetError,
    apply_to_file,
    file_fingerprint,
    load_target,
    parse_target_spec,
)
from orps.units import format_bytes, format_ns

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input: printed as one line, exit status 1."""


def _fail(message: str) -> int:
    print(f"orps: error: {message}", file=sys.stderr)
    return EXIT_ERROR


# -- argument parsing ---------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (plus the exit status 2 argparse uses)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"orps: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model flags of ``refine``, ``serve`` and ``bench``."""
    group = parser.add_argument_group("model")
    group.add_argument("--base-url", help="OpenAI-compatible endpoint (env ORPS_BASE_URL)")
    group.add_argument(
        "--model",
        help="model name at the endpoint, or 'local' for the embedded model (env ORPS_MODEL)",
    )
    group.add_argument("--model-path", help="run this GGUF file as the local model")
    group.add_argument(
        "--api-key-env", help="environment variable holding the API key (default ORPS_API_KEY)"
    )
    group.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="concurrent LLM calls; for the embedded model, copies run side by side "
        "(default: one per CPU, at most 4)",
    )
    group.add_argument("--no-cache", action="store_true", help="do not replay or store replies")
    group.add_argument("--cache-dir", help="response cache directory")


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search")
    group.add_argument("--beam-width", type=_positive_int, metavar="K", help="beam width (3)")
    group.add_argument("--children", type=_positive_int, metavar="N", help="children per node (3)")
    group.add_argument(
        "--rounds",
        type=_non_negative_int,
        metavar="T",
        help="refinement rounds; 0 = first generation only (2)",
    )
    group.add_argument("--temperature", type=float, help="sampling temperature (0.5)")
    group.add_argument(
        "--max-calls",
        type=_positive_int,
        metavar="B",
        help="hard cap on LLM calls, critic included (30)",
    )
    group.add_argument("--max-tokens", type=_positive_int, help="new tokens per call (1500)")
    group.add_argument("--seed", type=int, help="sampling seed (0)")
    group.add_argument("--timeout", type=float, dest="timeout_seconds", help="seconds per test (5)")
    group.add_argument(
        "--memory-limit",
        type=_positive_int,
        dest="memory_limit_mb",
        metavar="MB",
        help="memory per candidate (1024)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="orps",
        description="Search, test and rank implementations of a Python function (ORPS).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    refine = sub.add_parser(
        "refine", help="search implementations of one function and rank them by test results"
    )
    refine.add_argument("target", help="path/to/module.py::function or ::Class.method")
    refine.add_argument(
        "--tests",
        action="append",
        type=Path,
        default=None,
        metavar="PATH",
        help="a tests file or directory (repeatable); default: the project's test files that import the module",
    )
    refine.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    refine.add_argument(
        "--apply",
        action="store_true",
        help="replace the function in the file with the best candidate",
    )
    refine.add_argument(
        "--force", action="store_true", help="with --apply: apply even if not every test passes"
    )
    refine.add_argument(
        "--show", type=_positive_int, default=10, metavar="N", help="rows in the table (10)"
    )
    _add_search_options(refine)
    add_model_options(refine)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT instead")
    serve.add_argument(
        "--stdio",
        action="store_true",
        help="talk over stdin/stdout (the default; LSP clients pass it)",
    )
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)

    doctor = sub.add_parser("doctor", help="report the sandbox, model, endpoint and test tools")
    add_model_options(doctor)

    model = sub.add_parser("model", help="the embedded local model")
    model_sub = model.add_subparsers(
        dest="model_command", metavar="SUBCOMMAND", parser_class=OneLineParser
    )
    model_serve = model_sub.add_parser(
        "serve", help="serve the local model as an OpenAI-compatible endpoint"
    )
    model_serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    model_serve.add_argument("--model-path", help="a GGUF file (default: the bundled SmolLM2)")

    bench = sub.add_parser("bench", help="measure ORPS against baselines on public benchmarks")
    try:
        from orps.bench.cli import add_bench_arguments
    except ImportError:
        pass
    else:
        add_bench_arguments(bench)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment, then flags; an invalid value is an error here (not a silent default)."""
    flags: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    if getattr(args, "no_cache", False):
        flags["cache"] = False
    layers = {**settings_from_environment(), **flags}
    try:
        return Settings.model_validate(layers)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).replace("_", "-") if err["loc"] else "setting"
        raise UserError(f"invalid --{name}: {err['msg']}") from None


# -- refine -------------------------------------------------------------------------------------


async def run_refine(args: argparse.Namespace) -> int:
    from orps.search import Search, check_test_imports
    from orps.session import (
        check_endpoint,
        make_chat_model,
        make_llm_client,
        make_sandbox,
        search_config,
    )

    settings = settings_from_args(args)
    path, qualname = parse_target_spec(args.target)
    target = load_target(path, qualname)
    fingerprint = file_fingerprint(target.path)
    visible = discover_tests(target, args.tests)
    view = TerminalView(enabled=not args.json, show=args.show)
    model = make_chat_model(settings)
    try:
        await check_endpoint(model)
        llm = make_llm_client(settings, model)
        async with make_sandbox(settings) as sandbox:
            await check_test_imports(target, visible, sandbox)
            search = Search(
                target=target,
                tests=visible.tests,
                llm=llm,
                sandbox=sandbox,
                config=search_config(settings),
                test_sources=visible.sources,
            )
            result: SearchResult | None = None
            with view:
                async for event in search.events():
                    view.handle(event)
                    if isinstance(event, SearchFinished):
                        result = event.result
    finally:
        with contextlib.suppress(Exception):
            await model.aclose()
    assert result is not None
    if result.stopped == "model_error" and not result.candidates:
        raise ModelError(result.error or "the model failed")
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        view.render_result(result)
    if args.apply:
        return apply_best(target, result, fingerprint, force=args.force, quiet=args.json)
    return EXIT_OK


def apply_best(
    target: Any, result: SearchResult, fingerprint: str, *, force: bool, quiet: bool
) -> int:
    if not result.candidates:
        return _fail("nothing to apply: the search produced no candidate")
    best = result.candidates[0]
    if best.status != "completed" and not force:
        return _fail(
            f"not applied: the best candidate did not run cleanly ({best.status}); use --force"
        )
    if best.tests_passed < best.tests_total and not force:
        return _fail(
            f"not applied: the best candidate passes {best.tests_passed}/{best.tests_total} tests; use --force"
        )
    current = result.current
    if (
        current is not None
        and not force
        and current.tests_passed >= best.tests_passed
        and best.speedup_vs_current is not None
        and best.speedup_vs_current < 1.0
    ):
        return _fail(
            f"not applied: the current code is faster ({1 / best.speedup_vs_current:.2f}x); use --force"
        )
    apply_to_file(target, best.code, fingerprint)
    if not quiet:
        print(f"applied candidate #1 to {target.path}", file=sys.stderr)
    return EXIT_OK


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


# -- doctor -------------------------------------------------------------------------------------


async def run_doctor(args: argparse.Namespace) -> int:
    from orps_sandbox import detect_isolation

    settings = settings_from_args(args)
    info = detect_isolation()
    print(f"python:    {sys.version.split()[0]} ({sys.executable})")
    print(f"sandbox:   {info.description}")
    try:
        import pytest

        print(f"pytest:    {pytest.__version__}")
    except ImportError:
        print("pytest:    not installed (pytest-style tests cannot run)")
    if settings.uses_local_model():
        from orps.local_model import local_model_status

        ok, text = local_model_status(settings.model_path, load=True)
        print(f"model:     local ({'ready' if ok else 'unavailable'}): {text}")
    else:
        from orps.session import check_endpoint, make_chat_model

        model = make_chat_model(settings)
        try:
            await check_endpoint(model)
            print(f"model:     {model.identity} (reachable)")
        except ModelError as exc:
            print(f"model:     {model.identity}: {exc}")
        finally:
            await model.aclose()
    key = settings.api_key()
    print(f"api key:   {'set' if key else 'not set'} (${settings.api_key_env} or $OPENAI_API_KEY)")
    if settings.cache:
        from orps.cache import default_cache_dir

        print(f"cache:     {settings.cache_dir or default_cache_dir()}")
    else:
        print("cache:     off")
    return EXIT_OK


# -- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "refine":
            return asyncio.run(run_refine(args))
        if args.command == "doctor":
            return asyncio.run(run_doctor(args))
        if args.command == "serve":
            from orps.lsp.server import run_server

            run_server(tcp_port=args.tcp, host=args.host)
            return EXIT_OK
        if args.command == "model":
            if args.model_command != "serve":
                parser.parse_args(["model", "--help"])
            from orps.model_server import main as serve_model

            return serve_model(
                ["--port", str(args.port)]
                + (["--model-path", args.model_path] if args.model_path else [])
            )
        if args.command == "bench":
            from orps.bench.cli import run_bench

            return run_bench(args)
        parser.print_help()
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("orps: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, TargetError, TestDiscoveryError, ModelError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
