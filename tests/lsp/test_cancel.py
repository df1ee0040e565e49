"""Cancelling searches: from the progress, with $/cancelRequest, by refining again."""

from __future__ import annotations

import asyncio
import time

import psutil
from lsprotocol import types

from tests.lsp.session import CRITIQUE, LspSession, wait_for
from tests.support.scripted_server import ScriptedServer

SLEEPY_FIB = """## Reasoning
Take a nap first.

## Code
```python
def fib(n):
    import time
    time.sleep(30)
    return n
```"""


def sandbox_processes(session: LspSession) -> list[psutil.Process]:
    return psutil.Process(session.server_pid).children(recursive=True)


async def test_progress_cancel_kills_running_sandbox(
    session: LspSession, model: ScriptedServer
) -> None:
    model.load({"programmer": [SLEEPY_FIB], "critic": [CRITIQUE]})
    uri = session.open("mod.py")
    refine = asyncio.create_task(session.refine(uri, line=1))
    await wait_for(lambda: bool(session.client.progress_reports), 10)
    await wait_for(lambda: bool(sandbox_processes(session)), 10)
    await asyncio.sleep(0.3)  # the candidate is now sleeping inside its sandbox
    (token,) = session.client.progress_reports

    started = time.monotonic()
    session.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    await wait_for(lambda: bool(session.finished()), 5)
    stopped_after = time.monotonic() - started

    assert stopped_after < 1.0, f"the search took {stopped_after:.2f} s to stop"
    assert session.finished()[-1]["stopped"] == "cancelled"
    # Killed processes can take a moment to be reaped on a loaded machine; none may stay.
    await wait_for(lambda: sandbox_processes(session) == [], 5)
    result = await refine
    assert result["stopped"] == "cancelled"
    assert isinstance(session.client.progress_reports[token][-1], types.WorkDoneProgressEnd)


async def test_cancel_request_stops_model_calls(session: LspSession, model: ScriptedServer) -> None:
    model.load({"programmer": [SLEEPY_FIB], "critic": [CRITIQUE], "delay_s": 3})
    uri = session.open("mod.py")
    request_id = "refine-to-cancel"
    pending = session.client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command="orps.refine",
            arguments=[{"uri": uri, "name": "fib", "version": 1}],
        ),
        msg_id=request_id,
    )
    await wait_for(lambda: bool(model.requests), 10)  # a model call is in flight

    started = time.monotonic()
    session.client.cancel_request(types.CancelParams(id=request_id))
    await wait_for(lambda: bool(session.finished()), 5)

    assert time.monotonic() - started < 1.0
    assert session.finished()[-1]["stopped"] == "cancelled"
    await wait_for(pending.done, 5)
    assert pending.exception() is not None  # answered as cancelled
    calls = len(model.requests)
    await asyncio.sleep(0.5)
    assert len(model.requests) == calls, "model calls continued after the cancel"
    assert sandbox_processes(session) == []


async def test_second_refine_cancels_the_first(session: LspSession, model: ScriptedServer) -> None:
    model.load({"programmer": [SLEEPY_FIB], "critic": [CRITIQUE], "delay_s": 1})
    uri = session.open("mod.py")
    first = asyncio.create_task(session.refine(uri, line=1))
    await wait_for(lambda: bool(session.statuses and session.statuses[-1]["running"]), 10)
    await session.command("orps.cancel")  # nothing else should be affected by a second start
    assert (await first)["stopped"] == "cancelled"

    first = asyncio.create_task(session.refine(uri, line=1))
    await wait_for(lambda: bool(session.statuses[-1]["running"]), 10)
    second = asyncio.create_task(session.refine(uri, line=2))
    first_result = await asyncio.wait_for(first, 5)
    assert first_result["stopped"] == "cancelled"
    await wait_for(lambda: bool(session.statuses[-1]["running"]), 5)
    assert session.statuses[-1]["running"][0]["searchId"] != first_result["searchId"]
    await session.command("orps.cancel", {"uri": uri, "name": "fib"})
    assert (await asyncio.wait_for(second, 5))["stopped"] == "cancelled"
