"""Tests the model writes when the user has few: reading them, judging them, keeping them apart.

The test writer (one budgeted model call, ``Role: test writer``) replies with one fenced block of
``def test_…():`` functions with plain asserts that import the function from its module. Each
function becomes a sandbox ``TestSpec`` whose id starts with ``generated:`` (its imports are the
setup, its body the test), so candidates run the user's tests and the generated ones in one batch
while the counts stay apart. A generated test is dropped, with its reason, when its imports fail
against the original module, when one of its asserts calls the function exactly as a docstring
example or a user assert does but expects another value, or, once at least two candidates pass
every user test and doctest, when it fails on all of them (the CodeT idea: tests that agree with
no good candidate are more likely wrong than the candidates). The kept tests can be written out as
a pytest file the user then owns. ``TEST_WRITER_STOP`` ends the reply after the closing fence of
the first block with a test function, the block read first.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from orps.model.stopping import DEGENERATE_REPEATS, StopRule
from orps.model.stopping import FENCE as _FENCE
from orps.project.target import FunctionTarget
from orps.search.extraction import split_reply
from orps.search.records import GENERATED_TEST_PREFIX, Candidate, GeneratedTest
from orps_sandbox import TestKind, TestSpec, TestStatus

_TAGGED = re.compile(r"```(?:python3?|py)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
DEFINES_TEST = r"^\s*def\s+test"
TEST_WRITER_STOP = StopRule(block=DEFINES_TEST, repeats=DEGENERATE_REPEATS)
MAX_GENERATED = 12  # tests kept from one reply
MIN_AGREEING = 2  # candidates that pass every user test before a test failing on all is dropped


def is_generated(test_id: str) -> bool:
    return test_id.startswith(GENERATED_TEST_PREFIX)


@dataclass
class _Parsed:
    name: str
    source: str
    body: str
    asserts: list[ast.Assert] = field(default_factory=list)


def _reply_block(reply: str) -> str | None:
    """The first fenced block with a test function (small models often write the function
    under test first), else the first block that defines anything."""
    # A stray bare fence before the block shifts the pairing of fences: try tagged blocks too.
    blocks = [m.group(1) for m in _FENCE.finditer(reply)]
    blocks += [m.group(1) for m in _TAGGED.finditer(reply)]
    for block in blocks:
        if re.search(DEFINES_TEST, block, re.MULTILINE):
            return textwrap.dedent(block)
    _, block = split_reply(reply)
    return textwrap.dedent(block) if block is not None else None


def parse_tests(reply: str) -> tuple[str, list[_Parsed]]:
    """(import lines, test functions) from the test writer's reply; nothing usable: ("", [])."""
    block = _reply_block(reply)
    if block is None:
        return "", []
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return "", []
    imports = "\n".join(
        ast.get_source_segment(block, node) or ""
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    )
    tests: list[_Parsed] = []
    seen: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
            continue
        if node.args.args or node.args.vararg or node.args.kwonlyargs or node.name in seen:
            continue  # fixtures or parameters: not a plain test
        seen.add(node.name)
        source = ast.get_source_segment(block, node) or ""
        body_nodes = [
            stmt
            for stmt in node.body
            if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
        ]
        if not body_nodes:
            continue
        if any(isinstance(n, ast.Return | ast.Yield | ast.YieldFrom) for n in ast.walk(node)):
            body = f"{source}\n{node.name}()"
        else:
            body = "\n".join(ast.get_source_segment(block, stmt) or "" for stmt in body_nodes)
            body = textwrap.dedent(body)
        asserts = [n for n in ast.walk(node) if isinstance(n, ast.Assert)]
        tests.append(_Parsed(name=node.name, source=source, body=body, asserts=asserts))
        if len(tests) == MAX_GENERATED:
            break
    return imports, tests


def _call_and_value(node: ast.expr, name: str) -> tuple[str, object] | None:
    """For ``f(args) == literal``: (a normalised dump of the call, the literal's value)."""
    if not (
        isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
    ):
        return None
    for call, other in ((node.left, node.comparators[0]), (node.comparators[0], node.left)):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name:
            try:
                value = ast.literal_eval(other)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return None
            return ast.dump(call), value
    return None


def known_answers(tests: Sequence[TestSpec], name: str) -> dict[str, object]:
    """What the docstring examples and the user's single-line asserts say ``name`` returns."""
    answers: dict[str, object] = {}
    for test in tests:
        try:
            if test.kind is TestKind.DOCTEST and test.expected_output is not None:
                call = ast.parse(test.source.strip(), mode="eval").body
                value = ast.literal_eval(test.expected_output.strip())
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == name
                ):
                    answers[ast.dump(call)] = value
            elif test.kind is TestKind.ASSERT:
                tree = ast.parse(test.source.strip())
                if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
                    pair = _call_and_value(tree.body[0].test, name)
                    if pair is not None:
                        answers[pair[0]] = pair[1]
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return answers


def docstring_answers(docstring: str, name: str) -> dict[str, object]:
    """What ``assert name(...) == value`` lines written in the docstring (MBPP's style of
    example, not a doctest) say ``name`` returns."""
    answers: dict[str, object] = {}
    for line in docstring.splitlines():
        text = line.strip()
        if not text.startswith("assert "):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            pair = _call_and_value(tree.body[0].test, name)
            if pair is not None:
                answers[pair[0]] = pair[1]
    return answers


def contradiction(parsed: _Parsed, answers: dict[str, object], name: str) -> str | None:
    """The reason a test contradicts a docstring example or a user test, or None."""
    for node in parsed.asserts:
        pair = _call_and_value(node.test, name)
        if pair is None or pair[0] not in answers:
            continue
        expected = answers[pair[0]]
        if type(expected) is not type(pair[1]) or expected != pair[1]:
            return (
                f"contradicts the docstring or a user test: expects {pair[1]!r} "
                f"where they expect {expected!r}"
            )
    return None


@dataclass
class GeneratedSuite:
    """The generated tests of one search, their specs, and which are kept."""

    imports: str = ""
    tests: list[GeneratedTest] = field(default_factory=list)
    specs: dict[str, TestSpec] = field(default_factory=dict)
    fixed_drops: dict[str, str] = field(default_factory=dict)
    """Drops that no candidate can undo: import errors and contradictions."""

    @classmethod
    def from_reply(
        cls, reply: str, target: FunctionTarget, visible: Sequence[TestSpec]
    ) -> GeneratedSuite:
        imports, parsed = parse_tests(reply)
        answers = {
            **docstring_answers(target.docstring or "", target.name),
            **known_answers(visible, target.name),
        }
        suite = cls(imports=imports)
        for item in parsed:
            test_id = f"{GENERATED_TEST_PREFIX}{item.name}"
            suite.tests.append(GeneratedTest(id=test_id, source=item.source))
            first = next((ln.strip() for ln in item.body.splitlines() if ln.strip()), item.name)
            suite.specs[test_id] = TestSpec(
                id=test_id,
                kind=TestKind.ASSERT,
                source=item.body,
                setup=imports,
                label=f"generated {item.name}: {first}",
            )
            reason = contradiction(item, answers, target.name)
            if reason is not None:
                suite.fixed_drops[test_id] = reason
        suite.update([])
        return suite

    def drop_all(self, reason: str) -> None:
        for test in self.tests:
            self.fixed_drops.setdefault(test.id, reason)
        self.update([])

    def runnable(self) -> list[TestSpec]:
        """The specs every candidate runs (those not dropped for good)."""
        return [spec for tid, spec in self.specs.items() if tid not in self.fixed_drops]

    def update(self, candidates: Sequence[Candidate]) -> None:
        """Re-decide which tests are kept from the candidates so far and count each one's."""
        agreeing = [
            c
            for c in candidates
            if c.execution is not None and c.valid and c.tests_passed == c.tests_total
        ]
        for test in self.tests:
            reason = self.fixed_drops.get(test.id, "")
            if not reason and len(agreeing) >= MIN_AGREEING:
                if all(_status(c, test.id) is not TestStatus.PASSED for c in agreeing):
                    reason = (
                        f"fails on every candidate that passes the visible tests ({len(agreeing)})"
                    )
            test.kept, test.reason = not reason, reason
        kept = {t.id for t in self.tests if t.kept}
        for c in candidates:
            c.generated_total = len(kept)
            c.generated_passed = sum(1 for tid in kept if _status(c, tid) is TestStatus.PASSED)

    def kept_tests(self) -> list[GeneratedTest]:
        return [t for t in self.tests if t.kept]


def _status(candidate: Candidate, test_id: str) -> TestStatus | None:
    report = candidate.execution
    if report is None:
        return None
    return next((t.status for t in report.tests if t.id == test_id), None)


def pytest_file(target: FunctionTarget, tests: Sequence[GeneratedTest], imports: str) -> str:
    """The kept tests as a pytest module the user can keep."""
    head = (
        f'"""Tests of {target.qualname} written by the orps test writer and kept by the search '
        '(they passed the checks described in docs/scaling.md). Yours to edit."""\n\n'
    )
    body = "\n\n\n".join(t.source.rstrip() for t in tests)
    imports = imports.strip() or f"from {target.module_name} import {target.name}"
    return f"{head}{imports}\n\n\n{body}\n"
