"""Correct judging: doctest and assert verdicts with detail, pytest items, packages, timing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from orps_sandbox import (
    ExecutionStatus,
    ModuleSpec,
    Sandbox,
    TestSpec,
    TestStatus,
    compare_runtime,
    faster,
)
from orps_sandbox._orps_harness._orps_compare import values_equal
from orps_sandbox._orps_harness._orps_values import MAX_NODES, Unencodable, encode
from orps_sandbox.isolation import HARNESS

from .conftest import check, example, module

ADD = "def f(x):\n    return x + 1\n"


async def test_doctest_pass_and_fail_with_detail(sandbox: Sandbox) -> None:
    report = await sandbox.run(
        module(ADD),
        [
            example("d1", "f(1)", "2\n"),
            example("d2", "f(1)", "3\n"),
            example("d3", "print(f(1), 'x')", "2 x\n"),
            example("d4", "[f(i) for i in range(30)]", "[1, 2, ...]\n"),
            example(
                "d5",
                "f('a')",
                'Traceback (most recent call last):\n  ...\nTypeError: can only concatenate str (not "int") to str\n',
            ),
            example("d6", "y", "3\n", setup="y = f(2)"),
            example("d7", "f('a')", "2\n"),
        ],
    )
    status = {t.id: t.status for t in report.tests}
    assert report.status is ExecutionStatus.COMPLETED
    assert status == {
        "d1": TestStatus.PASSED,
        "d2": TestStatus.FAILED,
        "d3": TestStatus.PASSED,
        "d4": TestStatus.PASSED,
        "d5": TestStatus.PASSED,
        "d6": TestStatus.PASSED,
        "d7": TestStatus.ERROR,
    }
    details = {t.id: t.detail for t in report.tests}
    assert details["d2"] == "f(1) returned 2, expected 3"
    assert "TypeError" in details["d7"]


async def test_assert_detail_and_tracebacks(sandbox: Sandbox) -> None:
    source = ADD + "def g(x):\n    return 1 / x\n"
    report = await sandbox.run(
        module(source),
        [
            check("ok", "assert f(3) == 4"),
            check("wrong", "assert f(3) == 5"),
            check("ne", "assert f(3) != 4"),
            check("bare", "assert f(-1)"),
            check("general", "assert f(3) > 10, 'too small'"),
            check("raises", "assert g(0) == 1"),
            check("multi", "x = f(1)\nassert x == 2"),
        ],
    )
    by_id = {t.id: t for t in report.tests}
    assert by_id["ok"].status is TestStatus.PASSED
    assert by_id["wrong"].status is TestStatus.FAILED
    assert by_id["wrong"].detail == "f(3) returned 4, expected 5"
    assert by_id["ne"].status is TestStatus.FAILED
    assert by_id["bare"].status is TestStatus.FAILED and "f(-1) is 0" in by_id["bare"].detail
    assert by_id["general"].status is TestStatus.FAILED
    assert "too small" in by_id["general"].detail
    raised = by_id["raises"]
    assert raised.status is TestStatus.ERROR
    assert "ZeroDivisionError" in raised.detail and "/project/cand.py" in raised.detail
    harness_files = [path.name for path in HARNESS.glob("*.py")]
    assert "_orps_judge.py" in harness_files and str(HARNESS) not in raised.detail
    assert not [name for name in harness_files if name in raised.detail], raised.detail
    assert by_id["multi"].status is TestStatus.PASSED


async def test_type_aware_equality(sandbox: Sandbox) -> None:
    source = "def f(x):\n    return x\n"
    report = await sandbox.run(
        module(source),
        [
            check("int-float", "assert f(2.0) == 2"),
            check("list-tuple", "assert f((1, 2)) == [1, 2]"),
            check("nested", "assert f({'a': [1, 2.0]}) == {'a': [1, 2]}"),
            check("close", "assert f(0.1 + 0.2) == 0.3"),
            check("str-int", "assert f('1') == 1"),
        ],
    )
    status = {t.id: t.status for t in report.tests}
    assert status["int-float"] is TestStatus.PASSED
    assert status["list-tuple"] is TestStatus.FAILED
    assert status["nested"] is TestStatus.PASSED
    assert status["close"] is TestStatus.PASSED
    assert status["str-int"] is TestStatus.FAILED


def write_project(root: Path) -> Path:
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return -1\n")
    (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    tests = root / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def base():
                return 10
            """
        )
    )
    (tests / "test_mod.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from pkg.mod import f

            def test_a(base):
                assert f(base) == 21

            def test_wrong():
                assert f(1) == 5

            class TestK:
                def test_b(self):
                    assert f(0) == 1

            @pytest.mark.parametrize("x,y", [(1, 3), (2, 5)])
            def test_p(x, y):
                assert f(x) == y

            def test_exit():
                raise SystemExit(0)
            """
        )
    )
    return tests / "test_mod.py"


async def test_pytest_items_with_fixture_conftest_and_package(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    test_file = write_project(tmp_path)
    candidate = ModuleSpec(
        name="pkg.mod",
        source="from helpers import double\n\ndef f(x):\n    return double(x) + 1\n",
        filename=str(tmp_path / "pkg" / "mod.py"),
        search_paths=[str(tmp_path)],
        entry="f",
    )
    nodes = ["test_a", "test_wrong", "TestK::test_b", "test_p[1-3]", "test_p[2-5]", "test_exit"]
    tests = [TestSpec(id=node, kind="pytest", path=str(test_file), node=node) for node in nodes]
    tests.append(TestSpec(id="missing", kind="pytest", path=str(test_file), node="test_nope"))
    report = await sandbox.run(candidate, tests)
    by_id = {t.id: t for t in report.tests}
    assert by_id["test_a"].status is TestStatus.PASSED, by_id["test_a"].detail
    assert by_id["TestK::test_b"].status is TestStatus.PASSED
    assert by_id["test_p[1-3]"].status is TestStatus.PASSED
    assert by_id["test_p[2-5]"].status is TestStatus.PASSED
    assert by_id["test_wrong"].status is TestStatus.FAILED
    assert "assert 3 == 5" in by_id["test_wrong"].detail
    assert by_id["test_exit"].status is not TestStatus.PASSED
    assert by_id["missing"].status is TestStatus.ERROR
    assert by_id["test_a"].runs > 1 and by_id["test_a"].wall_ns is not None


async def test_package_module_with_doctest(sandbox: Sandbox, tmp_path: Path) -> None:
    write_project(tmp_path)
    candidate = ModuleSpec(
        name="pkg.mod",
        source="import pkg\nfrom helpers import double\n\ndef f(x):\n    return double(x)\n",
        filename=str(tmp_path / "pkg" / "mod.py"),
        search_paths=[str(tmp_path)],
        entry="f",
    )
    report = await sandbox.run(candidate, [example("d", "f(4)", "8\n")])
    assert report.tests[0].status is TestStatus.PASSED, report.tests[0].detail


async def test_empty_tests_check_import_and_entry(sandbox: Sandbox) -> None:
    good = await sandbox.run(module(ADD), [])
    assert good.status is ExecutionStatus.COMPLETED and good.tests == []
    missing = await sandbox.run(module(ADD, entry="nope"), [])
    assert missing.status is ExecutionStatus.IMPORT_ERROR and "nope" in missing.detail
    broken = await sandbox.run(module("def f(:\n"), [check("t", "assert f(1) == 2")])
    assert broken.status is ExecutionStatus.IMPORT_ERROR
    assert "SyntaxError" in broken.detail
    assert broken.tests[0].status is TestStatus.ERROR


async def test_timing_repetitions_and_slow_vs_fast(sandbox: Sandbox) -> None:
    fast = "def f(n):\n    return n * (n - 1) // 2\n"
    slow = (
        "def f(n):\n    total = 0\n    for i in range(n):\n        for j in range(i):\n"
        "            total += 1\n    return total\n"
    )
    tests = [check("t1", "assert f(300) == 44850"), check("t2", "assert f(10) == 45")]
    reports = await sandbox.run_many([(module(slow), tests), (module(fast), tests)])
    assert [r.passed for r in reports] == [2, 2]
    slow_t1, fast_t1 = reports[0].tests[0], reports[1].tests[0]
    for result in (slow_t1, fast_t1):
        assert result.runs > 1
        assert result.wall_ns is not None and result.wall_ns_spread is not None
        assert result.cpu_ns is not None and result.peak_memory_bytes is not None
        assert result.instructions is None
    assert slow_t1.wall_ns is not None and fast_t1.wall_ns is not None
    assert slow_t1.wall_ns > 10 * fast_t1.wall_ns
    verdict = compare_runtime(
        fast_t1.wall_ns, fast_t1.wall_ns_spread or 0, slow_t1.wall_ns, slow_t1.wall_ns_spread or 0
    )
    # -1 on a quiet machine; under heavy foreign load the spreads may widen into a tie.
    assert verdict in (-1, 0)
    assert reports[0].peak_rss_bytes and reports[0].peak_rss_bytes > 1_000_000


def test_compare_runtime_rule() -> None:
    assert compare_runtime(100, 1, 200, 1) == -1
    assert compare_runtime(200, 1, 100, 1) == 1
    assert compare_runtime(100, 30, 150, 30) == 0  # within combined noise
    assert compare_runtime(100, 0, 103, 0) == 0  # under the 5 % floor
    assert faster(100, 1, 200, 1) is True and faster(100, 50, 120, 50) is None


def test_equality_of_long_flat_lists_keeps_its_rules() -> None:
    """Lists of ints, strs, bools and None are compared in C; the rules do not change."""

    class Always:
        def __eq__(self, other: object) -> bool:
            return True

    assert values_equal([1, 2, 3] * 1000, [1, 2, 3] * 1000)
    assert values_equal([True, 2], [1, 2])  # bool and int, as before
    assert values_equal([10**12], [10**12 + 1])  # within rel_tol=1e-9, by the walk
    assert not values_equal(["1", 2], [1, 2])
    assert not values_equal([Always()] * 3, [1, 2, 3])  # an object never judges itself
    assert not values_equal([1, 2], [Always(), Always()])
    nan = float("nan")
    assert not values_equal([nan], [nan])  # the same NaN object is still not equal


def test_encoding_budgets_int_lists_by_their_widest_int() -> None:
    """Small ints take their digits, not a float's 24 characters; a list with an int beyond any
    float is still encoded item by item; an oversize list is refused before it is walked."""
    assert json.loads(json.dumps(encode([0] * 3_000_000))) == [0] * 3_000_000  # was too large
    assert encode([True, 2, -3]) == [True, 2, -3]
    huge = encode([10**5000, *range(30_000)])
    assert huge[0] == {"int": format(10**5000, "x")} and huge[1:] == list(range(30_000))
    with pytest.raises(Unencodable):
        encode([0] * (MAX_NODES + 1))
