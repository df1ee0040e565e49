"""Fixtures for the language-server tests: a scratch workspace, the scripted model, a session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.lsp.session import (
    FIB_SCRIPT,
    SCRIPTED_SETTINGS,
    STUB_MODULE,
    TESTS_FILE,
    LspSession,
    start_session,
)
from tests.support.scripted_server import ScriptedServer


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    (root / "mod.py").write_text(STUB_MODULE)
    (root / "test_mod.py").write_text(TESTS_FILE)
    return root


@pytest.fixture
def model() -> Iterator[ScriptedServer]:
    server = ScriptedServer(dict(FIB_SCRIPT)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def session(workspace: Path, model: ScriptedServer) -> AsyncIterator[LspSession]:
    lsp = await start_session(workspace, {**SCRIPTED_SETTINGS, "baseUrl": model.url})
    try:
        yield lsp
    finally:
        await lsp.client.shutdown_session()
        await lsp.client.stop()
