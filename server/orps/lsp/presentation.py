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
    replacement_edit,
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
EditBuilder = Callable[[types.TextEdit], types.WorkspaceEdit]


def fraction(candidate: CandidateView) -> str:
    return f"{candidate.tests_passed}/{candidate.tests_total} tests"


def relative_to_current(candidate: CandidateView) -> str | None:
    """Runtime as a multiple of the current code's (0.4× = takes 40% of the time)."""
    if not candidate.speedup_vs_current:
        return None
    return f"{1 / candidate.speedup_vs_current:.2g}× current"


def speed_phrase(candidate: CandidateView) -> str | None:
    speedup = candidate.speedup_vs_current
    if not speedup:
        return None
    if speedup >= 1:
        return f"{speedup:.2g}× faster"
    return f"{1 / speedup:.2g}× slower"


def action_title(candidate: CandidateView) -> str:
    """``ORPS #1: 5/5 tests · 1.2 ms · 0.4× current · 3.0 MiB``."""
    parts = [fraction(candidate), format_ns(candidate.runtime_ns)]
    if (relative := relative_to_current(candidate)) is not None:
        parts.append(relative)
    if candidate.peak_memory_bytes is not None:
        parts.append(format_bytes(candidate.peak_memory_bytes))
    return f"ORPS #{candidate.rank}: " + " · ".join(parts)


def lens_summary(payload: CandidatesPayload) -> str | None:
    """``best: 1.2 ms, 3.4× faster, 5/5 tests`` (or the search's state while it runs)."""
    best = payload.candidates[0] if payload.candidates else None
    if payload.running:
        progress = payload.progress
        state = f"round {progress.round}/{progress.rounds}" if progress else "starting"
        head = f"ORPS: searching ({state})"
        return (
            head
            if best is None
            else f"{head} · best so far: {format_ns(best.runtime_ns)}, {fraction(best)}"
        )
    if best is None:
        return f"ORPS: no candidate ({payload.stopped or 'stopped'})"
    parts = [scale_phrase(best) or format_ns(best.runtime_ns)]
    if (speed := speed_phrase(best)) is not None:
        parts.append(speed)
    parts.append(fraction(best))
    return "best: " + ", ".join(parts)


def progress_line(progress: Progress) -> str:
    """``round 1/2 · calls 4/30 · 3 candidates · best 5/5 tests, 1.20 ms``."""
    best = progress.best
    best_text = (
        f"best {best.tests_passed}/{best.tests_total} tests, {format_ns(best.runtime_ns)}"
        if best is not None
        else "no candidate yet"
    )
    line = (
        f"round {progress.round}/{progress.rounds} · calls {progress.llm_calls}/"
        f"{progress.max_calls} · {progress.candidates} candidates · {best_text}"
    )
    return f"{line} · {progress.message}" if progress.message else line


def hover_markdown(payload: CandidatesPayload) -> str:
    """A table of the candidates' tests, runtime and memory, the current code first."""
    rows = [
        "| | tests | runtime | ± noise | × current | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    current = payload.current
    if current is not None:
        rows.append(
            f"| current | {current.tests_passed}/{current.tests_total} | "
            f"{format_ns(current.runtime_ns)} | {format_ns(current.runtime_noise_ns)} | 1 | "
            f"{format_bytes(current.peak_memory_bytes)} |"
        )
    for c in payload.candidates[:10]:
        speed = f"{c.speedup_vs_current:.2f}" if c.speedup_vs_current else "-"
        rows.append(
            f"| #{c.rank} | {c.tests_passed}/{c.tests_total} | {format_ns(c.runtime_ns)} | "
            f"{format_ns(c.runtime_noise_ns)} | {speed} | {format_bytes(c.peak_memory_bytes)} |"
        )
    state = "searching…" if payload.running else f"stopped: {payload.stopped or 'completed'}"
    head = (
        f"**ORPS** `{payload.name}`: {len(payload.candidates)} candidate(s), "
        f"{payload.tests_total} visible test(s), {state}"
    )
    return "\n".join([head, "", *rows])


def offered(payload: CandidatesPayload) -> list[CandidateView]:
    """The candidates worth offering: they ran to completion; the best first."""
    return [c for c in payload.candidates if c.status == "completed"][:MAX_OFFERED]


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
        for index, candidate in enumerate(offered(payload)):
            edit = replacement_edit(source, span.qualname, candidate.code, path)
            if edit is None:
                continue
            actions.append(
                types.CodeAction(
                    title=action_title(candidate),
                    kind=types.CodeActionKind.RefactorRewrite,
                    is_preferred=index == 0 or None,
                    edit=workspace_edit(edit),
                    data={"uri": uri, "name": span.qualname, "candidateId": candidate.id},
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
