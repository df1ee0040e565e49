"""Unit tests of the pure modules: function spans and edits, titles, settings layers."""

from __future__ import annotations

import ast
from pathlib import Path

from orps.lsp.configuration import resolve_settings
from orps.lsp.functions import apply_text_edit, replacement_edit, span_at, spans_of
from orps.lsp.payload import CandidatesPayload, CandidateView, WirePosition, WireRange
from orps.lsp.presentation import action_title, code_actions, hover_markdown, lens_summary
from orps.search.records import CandidateSummary

MODULE = """import functools


class Cache:
    @functools.lru_cache
    def get(self, key):
        return key


def fib(n):
    return n"""

PATH = Path("/tmp/mod.py")


def summary(**overrides: object) -> CandidateView:
    values: dict[str, object] = dict(
        rank=1,
        id="abc",
        code="def fib(n):\n    return 1\n",
        reasoning="",
        tests_passed=5,
        tests_total=5,
        runtime_ns=1_200_000,
        runtime_noise_ns=1000,
        peak_memory_bytes=3 << 20,
        score=1.0,
        process_score=4.0,
        outcome_score=1.5,
        round=0,
        status="completed",
        speedup_vs_current=2.5,
    )
    values.update(overrides)
    return CandidateView.of(CandidateSummary.model_validate(values))


def payload(*candidates: CandidateView, running: bool = False) -> CandidatesPayload:
    origin = WirePosition(line=0, character=0)
    return CandidatesPayload(
        uri="file:///tmp/mod.py",
        name="fib",
        range=WireRange(start=origin, end=origin),
        version=1,
        search_id="s",
        running=running,
        stopped=None if running else "completed",
        candidates=list(candidates),
    )


def test_spans_cover_decorators_and_methods() -> None:
    spans = spans_of(MODULE)
    assert [(s.qualname, s.start_line, s.end_line, s.def_line) for s in spans] == [
        ("Cache.get", 4, 7, 5),
        ("fib", 9, 11, 9),
    ]
    assert span_at(spans, 4) is spans[0] and span_at(spans, 8) is None
    assert spans_of("def broken(:\n") == []


def test_replacement_edit_keeps_indentation_and_the_rest_of_the_file() -> None:
    edit = replacement_edit(MODULE, "Cache.get", "def get(self, key):\n    return key * 2\n", PATH)
    assert edit is not None
    new = apply_text_edit(MODULE, edit)
    assert "    def get(self, key):\n        return key * 2\n" in new
    assert "@functools.lru_cache" not in new and new.endswith("def fib(n):\n    return n")
    last = replacement_edit(MODULE, "fib", "def fib(n):\n    return n + 1\n", PATH)
    assert last is not None and last.range.end.line == 10  # last line has no newline
    assert apply_text_edit(MODULE, last).endswith("def fib(n):\n    return n + 1")
    ast.parse(apply_text_edit(MODULE, last))


def test_no_edit_rather_than_a_bad_one() -> None:
    assert replacement_edit(MODULE, "missing", "def missing():\n    pass\n", PATH) is None
    assert replacement_edit(MODULE, "fib", "", PATH) is None
    assert replacement_edit(MODULE, "fib", "def fib(n:\n", PATH) is None
    assert replacement_edit(MODULE, "fib", "def fib(n):\n    return n\n", PATH) is None  # no-op
    assert replacement_edit("def fib(:\n", "fib", "def fib(n):\n    pass\n", PATH) is None


def test_crlf_documents_stay_crlf() -> None:
    source = "def fib(n):\r\n    return n\r\n\r\nx = 1\r\n"
    edit = replacement_edit(source, "fib", "def fib(n):\n    return 0\n", PATH)
    assert edit is not None
    assert apply_text_edit(source, edit) == "def fib(n):\r\n    return 0\r\n\r\nx = 1\r\n"


def test_titles_and_summaries() -> None:
    best = summary()
    assert action_title(best) == "ORPS #1: 5/5 tests · 1.20 ms · 0.4× current · 3.0 MiB"
    assert (
        action_title(summary(speedup_vs_current=None)) == "ORPS #1: 5/5 tests · 1.20 ms · 3.0 MiB"
    )
    assert lens_summary(payload(best)) == "best: 1.20 ms, 2.5× faster, 5/5 tests"
    assert (
        lens_summary(payload(summary(speedup_vs_current=0.5)))
        == "best: 1.20 ms, 2× slower, 5/5 tests"
    )
    assert lens_summary(payload(running=True)) == "ORPS: searching (starting)"
    assert "| #1 | 5/5 | 1.20 ms |" in hover_markdown(payload(best))


def test_code_actions_offer_completed_candidates_best_first() -> None:
    stored = payload(
        summary(),
        summary(rank=2, id="def", code="def fib(n):\n    return 2\n"),
        summary(rank=3, id="bad", status="timeout"),
    )
    actions = code_actions(
        uri="file:///tmp/mod.py",
        path=PATH,
        version=3,
        source=MODULE,
        line=10,
        lookup=lambda name: stored if name == "fib" else None,
        workspace_edit=lambda edit: __import__("lsprotocol").types.WorkspaceEdit(
            changes={"u": [edit]}
        ),
    )
    assert actions is not None
    assert [a.title.split(":")[0] for a in actions] == ["ORPS #1", "ORPS #2", "Refine with ORPS"]
    assert actions[0].is_preferred and not actions[1].is_preferred
    assert (
        code_actions(
            uri="u",
            path=PATH,
            version=1,
            source=MODULE,
            line=1,
            lookup=lambda name: None,
            workspace_edit=lambda e: None,
        )
        is None
    )  # type: ignore[arg-type,return-value]


def test_settings_layers_and_complaints() -> None:
    settings, complaints = resolve_settings(
        {"orps": {"rounds": 4, "beamWidth": 0}},
        {"rounds": 1, "model": None, "seed": None, "bogus": True},
        {"ORPS_MODEL": "from-env", "ORPS_BASE_URL": "http://x/v1"},
    )
    assert settings.rounds == 1 and settings.model == "from-env" and settings.seed is None
    assert settings.beam_width == 3 and settings.base_url == "http://x/v1"
    assert len(complaints) == 2 and any("beamWidth" in c for c in complaints)
