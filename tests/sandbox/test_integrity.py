"""The integrity battery: candidates that try to forge their verdict or their timings, in real
sandboxed processes. Each finding of the Sandbox v2 issue is one test here; none may end with a
wrong candidate passing, a forged figure believed, or the engine raising."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psutil

from orps.search.records import Candidate
from orps.search.scoring import apply_report, rank
from orps_sandbox import (
    ExecutionStatus,
    Limits,
    ModuleSpec,
    Sandbox,
    TestSpec,
    TestStatus,
    screen,
)

from .conftest import FAST_LIMITS, SandboxFactory, check, example, given, module

CHANNEL = textwrap.dedent(
    """
    def _channel():
        import gc
        for obj in gc.get_objects():
            if type(obj).__name__ == "Channel" and hasattr(obj, "_key"):
                return obj
        raise RuntimeError("no channel")
    """
)

SLOW_BODY = "    total = 0\n    for i in range(1_000_000):\n        total += i\n"
"""About 20-60 ms of CPU: slow enough for the parent's clocks to see what the child hides."""


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip()


async def test_forging_perf_counter_ns_changes_no_figure(sandbox: Sandbox) -> None:
    code = "import time\n\ndef f(x):\n" + SLOW_BODY + "    return x\n"
    forged = (
        "import time\ntime.perf_counter_ns = lambda: 0\ntime.thread_time_ns = lambda: 0\n"
        "time.perf_counter = lambda: 0.0\n\ndef f(x):\n" + SLOW_BODY + "    return x\n"
    )
    honest, cheat = await sandbox.run_many(
        [
            (module(code), [check("t", "assert f(1) == 1")]),
            (module(forged), [check("t", "assert f(1) == 1")]),
        ]
    )
    for report in (honest, cheat):
        result = report.tests[0]
        assert result.status is TestStatus.PASSED, result.detail
        assert result.wall_ns is not None and result.wall_ns >= 5_000_000, result
    assert screen(forged).flagged
    assert any("time.perf_counter_ns" in r for r in screen(forged).reasons)
    assert not screen(code).flagged


async def test_forging_the_harness_clock_is_timing_tampered(sandbox: Sandbox) -> None:
    # Reaching past the captured clock into the harness: the parent's own clocks disagree.
    forged = (
        dedent(
            """
        import sys, time
        judge = sys.modules["_orps_judge"]
        judge._PERF_COUNTER_NS = lambda: 0
        judge._THREAD_TIME_NS = lambda: 0

        def f(x):
        """
        )
        + SLOW_BODY
        + "    return x\n"
    )
    report = await sandbox.run(module(forged), [check("t", "assert f(1) == 1")])
    assert report.status is ExecutionStatus.TIMING_TAMPERED, report
    assert report.flagged and "timing tampered" in report.flags[0]


async def test_framed_records_written_to_the_channel_fd(sandbox: Sandbox) -> None:
    forged = dedent(
        """
        import json, os, struct, sys

        def f(x):
            fd = json.loads(sys.argv[1])["channel_fd"]
            for seq, ev in ((2, "result"), (3, "memory")):
                record = {"ev": ev, "index": 0, "seq": seq}
                if ev == "result":
                    record.update(status="passed", detail="", wall_ns=100, cpu_ns=100,
                                  judge=None, memory=False, rss=1, walls=[], cpus=[])
                else:
                    record["peak"] = None
                data = json.dumps(record).encode()
                os.write(fd, struct.pack("!I", len(data) + 16) + bytes(16) + data)
            return -1
        """
    )
    report = await sandbox.run(module(forged), [check("t", "assert f(1) == 1")])
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert "authentication" in report.detail
    assert report.passed == 0
    assert screen(forged).flagged


async def test_wrapping_the_channel_send(sandbox: Sandbox) -> None:
    forged = dedent(
        """
        import sys
        channel = sys.modules["_orps_channel"].Channel
        original = channel.send

        def send(self, message):
            if message.get("ev") == "result":
                message.update(status="passed", judge=None, wall_ns=100, cpu_ns=100)
            original(self, message)

        channel.send = send

        def f(x):
            return -1
        """
    )
    report = await sandbox.run(module(forged), [check("t", "assert f(1) == 1")])
    assert report.tests[0].status is TestStatus.FAILED, report
    assert "returned -1, expected 1" in report.tests[0].detail
    assert screen(forged).flagged


async def test_replacing_the_comparison_function(sandbox: Sandbox) -> None:
    forged = dedent(
        """
        import sys
        for name in ("_orps_judge", "_orps_compare", "_orps_pytest"):
            sys.modules[name].values_equal = lambda a, b, depth=0: True

        def f(x):
            return -1
        """
    )
    report = await sandbox.run(
        module(forged),
        [check("assert", "assert f(1) == 2"), example("doctest", "f(1)", "2\n")],
    )
    assert [t.status for t in report.tests] == [TestStatus.FAILED, TestStatus.FAILED], report
    assert "returned -1" in report.tests[0].detail
    assert screen(forged).flagged


async def test_swapping_the_expected_value_by_a_frame_walk(sandbox: Sandbox) -> None:
    forged = dedent(
        """
        import sys

        def f(x):
            frame = sys._getframe(1)
            while frame is not None:
                prepared = frame.f_locals.get("prepared")
                if getattr(prepared, "right", None) is not None:
                    prepared.right = compile("41", "<swap>", "eval")
                    break
                frame = frame.f_back
            return 41
        """
    )
    report = await sandbox.run(module(forged), [check("t", "assert f(1) == 2")])
    assert report.tests[0].status is TestStatus.FAILED, report
    assert "returned 41, expected 2" in report.tests[0].detail
    assert any("sys._getframe" in r for r in screen(forged).reasons)


def pytest_project(root: Path, candidate: str, tests: str) -> tuple[ModuleSpec, Path]:
    (root / "cand.py").write_text(candidate)
    test_file = root / "test_cand.py"
    test_file.write_text(tests)
    spec = ModuleSpec(
        name="cand",
        source=candidate,
        filename=str(root / "cand.py"),
        search_paths=[str(root)],
        entry="f",
    )
    return spec, test_file


def pytest_items(test_file: Path, *nodes: str) -> list[TestSpec]:
    return [TestSpec(id=node, kind="pytest", path=str(test_file), node=node) for node in nodes]


async def test_pytest_report_hook_cannot_turn_a_failure_into_a_pass(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    candidate = dedent(
        """
        import gc
        import pytest

        class Flip:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_makereport(self, item, call):
                outcome = yield
                report = outcome.get_result()
                report.outcome = "passed"
                report.longrepr = None

        for obj in gc.get_objects():
            if type(obj).__name__ == "PytestPluginManager":
                obj.register(Flip(), "flip")
                break

        def f(x):
            return -1
        """
    )
    spec, test_file = pytest_project(
        tmp_path, candidate, "from cand import f\n\ndef test_f():\n    assert f(1) == 2\n"
    )
    report = await sandbox.run(spec, pytest_items(test_file, "test_f"))
    assert report.tests[0].status is not TestStatus.PASSED, report
    assert screen(candidate).flagged


async def test_always_equal_object_fails_a_pytest_assert(sandbox: Sandbox, tmp_path: Path) -> None:
    candidate = dedent(
        """
        class Anything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False

        def f(x):
            return Anything()
        """
    )
    tests = dedent(
        """
        import pytest
        from cand import f

        def test_eq():
            assert f(1) == 2

        def test_reflected():
            assert 2 == f(1)

        def test_approx():
            assert 0.1 + 0.2 == pytest.approx(0.3)
        """
    )
    spec, test_file = pytest_project(tmp_path, candidate, tests)
    report = await sandbox.run(
        spec, pytest_items(test_file, "test_eq", "test_reflected", "test_approx")
    )
    by_id = {t.id: t for t in report.tests}
    assert by_id["test_eq"].status is TestStatus.FAILED, by_id["test_eq"].detail
    assert by_id["test_reflected"].status is TestStatus.FAILED, by_id["test_reflected"].detail
    assert by_id["test_approx"].status is TestStatus.PASSED, by_id["test_approx"].detail


async def test_a_passed_test_without_timing_is_a_protocol_violation(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    candidate = dedent(
        """
        import sys
        sys.modules["_orps_pytest"].PytestSession.timed_call = lambda self, item: (yield)

        def f(x):
            return x + 1
        """
    )
    spec, test_file = pytest_project(
        tmp_path, candidate, "from cand import f\n\ndef test_f():\n    assert f(1) == 2\n"
    )
    report = await sandbox.run(spec, pytest_items(test_file, "test_f"))
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert "without a timing" in report.detail
    assert report.passed == 0


async def test_a_malformed_record_never_raises(sandbox: Sandbox) -> None:
    forged = CHANNEL + dedent(
        """
        def f(x):
            _channel().send({"ev": "result", "index": "x", "status": "passed"})
            return x
        """
    )
    report = await sandbox.run(
        module(forged), [check("t", "assert f(1) == 1"), check("u", "assert f(2) == 2")]
    )
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert "schema" in report.detail
    assert report.passed == 0


async def test_an_int_beyond_any_float_fails_and_raises_nowhere(sandbox: Sandbox) -> None:
    # Comparing it with a number as floats overflows; it is unequal to every float and every
    # other int, in the harness and in the parent, whoever holds the expected side.
    code = "def f(x):\n    return (1 << 13_000) + x\n"
    tests = [
        given("int", (0,), 1),
        given("float", (0,), 1.5),
        given("tolerance", (0,), 1.5, atol=0.5),
        check("computed", "assert f(0) == 3 / 2"),
        check("not-equal", "assert f(0) != 3 / 2"),
        given("itself", (1,), (1 << 13_000) + 1),
    ]
    for measure in (False, True):
        report = await sandbox.run(module(code), tests, measure=measure)
        assert report.status is ExecutionStatus.COMPLETED, report.detail
        status = {t.id: t.status for t in report.tests}
        assert status == {
            "int": TestStatus.FAILED,
            "float": TestStatus.FAILED,
            "tolerance": TestStatus.FAILED,
            "computed": TestStatus.FAILED,
            "not-equal": TestStatus.PASSED,
            "itself": TestStatus.PASSED,
        }, report.tests


async def test_ten_huge_records_are_refused_before_they_are_read(sandbox: Sandbox) -> None:
    forged = CHANNEL + dedent(
        """
        import struct

        def f(x):
            channel = _channel()
            block = b"x" * (24 * 1024 * 1024)
            for _ in range(10):
                channel._sendall(struct.pack("!I", len(block)) + block)
            return x
        """
    )
    engine = psutil.Process()
    before = engine.memory_info().rss
    report = await sandbox.run(module(forged), [check("t", "assert f(1) == 1")])
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert "cap" in report.detail
    assert engine.memory_info().rss - before < 100 * 1024 * 1024


async def test_records_do_not_extend_the_test_deadline(make_sandbox: SandboxFactory) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 1.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    forged = CHANNEL + dedent(
        """
        import time

        def f(x):
            channel = _channel()
            for _ in range(12):
                time.sleep(0.25)
                try:
                    channel.send({"ev": "start", "index": 0})
                except Exception:
                    pass
            return x
        """
    )
    honest = "import time\n\ndef f(x):\n    time.sleep(3)\n    return x\n"
    cheat, slow = await sandbox.run_many(
        [
            (module(forged), [check("t", "assert f(1) == 1")]),
            (module(honest), [check("t", "assert f(1) == 1")]),
        ]
    )
    assert cheat.tests[0].status is not TestStatus.PASSED, cheat
    assert cheat.status is ExecutionStatus.PROTOCOL_VIOLATION
    assert slow.tests[0].status is TestStatus.TIMEOUT, slow


COUNT_PAIRS = dedent(
    """
    def count_pairs(values, target):
        count = 0
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                if values[i] + values[j] == target:
                    count += 1
        return count
    """
)


async def test_memory_run_never_turns_a_correct_slow_test_into_a_timeout(
    make_sandbox: SandboxFactory,
) -> None:
    # Slow enough that tracing it (about ten times slower) would exceed the test timeout.
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 5.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    spec = ModuleSpec(
        name="pairs", source=COUNT_PAIRS, filename="/project/pairs.py", entry="count_pairs"
    )
    test = check(
        "t",
        "assert count_pairs(list(range(1500)), 1499) + count_pairs(list(range(1500)), 1499) == 1500",
    )
    report = await sandbox.run(spec, [test])
    assert report.tests[0].status is TestStatus.PASSED, report.tests[0].detail
    assert report.status is ExecutionStatus.COMPLETED, report.detail


async def test_a_timed_out_test_is_one_failed_test_in_the_ranking(
    make_sandbox: SandboxFactory,
) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "test_timeout_s": 1.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    five = "def f(x):\n    while x == 6:\n        pass\n    return x\n"
    three = "def f(x):\n    return x if x <= 3 else 0\n"
    tests = [check(f"t{i}", f"assert f({i}) == {i}") for i in range(1, 7)]
    reports = await sandbox.run_many([(module(five), tests), (module(three), tests)])
    assert reports[0].passed == 5 and reports[0].tests[5].status is TestStatus.TIMEOUT
    assert reports[1].passed == 3
    candidates = []
    for name, code, report in (("five", five, reports[0]), ("three", three, reports[1])):
        candidate = Candidate(id=name, code=code)
        apply_report(candidate, report, len(tests))
        candidates.append(candidate)
    assert [c.id for c in rank(candidates)] == ["five", "three"]


async def test_a_flagged_candidate_is_never_ranked_first(sandbox: Sandbox) -> None:
    clean = (
        "def f(x):\n    total = 0\n    for _ in range(2000):\n        total += 1\n    return x\n"
    )
    flagged = "def f(x):\n    import gc\n    gc.get_objects\n    return x\n"
    tests = [check("t", "assert f(1) == 1")]
    reports = await sandbox.run_many([(module(clean), tests), (module(flagged), tests)])
    candidates = []
    for name, code, report in (("clean", clean, reports[0]), ("flagged", flagged, reports[1])):
        candidate = Candidate(id=name, code=code)
        apply_report(candidate, report, 1)
        candidates.append(candidate)
    assert candidates[1].flagged and not candidates[0].flagged
    assert [c.id for c in rank(candidates)] == ["clean", "flagged"]


async def test_honest_large_values_are_not_timing_tampered(make_sandbox: SandboxFactory) -> None:
    """Returning millions of items is honest: what the harness does with such a value off its
    clock (comparing it, encoding what it sends, showing it in a failure) is not test time it
    hides. Each of these was flagged before: a wrong candidate by 1.1-1.6 s of encoding a value
    it could not send and writing out its whole repr, a right one by its timing runs comparing
    two lists of 2,000,000 items in Python."""
    sandbox = make_sandbox(
        Limits(test_timeout_s=5.0, total_timeout_s=60.0, memory_mb=1024), isolation="bubblewrap"
    )
    source = "def f(n):\n    return [0] * n\n"
    tests = [
        check("right", "assert f(2_000_000) == [0] * 2_000_000"),
        example("too-large-to-send", "f(10_000_000)", "6\n"),
        example("sent-to-be-judged", "f(2_000_000)", "6\n"),
    ]
    [report] = await sandbox.run_many([(module(source), tests)])
    assert report.status == "completed" and not report.flags, report.flags
    statuses = [t.status for t in report.tests]
    assert statuses == [TestStatus.PASSED, TestStatus.FAILED, TestStatus.FAILED]
    assert report.tests[1].detail.startswith("f(10_000_000) returned [0, 0, 0,")
