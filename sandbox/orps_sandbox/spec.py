"""Typed records exchanged with the sandbox: what to run, under which limits, and what happened.

The sandbox executes untrusted Python (a module with a candidate function spliced in) against a
list of tests and reports, per test, an outcome from a closed set plus measurements. It knows
nothing of language models, searches or editors: callers describe work with these records only.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TestKind(StrEnum):
    """How a test is expressed, which decides how the harness runs and judges it."""

    DOCTEST = "doctest"
    """One doctest example: ``source`` is the statement or expression, ``expected_output`` the
    text the example wants. When that text is a Python literal the harness compares values
    type-aware; otherwise it compares output text the way doctest does."""

    ASSERT = "assert"
    """A snippet of statements, usually one ``assert`` line, run in a fresh namespace seeded with
    the module's globals after ``setup``. ``assert a == b`` is judged by the harness type-aware,
    reporting both sides on failure."""

    PYTEST = "pytest"
    """One pytest item (fixtures and all): ``path`` is the test file, ``node`` the item's name
    within it (``test_x``, ``TestK::test_y``, ``test_p[1-2]``)."""


class TestSpec(BaseModel):
    """One visible test."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest test class

    id: str = Field(description="Stable identifier, unique within one job, e.g. 'doctest:2'.")
    kind: TestKind
    source: str = ""
    setup: str = ""
    expected_output: str | None = None
    path: str | None = None
    node: str | None = None
    label: str = Field("", description="Short human text for the test, e.g. 'fib(10) == 55'.")
    sides: tuple[str, str] | None = Field(
        None,
        description=(
            "For an assert built by a program as `assert LEFT == RIGHT` with RIGHT a literal: "
            "the two sides' text, so that neither the parent nor the harness parses the test "
            "(a test suite of a thousand inputs is otherwise parsed twice per candidate)."
        ),
    )
    data: tuple[bytes, str] | None = Field(
        None,
        description=(
            "With sides built by a program from values: marshal data of the call's positional "
            "arguments (a tuple) and the expected value's plain data as the harness sends a "
            "value (``orps_sandbox.expected_text``), so that neither process parses the sides' "
            "text (which failures and labels still show) and the parent compares texts."
        ),
    )
    atol: float | None = Field(
        None,
        ge=0,
        description=(
            "With sides: floats (alone, or in lists and tuples element by element) pass within "
            "this absolute tolerance; the parent judges, as for any literal expected side."
        ),
    )


class ModuleSpec(BaseModel):
    """The module under test, with the candidate already spliced into its source."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Dotted import name the tests use, e.g. 'pkg.mod'.")
    source: str = Field(description="Full module source text to import under that name.")
    filename: str = Field(description="Original file path, used in tracebacks only.")
    search_paths: list[str] = Field(
        default_factory=list,
        description="Directories put on sys.path (read-only) so the module's own imports resolve.",
    )
    entry: str = Field(description="Qualified name of the function under test, e.g. 'Cls.meth'.")


class Limits(BaseModel):
    """Resource limits for one candidate's execution."""

    model_config = ConfigDict(frozen=True)

    test_timeout_s: float = 5.0
    total_timeout_s: float = 60.0
    memory_mb: int = 1024
    cpu_s: int = 60
    file_size_mb: int = 16
    open_files: int = 256
    processes: int = 32
    output_bytes: int = 64 * 1024
    tmpfs_mb: int = Field(256, ge=1, description="Size of /tmp, /dev/shm and scratch, each.")


class TestStatus(StrEnum):
    __test__ = False

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    NOT_RUN = "not_run"
    """Fail-fast only: an earlier test of the candidate did not pass, so this one never ran."""


class TestResult(BaseModel):
    """What one test did. Times are medians over ``runs`` repetitions of a passing test."""

    __test__ = False

    id: str
    status: TestStatus
    detail: str = Field("", description="For a failure: call, expected vs actual, or traceback.")
    wall_ns: int | None = None
    wall_ns_spread: int | None = Field(
        None, description="Noise estimate of wall_ns (half the inter-quartile range)."
    )
    cpu_ns: int | None = None
    runs: int = 0
    peak_memory_bytes: int | None = Field(None, description="tracemalloc peak during the test.")
    instructions: int | None = Field(
        None, description="CPU instructions from perf events; null where the machine has none."
    )


class ExecutionStatus(StrEnum):
    """How the candidate's process as a whole ended."""

    COMPLETED = "completed"
    IMPORT_ERROR = "import_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    CRASHED = "crashed"
    CANCELLED = "cancelled"
    PROTOCOL_VIOLATION = "protocol_violation"
    """The worker sent a record that failed its schema, its authentication, its order or its
    size caps: nothing it reported is believed."""
    TIMING_TAMPERED = "timing_tampered"
    """The timings the child reported disagree with what the parent measured around the same
    commands by more than the channel's measured overhead allows."""


INTEGRITY_STATUSES = frozenset(
    {ExecutionStatus.PROTOCOL_VIOLATION, ExecutionStatus.TIMING_TAMPERED}
)
"""Statuses that mean the candidate reached for the judge: it is never ranked first or applied."""


class ExecutionReport(BaseModel):
    """Everything the sandbox learned about one candidate."""

    status: ExecutionStatus
    detail: str = ""
    tests: list[TestResult] = Field(default_factory=list)
    peak_rss_bytes: int | None = None
    wall_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    isolation: str = ""
    flags: list[str] = Field(
        default_factory=list,
        description="Integrity findings (protocol violations, tampered timings), one line each.",
    )

    @property
    def flagged(self) -> bool:
        return bool(self.flags) or self.status in INTEGRITY_STATUSES

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t.status is TestStatus.PASSED)
