"""The ``orps/candidates`` request's params, checked by the commands' model, in process.

The full round trip (a stored payload found by name and by position) is in ``test_refine.py``;
these cases need no search: params that do not validate give ``null`` and one message naming
the problem, valid params for a function with no stored result give ``null`` quietly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orps.lsp.server import CANDIDATES_METHOD, create_server


class Sink:
    """A pygls writer that keeps what the server sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass


def request(params: Any) -> tuple[Any, list[str]]:
    """The result of one ``orps/candidates`` request, and the messages shown meanwhile."""
    server = create_server()
    sink = Sink()
    server.protocol.set_writer(sink, include_headers=False)
    initialize: dict[str, Any] = {"processId": None, "rootUri": None, "capabilities": {}}
    for msg_id, method, values in [(0, "initialize", initialize), (1, CANDIDATES_METHOD, params)]:
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": values}
        server.protocol.handle_message(server.protocol.structure_message(message))
    (response,) = [m for m in sink.sent if m.get("id") == 1]
    assert "error" not in response, response
    shown = [m["params"]["message"] for m in sink.sent if m.get("method") == "window/showMessage"]
    return response["result"], shown


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"name": "fib"}, "uri: Field required"),
        ({"uri": 3, "name": "fib"}, "uri: Input should be a valid string"),
        ({"uri": "file:///m.py", "position": {"line": "x", "character": 0}}, "position.line"),
        ([1, 2], "expected one object argument"),
    ],
)
def test_invalid_params_give_null_and_one_message(params: Any, complaint: str) -> None:
    result, shown = request(params)
    assert result is None
    assert len(shown) == 1 and shown[0].startswith(f"orps: {CANDIDATES_METHOD}: "), shown
    assert complaint in shown[0]


@pytest.mark.parametrize(
    "params",
    [
        {"uri": "file:///m.py", "name": "fib"},
        {"uri": "file:///m.py", "position": {"line": 0, "character": 0}},
        {"uri": "file:///m.py"},
    ],
)
def test_valid_params_without_a_stored_result_give_null_quietly(params: Any) -> None:
    assert request(params) == (None, [])
