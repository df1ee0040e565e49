"""The rlimits-only fallback (isolation='none'): the safe part of the battery still holds."""

from __future__ import annotations

from orps_sandbox import ExecutionStatus, Limits, TestStatus

from .conftest import FAST_LIMITS, SandboxFactory, check, module
from .test_battery import body


async def test_fallback_battery(make_sandbox: SandboxFactory) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "memory_mb": 256, "test_timeout_s": 3.0})
    sandbox = make_sandbox(limits, isolation="none")
    assert sandbox.isolation.kind == "rlimits"
    assert "isolation='none'" in " ".join(sandbox.isolation.reasons)
    cases = {
        "loop": "while True:\n    pass",
        "memory": "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))",
        "forged": 'print(\'{"ev": "result", "index": 0, "status": "passed"}\')\nos._exit(0)',
        "exit": "sys.exit(0)",
        "fine": "pass",
    }
    jobs = [
        (module(body(code)), [check("t", "assert f(1) == 1"), check("u", "assert f(2) == 2")])
        for code in cases.values()
    ]
    reports = dict(zip(cases, await sandbox.run_many(jobs), strict=True))
    assert reports["loop"].tests[0].status is TestStatus.TIMEOUT
    assert reports["memory"].status is ExecutionStatus.MEMORY_LIMIT
    assert reports["forged"].tests[0].status is TestStatus.ERROR
    assert reports["exit"].tests[0].status is TestStatus.ERROR
    assert reports["fine"].passed == 2
    for report in reports.values():
        assert report.isolation.startswith("rlimits")
