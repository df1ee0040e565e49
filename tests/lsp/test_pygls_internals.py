"""The pygls internals orps relies on, pinned to the pygls major version.

``orps.lsp.progress.request_future`` reads pygls' private ``JsonRPCProtocol._request_futures``
to cancel a search on ``$/cancelRequest`` of its ``orps.refine`` request (pygls has no public
way, see its docstring). These tests run a command through a real in-process pygls server and
check that the table still holds the future ``$/cancelRequest`` cancels, and that cancelling it
still does not reach the command's own task (the reason the table is read at all).
"""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import version
from typing import Any

from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol

from orps.lsp.progress import cancel_with, request_future
from orps.lsp.refinement import FunctionKey, SearchRun

CHECKED_MAJOR = 2  # the pygls major version request_future was checked against


class Sink:
    """A pygls writer that keeps what the server sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass


def receive(protocol: JsonRPCProtocol, message: dict[str, Any]) -> None:
    protocol.handle_message(protocol.structure_message({"jsonrpc": "2.0", **message}))


def test_pygls_major_version() -> None:
    installed = version("pygls")
    assert int(installed.split(".")[0]) == CHECKED_MAJOR, (
        f"pygls {installed} is installed, but orps.lsp.progress.request_future (which reads the "
        f"private JsonRPCProtocol._request_futures) was checked against pygls {CHECKED_MAJOR}.x: "
        "re-check request_future and this file against the new pygls, then update CHECKED_MAJOR"
    )


def test_the_request_table_exists() -> None:
    protocol = LanguageServer("probe", "v0").protocol
    assert isinstance(protocol._request_futures, dict)
    assert request_future(protocol, None) is None
    assert request_future(protocol, "unknown") is None


async def test_request_future_is_what_cancel_request_cancels() -> None:
    server = LanguageServer("probe", "v0")
    protocol = server.protocol
    protocol.set_writer(Sink(), include_headers=False)
    seen: dict[str, Any] = {}
    entered = asyncio.Event()
    release = asyncio.Event()

    @server.command("probe.wait")
    async def wait(ls: LanguageServer, *arguments: Any) -> str:
        seen["future"] = request_future(ls.protocol, ls.protocol.msg_id)
        seen["task"] = asyncio.current_task()
        entered.set()
        await release.wait()
        return "done"

    receive(
        protocol,
        {
            "id": "refine-1",
            "method": "workspace/executeCommand",
            "params": {"command": "probe.wait", "arguments": []},
        },
    )
    await asyncio.wait_for(entered.wait(), 5)
    future, task = seen["future"], seen["task"]
    assert future is not None, "no future under the request's id while its command runs"
    assert future is protocol._request_futures["refine-1"]
    assert future is not task  # why request_future exists: current_task() is another future

    run = SearchRun(FunctionKey("file:///m.py", "f"), "s", asyncio.create_task(asyncio.sleep(30)))
    cancel_with(future, run)
    receive(protocol, {"method": "$/cancelRequest", "params": {"id": "refine-1"}})
    assert future.cancelled(), "$/cancelRequest no longer cancels the future request_future finds"
    await asyncio.sleep(0.05)
    assert run.task.cancelled()  # cancel_with passed the cancellation on to the search
    assert not task.done(), "pygls now cancels the command's task itself: request_future may go"
    release.set()
    await asyncio.wait_for(task, 5)
