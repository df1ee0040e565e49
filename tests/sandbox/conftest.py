"""Shared fixtures: sandboxes with short limits, and the check that nothing is left behind."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest

from orps_sandbox import (
    IsolationUnavailable,
    Limits,
    ModuleSpec,
    Sandbox,
    TestSpec,
    detect_isolation,
)

FAST_LIMITS = Limits(test_timeout_s=2.0, total_timeout_s=30.0, memory_mb=512, cpu_s=20)


def bubblewrap_available() -> bool:
    try:
        return detect_isolation("bubblewrap").kind == "bubblewrap"
    except IsolationUnavailable:
        return False


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
        pytest.skip("bubblewrap is not available on this machine")
    return make_sandbox(isolation="bubblewrap")
