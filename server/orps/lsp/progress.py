"""Work-done progress and cancellation of the searches the language server runs.

``SearchProgress`` turns a search's life into ``window/workDoneProgress`` begin / report / end
messages and ties its task to the two ways a client can stop it: ``window/workDoneProgress/
cancel`` on its progress token and ``$/cancelRequest`` on the ``orps.refine`` request that
started it. The second needs the future pygls cancels for that request, which pygls only keeps
in a private table; ``request_future`` is the one place that reads it (and
``tests/lsp/test_pygls_internals.py`` pins it to the pygls major version).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol
from pygls.protocol.json_rpc import MsgId

from orps.lsp.payload import ProgressView
from orps.lsp.refinement import SearchRun

log = logging.getLogger(__name__)


def request_future(
    protocol: JsonRPCProtocol, msg_id: MsgId | None
) -> concurrent.futures.Future[Any] | None:
    """The future pygls cancels when the client sends ``$/cancelRequest`` for ``msg_id``.

    There is no public alternative. pygls answers ``workspace/executeCommand`` with a built-in
    generator handler that yields the command's handler to be run as a separate task under a
    fresh internal id; the future registered under the request's own id is the generator's
    result future. That is the one pygls cancels on ``$/cancelRequest``, and cancelling it does
    not reach the command's task, so ``asyncio.current_task()`` inside the command is of no use,
    and pygls offers no hook on cancellation. It keeps the futures of in-flight requests in
    ``JsonRPCProtocol._request_futures`` (message id -> future); this reads that table, and
    nothing else in orps does.
    """
    if msg_id is None:
        return None
    return protocol._request_futures.get(msg_id)


def cancel_with(future: concurrent.futures.Future[Any] | None, run: SearchRun) -> None:
    """Cancel the run when ``future`` (a request or a progress token) is cancelled."""
    if future is None:
        return
    loop = asyncio.get_running_loop()

    def on_done(done: concurrent.futures.Future[Any]) -> None:
        if done.cancelled():
            loop.call_soon_threadsafe(run.task.cancel)

    future.add_done_callback(on_done)


class SearchProgress:
    """The work-done progress of each running search, and what cancels it."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self.tokens: dict[str, str] = {}  # search id -> work-done token

    def supported(self) -> bool:
        capabilities = self.server.client_capabilities
        return get_capability(capabilities, "window.work_done_progress", False)

    async def begin(self, run: SearchRun, title: str) -> str | None:
        """Create a cancellable progress token for the run; None when the client has none."""
        if not self.supported():
            return None
        work_done = self.server.work_done_progress
        token = f"orps-{run.search_id}"
        try:
            await work_done.create_async(token)
        except Exception as exc:
            log.warning("the client refused a progress token: %s", exc)
            return None
        work_done.begin(
            token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
        )
        self.tokens[run.search_id] = token
        cancel_with(work_done.tokens.get(token), run)
        return token

    def report(self, run: SearchRun, progress: ProgressView) -> None:
        token = self.tokens.get(run.search_id)
        if token is None:
            return
        percentage = (
            round(100 * progress.llm_calls / progress.max_calls) if progress.max_calls else None
        )
        self.server.work_done_progress.report(
            token,
            types.WorkDoneProgressReport(
                message=progress.message, percentage=percentage, cancellable=True
            ),
        )

    def end(self, run: SearchRun, message: str) -> None:
        token = self.tokens.pop(run.search_id, None)
        if token is None:
            return
        work_done = self.server.work_done_progress
        work_done.end(token, types.WorkDoneProgressEnd(message=message))
        work_done.tokens.pop(token, None)

    def cancel_with_request(self, run: SearchRun) -> None:
        """Cancel the run on ``$/cancelRequest`` of the request being handled now."""
        protocol = self.server.protocol
        cancel_with(request_future(protocol, protocol.msg_id), run)
