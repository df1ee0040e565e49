"""Issue 14 over the real protocol: the current code as a row, never preferring worse code,
accept that keeps what the user wrote (with a confirmation for failing candidates), results that
survive a restart or a cancelled re-run, progress as it changes, and a syntax error elsewhere."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

from tests.lsp.session import (
    CRITIQUE,
    FAST_FIB,
    SCRIPTED_SETTINGS,
    WRONG_FIB,
    LspSession,
    start_session,
    wait_for,
)
from tests.support.scripted_server import ScriptedServer

FAST_MODULE = '''\
def fib(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
'''

SLOW_FIB = """## Reasoning
Recursion reads well.

## Code
```python
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
```"""

CACHED_FIB = '''## Reasoning
Memoise with functools.

## Code
```python
import functools

def fib(n):
    """Fibonacci."""
    @functools.lru_cache(maxsize=None)
    def go(k):
        return k if k < 2 else go(k - 1) + go(k - 2)
    return go(n)
```'''

NO_CODE = "## Reasoning\nI would rather not write code today."

DOCTEST_STUB = '''\
"""Numbers."""

import math


def fib(n):
    """Return the n-th Fibonacci number.

    >>> fib(7)
    13
    """
    raise NotImplementedError
'''


def trimmed(candidate: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in candidate.items() if k not in ("code", "reasoning")}


async def test_slower_and_failing_candidates_never_beat_the_current_code(
    session: LspSession, model: ScriptedServer
) -> None:
    (session.root / "mod.py").write_text(FAST_MODULE)
    (session.root / "test_mod.py").write_text("from mod import fib\n\nassert fib(20) == 6765\n")
    model.load({"programmer": [SLOW_FIB, WRONG_FIB], "critic": [CRITIQUE]})
    uri = session.open("mod.py")
    result = await session.refine(uri, line=1)

    assert result["baseline"] == "current"
    current = result["current"]
    assert current["origin"] == "current" and current["rank"] == 0
    assert current["testsPassed"] == 1 and current["runtimeComparedNs"]
    by_code = {("fib(n - 1)" in c["code"]): c for c in result["candidates"]}
    slow, wrong = by_code[True], by_code[False]
    assert slow["comparedTests"] == 1 and slow["runtimeComparedNs"], trimmed(slow)
    assert slow["ratioText"].endswith("× slower") or slow["ratioText"] == "≈ same", trimmed(slow)
    assert wrong["failsCurrentTests"] and wrong["speedup"] is None and wrong["ratioText"] == ""
    assert not any(c["preferred"] for c in result["candidates"])
    assert result["verdict"].startswith("the current code stays best")

    lenses = [lens.command.title for lens in await session.code_lenses(uri) if lens.command]
    assert f"ORPS: {result['verdict']}" in lenses
    actions = await session.code_actions(uri, line=1)
    assert not any(a.is_preferred for a in actions)
    assert not any(a.title.startswith(f"ORPS #{wrong['rank']}:") for a in actions)
    hover = await session.hover(uri, line=0)
    assert hover is not None and "| current |" in hover.contents.value  # type: ignore[union-attr]

    # Accepting the failing candidate asks first; confirmed, it is applied.
    ask = {"uri": uri, "name": "fib", "candidateId": wrong["id"]}
    answer = await session.command("orps.accept", ask)
    assert answer == {
        "needsConfirmation": True,
        "message": f"#{wrong['rank']} fails 1 of the 1 tests the current code passes. "
        "Accept anyway?",
    }
    assert not session.applied_edits
    assert await session.command("orps.accept", {**ask, "confirmed": True}) is True
    (edit,) = session.applied_edits
    text = session.apply(edit)
    assert '"""Return the n-th Fibonacci number."""\n    return n\n' in text
    # Every view refreshes: the accepted code is now the current code.
    after = session.finished()[-1]
    assert after["stopped"] == "accepted" and after["current"]["id"] == wrong["id"]
    assert all(c["id"] != wrong["id"] and not c["preferred"] for c in after["candidates"])


async def test_accept_keeps_the_docstring_and_moves_imports_to_the_module(
    session: LspSession, model: ScriptedServer
) -> None:
    (session.root / "mod.py").write_text(DOCTEST_STUB)
    model.load({"programmer": [CACHED_FIB], "critic": [CRITIQUE]})
    uri = session.open("mod.py")
    result = await session.refine(uri, line=5)
    assert result["baseline"] == "none" and result["current"] is None
    top = result["candidates"][0]
    assert top["preferred"] and result["verdict"] == (
        f"no baseline: the function is a stub; #1 passes {top['testsPassed']}/{top['testsTotal']}"
        " tests"
    )
    assert await session.command(
        "orps.accept", {"uri": uri, "name": "fib", "candidateId": top["id"]}
    )
    text = session.apply(session.applied_edits[-1])
    ast.parse(text)
    assert text.startswith('"""Numbers."""\n\nimport math\nimport functools\n\n\ndef fib(n):\n')
    assert ">>> fib(7)" in text and '"""Fibonacci."""' not in text
    assert "    @functools.lru_cache(maxsize=None)\n" in text
    assert "    import functools" not in text and "NotImplementedError" not in text


async def test_a_cancelled_rerun_keeps_the_previous_result(
    session: LspSession, model: ScriptedServer
) -> None:
    uri = session.open("mod.py")
    first = await session.refine(uri, line=1)
    assert first["candidates"]
    model.load({"programmer": [FAST_FIB], "critic": [CRITIQUE], "delay_s": 5})
    rerun = asyncio.create_task(session.refine(uri, line=1))
    await wait_for(lambda: bool(session.statuses[-1]["running"]), 10)
    await session.command("orps.cancel", {"uri": uri, "name": "fib"})
    result = await asyncio.wait_for(rerun, 10)

    assert result["stopped"] == "cancelled"
    assert [c["id"] for c in result["candidates"]] == [c["id"] for c in first["candidates"]]
    assert result["verdict"].startswith("the re-run was cancelled; the previous result is shown")
    stored = await session.stored({"uri": uri, "name": "fib"})
    assert stored["candidates"] and stored["stopped"] == "cancelled"


async def test_zero_candidates_come_with_their_reason(
    session: LspSession, model: ScriptedServer
) -> None:
    model.load({"programmer": [NO_CODE], "critic": [CRITIQUE]})
    uri = session.open("mod.py")
    result = await session.refine(uri, line=1)
    assert result["candidates"] == []
    assert "reply(ies) without usable code" in result["emptyReason"]
    lenses = [lens.command.title for lens in await session.code_lenses(uri) if lens.command]
    assert any(t.startswith("ORPS: no candidate (") and "without usable code" in t for t in lenses)


async def test_progress_is_sent_as_it_changes(session: LspSession, model: ScriptedServer) -> None:
    model.load({"programmer": [FAST_FIB, WRONG_FIB], "critic": [CRITIQUE], "delay_s": 0.4})
    uri = session.open("mod.py")
    await session.refine(uri, line=1)
    running = [c for c in session.candidates if c["running"]]
    messages = [c["progress"]["message"] for c in running if c["progress"]]
    assert len(set(messages)) >= 2, messages  # the line changed while the search ran
    assert all(m.startswith("round ") for m in messages)
    calls = [c["progress"]["llmCalls"] for c in running if c["progress"]]
    assert calls == sorted(calls) and calls[-1] > calls[0]


async def test_a_syntax_error_elsewhere_keeps_lenses_and_actions(session: LspSession) -> None:
    uri = session.open("mod.py")
    result = await session.refine(uri, line=1)
    assert result["candidates"]
    source = session.texts[uri] + "\n\ndef half_typed(:\n    pass\n"
    session.replace_text(uri, source)
    lenses = [lens.command.title for lens in await session.code_lenses(uri) if lens.command]
    assert f"ORPS: {result['verdict']}" in lenses
    actions = await session.code_actions(uri, line=1)
    offered = [a for a in actions if a.edit is not None]
    assert offered, [a.title for a in actions]
    text = session.apply(offered[0].edit)  # type: ignore[arg-type]
    assert text.endswith("def half_typed(:\n    pass\n") and "NotImplementedError" not in text


async def test_settings_changes_apply_live_and_say_so(
    session: LspSession, model: ScriptedServer
) -> None:
    assert session.statuses[-1]["settingsApplied"] is None
    await session.set_settings({**SCRIPTED_SETTINGS, "baseUrl": model.url, "rounds": 2})
    assert session.statuses[-1]["settingsApplied"].startswith("settings applied live (rounds)")


async def test_results_are_restored_after_a_restart(workspace: Path, model: ScriptedServer) -> None:
    settings = {**SCRIPTED_SETTINGS, "baseUrl": model.url}
    first = await start_session(workspace, settings)
    try:
        uri = first.open("mod.py")
        result = await first.refine(uri, line=1)
    finally:
        await first.client.shutdown_session()
        await first.client.stop()
    top = result["candidates"][0]

    again = await start_session(workspace, settings)
    try:
        again.open("mod.py")
        stored = await again.client.protocol.send_request_async(
            "orps/restore", {"payloads": [result]}
        )
        assert stored == 1
        restored = await again.stored({"uri": uri, "name": "fib"})
        assert restored["stopped"] == "restored" and restored["candidates"][0]["id"] == top["id"]
        lenses = [lens.command.title for lens in await again.code_lenses(uri) if lens.command]
        assert f"ORPS: {result['verdict']}" in lenses
        accepted = await again.command(
            "orps.accept", {"uri": uri, "name": "fib", "candidateId": top["id"]}
        )
        assert accepted is True and again.applied_edits
        bad = await again.client.protocol.send_request_async(
            "orps/restore", {"payloads": [{"uri": uri}]}
        )
        assert bad == 0
        await again.wait_message("orps/restore: invalid payloads")
    finally:
        await again.client.shutdown_session()
        await again.client.stop()
