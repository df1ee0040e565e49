"""``orps refine``: search one function through the pipeline, show or print the result, and
optionally apply the best candidate to the file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from orps.cli.options import EXIT_OK, fail, settings_from_args
from orps.cli.view import TerminalView
from orps.project.discovery import discover_tests
from orps.project.target import (
    FunctionTarget,
    apply_to_file,
    file_fingerprint,
    load_target,
    parse_target_spec,
)
from orps.search.generated_tests import pytest_file
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
    if args.save_tests:
        status = save_tests(target, result, Path(args.save_tests))
        if status != EXIT_OK:
            return status
    if args.apply:
        return apply_best(target, result, fingerprint, force=args.force, quiet=args.json)
    return EXIT_OK


def save_tests(target: FunctionTarget, result: SearchResult, path: Path) -> int:
    """Write the kept generated tests as a pytest file (a note when none was kept)."""
    kept = [t for t in result.generated_tests if t.kept]
    if not kept:
        print("orps: no generated test was kept: nothing saved", file=sys.stderr)
        return EXIT_OK
    try:
        path.write_text(pytest_file(target, kept, result.generated_imports), encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}")
    print(f"saved {len(kept)} generated test(s) to {path}", file=sys.stderr)
    return EXIT_OK


def apply_best(
    target: Any, result: SearchResult, fingerprint: str, *, force: bool, quiet: bool
) -> int:
    if not result.candidates:
        return fail("nothing to apply: the search produced no candidate")
    best = result.candidates[0]
    if best.status != "completed" and not force:
        return fail(
            f"not applied: the best candidate did not run cleanly ({best.status}); use --force"
        )
    if best.tests_passed < best.tests_total and not force:
        return fail(
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
        return fail(
            f"not applied: the current code is faster ({1 / best.speedup_vs_current:.2f}x); use --force"
        )
    apply_to_file(target, best.code, fingerprint)
    if not quiet:
        print(f"applied candidate #1 to {target.path}", file=sys.stderr)
    return EXIT_OK
