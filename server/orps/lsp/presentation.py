"""What the user sees: code-action titles, code lenses, hover text, progress lines.

Pure functions from a document's text and the stored ``CandidatesPayload`` of its functions to
lsprotocol objects; the server's handlers only fetch the document and call one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types

from orps.lsp.functions import (
    FunctionSpan,
    accept_edits,
    accepted_as_tested,
    signature_range,
    span_at,
    span_range,
    spans_of,
)
from orps.lsp.payload import CandidatesPayload, CandidateView
from orps.search.records import Progress
from orps.units import format_bytes, format_growth, format_ns, format_scale

REFINE_COMMAND = "orps.refine"
ACCEPT_COMMAND = "orps.accept"
CANCEL_COMMAND = "orps.cancel"
SHOW_COMMAND = "orps.showCandidates"
REFINE_TITLE = "Refine with ORPS"
SAVE_TESTS_TITLE = "Save generated tests"
MAX_OFFERED = 5  # candidates offered as code actions

PayloadLookup = Callable[[str], CandidatesPayload | None]  # qualname -> stored payload
EditBuilder = Callable[[list[types.TextEdit]], types.WorkspaceEdit]


RUNTIME_NOTE = (
    "runtime: each test's median wall time, summed over the tests both the candidate and the "
    "current code pass (the current row: over every test it passes); ± the noise estimate; "
    "≈ means the two are within noise"
)
STUB_NOTE = (
    "no baseline: the function is a stub; runtime: the mean of each passing test's median wall time"
)


def fraction(candidate: CandidateView) -> str:
    return f"{candidate.tests_passed}/{candidate.tests_total} tests"


def shown_runtime(candidate: CandidateView, baseline: bool) -> int | None:
    """The runtime every view shows: on the compared tests with a baseline (see RUNTIME_NOTE)."""
    if baseline and candidate.compared_tests:
        return candidate.runtime_compared_ns
    return None if baseline else candidate.runtime_ns


def versus_current(candidate: CandidateView, baseline: bool) -> str:
    """``3.2× faster``, ``≈ same``, ``fails 2 of the current code's tests`` or ``no baseline``."""
    if not baseline:
        return "no baseline"
    if candidate.fails_current_tests:
        return f"fails {candidate.current_tests_failed} of the current code's tests"
    return candidate.ratio_text or "not compared"


def acceptable(candidate: CandidateView) -> bool:
    """Whether accepting needs no confirmation: it ran and passes every test (and so every
    test the current code passes)."""
    return (
        candidate.status == "completed"
        and not candidate.fails_current_tests
        and candidate.tests_passed == candidate.tests_total
    )


def confirmation_message(candidate: CandidateView, current: CandidateView | None) -> str | None:
    """What to ask before accepting a failing candidate (None when it needs no question)."""
    if acceptable(candidate):
        return None
    if candidate.fails_current_tests and current is not None:
        return (
            f"#{candidate.rank} fails {candidate.current_tests_failed} of the "
            f"{current.tests_passed} tests the current code passes. Accept anyway?"
        )
    if candidate.status != "completed":
        return f"#{candidate.rank} did not run cleanly ({candidate.status}). Accept anyway?"
    failed = candidate.tests_total - candidate.tests_passed
    return f"#{candidate.rank} fails {failed} of the {candidate.tests_total} tests. Accept anyway?"


def action_title(candidate: CandidateView, baseline: bool = True) -> str:
    """``ORPS #1: 5/5 tests · 1.20 ms · 3.2× faster · 3.0 MiB`` (runtime on compared tests)."""
    parts = [fraction(candidate), format_ns(shown_runtime(candidate, baseline))]
    if baseline:
        parts.append(versus_current(candidate, baseline))
    if candidate.peak_memory_bytes is not None:
        parts.append(format_bytes(candidate.peak_memory_bytes))
    return f"ORPS #{candidate.rank}: " + " · ".join(parts)


def lens_summary(payload: CandidatesPayload) -> str:
    """While searching: the progress line; after: the verdict (``ORPS: #1 is 3.2× faster ...``)."""
    if payload.running:
        progress = payload.progress
        return f"ORPS: searching · {progress.message}" if progress else "ORPS: searching (starting)"
    if not payload.candidates:
        reason = payload.empty_reason or payload.stopped or "stopped"
        return f"ORPS: no candidate ({reason})"
    best = next((c for c in payload.candidates if c.preferred), payload.candidates[0])
    text = f"ORPS: {payload.verdict or f'{len(payload.candidates)} candidate(s)'}"
    scale = scale_phrase(best)
    return f"{text} · best: {scale}" if scale else text


def progress_line(progress: Progress) -> str:
    """``round 1/2 · calls 4/30 · 3 candidates · best so far 5/5 tests, 1.20 ms``."""
    best = progress.best
    best_text = (
        f"best so far {best.tests_passed}/{best.tests_total} tests, {format_ns(best.runtime_ns)}"
        if best is not None
        else "no candidate yet"
    )
    line = (
        f"round {progress.round}/{progress.rounds} · calls {progress.llm_calls}/"
        f"{progress.max_calls} · {progress.candidates} candidates · {best_text}"
    )
    return f"{line} · {progress.message}" if progress.message else line


def hover_markdown(payload: CandidatesPayload) -> str:
    """The verdict, then a table of the current code and each candidate: tests, runtime on the
    compared tests, noise, the ratio to the current code, peak memory."""
    baseline = payload.current is not None
    rows = [
        "| | tests | runtime | ± noise | vs current | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    current = payload.current
    if current is not None:
        rows.append(
            f"| current | {current.tests_passed}/{current.tests_total} | "
            f"{format_ns(current.runtime_compared_ns)} | {format_ns(current.runtime_noise_ns)} | "
            f"baseline | {format_bytes(current.peak_memory_bytes)} |"
        )
    for c in payload.candidates[:10]:
        mark = " ★" if c.preferred else ""
        rows.append(
            f"| #{c.rank}{mark} | {c.tests_passed}/{c.tests_total} | "
            f"{format_ns(shown_runtime(c, baseline))} | {format_ns(c.runtime_noise_ns)} | "
            f"{versus_current(c, baseline)} | {format_bytes(c.peak_memory_bytes)} |"
        )
    state = "searching…" if payload.running else f"stopped: {payload.stopped or 'completed'}"
    head = (
        f"**ORPS** `{payload.name}`: {len(payload.candidates)} candidate(s), "
        f"{payload.tests_total} visible test(s), {state}"
    )
    lines = [head, "", f"**{payload.verdict}**" if payload.verdict else ""]
    if not payload.candidates and payload.empty_reason:
        lines.append(f"0 candidates: {payload.empty_reason}")
    note = RUNTIME_NOTE if baseline else STUB_NOTE
    return "\n".join([*lines, "", *rows, "", f"_{note}_"])


def offered(payload: CandidatesPayload) -> list[CandidateView]:
    """The candidates offered as code actions (edits applied without a question): those that
    ran, pass every test and that nothing flagged; the best first. Failing ones are accepted
    through ``orps.accept``, which asks for confirmation; flagged ones are never offered."""
    return [c for c in payload.candidates if acceptable(c) and not c.flags][:MAX_OFFERED]


def refine_arguments(
    uri: str, version: int | None, span: FunctionSpan, position: types.Position
) -> list[Any]:
    return [
        {
            "uri": uri,
            "version": version,
            "name": span.qualname,
            "position": {"line": position.line, "character": position.character},
        }
    ]


def code_actions(
    *,
    uri: str,
    path: Path,
    version: int | None,
    source: str,
    line: int,
    lookup: PayloadLookup,
    workspace_edit: EditBuilder,
) -> list[types.CodeAction] | None:
    """ "Refine with ORPS" on the function at ``line``, then its stored candidates as edits."""
    span = span_at(spans_of(source), line)
    if span is None:
        return None
    position = types.Position(line=span.def_line, character=0)
    actions: list[types.CodeAction] = []
    payload = lookup(span.qualname)
    if payload is not None:
        baseline = payload.current is not None
        for candidate in offered(payload):
            edits = accept_edits(source, span.qualname, candidate.code, path)
            if edits is None:
                continue
            arguments = {"uri": uri, "name": span.qualname, "candidateId": candidate.id}
            title = action_title(candidate, baseline)
            if accepted_as_tested(source, span.qualname, candidate.code):
                edit, command = workspace_edit(edits), None
            else:
                # The user's signature differs from the one the body passed under (a default,
                # a kind): the text is re-run first, by ``orps.accept``.
                edit, command = (
                    None,
                    types.Command(title=title, command=ACCEPT_COMMAND, arguments=[arguments]),
                )
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.RefactorRewrite,
                    is_preferred=candidate.preferred or None,
                    edit=edit,
                    command=command,
                    data=arguments,
                )
            )
    if payload is not None and (save := save_tests_action(path, payload)) is not None:
        actions.append(save)
    actions.append(
        types.CodeAction(
            title=REFINE_TITLE,
            kind=types.CodeActionKind.RefactorRewrite,
            command=types.Command(
                title=REFINE_TITLE,
                command=REFINE_COMMAND,
                arguments=refine_arguments(uri, version, span, position),
            ),
        )
    )
    return actions


def code_lenses(
    *, uri: str, version: int | None, source: str, payloads: Mapping[str, CandidatesPayload]
) -> list[types.CodeLens]:
    """Above each function: "Refine with ORPS", and the best result once there is one."""
    lenses: list[types.CodeLens] = []
    for span in spans_of(source):
        where = signature_range(source, span)
        payload = payloads.get(span.qualname)
        if payload is not None and (summary := lens_summary(payload)) is not None:
            lenses.append(
                types.CodeLens(
                    range=where,
                    command=types.Command(
                        title=summary,
                        command=SHOW_COMMAND,
                        arguments=[{"uri": uri, "name": span.qualname}],
                    ),
                )
            )
        if payload is not None and payload.running:
            lenses.append(
                types.CodeLens(
                    range=where,
                    command=types.Command(
                        title="Cancel",
                        command=CANCEL_COMMAND,
                        arguments=[{"uri": uri, "name": span.qualname}],
                    ),
                )
            )
            continue
        lenses.append(
            types.CodeLens(
                range=where,
                command=types.Command(
                    title=REFINE_TITLE,
                    command=REFINE_COMMAND,
                    arguments=refine_arguments(uri, version, span, where.start),
                ),
            )
        )
    return lenses


def hover(source: str, line: int, lookup: PayloadLookup) -> types.Hover | None:
    """The candidates table, over a refined function's decorators and ``def`` line."""
    span = span_at(spans_of(source), line)
    if span is None or line > span.def_line or (payload := lookup(span.qualname)) is None:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(payload)),
        range=span_range(source, span),
    )


def scale_phrase(candidate: CandidateView) -> str | None:
    """``1.2 ms at n = 65,536, ≈ n^1.0``: the runtime at the largest scale and the growth."""
    if not candidate.scaling:
        return None
    top = candidate.scaling[-1]
    text = f"{format_ns(top.runtime_ns)} at n = {format_scale(top.scale)}"
    if candidate.growth is not None:
        text += f", {format_growth(candidate.growth)}"
    return text


def generated_tests_path(path: Path) -> Path:
    """Where "Save generated tests" writes: ``test_<module>_generated.py`` beside the module."""
    return path.with_name(f"test_{path.stem}_generated.py")


def generated_tests_text(payload: CandidatesPayload, module: str) -> str | None:
    """The kept generated tests as a pytest file, or None when none was kept."""
    kept = [t for t in payload.generated_tests if t.kept]
    if not kept:
        return None
    head = (
        f'"""Tests of {payload.name} written by the orps test writer and kept by the search. '
        'Yours to edit."""\n\n'
    )
    name = payload.name.rsplit(".", 1)[-1]
    imports = payload.generated_imports.strip() or f"from {module} import {name}"
    body = "\n\n\n".join(t.source.rstrip() for t in kept)
    return f"{head}{imports}\n\n\n{body}\n"


def save_tests_action(path: Path, payload: CandidatesPayload) -> types.CodeAction | None:
    """ "Save generated tests": a workspace edit that creates the pytest file with the kept tests."""
    text = generated_tests_text(payload, path.stem)
    if text is None:
        return None
    target = generated_tests_path(path).as_uri()
    kept = sum(1 for t in payload.generated_tests if t.kept)
    return types.CodeAction(
        title=f"{SAVE_TESTS_TITLE} ({kept}) to {generated_tests_path(path).name}",
        kind=types.CodeActionKind.RefactorRewrite,
        edit=types.WorkspaceEdit(
            document_changes=[
                types.CreateFile(uri=target, options=types.CreateFileOptions(overwrite=True)),
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=target, version=None
                    ),
                    edits=[
                        types.TextEdit(
                            range=types.Range(
                                start=types.Position(line=0, character=0),
                                end=types.Position(line=0, character=0),
                            ),
                            new_text=text,
                        )
                    ],
                ),
            ]
        ),
    )
