"""Every failure ends in one clear window/showMessage, and the server keeps serving."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.lsp.session import SCRIPTED_SETTINGS, start_session
from tests.support.scripted_server import ScriptedServer


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_errors_are_shown_and_the_server_keeps_running(
    workspace: Path, model: ScriptedServer
) -> None:
    settings: dict[str, Any] = {**SCRIPTED_SETTINGS, "baseUrl": model.url, "beamWidth": 0}
    session = await start_session(workspace, settings, env={"ORPS_API_KEY": "wrong-key"})
    try:
        # an invalid setting: one message naming it, the default used
        await session.wait_message("beamWidth")
        uri = session.open("mod.py")

        # a position outside any function
        session.replace_text(uri, "import os\n\n\ndef fib(n):\n    return n\n")
        assert await session.refine(uri, line=0) is None
        await session.wait_message("no function at line 1")

        # a syntax error in the document
        session.replace_text(uri, "def fib(n):\n    return (\n")
        assert await session.refine(uri, line=0) is None
        await session.wait_message("syntax error in mod.py line")

        # a document that is not Python
        notes = session.open("notes.txt", "def fib(n):\n    pass\n", language="plaintext")
        assert await session.refine(notes, line=0) is None
        await session.wait_message("notes.txt is not a Python document")
        assert await session.code_actions(notes, line=0) == []

        # a rejected key (the endpoint wants "secret", the environment has "wrong-key")
        session.replace_text(uri, "def fib(n):\n    raise NotImplementedError\n")
        model.load({"programmer": ["x"], "critic": ["x"], "api_key": "secret"})
        assert await session.refine(uri, line=0) is None
        await session.wait_message("rejected the API key")

        # no endpoint at the base URL
        await session.set_settings(
            {**settings, "beamWidth": 2, "baseUrl": f"http://127.0.0.1:{closed_port()}/v1"}
        )
        assert await session.refine(uri, line=0) is None
        await session.wait_message("is unreachable")

        # the local model is missing
        missing = str(workspace / "missing.gguf")
        await session.set_settings(
            {**settings, "beamWidth": 2, "model": "local", "modelPath": missing}
        )
        assert await session.refine(uri, line=0) is None
        await session.wait_message(f"the local model file {missing} does not exist")

        # still serving, and the invalid setting was reported once
        assert await session.code_actions(uri, line=1)
        assert sum("beamWidth" in m for m in session.messages) == 1
    finally:
        await session.client.shutdown_session()
        await session.client.stop()


async def test_settings_from_initialization_options_and_api_key_variable(
    workspace: Path, model: ScriptedServer
) -> None:
    model.load({**model.state.script, "api_key": "secret"})
    session = await start_session(
        workspace,
        {},
        initialization_options={
            "orps": {**SCRIPTED_SETTINGS, "baseUrl": model.url, "apiKeyEnv": "MY_KEY"}
        },
        env={"MY_KEY": "secret"},
        client_name="neovim",
    )
    try:
        uri = session.open("mod.py")
        result = await session.refine(uri, line=1)
        assert result["candidates"] and result["model"].startswith("scripted @ ")
        assert not session.messages
    finally:
        await session.client.shutdown_session()
        await session.client.stop()
