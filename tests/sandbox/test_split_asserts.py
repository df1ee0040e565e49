"""Split asserts the parent hands to the harness already split, in real sandboxed processes.

For a one-line ``assert LEFT == RIGHT`` the parent sends the sides' text, so the harness compiles
them without parsing the test; a literal RIGHT is never even sent to the child, whose value of
LEFT the parent compares with its own copy, and a LEFT that calls a name with literal arguments
comes as the name and the arguments' marshal data. Tests built by a program can give the sides
directly (``TestSpec.sides``), so neither process parses them at all. The verdicts and details
must be those of the plain path, and a candidate gains nothing from any of it.
"""

from __future__ import annotations

import marshal

import pytest

from orps_sandbox import ExecutionStatus, Sandbox, TestSpec, TestStatus
from orps_sandbox.protocol import Judgement, ProtocolViolation
from orps_sandbox.spec import TestKind as Kind
from orps_sandbox.verdicts import TestReader, split_for_harness

from .conftest import check, given, module


def built(test_id: str, left: str, right: str) -> TestSpec:
    return TestSpec(
        id=test_id,
        kind=Kind.ASSERT,
        source=f"assert {left} == {right}",
        sides=(left, right),
    )


def test_the_parent_splits_only_what_it_can_judge() -> None:
    split = split_for_harness(check("a", "assert f(1) == [1, 2]"))
    assert split is not None
    name, arguments = split.pop("call")
    assert (name, marshal.loads(arguments)) == ("f", (1,))
    assert split == {
        "op": "eq",
        "left": "f(1)",
        "right": None,  # the parent keeps the expected literal to itself
        "parent_judges": True,
        "left_is_call": True,
    }
    not_literal = split_for_harness(check("g", "assert f(x) == 2"))
    assert not_literal is not None and not_literal["call"] is None
    both = split_for_harness(check("h", "assert f(1) == g(2)"))
    assert both is not None and both["right"] == "g(2)" and both["call"] is None
    assert split_for_harness(check("b", "assert f(1) != g(2)"))["parent_judges"] is False  # type: ignore[index]
    assert split_for_harness(check("c", "assert f(1) == 1, 'message'")) is None
    assert split_for_harness(check("d", "assert f(1) == 1 == g(1)")) is None
    assert split_for_harness(check("e", "x = f(1)\nassert x == 1")) is None
    given = split_for_harness(built("f", "f(*[1, [2]])", "2"))
    assert given is not None and marshal.loads(given["call"][1]) == (1, [2])


async def test_split_and_given_sides_judge_like_the_plain_path(sandbox: Sandbox) -> None:
    code = "def f(*xs):\n    return [x * 2 for x in xs]\n"
    tests = [
        check("split-pass", "assert f(1, 2) == [2, 4]"),
        check("split-fail", "assert f(1, 2) == [2, 5]"),
        check("ne-fail", "assert f(1) != [2]"),
        built("sides-pass", "f(*[3])", "[6]"),
        built("sides-fail", "f(*[3])", "[7]"),
        check("message", "assert f(1) == [3], 'wrong'"),
    ]
    report = await sandbox.run(module(code), tests)
    by_id = {t.id: t for t in report.tests}
    assert by_id["split-pass"].status is TestStatus.PASSED
    assert by_id["sides-pass"].status is TestStatus.PASSED
    assert by_id["split-pass"].runs >= 5  # timing repetitions judge in the harness and go on
    assert by_id["split-fail"].status is TestStatus.FAILED
    assert by_id["split-fail"].detail == "f(1, 2) returned [2, 4], expected [2, 5]"
    assert by_id["sides-fail"].detail == "f(*[3]) returned [6], expected [7]"
    assert by_id["ne-fail"].detail == "f(1) is [2], expected a different value"
    # with a message the harness parses the test itself; the parent still judges the values
    assert by_id["message"].status is TestStatus.FAILED
    assert by_id["message"].detail == "f(1) returned [2], expected [3]"


async def test_an_always_equal_object_fails_a_given_sides_test(sandbox: Sandbox) -> None:
    # Not plain data, so never equal to the literal the parent holds: it fails there.
    code = (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "def f(*xs):\n    return Anything()\n"
    )
    report = await sandbox.run(module(code), [built("t", "f(*[1])", "[2]")])
    assert report.tests[0].status is TestStatus.FAILED, report.tests[0]
    assert report.status is ExecutionStatus.COMPLETED


def read(test: TestSpec) -> dict[str, object] | None:
    """What the harness is sent of a test, its call's arguments as values."""
    split = split_for_harness(test)
    if split is not None and split["call"] is not None:
        name, arguments = split["call"]
        split["call"] = (name, marshal.loads(arguments))
    return split


def test_a_test_built_from_values_is_read_as_its_sides_would_be() -> None:
    # Its split is read from its fields without parsing: the same as its sides' text gives.
    cases = [
        given("name", (1, [2]), [3]),
        given("dotted", (1,), "x", call="Box.make(*[1])"),
        given("not-a-name", (2,), 0, call="table[0](*[2])"),
    ]
    for test in cases:
        parsed = test.model_copy(update={"data": None})
        assert read(test) == read(parsed), test.id
        assert TestReader().parent_judges(test) is TestReader().parent_judges(parsed) is True
    multiline = given("multiline", (1,), 2, call="f(\n1)")
    assert split_for_harness(multiline) is None  # the harness parses it itself


def test_a_value_of_the_expected_text_passes_and_no_other_way() -> None:
    reader = TestReader()
    test = given("t", (3,), [6])
    assert reader.judge(test, Judgement(mode="eq", actual="[6]", expected=None)) == (True, "")
    assert reader.judge(test, Judgement(mode="eq", actual="[6.0]", expected=None)) == (True, "")
    assert reader.judge(test, Judgement(mode="eq", actual="[7]", expected=None)) == (
        False,
        "f(*[3]) returned [7], expected [6]",
    )
    with pytest.raises(ProtocolViolation):  # the operator must be the test's
        reader.judge(test, Judgement(mode="ne", actual="[6]", expected=None))
