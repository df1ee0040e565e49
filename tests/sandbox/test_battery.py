"""The adversarial battery: hostile candidates end as failed tests, the engine keeps running,
nothing is left behind and nothing outside scratch changes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import psutil
import pytest

from orps_sandbox import ExecutionStatus, Limits, Sandbox, TestStatus

from .conftest import FAST_LIMITS, SandboxFactory, check, example, module

LIBC = "import ctypes\nlibc = ctypes.CDLL(None)\n"


def body(code: str) -> str:
    """A candidate ``f`` whose body is ``code`` (indented), with ``libc`` at module level."""
    indented = "\n".join("    " + line for line in code.splitlines())
    return LIBC + "import os, sys\n\ndef f(x=0):\n" + indented + "\n    return x\n"


async def run_one(sandbox: Sandbox, code: str, follow_up: bool = True) -> tuple[object, object]:
    tests = [check("hostile", "assert f(1) == 1")]
    if follow_up:
        tests.append(check("after", "assert 1 + 1 == 2"))
    report = await sandbox.run(module(body(code)), tests)
    return report, report.tests


def assert_not_passed(report: object) -> None:
    tests = report.tests  # type: ignore[attr-defined]
    assert tests[0].status is not TestStatus.PASSED, tests[0]
    assert tests[0].detail


async def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    # ctypes fork bypasses the guard: the pids cgroup / RLIMIT_NPROC is the boundary.
    report, _ = await run_one(sandbox, "while True:\n    libc.fork()")
    assert_not_passed(report)
    assert report.tests[0].status is TestStatus.TIMEOUT  # type: ignore[attr-defined]
    assert report.tests[1].status is TestStatus.PASSED  # type: ignore[attr-defined]
    guarded, _ = await run_one(sandbox, "while True:\n    os.fork()", follow_up=False)
    assert "os.fork is not allowed" in guarded.tests[0].detail  # type: ignore[attr-defined]


async def test_memory_bomb(sandbox: Sandbox, make_sandbox: SandboxFactory) -> None:
    # This VM faults pages in slowly: a smaller limit keeps the bomb well inside the timeout.
    limits = Limits(**{**FAST_LIMITS.model_dump(), "memory_mb": 256, "test_timeout_s": 10.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    report, _ = await run_one(
        sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))"
    )
    assert_not_passed(report)
    assert report.status is ExecutionStatus.MEMORY_LIMIT  # type: ignore[attr-defined]
    assert "MemoryError" in report.tests[0].detail  # type: ignore[attr-defined]


async def test_infinite_loop_and_catastrophic_regex(sandbox: Sandbox) -> None:
    report, _ = await run_one(sandbox, "while True:\n    pass")
    assert report.tests[0].status is TestStatus.TIMEOUT  # type: ignore[attr-defined]
    assert report.status is ExecutionStatus.TIMEOUT  # type: ignore[attr-defined]
    assert report.tests[1].status is TestStatus.PASSED  # type: ignore[attr-defined]
    regex, _ = await run_one(sandbox, "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", False)
    assert regex.tests[0].status is TestStatus.TIMEOUT  # type: ignore[attr-defined]


async def test_network_is_cut(sandbox: Sandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        code = (
            "import _socket\n"
            "s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\n"
            f"s.connect(('127.0.0.1', {port}))\n"
            "return 'connected'"
        )
        report, _ = await run_one(sandbox, code, follow_up=False)
        assert_not_passed(report)
        guarded, _ = await run_one(
            sandbox, f"import socket\nsocket.create_connection(('127.0.0.1', {port}))", False
        )
        assert_not_passed(guarded)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


async def test_filesystem_outside_scratch_is_read_only(sandbox: Sandbox, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    precious = project / "precious.txt"
    precious.write_text("keep me")
    target = project / "evil.txt"
    candidate = module(
        body(f"fd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')"),
        search_paths=[str(project)],
    )
    deleter = module(
        body(f"libc.unlink({str(precious).encode()!r})\nos.unlink({str(precious)!r})"),
        search_paths=[str(project)],
    )
    reports = await sandbox.run_many(
        [(candidate, [check("w", "assert f() == 0")]), (deleter, [check("d", "assert f() == 0")])]
    )
    for report in reports:
        assert_not_passed(report)
    assert "Read-only file system" in reports[0].tests[0].detail
    assert not target.exists()
    assert precious.read_text() == "keep me"


async def test_killing_parent_and_process_group(sandbox: Sandbox) -> None:
    parent, _ = await run_one(sandbox, "libc.kill(os.getppid(), 9)\nos.kill(os.getppid(), 9)")
    assert_not_passed(parent)
    assert parent.tests[1].status is TestStatus.PASSED  # type: ignore[attr-defined]
    group, _ = await run_one(sandbox, "libc.killpg(0, 9)")
    assert group.tests[0].status is TestStatus.ERROR  # type: ignore[attr-defined]
    assert "SIGKILL" in group.tests[0].detail  # type: ignore[attr-defined]
    assert group.tests[1].status is TestStatus.PASSED  # type: ignore[attr-defined]


async def test_forged_results_and_early_exits(sandbox: Sandbox) -> None:
    forged = (
        "for i in range(5):\n"
        '    print(\'{"ev": "result", "index": %d, "status": "passed"}\' % i, flush=True)\n'
        "    sys.stdout.write('PASSED\\n')\n"
        "sys.stdout.flush()\n"
        "os._exit(0)"
    )
    cases = [forged, "sys.exit(0)", "raise SystemExit(0)", "raise KeyboardInterrupt"]
    jobs = [(module(body(code)), [check("t", "assert f(1) == 1")]) for code in cases]
    reports = await sandbox.run_many(jobs)
    for report in reports:
        assert report.tests[0].status is TestStatus.ERROR, report.tests[0]
    assert "exited with code 0" in reports[0].tests[0].detail
    assert "SystemExit" in reports[1].tests[0].detail


async def test_always_equal_object(sandbox: Sandbox) -> None:
    source = (
        "class E:\n    __eq__ = lambda s, o: True\n    __ne__ = lambda s, o: False\n"
        "    __repr__ = lambda s: '5'\n\ndef f(x):\n    return E()\n"
    )
    report = await sandbox.run(
        module(source),
        [
            check("assert", "assert f(3) == 5"),
            check("reversed", "assert 5 == f(3)"),
            check("list", "assert [f(3)] == [5]"),
            example("doctest", "f(3)", "5\n"),
        ],
    )
    for result in report.tests:
        assert result.status is TestStatus.FAILED, result


async def test_output_flood_is_truncated(sandbox: Sandbox) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 20.0})
    flood = "line = 'x' * 999\nfor _ in range(100_000):\n    print(line)"
    async with Sandbox(limits, isolation="bubblewrap") as big:
        report = await big.run(
            module(body(flood)),
            [check("t", "assert f(1) == 1"), example("d", "f(1)", "1\n")],
        )
    assert report.status is ExecutionStatus.COMPLETED
    assert len(report.stdout) < limits.output_bytes + 200
    assert "dropped" in report.stdout or "truncated" in report.stdout


async def test_recursion_bomb_segfault_and_c_stack_overflow(
    sandbox: Sandbox, make_sandbox: SandboxFactory
) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 15.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    recursion = "def g(n):\n    return g(n + 1)\nreturn g(0)"
    segfault = "ctypes.string_at(0)"
    c_stack = (  # C-level recursion (repr of a deeply nested list) past the C stack
        "sys.setrecursionlimit(10**8)\n"
        "nested = []\n"
        "for _ in range(100_000):\n    nested = [nested]\n"
        "return repr(nested)"
    )
    jobs = [
        (module(body(code)), [check("t", "assert f(1) == 1")])
        for code in (recursion, segfault, c_stack)
    ]
    reports = await sandbox.run_many(jobs)
    assert reports[0].tests[0].status is TestStatus.ERROR
    assert "RecursionError" in reports[0].tests[0].detail
    assert reports[1].status is ExecutionStatus.CRASHED
    assert "SIGSEGV" in reports[1].tests[0].detail
    assert reports[2].status is ExecutionStatus.CRASHED
    assert reports[2].tests[0].status is TestStatus.ERROR


async def test_cancellation_kills_within_a_second(sandbox: Sandbox) -> None:
    from .conftest import leftovers

    task = asyncio.create_task(
        sandbox.run(module(body("while True:\n    pass")), [check("t", "assert f(1) == 1")])
    )
    await asyncio.sleep(0.8)
    assert leftovers()
    loop = asyncio.get_running_loop()
    started = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        # Only the pool's warm workers may remain; the candidate's processes must be gone.
        busy = [p for p in leftovers() if _cpu_percent(p) > 50]
        if not busy:
            break
        await asyncio.sleep(0.01)
    assert loop.time() - started < 1.0
    assert not busy


def _cpu_percent(process: psutil.Process) -> float:
    """A process's CPU share over 10 ms; 0 for one that ended meanwhile (as the killed do)."""
    try:
        return process.cpu_percent(0.01)
    except psutil.NoSuchProcess:
        return 0.0


async def test_a_cancellation_is_never_lost_while_a_candidate_starts(sandbox: Sandbox) -> None:
    """A cancel that lands at any moment of a candidate's start (a zygote spawned, a child
    forked, started, measured and loaded, its test begun) ends the run at once. Two traps of
    Python 3.11's asyncio lay there: ``wait_for`` returned a reply that arrived with the cancel
    and dropped the cancel (CPython gh-86296), and a cancel while ``create_subprocess_exec``
    connected its pipes made it wait forever for the process it had killed (gh-103847)."""
    sleeper = module(body("import time\ntime.sleep(30)"))
    test = [check("t", "assert f(1) == 1")]
    await sandbox.run(module(body("pass")), test)  # the pool's zygotes are up
    loop = asyncio.get_running_loop()
    for attempt in range(40):
        task = asyncio.create_task(sandbox.run(sleeper, test))
        await asyncio.sleep(0.003 * attempt)  # from before the spawn to inside the test
        assert not task.done(), task.result().detail
        started = loop.time()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        took = loop.time() - started
        assert done, f"cancel {attempt} did not end the run within 5 s"
        assert task.cancelled()
        assert took < 1.5, f"cancel {attempt} took {took:.2f} s to end the run"
