"""Generated tests and runtimes at scale through the real language server: the payload's fields,
the code lens with the runtime at scale, and the "Save generated tests" code action."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from tests.lsp.session import FAST_FIB, SCRIPTED_SETTINGS, start_session
from tests.support.scripted_server import ScriptedServer

FIB_TESTS = """```python
from mod import fib

def test_small():
    assert fib(1) == 1

def test_seven():
    assert fib(7) == 13
```"""

FIB_INPUT = "```python\ndef perf_input(scale: int) -> tuple:\n    return (scale,)\n```"


async def test_generated_tests_and_scale_reach_the_editor(
    workspace: Path, model: ScriptedServer
) -> None:
    (workspace / "test_mod.py").unlink()  # the stub has no test at all
    model.load(
        {
            **model.state.script,
            "test_writer": [FIB_TESTS],
            "input_generator": [FIB_INPUT],
            "programmer": [FAST_FIB],
        }
    )
    settings = {
        **SCRIPTED_SETTINGS,
        "baseUrl": model.url,
        "generateTests": True,
        "scale": True,
        "maxScale": 4096,
        "children": 1,
        "rounds": 0,
    }
    session = await start_session(workspace, settings)
    try:
        uri = session.open("mod.py")
        result = await session.refine(uri, line=1)
        assert [t["id"] for t in result["generatedTests"]] == [
            "generated:test_small",
            "generated:test_seven",
        ]
        assert all(t["kept"] for t in result["generatedTests"])
        top = result["candidates"][0]
        assert (top["generatedPassed"], top["generatedTotal"]) == (2, 2)
        assert top["testsTotal"] == 0  # generated tests are not the user's
        assert result["scaleNote"] is None, result["scaleNote"]
        assert top["scaling"] and set(top["scaling"][0]) == {"scale", "runtimeNs", "noiseNs"}
        assert top["scaling"][-1]["scale"] == 4096
        assert isinstance(top["growth"], float) and top["scaleOutlier"] is False

        lenses = [lens.command.title for lens in await session.code_lenses(uri) if lens.command]
        assert any("best: " in t and "at n = 4,096, ≈ n^" in t for t in lenses), lenses
        assert any("has no tests of yours; #1 passes 2/2 generated tests" in t for t in lenses), (
            lenses
        )

        actions = await session.code_actions(uri, line=1)
        [save] = [a for a in actions if a.title.startswith("Save generated tests (2)")]
        assert save.edit is not None and save.edit.document_changes is not None
        create = save.edit.document_changes[0]
        assert isinstance(create, types.CreateFile)
        assert create.uri == (workspace / "test_mod_generated.py").as_uri()
    finally:
        await session.client.shutdown_session()
        await session.client.stop()
