"""pytest items, run in-process through ``pytest.main`` in the child.

``PytestSession`` is a pytest plugin that keeps only the requested items (matched by real path and
node name), reports ``start`` and the end of each item through callbacks, keeps pytest's own
reports for the verdict (longrepr trimmed), and times the call phase; an item's timing repetitions
happen inside the same session because a session costs too much to repeat. ``run_pytest`` runs a
session with the harness's fixed flags and pytest's terminal output swallowed, and
``preimport_pytest`` imports pytest and its auto-loaded plugins in a warm worker before any
candidate arrives. ``EqualityRewriter`` joins pytest's own assertion rewriting: in every
single-operator ``==``/``!=`` inside an ``assert`` of a test module or conftest the left operand is
wrapped in ``Trusted``, whose ``__eq__`` is ``trusted_equal`` (``values_equal``, with ``pytest.approx`` honoured only around plain data), so an
object whose ``__eq__`` always returns True fails. The verdict of an item whose call raised is
taken from that call, not from pytest's report, which a hook could alter. pytest itself is imported lazily; the rest is standard library only, like
every module of the harness that runs inside the sandbox.
"""

from __future__ import annotations

import ast
import contextlib
import os
import time
import tracemalloc
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

# mypy sees these modules as orps_sandbox._orps_harness.*; at run time they import flat.
if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_channel import Message
    from orps_sandbox._orps_harness._orps_compare import values_equal
    from orps_sandbox._orps_harness._orps_judge import Outcome
    from orps_sandbox._orps_harness._orps_output import BoundedWriter, trim, trim_middle
    from orps_sandbox._orps_harness._orps_values import Unencodable, encode
else:
    from _orps_channel import Message
    from _orps_compare import values_equal
    from _orps_judge import Outcome
    from _orps_output import BoundedWriter, trim, trim_middle
    from _orps_values import Unencodable, encode

# Captured at import, before candidate code: patching ``time.perf_counter_ns`` changes nothing here.
_PERF_COUNTER_NS = time.perf_counter_ns
_THREAD_TIME_NS = time.thread_time_ns

TRUSTED_EQUAL_NAME = "@orps_trusted_equal"
"""Not a valid identifier, so test code cannot name or rebind it (pytest's own trick)."""


def _plain_approx(value: object) -> bool:
    """A ``pytest.approx`` object of pytest's own classes around plain data."""
    if not type(value).__module__.startswith("_pytest."):
        return False
    if type(value).__name__ not in {
        "ApproxScalar",
        "ApproxDecimal",
        "ApproxMapping",
        "ApproxSequenceLike",
        "ApproxNumpy",
    }:
        return False
    try:
        encode(value.expected)  # type: ignore[attr-defined]
    except (Unencodable, AttributeError):
        return False
    return True


def trusted_equal(actual: object, expected: object) -> bool:
    """``==`` for asserts in pytest modules, judged by the harness rather than the operands."""
    if _plain_approx(expected):
        return bool(type(expected).__eq__(expected, actual))
    if _plain_approx(actual):
        return bool(type(actual).__eq__(actual, expected))
    return values_equal(actual, expected)


class Trusted:
    """The left operand of ``==``/``!=`` in a rewritten assert: the harness decides equality.

    Python asks the left operand first, so ``Trusted(a) == b`` is ``trusted_equal(a, b)`` whatever
    ``b.__eq__`` says; its repr is the operand's, so pytest still explains ``assert 3 == 5``.
    """

    __slots__ = ("value",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return trusted_equal(self.value, other)

    def __ne__(self, other: object) -> bool:
        return not trusted_equal(self.value, other)

    def __repr__(self) -> str:
        return repr(self.value)


class EqualityRewriter(ast.NodeTransformer):
    """``a == b`` → ``Trusted(a) == b`` (and ``!=``) inside assert statements."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.test = _EqualityCalls().visit(node.test)
        return node

    def rewrite(self, tree: ast.Module) -> None:
        self.visit(tree)
        position = len(tree.body)
        for index, statement in enumerate(tree.body):
            is_docstring = (
                index == 0
                and isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            )
            is_future = isinstance(statement, ast.ImportFrom) and statement.module == "__future__"
            if not (is_docstring or is_future):
                position = index
                break
        line = tree.body[position].lineno if position < len(tree.body) else 1
        alias = ast.alias("Trusted", TRUSTED_EQUAL_NAME)
        imported = ast.ImportFrom(module="_orps_pytest", names=[alias], level=0)
        for node in (imported, alias):
            node.lineno, node.col_offset = line, 0
            node.end_lineno, node.end_col_offset = line, 0
        tree.body.insert(position, imported)


class _EqualityCalls(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], ast.Eq | ast.NotEq):
            return node
        wrapped = ast.Call(
            func=ast.Name(id=TRUSTED_EQUAL_NAME, ctx=ast.Load()), args=[node.left], keywords=[]
        )
        ast.copy_location(wrapped, node.left)
        ast.copy_location(wrapped.func, node.left)
        node.left = wrapped
        return node


def install_equality_rewrite() -> None:
    """Wrap pytest's ``rewrite_asserts`` (and bypass its pyc cache) so our rewrite always runs."""
    from _pytest.assertion import rewrite

    if getattr(rewrite.rewrite_asserts, "_orps", False):
        return
    original = rewrite.rewrite_asserts

    def rewrite_asserts(mod: ast.Module, *args: Any, **kwargs: Any) -> None:
        EqualityRewriter().rewrite(mod)
        original(mod, *args, **kwargs)

    rewrite_asserts._orps = True  # type: ignore[attr-defined]
    rewrite.rewrite_asserts = rewrite_asserts
    # A pyc the user's own pytest run cached was rewritten without us: never read one.
    rewrite._read_pyc = lambda *args, **kwargs: None


class PytestSession:
    """Runs selected pytest items in one session, reporting each through callbacks."""

    def __init__(self, tests: dict[int, Message], repetitions: dict[int, int]) -> None:
        self.tests = tests
        self.repetitions = repetitions
        self.item_index: dict[str, int] = {}
        self.reports: dict[int, list[Any]] = {}
        self.samples: dict[int, tuple[list[int], list[int]]] = {}
        self.peak: dict[int, int] = {}
        self.collect_errors: list[str] = []
        self.call_errors: dict[int, str] = {}
        self.memory_cutoff_ns = 0
        self.on_start: Callable[[int], None] = lambda _i: None
        self.on_done: Callable[[int], None] = lambda _i: None
        self.plan: Callable[[int], int] = lambda _ns: 0

    # pytest hooks -----------------------------------------------------------------------------
    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.collect_errors.append(trim(str(report.longrepr), 1500))

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]) -> None:
        wanted = {
            (os.path.realpath(t["path"]), t["node"]): index for index, t in self.tests.items()
        }
        selected = []
        for item in items:
            node = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name
            key = (os.path.realpath(str(item.path)), node)
            if key in wanted:
                self.item_index[item.nodeid] = wanted[key]
                selected.append(item)
        items[:] = selected

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        index = self.item_index.get(nodeid)
        if index is not None:
            self.on_start(index)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        index = self.item_index.get(nodeid)
        if index is not None:
            self.on_done(index)

    def pytest_runtest_logreport(self, report: Any) -> None:
        index = self.item_index.get(report.nodeid)
        if index is not None:
            self.reports.setdefault(index, []).append(report)

    def timed_call(self, item: Any) -> Generator[None, Any, None]:
        """The body of a ``pytest_runtest_call`` hook wrapper: time, then repeat or trace."""
        index = self.item_index.get(item.nodeid)
        wall0, cpu0 = _PERF_COUNTER_NS(), _THREAD_TIME_NS()
        outcome = yield
        wall1, cpu1 = _PERF_COUNTER_NS(), _THREAD_TIME_NS()
        if index is None:
            return
        excinfo = outcome.excinfo  # type: ignore[attr-defined]
        if excinfo is not None:
            self.call_errors[index] = f"{getattr(excinfo[0], '__name__', 'exception')}"
            return
        walls, cpus = [wall1 - wall0], [cpu1 - cpu0]
        reps = self.repetitions.get(index, 0)
        if reps == 0 and wall1 - wall0 > self.memory_cutoff_ns:
            reps = self.plan(wall1 - wall0)  # too slow to trace cheaply: no memory figure
        elif reps == 0:
            # correctness run: one more execution under tracemalloc for the memory figure
            tracemalloc.start()
            try:
                item.runtest()
                self.peak[index] = tracemalloc.get_traced_memory()[1]
            except BaseException:  # a flaky second run only loses the figure
                pass
            finally:
                tracemalloc.stop()
            # pytest sessions are costly, so a pytest item's repetitions happen right here
            reps = self.plan(wall1 - wall0)
        for _ in range(reps):
            wall0, cpu0 = _PERF_COUNTER_NS(), _THREAD_TIME_NS()
            try:
                item.runtest()
            except BaseException:
                break
            walls.append(_PERF_COUNTER_NS() - wall0)
            cpus.append(_THREAD_TIME_NS() - cpu0)
        self.samples[index] = (walls, cpus)

    # verdicts ---------------------------------------------------------------------------------
    def verdict(self, index: int) -> Outcome:
        reports = self.reports.get(index, [])
        if not reports:
            if self.collect_errors:
                return Outcome("error", "pytest collection failed:\n" + self.collect_errors[0])
            return Outcome("error", "pytest item not found or not run")
        for report in reports:
            if report.failed:
                text = trim_middle(str(report.longrepr), 1500)
                if report.when == "call":
                    kind = "failed"
                    if "SystemExit" in text or "KeyboardInterrupt" in text:
                        kind = "error"
                    return Outcome(kind, text)
                return Outcome("error", f"error in {report.when}:\n{text}")
            if report.skipped:
                return Outcome("error", f"skipped: {trim(str(report.longrepr), 300)}")
        if not any(r.when == "call" and r.passed for r in reports):
            return Outcome("error", "pytest item did not complete")
        if index in self.call_errors:
            return Outcome(
                "failed",
                f"the test raised {self.call_errors[index]}, but its pytest report was altered "
                "to say it passed",
            )
        return Outcome("passed")


def run_pytest(session: PytestSession) -> None:
    import pytest

    paths = sorted({t["path"] for t in session.tests.values()})

    class CallTimer:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item: Any) -> Generator[None, Any, None]:
            yield from session.timed_call(item)

    args = [
        *paths,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:pastebin",
        "-p",
        "no:junitxml",
        "-q",
        "--no-header",
        "-o",
        "addopts=",
        "-o",
        "console_output_style=classic",
        "-W",
        "ignore::pytest.PytestUnraisableExceptionWarning",
    ]
    install_equality_rewrite()
    with contextlib.redirect_stdout(BoundedWriter(0)):
        pytest.main(args, plugins=[session, CallTimer()])


def preimport_pytest() -> None:
    """Import pytest and its auto-loaded plugins now, so a pytest item does not pay seconds."""
    with contextlib.suppress(Exception):
        import _pytest.python  # noqa: F401
        import pytest  # noqa: F401
    with contextlib.suppress(Exception):
        from importlib.metadata import entry_points

        for entry in entry_points(group="pytest11"):
            with contextlib.suppress(Exception):
                entry.load()
