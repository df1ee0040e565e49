"""Shared fixtures: sandboxes with short limits, the check that nothing is left behind, and the
rule that a bubblewrap test never skips on a machine where bubblewrap is installed."""

from __future__ import annotations

import asyncio
import marshal
import os
import shutil
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path

import psutil
import pytest

from orps_sandbox import (
    Limits,
    ModuleSpec,
    Sandbox,
    TestSpec,
    detect_isolation,
    expected_text,
)
from orps_sandbox.spec import TestKind

FAST_LIMITS = Limits(test_timeout_s=2.0, total_timeout_s=30.0, memory_mb=512, cpu_s=20)


def bubblewrap_available() -> bool:
    """False only where bwrap is not installed; installed but broken raises (fails the test)."""
    if shutil.which("bwrap") is None:
        return False
    return detect_isolation("bubblewrap").kind == "bubblewrap"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Where bwrap is on PATH, a skipped sandbox test is a failure: it must run, not hide."""
    report = yield
    bwrap = shutil.which("bwrap")
    if report.skipped and bwrap is not None and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"bubblewrap is installed ({bwrap}) but this sandbox test was skipped: {reason}"
        )
    return report


requires_bwrap = pytest.mark.skipif(
    not bubblewrap_available(), reason="bubblewrap is not available on this machine"
)


def leftovers() -> list[psutil.Process]:
    """Descendants of this test process that are still alive (zombies excluded)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.Error:
            pass
    return alive


def cgroups_left() -> list[Path]:
    base = Path("/sys/fs/cgroup/pids")
    if not base.is_dir():
        return []
    return list(base.glob(f"orps-{os.getpid()}-*"))


async def assert_nothing_left() -> None:
    for _ in range(100):
        if not leftovers() and not cgroups_left():
            return
        await asyncio.sleep(0.02)
    assert not leftovers(), f"processes left behind: {leftovers()}"
    assert not cgroups_left(), f"cgroups left behind: {cgroups_left()}"


def module(source: str, name: str = "cand", entry: str = "f", **kwargs: object) -> ModuleSpec:
    return ModuleSpec(
        name=name,
        source=source,
        filename=f"/project/{name}.py",
        entry=entry,
        **kwargs,  # type: ignore[arg-type]
    )


def check(test_id: str, source: str, setup: str = "") -> TestSpec:
    return TestSpec(id=test_id, kind="assert", source=source, setup=setup)


def given(
    test_id: str, args: tuple[object, ...], expected: object, call: str = "", **extra: object
) -> TestSpec:
    """A test as ``orps bench`` builds it: sides and values, nothing to parse (the call is
    ``f(*[args])`` unless given)."""
    call = call or f"f(*{list(args)!r})"
    text = expected_text(expected)
    assert text is not None
    return TestSpec(
        id=test_id,
        kind=TestKind.ASSERT,
        source=f"assert {call} == {expected!r}",
        sides=(call, repr(expected)),
        data=(marshal.dumps(args), text),
        **extra,  # type: ignore[arg-type]
    )


def example(test_id: str, source: str, want: str, setup: str = "") -> TestSpec:
    return TestSpec(id=test_id, kind="doctest", source=source, expected_output=want, setup=setup)


SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
async def make_sandbox() -> AsyncIterator[SandboxFactory]:
    made: list[Sandbox] = []

    def factory(limits: Limits = FAST_LIMITS, **kwargs: object) -> Sandbox:
        sandbox = Sandbox(limits, **kwargs)  # type: ignore[arg-type]
        made.append(sandbox)
        return sandbox

    yield factory
    for sandbox in made:
        await sandbox.aclose()
    await assert_nothing_left()


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> Sandbox:
    if not bubblewrap_available():
        pytest.skip("bubblewrap is not installed on this machine")
    return make_sandbox(isolation="bubblewrap")
