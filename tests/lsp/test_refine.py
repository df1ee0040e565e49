"""Refining a function end to end: code action, progress, streamed candidates, accept."""

from __future__ import annotations

import ast
from pathlib import Path

from lsprotocol import types

from tests.lsp.session import LspSession
from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer


async def test_refine_stub_then_accept_top_candidate(session: LspSession) -> None:
    uri = session.open("mod.py")

    actions = await session.code_actions(uri, line=2)
    assert [a.title for a in actions] == ["Refine with ORPS"]
    refine = actions[0]
    assert refine.kind == types.CodeActionKind.RefactorRewrite
    assert refine.command is not None and refine.command.command == "orps.refine"
    lenses = await session.code_lenses(uri)
    assert [lens.command.title for lens in lenses if lens.command] == ["Refine with ORPS"]

    result = await session.command(refine.command.command, *(refine.command.arguments or []))

    assert result is not None and result["running"] is False
    assert result["stopped"] == "completed"
    top = result["candidates"][0]
    assert (top["testsPassed"], top["testsTotal"]) == (2, 2)
    assert top["id"] and top["runtimeNs"] and top["peakMemoryBytes"] is not None
    assert result["name"] == "fib" and result["uri"] == uri
    assert result["range"]["start"] == {"line": 0, "character": 0}

    # progress: begin, reports with round and calls, end
    (reports,) = session.client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert any(
        isinstance(r, types.WorkDoneProgressReport) and "round" in (r.message or "")
        for r in reports
    )
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)

    # streaming: the list was sent while running, then once more at the end
    running = [c for c in session.candidates if c["running"] and c["candidates"]]
    assert running, "no ranked list was streamed during the search"
    assert session.candidates[-1]["candidates"][0]["id"] == top["id"]
    assert session.lens_refreshes >= 1

    actions = await session.code_actions(uri, line=1)
    offered = [a for a in actions if a.edit is not None]
    assert offered[0].title.startswith("ORPS #1: 2/2 tests · ")
    assert offered[0].is_preferred and not any(a.is_preferred for a in offered[1:])
    assert actions[-1].title == "Refine with ORPS"

    hover = await session.hover(uri, line=0)
    assert hover is not None and "2/2" in hover.contents.value  # type: ignore[union-attr]

    stored = await session.stored({"uri": uri, "position": {"line": 2, "character": 0}})
    assert stored["candidates"][0]["id"] == top["id"]
    assert (await session.stored({"uri": uri, "name": "fib"}))["searchId"] == result["searchId"]
    assert await session.stored({"uri": uri, "name": "nope"}) is None

    assert offered[0].edit is not None
    new_text = session.apply(offered[0].edit)
    ast.parse(new_text)
    assert "for _ in range(n)" in new_text and "NotImplementedError" not in new_text
    assert new_text.startswith("def fib(n):\n")

    statuses = session.statuses
    assert any(s["running"] for s in statuses) and not statuses[-1]["running"]


async def test_accept_command_sends_apply_edit(session: LspSession) -> None:
    uri = session.open("mod.py")
    result = await session.refine(uri, line=1)
    top = result["candidates"][0]

    applied = await session.command(
        "orps.accept", {"uri": uri, "name": "fib", "candidateId": top["id"]}
    )

    assert applied is True
    (edit,) = session.applied_edits
    new_text = session.apply(edit)
    assert "a, b = b, a + b" in new_text or "a, b = (b, a + b)" in new_text

    refused = await session.command(
        "orps.accept", {"uri": uri, "name": "fib", "candidateId": "unknown"}
    )
    assert refused is False
    await session.wait_message("no candidate unknown")


async def test_accept_rechecks_the_text_it_would_write(
    session: LspSession, model: ScriptedServer, workspace: Path
) -> None:
    """The candidate passes only under its own default; grafted onto the user's signature it
    fails: its code action runs ``orps.accept`` instead of carrying the edit, and the re-run
    before the edit runs the text the edit would make, and refuses it."""
    stub = 'def scaled(x, k=2):\n    """x times k."""\n    ...\n'
    (workspace / "sc.py").write_text(stub)
    (workspace / "test_sc.py").write_text(
        "from sc import scaled\n\n\ndef test_scaled():\n    assert scaled(3) == 9\n"
    )
    candidate = "def scaled(x, k=3):\n    return x * k\n"
    model.load({"programmer": [programmer(candidate)], "critic": [critic(5)]})
    uri = session.open("sc.py")
    result = await session.refine(uri, line=0)
    top = result["candidates"][0]
    assert (top["testsPassed"], top["testsTotal"]) == (1, 1)

    # Its code action cannot carry the edit as is: it runs orps.accept, which re-runs it first.
    (action,) = [a for a in await session.code_actions(uri, line=1) if a.title.startswith("ORPS")]
    assert action.edit is None and action.command is not None
    assert action.command.command == "orps.accept"
    applied = await session.command(action.command.command, *(action.command.arguments or []))
    assert applied is False
    await session.wait_message("the re-run passed 0/1 tests where the search saw 1")
    assert not session.applied_edits
