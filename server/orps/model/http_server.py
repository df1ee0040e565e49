"""``orps model serve``: the embedded local model behind an OpenAI-compatible HTTP endpoint.

A thin standard-library server over ``LocalModel`` (no web framework, no extra dependencies), so
anything that speaks the OpenAI chat API (the ``openai`` client, the VS Code extension, another
orps) can use the local model: ``POST /v1/chat/completions`` with ``n``, ``seed``,
``temperature``, ``max_tokens`` (or ``max_completion_tokens``) and ``stop``, as one JSON reply or
as server-sent events (``stream: true``, with ``stream_options.include_usage``), and
``GET /v1/models``. Requests run one at a time, because the model does; a streaming client that
disconnects stops its generation at the next token. It binds to 127.0.0.1 by default and has no
authentication: it is meant for this machine only.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from orps.model.chat import ChatMessage, ModelError, ModelUnavailable, SamplingParams
from orps.model.local import Generation, GenerationCancelled, LocalModel, make_local_model

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_CHOICES = 16
MAX_BODY_BYTES = 16 * 1024 * 1024
# OpenAI's default sampling temperature, for requests that do not set one.
DEFAULT_TEMPERATURE = 1.0
_ROLES: dict[str, Any] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


class RequestError(Exception):
    """A request the server refuses with HTTP 400; the message goes back to the client."""


@dataclass(frozen=True)
class ChatRequest:
    """A validated ``/v1/chat/completions`` body."""

    messages: list[ChatMessage]
    params: SamplingParams
    stop: list[str]
    stream: bool
    include_usage: bool


def parse_chat_request(body: Any, *, default_max_tokens: int) -> ChatRequest:
    """Validate a request body; raises ``RequestError`` naming the first bad field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise RequestError("'messages' must be a non-empty list")
    messages = [_parse_message(index, item) for index, item in enumerate(raw_messages)]
    n = _integer(body, "n", 1, minimum=1, maximum=MAX_CHOICES)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = default_max_tokens
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestError("'max_tokens' must be a positive integer")
    temperature = body.get("temperature")
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise RequestError("'temperature' must be a number")
    if not 0.0 <= temperature <= 2.0:
        raise RequestError("'temperature' must be between 0 and 2")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError("'seed' must be an integer")
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        stops = list(stop)
    else:
        raise RequestError("'stop' must be a string or a list of strings")
    options = body.get("stream_options") or {}
    return ChatRequest(
        messages=messages,
        params=SamplingParams(
            temperature=float(temperature), max_tokens=max_tokens, seed=seed, n=n
        ),
        stop=[s for s in stops if s],
        stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
    )


def _parse_message(index: int, item: Any) -> ChatMessage:
    if not isinstance(item, dict):
        raise RequestError(f"messages[{index}] must be an object")
    role = _ROLES.get(str(item.get("role")))
    if role is None:
        raise RequestError(
            f"messages[{index}].role must be one of system, developer, user, assistant"
        )
    content = item.get("content")
    if content is None:
        content = ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise RequestError(f"messages[{index}].content: only text parts are supported")
            parts.append(str(part.get("text", "")))
        content = "".join(parts)
    if not isinstance(content, str):
        raise RequestError(f"messages[{index}].content must be a string or a list of text parts")
    return ChatMessage(role=role, content=content)


def _integer(body: dict[str, Any], name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RequestError(f"'{name}' must be an integer from {minimum} to {maximum}")
    return value


class ModelHTTPServer(ThreadingHTTPServer):
    """The HTTP server, holding the one model every request thread shares."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], model: LocalModel) -> None:
        self.model = model
        self.started = int(time.time())
        super().__init__(address, ModelRequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class ModelRequestHandler(BaseHTTPRequestHandler):
    """Routes the OpenAI-compatible endpoints to the shared ``LocalModel``."""

    server: ModelHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "orps-model-server"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would drown the "Serving" line

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        model = self.server.model
        if path in ("/v1/models", "/models"):
            self._send_json(HTTPStatus.OK, {"object": "list", "data": [self._model_card()]})
        elif path in (f"/v1/models/{model.name}", f"/models/{model.name}"):
            self._send_json(HTTPStatus.OK, self._model_card())
        elif path in ("/health", "/v1/health"):
            self._send_json(HTTPStatus.OK, {"status": "ok", "model": model.identity})
        else:
            self._send_error(HTTPStatus.NOT_FOUND, f"no route GET {path}", "not_found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._discard_body()
            self._send_error(HTTPStatus.NOT_FOUND, f"no route POST {path}", "not_found")
            return
        model = self.server.model
        try:
            request = parse_chat_request(self._read_json(), default_max_tokens=model.context_tokens)
        except RequestError as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, str(exc), "invalid_request_error")
            return
        # Seeds seed, seed+1, ... per choice, as LocalModel.generate does for n > 1.
        base_seed = request.params.seed
        if base_seed is None:
            base_seed = random.randrange(2**31)
        if request.stream:
            self._stream(request, base_seed)
        else:
            self._reply(request, base_seed)

    def _model_card(self) -> dict[str, Any]:
        return {
            "id": self.server.model.name,
            "object": "model",
            "created": self.server.started,
            "owned_by": "orps",
        }

    def _generate(
        self,
        request: ChatRequest,
        seed: int,
        cancel: threading.Event,
        on_text: Any = None,
    ) -> Generation:
        params = replace(request.params, n=1, seed=seed)
        [generation] = self.server.model.generate(
            request.messages, params, cancel=cancel, on_text=on_text, stop=request.stop
        )
        return generation

    def _reply(self, request: ChatRequest, base_seed: int) -> None:
        cancel = threading.Event()
        generations: list[Generation] = []
        try:
            for index in range(request.params.n):
                generations.append(self._generate(request, base_seed + index, cancel))
        except ModelUnavailable as exc:
            self._send_error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), "server_error")
            return
        except ModelError as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, str(exc), "invalid_request_error")
            return
        except GenerationCancelled:
            self._send_error(
                HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping", "server_error"
            )
            return
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        self._send_json(
            HTTPStatus.OK,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.server.model.name,
                "choices": [
                    {
                        "index": index,
                        "message": {"role": "assistant", "content": generation.text},
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                    }
                    for index, generation in enumerate(generations)
                ],
                "usage": _usage(generations),
            },
        )

    def _stream(self, request: ChatRequest, base_seed: int) -> None:
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        cancel = threading.Event()

        def chunk(index: int, delta: dict[str, str], finish_reason: str | None) -> None:
            self._send_event(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.server.model.name,
                    "choices": [
                        {
                            "index": index,
                            "delta": delta,
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                }
            )

        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        generations: list[Generation] = []
        try:
            for index in range(request.params.n):
                chunk(index, {"role": "assistant", "content": ""}, None)
                generation = self._generate(
                    request,
                    base_seed + index,
                    cancel,
                    on_text=lambda i, text, index=index: chunk(index, {"content": text}, None),
                )
                generations.append(generation)
                chunk(index, {}, generation.finish_reason)
            if request.include_usage:
                self._send_event(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": self.server.model.name,
                        "choices": [],
                        "usage": _usage(generations),
                    }
                )
            self._send_raw_event("[DONE]")
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, GenerationCancelled):
            # The client went away (the generation stopped at the failed write) or we stop.
            self.close_connection = True
        except ModelError as exc:
            self._send_event({"error": {"message": str(exc), "type": "server_error"}})
            self._send_raw_event("[DONE]")
            self._end_chunks()

    # Wire helpers.

    def _read_json(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("bad Content-Length") from None
        if length <= 0:
            raise RequestError("the request has no body")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise RequestError("the request body is too large")
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise RequestError("the request body is not valid JSON") from None

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _send_json(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: HTTPStatus, message: str, kind: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "code": None}})

    def _send_event(self, payload: Any) -> None:
        self._send_raw_event(json.dumps(payload, ensure_ascii=False))

    def _send_raw_event(self, data: str) -> None:
        encoded = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(encoded):X}\r\n".encode() + encoded + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _usage(generations: Sequence[Generation]) -> dict[str, int]:
    # As OpenAI reports n > 1: the prompt once, the completions summed.
    prompt = generations[0].prompt_tokens if generations else 0
    completion = sum(g.completion_tokens for g in generations)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def start_server(model: LocalModel, host: str, port: int) -> ModelHTTPServer:
    """Bind the endpoint for an already-made model (port 0 picks a free port)."""
    return ModelHTTPServer((host, port), model)


def serve(
    model_path: str | None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    reuse_prefix: bool = True,
) -> None:
    """Serve the local model until Ctrl-C (or SIGTERM); blocking.

    Loads the model first, then prints ``Serving <identity> at http://HOST:PORT/v1``. Raises
    ``ModelUnavailable`` (one line) when the model cannot be loaded and ``OSError`` when the
    address cannot be bound.
    """
    model = make_local_model(model_path, reuse_prefix=reuse_prefix)
    try:
        model.load_blocking()
        server = start_server(model, host, port)
    except BaseException:
        model.close()
        raise
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Announced inside the try: a Ctrl-C right after the line still ends cleanly.
        print(f"Serving {model.identity} at http://{host}:{server.port}/v1", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        model.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orps.model.http_server [--host H] [--port P] [--model-path FILE.gguf]``."""
    parser = argparse.ArgumentParser(
        prog="orps model serve", description="Serve the local model as an OpenAI-compatible API."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--model-path", default=None, help="a GGUF file (default: SmolLM2-135M)")
    parser.add_argument(
        "--no-prefix-reuse",
        action="store_true",
        help="evaluate every prompt from its first token (default: reuse the KV cache for the "
        "prefix shared with the previous request; same text)",
    )
    args = parser.parse_args(argv)
    try:
        serve(args.model_path, args.host, args.port, reuse_prefix=not args.no_prefix_reuse)
    except ModelError as exc:
        print(f"orps: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"orps: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ChatRequest",
    "ModelHTTPServer",
    "RequestError",
    "main",
    "parse_chat_request",
    "serve",
    "start_server",
]


if __name__ == "__main__":
    sys.exit(main())
