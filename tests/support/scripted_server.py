"""A scripted OpenAI-compatible chat-completions server: the test double at the system's edge.

It speaks real HTTP (``POST /v1/chat/completions``, streaming and not, ``n`` > 1, ``GET
/v1/models``) so the real ``openai`` client, the language server and the VS Code extension all
talk to it as they would to a hosted model. Replies come from a script:

```json
{
  "programmer": ["reply 1", "reply 2"],      // cycled, one per completion
  "critic": ["critique 1"],                  // cycled; the role is the first line of the
  "test_writer": ["tests"],                  // system message ("Role: critic", "Role: test
  "input_generator": ["def perf_input..."],  // writer", ...); a role without replies gets ""
  "rules": [{"contains": "text", "reply": "..."}],  // checked first, against the last user turn
  "delay_s": 0.0,                            // sleep before each reply
  "chunk_delay_s": 0.0,                      // sleep before each streamed chunk
  "fail_first": [500, 429],                  // statuses returned by the first requests
  "api_key": "secret"                        // when set, other keys get 401
}
```

Every request body is logged and served at ``GET /_requests``; ``POST /_script`` replaces the
script. A streamed reply is sent a word a chunk (with a usage chunk last when the request asks
for ``stream_options.include_usage``); ``streams`` records, per streamed request, how many
content chunks were written and whether the client hung up before the end. Run it standalone
with ``python -m tests.support.scripted_server SCRIPT.json --port P`` (it prints
``READY <port>`` once listening).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CRITIC_MARKER = "You are the critic"
ROLE_PREFIX = "role:"


class ScriptState:
    def __init__(self, script: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.streams: list[dict[str, Any]] = []
        self.stream_ended = threading.Condition(self.lock)
        self.load(script)

    def load(self, script: dict[str, Any]) -> None:
        with self.lock:
            self.script = script
            self.counters: dict[str, int] = {}
            self.failures = list(script.get("fail_first", []))

    def role_of(self, messages: list[dict[str, Any]]) -> str:
        """The request's role from its system message's first line: ``Role: test writer`` →
        ``test_writer``; older prompts without the line are the critic's or the programmer's."""
        system = str(
            next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        )
        first = system.split("\n", 1)[0].strip()
        if first.lower().startswith(ROLE_PREFIX):
            return first[len(ROLE_PREFIX) :].strip().lower().replace(" ", "_")
        return "critic" if system.startswith(CRITIC_MARKER) else "programmer"

    def next_reply(self, messages: list[dict[str, Any]]) -> str:
        last_user = next(
            (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        role = self.role_of(messages)
        with self.lock:
            for rule in self.script.get("rules", []):
                # A rule without a role answers the search's own two roles only.
                roles = [rule["role"]] if "role" in rule else ["programmer", "critic"]
                if role in roles and rule["contains"] in str(last_user):
                    return str(rule["reply"])
            replies = self.script.get(role) or [""]
            count = self.counters.get(role, 0)
            reply = replies[count % len(replies)]
            self.counters[role] = count + 1
            return str(reply)


def _make_handler(state: ScriptState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _authorised(self) -> bool:
            key = state.script.get("api_key")
            if key and self.headers.get("Authorization") != f"Bearer {key}":
                self._json(401, {"error": {"message": "Incorrect API key provided"}})
                return False
            return True

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                if not self._authorised():
                    return
                self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
            elif self.path == "/_requests":
                with state.lock:
                    self._json(200, list(state.requests))
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            if self.path == "/_script":
                state.load(self._body())
                self._json(200, {"ok": True})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = self._body()
            if not self._authorised():
                return
            with state.lock:
                state.requests.append(body)
                failure = state.failures.pop(0) if state.failures else None
            if failure is not None:
                self._json(int(failure), {"error": {"message": f"scripted failure {failure}"}})
                return
            delay = float(state.script.get("delay_s", 0))
            if delay:
                time.sleep(delay)
            messages = body.get("messages", [])
            n = int(body.get("n") or 1)
            replies = [state.next_reply(messages) for _ in range(n)]
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
            completion_tokens = sum(len(r.split()) for r in replies)
            created = int(time.time())
            if body.get("stream"):
                options = body.get("stream_options") or {}
                usage = {
                    "prompt_tokens": prompt_tokens * n,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens * n + completion_tokens,
                }
                self._stream(replies, created, usage if options.get("include_usage") else None)
                return
            self._json(
                200,
                {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop",
                        }
                        for i, reply in enumerate(replies)
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens * n,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens * n + completion_tokens,
                    },
                },
            )

        def _stream(self, replies: list[str], created: int, usage: dict[str, int] | None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            record: dict[str, Any] = {"chunks": 0, "total": sum(len(r.split(" ")) for r in replies)}
            record["hung_up"] = False
            with state.lock:
                state.streams.append(record)
            delay = float(state.script.get("chunk_delay_s", 0))

            def send(chunk: dict[str, Any]) -> None:
                payload = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": "scripted",
                    **chunk,
                }
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            try:
                for index, reply in enumerate(replies):
                    for i, word in enumerate(reply.split(" ")):
                        if delay:
                            time.sleep(delay)
                        piece = word if i == 0 else " " + word
                        send({"choices": [{"index": index, "delta": {"content": piece}}]})
                        record["chunks"] += 1
                    send({"choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]})
                if usage is not None:
                    send({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                record["hung_up"] = True
            with state.lock:
                record["ended"] = True
                state.stream_ended.notify_all()
            self.close_connection = True

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up early (cancelled requests) are part of the tests.
        pass


class ScriptedServer:
    """The server in a background thread; ``url`` ends in ``/v1``."""

    def __init__(self, script: dict[str, Any], port: int = 0) -> None:
        self.state = ScriptState(script)
        self.httpd = _QuietServer(("127.0.0.1", port), _make_handler(self.state))
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def streams(self) -> list[dict[str, Any]]:
        """Per streamed request: content chunks written, words in all, whether it hung up."""
        with self.state.lock:
            return [dict(record) for record in self.state.streams]

    def wait_for_streams(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """``streams`` once every streamed reply so far has ended (the server notices a client
        that hung up at its next write)."""
        with self.state.stream_ended:
            self.state.stream_ended.wait_for(
                lambda: all(r.get("ended") for r in self.state.streams), timeout
            )
            return [dict(record) for record in self.state.streams]

    def load(self, script: dict[str, Any]) -> None:
        self.state.load(script)


@contextmanager
def scripted_server(script: dict[str, Any]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ScriptedServer(json.loads(args.script.read_text()), args.port)
    print(f"READY {server.port}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
