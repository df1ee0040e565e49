"""orps sandbox: run untrusted candidate Python against tests, confined, and measure it fairly.

The public surface is the ``Sandbox`` (run one candidate or a batch), ``detect_isolation`` (what
confinement this machine offers, for ``orps doctor``), ``compare_runtime``/``faster`` (the noise-
aware ranking rule), ``screen`` (the AST tampering screen for candidate code) and the typed records
of ``orps_sandbox.spec``.
"""

from orps_sandbox.isolation import IsolationInfo, IsolationUnavailable, detect_isolation
from orps_sandbox.measurement import compare_runtime, faster, total_runtime
from orps_sandbox.sandbox import Sandbox
from orps_sandbox.screening import Screening, screen
from orps_sandbox.spec import (
    INTEGRITY_STATUSES,
    ExecutionReport,
    ExecutionStatus,
    Limits,
    ModuleSpec,
    TestKind,
    TestResult,
    TestSpec,
    TestStatus,
)
from orps_sandbox.verdicts import expected_text

__all__ = [
    "INTEGRITY_STATUSES",
    "ExecutionReport",
    "ExecutionStatus",
    "IsolationInfo",
    "IsolationUnavailable",
    "Limits",
    "ModuleSpec",
    "Sandbox",
    "Screening",
    "TestKind",
    "TestResult",
    "TestSpec",
    "TestStatus",
    "compare_runtime",
    "detect_isolation",
    "expected_text",
    "faster",
    "screen",
    "total_runtime",
]
