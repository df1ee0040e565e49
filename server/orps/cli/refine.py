"""``orps refine``: search one function through the pipeline, show or print the result, and
optionally apply the best candidate to the file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orps.cli.options import EXIT_OK, fail, settings_from_args
from orps.cli.view import TerminalView
from orps.project.discovery import discover_tests
from orps.project.target import apply_to_file, file_fingerprint, load_target, parse_target_spec
from orps.search.records import SearchFinished, SearchResult
from orps.session import run_search


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
        return apply_best(target, result, fingerprint, force=args.force, quiet=args.json)
    return EXIT_OK


def apply_best(
    target: Any, result: SearchResult, fingerprint: str, *, force: bool, quiet: bool
) -> int:
    """Apply the preferred candidate (the one comparison rule); ``--force`` takes #1 anyway."""
    if not result.candidates:
        return fail("nothing to apply: the search produced no candidate")
    preferred = next((c for c in result.candidates if c.preferred), None)
    if preferred is None and not force:
        return fail(f"not applied: {result.verdict}; use --force to apply #1 anyway")
    chosen = preferred or result.candidates[0]
    if chosen.status != "completed" and not force:
        return fail(
            f"not applied: the candidate did not run cleanly ({chosen.status}); use --force"
        )
    apply_to_file(target, chosen.code, fingerprint)
    if not quiet:
        print(f"applied candidate #{chosen.rank} to {target.path}", file=sys.stderr)
    return EXIT_OK
