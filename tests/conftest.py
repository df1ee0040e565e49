"""Shared fixtures: the scripted OpenAI-compatible server and a scratch project."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer({"programmer": [""], "critic": [""]}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def python() -> str:
    return sys.executable
