"""Unit tests of the pure modules: function spans and edits, titles, settings layers."""

from __future__ import annotations

import ast
from pathlib import Path

from lsprotocol import types

from orps.lsp.configuration import resolve_settings
from orps.lsp.functions import apply_text_edit, replacement_edit, span_at, spans_of
from orps.lsp.payload import CandidatesPayload, CandidateView, WirePosition, WireRange
from orps.lsp.presentation import (
    action_title,
    code_actions,
    confirmation_message,
    hover_markdown,
    lens_summary,
)
from orps.search.comparison import mark_preferred, verdict
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
        speedup=2.5,
        ratio_text="2.5× faster",
        compared_tests=5,
        runtime_compared_ns=6_000_000,
        current_runtime_compared_ns=15_000_000,
        preferred=True,
    )
    values.update(overrides)
    return CandidateView.of(CandidateSummary.model_validate(values))


CURRENT = summary(
    rank=0,
    id="cur",
    origin="current",
    speedup=None,
    speedup_vs_current=None,
    ratio_text="",
    preferred=False,
    runtime_compared_ns=15_000_000,
)


def payload(
    *candidates: CandidateView, running: bool = False, current: CandidateView | None = CURRENT
) -> CandidatesPayload:
    origin = WirePosition(line=0, character=0)
    ranked = list(candidates)
    mark_preferred(ranked, current)
    return CandidatesPayload(
        uri="file:///tmp/mod.py",
        name="fib",
        range=WireRange(start=origin, end=origin),
        version=1,
        search_id="s",
        running=running,
        stopped=None if running else "completed",
        candidates=ranked,
        current=current,
        baseline="current" if current is not None else "none",
        verdict=verdict(ranked, current),
    )


def test_spans_cover_decorators_and_methods() -> None:
    spans = spans_of(MODULE)
    assert [(s.qualname, s.start_line, s.end_line, s.def_line) for s in spans] == [
        ("Cache.get", 4, 7, 5),
        ("fib", 9, 11, 9),
    ]
    assert span_at(spans, 4) is spans[0] and span_at(spans, 8) is None
    assert spans_of("def broken(:\n") == []
    # A syntax error elsewhere: the functions that still parse keep their spans.
    broken = MODULE.replace("class Cache:", "class Cache(:")
    assert [s.qualname for s in spans_of(broken)] == ["fib"]


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
    assert action_title(best) == "ORPS #1: 5/5 tests · 6.00 ms · 2.5× faster · 3.0 MiB"
    stub = summary(compared_tests=0, runtime_compared_ns=None, speedup=None, ratio_text="")
    assert action_title(stub, baseline=False) == "ORPS #1: 5/5 tests · 1.20 ms · 3.0 MiB"
    assert lens_summary(payload(best)) == "ORPS: #1 is 2.5× faster than the current code"
    slower = summary(speedup=0.5, ratio_text="2.0× slower")
    assert lens_summary(payload(slower)) == (
        "ORPS: the current code stays best: no candidate is faster beyond noise while passing "
        "its tests"
    )
    tie = summary(speedup=1.02, tie=True, ratio_text="≈ same")
    assert "current code stays best" in (lens_summary(payload(tie)) or "")
    assert lens_summary(payload(running=True)) == "ORPS: searching (starting)"
    assert lens_summary(payload(stub, current=None)) == (
        "ORPS: no baseline: the function is a stub; #1 passes 5/5 tests"
    )
    hover = hover_markdown(payload(best))
    assert "| current | 5/5 | 15.00 ms |" in hover and "| #1 ★ | 5/5 | 6.00 ms |" in hover
    assert "2.5× faster" in hover and "runtime: each test's median" in hover
    assert "e+" not in hover and "0.00×" not in hover


def test_a_candidate_failing_current_tests_is_never_called_faster() -> None:
    failing = summary(
        tests_passed=3,
        fails_current_tests=True,
        current_tests_failed=2,
        speedup=None,
        ratio_text="",
        compared_tests=3,
    )
    stored = payload(failing)
    assert not stored.candidates[0].preferred
    assert "fails 2 of the current code's tests" in action_title(failing)
    assert "faster" not in hover_markdown(stored).split("|---|")[-1]
    assert confirmation_message(failing, CURRENT) == (
        "#1 fails 2 of the 5 tests the current code passes. Accept anyway?"
    )
    assert confirmation_message(summary(), CURRENT) is None


def test_code_actions_offer_passing_candidates_and_prefer_only_the_preferred() -> None:
    stored = payload(
        summary(speedup=0.5, ratio_text="2.0× slower", preferred=False),
        summary(rank=2, id="def", code="def fib(n):\n    return 2\n"),
        summary(rank=3, id="bad", status="timeout"),
        summary(rank=4, id="fails", code="def fib(n):\n    return 3\n", tests_passed=4),
    )
    actions = code_actions(
        uri="file:///tmp/mod.py",
        path=PATH,
        version=3,
        source=MODULE,
        line=10,
        lookup=lambda name: stored if name == "fib" else None,
        workspace_edit=lambda edits: types.WorkspaceEdit(changes={"u": edits}),
    )
    assert actions is not None
    assert [a.title.split(":")[0] for a in actions] == ["ORPS #1", "ORPS #2", "Refine with ORPS"]
    assert not actions[0].is_preferred and actions[1].is_preferred  # #1 is slower
    assert (
        code_actions(
            uri="u",
            path=PATH,
            version=1,
            source=MODULE,
            line=1,
            lookup=lambda name: None,
            workspace_edit=lambda e: types.WorkspaceEdit(),
        )
        is None
    )


def test_settings_layers_and_complaints() -> None:
    settings, complaints = resolve_settings(
        {"orps": {"rounds": 4, "beamWidth": 0}},
        {"rounds": 1, "model": None, "seed": None, "bogus": True},
        {"ORPS_MODEL": "from-env", "ORPS_BASE_URL": "http://x/v1"},
    )
    assert settings.rounds == 1 and settings.model == "from-env" and settings.seed is None
    assert settings.beam_width == 3 and settings.base_url == "http://x/v1"
    assert len(complaints) == 2 and any("beamWidth" in c for c in complaints)
