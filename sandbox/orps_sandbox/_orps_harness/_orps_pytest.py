"""pytest items, run in-process through ``pytest.main`` in the child.

``PytestSession`` is a pytest plugin that keeps only the requested items (matched by real path and
node name), reports ``start`` and the end of each item through callbacks, keeps pytest's own
reports for the verdict (longrepr trimmed), and times the call phase; an item's timing repetitions
happen inside the same session because a session costs too much to repeat. ``run_pytest`` runs a
session with the harness's fixed flags and pytest's terminal output swallowed, and
``preimport_pytest`` imports pytest and its auto-loaded plugins in a warm worker before any
candidate arrives. pytest itself is imported lazily; the rest is standard library only, like
every module of the harness that runs inside the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import time
import tracemalloc
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

# mypy sees these modules as orps_sandbox._orps_harness.*; at run time they import flat.
if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_channel import Message
    from orps_sandbox._orps_harness._orps_judge import Outcome
    from orps_sandbox._orps_harness._orps_output import BoundedWriter, trim
else:
    from _orps_channel import Message
    from _orps_judge import Outcome
    from _orps_output import BoundedWriter, trim


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
        wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        outcome = yield
        wall1, cpu1 = time.perf_counter_ns(), time.thread_time_ns()
        if index is None or outcome.excinfo is not None:  # type: ignore[attr-defined]
            return
        walls, cpus = [wall1 - wall0], [cpu1 - cpu0]
        reps = self.repetitions.get(index, 0)
        if reps == 0:
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
            wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
            try:
                item.runtest()
            except BaseException:
                break
            walls.append(time.perf_counter_ns() - wall0)
            cpus.append(time.thread_time_ns() - cpu0)
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
                text = trim(str(report.longrepr), 1500)
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
