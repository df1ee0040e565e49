"""``orps refine``: search one function through the pipeline, show or print the result, and
optionally apply the best candidate to the file, after re-running it in a fresh worker."""

from __future__ import annotations

import argparse
import sys

from orps.cli.options import EXIT_OK, fail, settings_from_args
from orps.cli.view import TerminalView
from orps.project.discovery import discover_tests
from orps.project.target import apply_to_file, file_fingerprint, load_target, parse_target_spec
from orps.search.records import SearchFinished, SearchResult
from orps.search.verification import verify_for_apply
from orps.session import make_sandbox, run_search


async def run_refine(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    path, qualname = parse_target_spec(args.target)
    target = load_target(path, qualname)
    fingerprint = file_fingerprint(target.path)
    visible = discover_tests(target, args.tests)
    view = TerminalView(enabled=not args.json, show=args.show)
    result: SearchResult | None = None
    with view:
        async for event in run_search(target, visible, settings):
            view.handle(event)
            if isinstance(event, SearchFinished):
                result = event.result
    assert result is not None
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        view.render_result(result)
    if args.apply:
        refusal = check_best(result, force=args.force)
        if refusal:
            return fail(refusal)
        best = result.candidates[0]
        async with make_sandbox(settings) as sandbox:
            verdict = await verify_for_apply(
                target, visible.tests, best.code, sandbox, flags=best.flags
            )
        if not verdict.allowed and not (verdict.forceable and args.force):
            suffix = "; use --force" if verdict.forceable else ""
            return fail(f"not applied: {verdict.reason}{suffix}")
        apply_to_file(target, best.code, fingerprint)
        if not args.json:
            print(f"applied candidate #1 to {target.path}", file=sys.stderr)
    return EXIT_OK


def check_best(result: SearchResult, *, force: bool) -> str:
    """Why the search's best candidate must not be applied ("" when it may be re-run for it)."""
    if not result.candidates:
        return "nothing to apply: the search produced no candidate"
    best = result.candidates[0]
    if best.flags:
        return f"not applied: the best candidate is flagged: {best.flags[0]}"
    if best.status != "completed" and not force:
        return f"not applied: the best candidate did not run cleanly ({best.status}); use --force"
    if best.tests_passed < best.tests_total and not force:
        return f"not applied: the best candidate passes {best.tests_passed}/{best.tests_total} tests; use --force"
    current = result.current
    if (
        current is not None
        and not force
        and current.tests_passed >= best.tests_passed
        and best.speedup_vs_current is not None
        and best.speedup_vs_current < 1.0
    ):
        return f"not applied: the current code is faster ({1 / best.speedup_vs_current:.2f}x); use --force"
    return ""
