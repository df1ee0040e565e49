"""The execution analysis both roles read: real candidates run in the sandbox against the demo's
tests (three doctests, five pytest tests), then described compactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orps.project.discovery import discover_tests
from orps.project.target import FunctionTarget, load_target
from orps.search.beam import execute
from orps.search.prompts import compact_failure, execution_analysis
from orps.search.records import Candidate
from orps.search.scoring import rescore
from orps_sandbox import Sandbox, TestSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNDEFINED = "def is_palindrome(text: str) -> bool:\n    return is_word_count(text.lower()) == 0\n"
NAIVE = "def is_palindrome(text: str) -> bool:\n    return text == text[::-1]\n"
DEEP = (
    "def is_palindrome(text: str) -> bool:\n    def helper(t):\n        return t[5]\n"
    '    return helper(text) == "x"\n'
)
GOOD = (
    "def is_palindrome(text: str) -> bool:\n"
    "    kept = [c.lower() for c in text if c.isalnum()]\n    return kept == kept[::-1]\n"
)


@pytest.fixture
def demo(tmp_path: Path) -> tuple[FunctionTarget, list[TestSpec]]:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    target = load_target(tmp_path / "examples" / "textutils.py", "is_palindrome")
    return target, list(discover_tests(target).tests)


async def _analyses(
    demo: tuple[FunctionTarget, list[TestSpec]], *codes: str
) -> tuple[list[str], str]:
    target, tests = demo
    candidates = [Candidate(id=str(i), code=code) for i, code in enumerate(codes)]
    async with Sandbox() as sandbox:
        for candidate in candidates:
            await execute(target, tests, [candidate], sandbox)
    rescore(candidates)
    best = max(candidates, key=lambda c: c.tests_passed)
    return [execution_analysis(c, tests, best) for c in candidates], str(target.path.parent)


async def test_one_cause_is_shown_once_for_every_test_it_fails(
    demo: tuple[FunctionTarget, list[TestSpec]],
) -> None:
    [text], where = await _analyses(demo, UNDEFINED)
    lines = text.splitlines()
    assert lines[:5] == [
        "Tests passed: 1/8.",
        "Passed (time, memory):",
        lines[2],
        "Failed: 7 tests, 1 cause.",
        "- FAILED (error/failed) in 7 tests, with the same cause:",
    ]
    assert lines[2].startswith("- test_textutils.py::test_word_count: ")
    assert lines[5:7] == [
        "  NameError: name 'is_word_count' is not defined",
        "  at textutils.py:5: return is_word_count(text.lower()) == 0",
    ]
    # Each test once, the pytest ones with the line that called the candidate.
    assert '  - is_palindrome("racecar") -> True' in lines
    assert (
        '  - test_textutils.py::test_empty_string_is_a_palindrome: assert is_palindrome("") is True'
        in lines
    )
    assert text.count("NameError") == 1
    # None of pytest's listing, separators or carets, and no machine paths.
    assert "_ _ _" not in text and "^^^" not in text and where not in text
    assert "def test_" not in text and "Traceback" not in text
    assert len(text) < 1000


async def test_assert_failures_keep_the_failing_line_and_pytests_explanation(
    demo: tuple[FunctionTarget, list[TestSpec]],
) -> None:
    (naive, deep, good), _ = await _analyses(demo, NAIVE, DEEP, GOOD)
    assert "Failed: 2 tests, 2 causes." in naive
    assert (
        '- FAILED (failed) is_palindrome("A man, a plan, a canal: Panama") -> True\n'
        '  is_palindrome("A man, a plan, a canal: Panama") returned False, expected True'
    ) in naive
    assert (
        "- FAILED (failed) test_textutils.py::test_mixed_case_and_punctuation\n"
        "  > assert is_palindrome(\"No 'x' in Nixon\") is True\n"
        "  E assert False is True\n"
        "  E  +  where False = is_palindrome(\"No 'x' in Nixon\")"
    ) in naive
    assert "so this is" in naive and "x best" in naive  # time against the best so far
    # An error raised below the test: the last two frames, the same for doctests and pytest.
    assert (
        "  IndexError: string index out of range\n"
        '  at textutils.py:7: return helper(text) == "x"\n'
        "  at textutils.py:6: return t[5]\n"
    ) in deep
    assert "(error/failed) in 3 tests, with the same cause" in deep
    assert good.startswith("Tests passed: 8/8.\nPassed (time, memory):\n")
    assert "FAILED" not in good and "Mean time per passing test" in good


def test_compact_failure_reads_each_kind_of_detail() -> None:
    assert compact_failure("") == ("(no detail)", "")
    assert compact_failure("timed out after 5.0 s") == ("timed out after 5.0 s", "")
    traceback = (
        "ZeroDivisionError: division by zero\nTraceback (last frames):\n"
        '  File "<doctest>", line 1, in <module>\n'
        '  File "/home/someone/project/mod.py", line 3, in f\n    return 1 / x\n           ~~^~~'
    )
    assert compact_failure(traceback) == (
        "ZeroDivisionError: division by zero\nat mod.py:3: return 1 / x",
        "",
    )
    setup = (
        "error in setup:\nfile /p/t.py, line 3\n  def test_x(db):\nE       fixture 'db' not found"
    )
    cause, own = compact_failure(setup)
    assert cause == "error in setup:\nE fixture 'db' not found" and own == ""
    long = "\n".join(f"line {i}" for i in range(40))
    assert len(compact_failure(long)[0].splitlines()) == 10
