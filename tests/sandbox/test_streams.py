"""Streamed commands and verdict-only runs, in real sandboxed processes.

Assert and doctest tests run back to back in one ``check`` (and one ``time`` per round); the
parent times each test from the record before it to its own. These tests hold that design to its
promises: a candidate that hides time in the middle of a stream is caught, an honest one is not
accused when the parent itself falls behind, results must come in the order asked for, and
``measure=False`` / ``fail_fast`` give verdicts without measurements and stop at the first
failure.
"""

from __future__ import annotations

import asyncio
import textwrap
import time

from orps_sandbox import ExecutionStatus, Limits, Sandbox, TestSpec, TestStatus

from .conftest import FAST_LIMITS, SandboxFactory, check, module

SLOW_BODY = "    total = 0\n    for i in range(1_500_000):\n        total += i\n"


def numbered(count: int) -> list[TestSpec]:
    return [check(f"t{i}", f"assert f({i}) == {i}") for i in range(count)]


async def test_stream_reader_keeps_its_buffer_where_the_worker_reads_it() -> None:
    # ``WorkerProcess.buffered`` reads asyncio's private ``StreamReader._buffer``: pin it.
    reader = asyncio.StreamReader()
    assert len(reader._buffer) == 0  # type: ignore[attr-defined]
    reader.feed_data(b"abc")
    assert len(reader._buffer) == 3  # type: ignore[attr-defined]


async def test_a_clock_forged_mid_stream_is_timing_tampered(sandbox: Sandbox) -> None:
    # The tenth call freezes the harness's clocks: every later test hides its time, which the
    # parent's per-test laps see although they all run in one command.
    forged = (
        textwrap.dedent(
            """
        import sys
        calls = [0]

        def f(x):
            calls[0] += 1
            if calls[0] == 10:
                judge = sys.modules["_orps_judge"]
                wall, cpu = judge._PERF_COUNTER_NS(), judge._THREAD_TIME_NS()
                judge._PERF_COUNTER_NS = lambda: wall
                judge._THREAD_TIME_NS = lambda: cpu
        """
        ).lstrip()
        + SLOW_BODY
        + "    return x\n"
    )
    report = await sandbox.run(module(forged), numbered(20))
    assert report.status is ExecutionStatus.TIMING_TAMPERED, report
    assert any("timing tampered" in flag for flag in report.flags)


async def test_an_honest_stream_is_believed_when_the_parent_falls_behind(
    sandbox: Sandbox,
) -> None:
    # The engine's event loop blocks for 300 ms at a time while 400 tiny tests and a few slow
    # ones stream in: records pile up and their arrival times are late, but lap merging keeps
    # every figure believed.
    code = (
        "def f(x):\n    if x % 100 == 0:\n" + textwrap.indent(SLOW_BODY, "    ") + "    return x\n"
    )
    stop = asyncio.Event()

    async def hog() -> None:
        while not stop.is_set():
            time.sleep(0.3)  # noqa: ASYNC251 - a busy engine: blocks the loop, not just this task
            await asyncio.sleep(0.01)

    task = asyncio.create_task(hog())
    try:
        report = await sandbox.run(module(code), numbered(400))
    finally:
        stop.set()
        await task
    assert report.status is ExecutionStatus.COMPLETED, report.detail
    assert not report.flags
    assert all(t.status is TestStatus.PASSED and t.runs >= 2 for t in report.tests)


async def test_results_out_of_order_are_a_protocol_violation(sandbox: Sandbox) -> None:
    # A candidate that writes a well-formed, authenticated result for a later test first.
    forged = textwrap.dedent(
        """
        import gc

        def _channel():
            for obj in gc.get_objects():
                if type(obj).__name__ == "Channel" and hasattr(obj, "_key"):
                    return obj

        def f(x):
            if x == 0:
                _channel().send({"ev": "result", "index": 2, "status": "passed", "detail": "",
                    "wall_ns": 1, "cpu_ns": 1, "judge": None, "memory": False, "rss": 1,
                    "walls": [], "cpus": []})
            return x
        """
    ).lstrip()
    report = await sandbox.run(module(forged), numbered(3))
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert all(t.status is not TestStatus.PASSED for t in report.tests)


async def test_verdicts_only_measure_nothing(sandbox: Sandbox) -> None:
    report = await sandbox.run(module("def f(x):\n    return x\n"), numbered(30), measure=False)
    assert report.status is ExecutionStatus.COMPLETED
    assert all(t.status is TestStatus.PASSED for t in report.tests)
    assert all(t.runs == 1 and t.peak_memory_bytes is None for t in report.tests)
    measured = await sandbox.run(module("def f(x):\n    return x\n"), numbered(3))
    assert all(t.runs >= 5 and t.peak_memory_bytes is not None for t in measured.tests)


async def test_fail_fast_stops_at_the_first_failure(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return x if x != 3 else -1\n"
    report = await sandbox.run(module(code), numbered(10), measure=False, fail_fast=True)
    statuses = [t.status for t in report.tests]
    assert statuses[:3] == [TestStatus.PASSED] * 3
    assert statuses[3] is TestStatus.FAILED
    assert statuses[4:] == [TestStatus.NOT_RUN] * 6
    assert "t3" in report.tests[4].detail
    without = await sandbox.run(module(code), numbered(10), measure=False)
    assert [t.status for t in without.tests].count(TestStatus.PASSED) == 9


async def test_a_hanging_candidate_costs_one_timeout_with_fail_fast(
    make_sandbox: SandboxFactory,
) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 0.5})
    sandbox = make_sandbox(limits)
    code = "def f(x):\n    while True:\n        pass\n"
    started = time.monotonic()
    report = await sandbox.run(module(code), numbered(20), measure=False, fail_fast=True)
    elapsed = time.monotonic() - started
    assert report.tests[0].status is TestStatus.TIMEOUT
    assert {t.status for t in report.tests[1:]} == {TestStatus.NOT_RUN}
    assert elapsed < 5, elapsed  # one timeout, not twenty
    assert report.status is ExecutionStatus.TIMEOUT


async def test_verdict_runs_flow_without_waiting_for_a_slow_neighbour(
    make_sandbox: SandboxFactory,
) -> None:
    # With verdicts only, a slow candidate holds one worker while the others use the rest.
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 5.0})
    sandbox = make_sandbox(limits, workers=2)
    slow = module("import time\n\ndef f(x):\n    time.sleep(2.0)\n    return x\n")
    fast = module("def f(x):\n    return x\n")
    jobs = [(slow, numbered(1))] + [(fast, numbered(3))] * 12
    reports = await sandbox.run_many(jobs, measure=False)
    assert all(r.status is ExecutionStatus.COMPLETED for r in reports), [r.detail for r in reports]
    # every fast candidate finished while the slow one still slept
    assert max(r.wall_s for r in reports[1:]) < reports[0].wall_s + 5


async def test_a_verdict_only_candidate_keeps_what_it_printed(make_sandbox: SandboxFactory) -> None:
    # Verdicts only: a candidate is killed as soon as its results are in (no ``finish``), so
    # the harness flushes its output before each batch of results. Each report is made as soon
    # as its candidate is finished, while others still run: it holds that candidate's own output.
    sandbox = make_sandbox(FAST_LIMITS, workers=2)
    jobs = [
        (module(f"print('candidate {k} loaded')\n\ndef f(x):\n    return x\n"), numbered(3))
        for k in range(6)
    ]
    failing = "def f(x):\n    if x == 1:\n        print('about to fail')\n        return -1\n    return x\n"
    jobs.append((module(failing), numbered(5)))
    reports = await sandbox.run_many(jobs, measure=False, fail_fast=True)
    for k, report in enumerate(reports[:-1]):
        assert report.status is ExecutionStatus.COMPLETED, report.detail
        assert report.passed == 3
        assert report.stdout.strip() == f"candidate {k} loaded", report.stdout
    assert [t.status for t in reports[-1].tests][:2] == [TestStatus.PASSED, TestStatus.FAILED]
    assert reports[-1].stdout.strip() == "about to fail"
