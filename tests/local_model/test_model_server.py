"""``orps model serve`` as a real subprocess, driven over real HTTP by the real ``openai`` client."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from orps.model.chat import ChatMessage, ModelError, SamplingParams
from orps.model.local import LocalModel
from orps.model.openai_compat import OpenAICompatibleModel

pytestmark = pytest.mark.local_model

SERVE = "from orps.model.http_server import serve; serve(None, '127.0.0.1', 0)"
PROMPT = "Write a Python function that reverses a string."
ENDLESS_PROMPT = "Count from 1 to 5000, one number per line, with no other text."
MESSAGES: list[ChatMessage] = [{"role": "user", "content": PROMPT}]


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    ready_line: str

    def stop(self) -> tuple[int, str]:
        """Ctrl-C the server; returns its exit code and what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        stderr = self.process.stderr.read() if self.process.stderr else ""
        return self.process.returncode, stderr


def start_server(cwd: Path) -> RunningServer:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60).strip()
    except queue.Empty:
        process.kill()
        pytest.fail("the model server did not report ready within 60 s")
    if not line.startswith("Serving "):
        process.kill()
        pytest.fail(
            f"unexpected first line {line!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        )
    return RunningServer(process, line.rsplit(" at ", 1)[1], line)


@pytest.fixture(scope="module")
def server(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("model-server"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def raw_client(server: RunningServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    yield client
    client.close()


def test_ready_line_names_the_model_and_the_url(server: RunningServer) -> None:
    assert server.ready_line.startswith("Serving local:SmolLM2-135M-Instruct.Q4_1.gguf:")
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")


def test_models_lists_the_local_model(raw_client: openai.OpenAI) -> None:
    assert [m.id for m in raw_client.models.list().data] == ["SmolLM2-135M-Instruct.Q4_1"]


async def test_one_completion_matches_the_in_process_model(
    server: RunningServer, local_model: LocalModel
) -> None:
    remote = OpenAICompatibleModel(server.base_url, "SmolLM2-135M-Instruct.Q4_1", None)
    params = SamplingParams(temperature=0.7, max_tokens=32, seed=5)
    try:
        [over_http] = await remote.complete(MESSAGES, params)
    finally:
        await remote.aclose()
    [in_process] = await local_model.complete(MESSAGES, params)

    assert over_http.text.strip()
    assert over_http == in_process


async def test_n_two_gives_two_choices(server: RunningServer) -> None:
    remote = OpenAICompatibleModel(server.base_url, "local", None)
    try:
        pair = await remote.complete(
            MESSAGES, SamplingParams(temperature=1.0, max_tokens=24, seed=1, n=2)
        )
    finally:
        await remote.aclose()

    assert len(pair) == 2
    assert all(c.text.strip() and c.completion_tokens > 0 for c in pair)


def test_streaming_gives_the_same_text_as_one_reply(raw_client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
    whole = raw_client.chat.completions.create(
        model="local", messages=messages, max_tokens=32, seed=9, temperature=0.7
    )
    stream = raw_client.chat.completions.create(
        model="local",
        messages=messages,
        max_tokens=32,
        seed=9,
        temperature=0.7,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish_reasons: list[str] = []
    usage = None
    for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
        usage = chunk.usage or usage

    assert len(pieces) > 3
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish_reasons == [whole.choices[0].finish_reason]
    assert usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_a_disconnected_stream_frees_the_model(raw_client: openai.OpenAI) -> None:
    endless: list[ChatCompletionMessageParam] = [{"role": "user", "content": ENDLESS_PROMPT}]
    stream = raw_client.chat.completions.create(
        model="local", messages=endless, max_tokens=2000, temperature=0.0, seed=0, stream=True
    )
    for received, _ in enumerate(stream):
        if received >= 5:
            break
    stream.close()
    started = time.monotonic()

    quick = raw_client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": PROMPT}], max_tokens=2, seed=0
    )

    assert quick.choices[0].message.content is not None
    assert time.monotonic() - started < 5.0  # the 2000-token stream would take 20 s or more


async def test_a_bad_request_is_a_readable_model_error(server: RunningServer) -> None:
    remote = OpenAICompatibleModel(server.base_url, "local", None)
    too_long: list[ChatMessage] = [{"role": "user", "content": "word " * 12_000}]
    try:
        with pytest.raises(ModelError) as caught:
            await remote.complete(too_long, SamplingParams(max_tokens=8, seed=0))
    finally:
        await remote.aclose()

    assert "HTTP 400" in str(caught.value) and "does not fit" in str(caught.value)


def test_ctrl_c_exits_cleanly(gguf_path: Path, tmp_path: Path) -> None:
    running = start_server(tmp_path)

    code, stderr = running.stop()

    assert code == 0
    assert stderr == ""
