"""``orps refine``: search one function through the pipeline, show or print the result, and
optionally apply the preferred candidate to the file, after re-running it in a fresh worker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orps.cli.options import EXIT_OK, fail, settings_from_args
from orps.cli.view import TerminalView
from orps.project.discovery import discover_tests
from orps.project.grafting import accepted_source
from orps.project.target import (
    FunctionTarget,
    apply_to_file,
    file_fingerprint,
    load_target,
    parse_target_spec,
)
from orps.search.generated_tests import pytest_file
from orps.search.records import CandidateSummary, SearchFinished, SearchResult
from orps.search.verification import verify_for_apply
from orps.session import make_sandbox, run_search


async def run_refine(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    path, qualname = parse_target_spec(args.target)
    target = load_target(path, qualname)
    fingerprint = file_fingerprint(target.path)
    if args.save_tests and (problem := save_path_problem(Path(args.save_tests))):
        return fail(problem)  # before the search, so that no search is lost to it
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
        chosen = choose_for_apply(result, force=args.force)
        if isinstance(chosen, str):
            return fail(chosen)
        accepted = accepted_source(target, chosen.code)
        if accepted is None:
            return fail(
                f"not applied: accepting candidate #{chosen.rank} would leave "
                f"{target.path.name} unchanged or unparseable"
            )
        async with make_sandbox(settings) as sandbox:
            verdict = await verify_for_apply(
                target, visible.tests, chosen.code, sandbox, flags=chosen.flags, accepted=accepted
            )
        if not verdict.allowed and not (verdict.forceable and args.force):
            suffix = "; use --force" if verdict.forceable else ""
            return fail(f"not applied: {verdict.reason}{suffix}")
        apply_to_file(target, accepted, fingerprint)
        if not args.json:
            print(f"applied candidate #{chosen.rank} to {target.path}", file=sys.stderr)
    return EXIT_OK


def save_tests(target: FunctionTarget, result: SearchResult, path: Path) -> int:
    """Write the kept generated tests as a pytest file (a note when none was kept)."""
    kept = [t for t in result.generated_tests if t.kept]
    if not kept:
        print("orps: no generated test was kept: nothing saved", file=sys.stderr)
        return EXIT_OK
    try:
        with path.open("x", encoding="utf-8") as file:  # never over a file
            file.write(pytest_file(target, kept, result.generated_imports))
    except FileExistsError:
        return fail(f"{path} appeared during the search; the generated tests were not saved")
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}")
    print(f"saved {len(kept)} generated test(s) to {path}", file=sys.stderr)
    return EXIT_OK


def save_path_problem(path: Path) -> str | None:
    """Why ``--save-tests PATH`` cannot be written, checked before the search: it never writes
    over an existing file (it may be the user's own tests, or the saved ones they edited)."""
    if path.exists():
        return f"{path} exists; --save-tests writes a new file only (remove it or name another)"
    if not path.parent.is_dir():
        return f"cannot write {path}: no directory {path.parent}"
    return None


def choose_for_apply(result: SearchResult, *, force: bool) -> CandidateSummary | str:
    """The candidate ``--apply`` writes (the preferred one, or #1 with ``--force``), or why
    none may be written. A flagged candidate is never written, even with ``--force``."""
    if not result.candidates:
        return "nothing to apply: the search produced no candidate"
    preferred = next((c for c in result.candidates if c.preferred), None)
    if preferred is None and not force:
        return f"not applied: {result.verdict}; use --force to apply #1 anyway"
    chosen = preferred or result.candidates[0]
    if chosen.flags:
        return f"not applied: candidate #{chosen.rank} is flagged: {chosen.flags[0]}"
    if chosen.status != "completed" and not force:
        return f"not applied: the candidate did not run cleanly ({chosen.status}); use --force"
    return chosen
