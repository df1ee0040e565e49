"""The editor's view of generated tests and scale profiles: wire names, the lens, the save action."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from orps.lsp.payload import (
    CandidatesPayload,
    CandidateView,
    GeneratedTestView,
    WirePosition,
    WireRange,
)
from orps.lsp.presentation import code_actions, lens_summary, save_tests_action
from orps.search.records import CandidateSummary, ScalePoint

SOURCE = 'def vowels(text):\n    """Count vowels."""\n    ...\n'
PATH = Path("/tmp/proj/text.py")


def view(**overrides: object) -> CandidateView:
    values: dict[str, object] = dict(
        rank=1,
        id="abc",
        code="def vowels(text):\n    return 0\n",
        reasoning="",
        tests_passed=1,
        tests_total=1,
        runtime_ns=2_000,
        runtime_noise_ns=10,
        peak_memory_bytes=None,
        score=1.0,
        process_score=4.0,
        outcome_score=1.0,
        round=0,
        status="completed",
    )
    values.update(overrides)
    return CandidateView.of(CandidateSummary.model_validate(values))


def payload(**overrides: object) -> CandidatesPayload:
    here = WirePosition(line=0, character=0)
    values: dict[str, object] = dict(
        uri=PATH.as_uri(),
        name="vowels",
        range=WireRange(start=here, end=here),
        version=1,
        search_id="s1",
        running=False,
        stopped="completed",
    )
    values.update(overrides)
    return CandidatesPayload.model_validate(values)


def test_wire_names_are_camel_case() -> None:
    best = view(
        scaling=[ScalePoint(scale=1024, runtime_ns=5_000), ScalePoint(scale=65_536, runtime_ns=1)],
        growth=1.0,
        generated_passed=2,
        generated_total=3,
        scale_outlier=True,
    )
    wire = payload(
        candidates=[best],
        generated_tests=[
            GeneratedTestView(
                id="generated:test_a", source="def test_a(): ...", kept=False, reason="why"
            )
        ],
        scale_note="perf_input is unusable",
    ).to_wire()
    candidate = wire["candidates"][0]
    assert candidate["scaling"][0] == {"scale": 1024, "runtimeNs": 5_000, "noiseNs": 0}
    assert (candidate["growth"], candidate["generatedPassed"], candidate["generatedTotal"]) == (
        1.0,
        2,
        3,
    )
    assert candidate["scaleOutlier"] is True
    assert wire["generatedTests"] == [
        {"id": "generated:test_a", "source": "def test_a(): ...", "kept": False, "reason": "why"}
    ]
    assert wire["scaleNote"] == "perf_input is unusable"


def test_the_lens_shows_the_runtime_at_the_largest_scale_and_the_growth() -> None:
    points = [
        ScalePoint(scale=16_384, runtime_ns=300_000),
        ScalePoint(scale=65_536, runtime_ns=1_200_000),
    ]
    text = lens_summary(payload(candidates=[view(scaling=points, growth=1.0)]))
    assert text is not None and "best: 1.20 ms at n = 65,536, ≈ n^1.0" in text
    plain = lens_summary(payload(candidates=[view()]))
    assert plain is not None and plain.startswith("ORPS: ") and " at n = " not in plain


def test_save_generated_tests_creates_a_pytest_file_with_the_kept_tests() -> None:
    tests = [
        GeneratedTestView(
            id="generated:test_a", source="def test_a():\n    assert vowels('a') == 1", kept=True
        ),
        GeneratedTestView(
            id="generated:test_b",
            source="def test_b():\n    assert vowels('') == 9",
            kept=False,
            reason="contradicts",
        ),
    ]
    stored = payload(
        candidates=[view()], generated_tests=tests, generated_imports="from text import vowels"
    )
    action = save_tests_action(PATH, stored)
    assert action is not None and action.title.startswith("Save generated tests (1)")
    assert action.edit is not None and action.edit.document_changes is not None
    create, edit = action.edit.document_changes
    assert isinstance(create, types.CreateFile)
    assert create.uri == PATH.with_name("test_text_generated.py").as_uri()
    assert isinstance(edit, types.TextDocumentEdit)
    [text_edit] = edit.edits
    assert isinstance(text_edit, types.TextEdit)
    written = text_edit.new_text
    assert "from text import vowels" in written and "def test_a" in written
    assert "def test_b" not in written
    compile(written, "test_text_generated.py", "exec")
    # Offered among the function's code actions; not when nothing was kept.
    actions = code_actions(
        uri=PATH.as_uri(),
        path=PATH,
        version=1,
        source=SOURCE,
        line=0,
        lookup=lambda name: stored,
        workspace_edit=lambda e: types.WorkspaceEdit(changes={PATH.as_uri(): [e]}),
    )
    assert actions is not None and any(a.title.startswith("Save generated tests") for a in actions)
    assert save_tests_action(PATH, payload(generated_tests=tests[1:])) is None
