"""Scale profiles: runtimes measured on inputs large enough for the algorithm to show.

The input generator (one budgeted model call, ``Role: input generator``) writes
``def perf_input(scale: int) -> tuple`` returning the function's positional arguments for an input
of that size, the idea of EvalPerf's ``perf_input_gen``. Everything it writes runs in the sandbox:
first a check (a tuple, the same value twice for one scale, a bounded size, within the test
timeout and the memory limit), then a probe that doubles the scale (by up to 16× at once) until the
leading candidate takes about ``TARGET_NS`` or the cap is reached, then the measurement proper: every
passing candidate at nine scales (the probe's last, its half, quarter, ... down to 1/256),
one sandbox batch per scale so candidates are interleaved, smallest scale first; a candidate that
times out or fails at a scale is not tried at larger ones. Each scale is three tests of one job: a
warm-up that builds the input once and caches it in the worker (so no timed run pays for the input),
the timed call, and a digest of the output (read from the digest test's failure detail, the
sandbox's only channel for values) to flag candidates whose outputs differ from most others.
Growth is the least-squares slope of log runtime against log scale (≈ 1 linear, ≈ 2 quadratic).
A broken generator never raises here: it ends in a note, and the ranking keeps the test runtimes.
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from orps.model.stopping import DEGENERATE_REPEATS, FENCE, StopRule
from orps.project.target import FunctionTarget
from orps.search.extraction import split_reply
from orps.search.records import Candidate, ScalePoint
from orps_sandbox import ExecutionReport, ModuleSpec, Sandbox, TestKind, TestSpec, TestStatus

TARGET_NS = 5_000_000  # the leading candidate's runtime at the largest scale (about 5 ms)
MAX_STEP = 16  # the probe multiplies the scale by at most this much at once
SLOW_FACTOR = 20  # a candidate slower than this many times the target is probed no further
START_SCALE = 8
MEASURED_SHIFTS = tuple(range(8, -1, -1))  # scales measured: the top one ÷ 256, 128, ..., 2, 1
FIT_FLOOR_NS = 20_000  # points faster than this are mostly call overhead: left out of the fit
NOISE_FLOOR = 0.02  # relative noise below this counts as this much in the fit's weights
MAX_INPUT_REPR = 50_000_000  # characters of repr(perf_input(scale)) allowed at check time
CHECK_SCALES = (0, 1, 2, 3, 16, 100)
MAX_MEASURED = 8  # candidates measured at scale (the best passing ones, plus the current code)
_DIGEST = re.compile(r"'([0-9a-f]{20})'")

_CACHE_LINES = """
import sys as _orps_sys
_orps_cache = _orps_sys.__dict__.setdefault("_orps_scale_inputs", {{}})
if {scale} not in _orps_cache:
    _orps_cache[{scale}] = perf_input({scale})
_orps_args = _orps_cache[{scale}]
"""

_DIGEST_FUNCTION = """
def _orps_digest(value):
    import hashlib

    def canon(v):
        if isinstance(v, float):
            return format(v, ".9g")
        if isinstance(v, list | tuple):
            return type(v).__name__ + "[" + ",".join(canon(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ",".join(sorted(canon(k) + ":" + canon(x) for k, x in v.items())) + "}"
        if isinstance(v, set | frozenset):
            return "{" + ",".join(sorted(canon(x) for x in v)) + "}"
        return repr(v)

    try:
        text = canon(value)
    except RecursionError:
        text = repr(value)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:20]
"""

_CHECK_SOURCE = """
for _orps_s in {scales}:
    _orps_a = perf_input(_orps_s)
    assert isinstance(_orps_a, tuple), (
        f"perf_input({{_orps_s}}) returned a {{type(_orps_a).__name__}}, not a tuple"
    )
    _orps_r = repr(_orps_a)
    assert len(_orps_r) <= {limit}, f"perf_input({{_orps_s}}) is too large"
    assert _orps_r == repr(perf_input(_orps_s)), (
        f"perf_input({{_orps_s}}) is not deterministic: two calls gave different inputs"
    )
"""


INPUT_GENERATOR_STOP = StopRule(block="def perf_input", repeats=DEGENERATE_REPEATS)
"""Ends the input generator's reply after the first block ``parse_generator`` reads first."""


def parse_generator(reply: str) -> str | None:
    """The generator's source (imports, helpers and ``perf_input``) or None if there is none."""
    tagged = re.finditer(r"```(?:python3?|py)[ \t]*\n(.*?)(?:```|\Z)", reply, re.DOTALL)
    blocks = [
        m.group(1) for m in [*FENCE.finditer(reply), *tagged] if "def perf_input" in m.group(1)
    ]
    _, first = split_reply(reply)
    block = blocks[0] if blocks else first
    if block is None:
        return None
    block = textwrap.dedent(block)
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return None
    kept = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef)
    ]
    if not any(isinstance(n, ast.FunctionDef) and n.name == "perf_input" for n in kept):
        return None
    return "\n\n".join(ast.get_source_segment(block, node) or "" for node in kept) + "\n"


def growth(points: Sequence[ScalePoint]) -> float | None:
    """Least-squares slope of log runtime against log scale; None below two distinct scales.

    Points under ``FIT_FLOOR_NS`` measure the call more than the algorithm and are left out when
    at least two other scales remain. Each point weighs by its precision, 1 / (relative noise)²
    with the noise floored at ``NOISE_FLOOR``: on a busy machine a run that was preempted shows
    as a wide spread, and one such point must not bend the slope.
    """
    valid = sorted((p for p in points if p.scale > 0 and p.runtime_ns > 0), key=lambda p: p.scale)
    slow = [p for p in valid if p.runtime_ns >= FIT_FLOOR_NS]
    chosen = slow if len({p.scale for p in slow}) >= 2 else valid
    if len({p.scale for p in chosen}) < 2:
        return None
    xs = [math.log(p.scale) for p in chosen]
    ys = [math.log(p.runtime_ns) for p in chosen]
    ws = [1 / max(NOISE_FLOOR, p.noise_ns / p.runtime_ns) ** 2 for p in chosen]
    total = sum(ws)
    mean_x = sum(w * x for w, x in zip(ws, xs, strict=True)) / total
    mean_y = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    sxx = sum(w * (x - mean_x) ** 2 for w, x in zip(ws, xs, strict=True))
    sxy = sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(ws, xs, ys, strict=True))
    return round(sxy / sxx, 2)


def scalable(target: FunctionTarget) -> str | None:
    """Why the target cannot be timed at scale, or None when it can."""
    if "." in target.qualname:
        return "scale profiles need a module-level function (this is a method)"
    try:
        tree = ast.parse(target.dedented_source)
    except SyntaxError:
        return "the function does not parse"
    if any(isinstance(node, ast.AsyncFunctionDef) for node in tree.body):
        return "scale profiles do not time coroutines"
    return None


def _setup(generator: str, scale: int) -> str:
    return generator + _CACHE_LINES.format(scale=scale)


def scale_tests(target: FunctionTarget, generator: str, scale: int) -> list[TestSpec]:
    """Warm-up (builds and caches the input), the timed call, the output's digest."""
    setup = _setup(generator, scale)
    return [
        TestSpec(
            id=f"scale-input:{scale}",
            kind=TestKind.ASSERT,
            setup=setup,
            source="assert isinstance(_orps_args, tuple)",
        ),
        TestSpec(
            id=f"scale:{scale}",
            kind=TestKind.ASSERT,
            setup=setup,
            # The sandbox repeats a passing test once under tracemalloc for its peak memory;
            # at scale that run is slow and tells nothing here, so it skips the call.
            source=(
                "if not _orps_sys.modules['tracemalloc'].is_tracing():\n"
                f'    _orps_cache["out", {scale}] = {target.name}(*_orps_args)'
            ),
        ),
        TestSpec(
            id=f"scale-digest:{scale}",
            kind=TestKind.ASSERT,
            setup=setup + _DIGEST_FUNCTION,
            source=f'assert _orps_digest(_orps_cache.get(("out", {scale}))) == "-"',
        ),
    ]


def check_spec(generator: str) -> TestSpec:
    return TestSpec(
        id="scale-check",
        kind=TestKind.ASSERT,
        setup=generator,
        source=_CHECK_SOURCE.format(scales=CHECK_SCALES, limit=MAX_INPUT_REPR),
    )


def _result(
    report: ExecutionReport, test_id: str
) -> tuple[TestStatus | None, str, int | None, int]:
    for t in report.tests:
        if t.id == test_id:
            return t.status, t.detail, t.wall_ns, t.wall_ns_spread or 0
    return None, report.detail, None, 0


def _last_line(detail: str) -> str:
    lines = [ln.strip() for ln in detail.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "no detail"
    return text[:200]


@dataclass
class ScaleRun:
    """What the scale measurement found: points per candidate id, and a note when it fell back."""

    points: dict[str, list[ScalePoint]] = field(default_factory=dict)
    stopped_at: dict[str, int] = field(default_factory=dict)
    outliers: set[str] = field(default_factory=set)
    scales: list[int] = field(default_factory=list)
    note: str | None = None


@dataclass
class ScaleProfiler:
    """Checks a generator, probes the scales and measures candidates, all in the sandbox."""

    target: FunctionTarget
    sandbox: Sandbox
    module_of: Callable[[str], ModuleSpec]
    max_scale: int = 1 << 20
    timeout_s: float = 5.0

    async def check(self, generator: str) -> str | None:
        """Why the generator is unusable (endless, too large, nondeterministic...), or None."""
        module = self.module_of(self.target.dedented_source)
        [report] = await self.sandbox.run_many([(module, [check_spec(generator)])])
        status, detail, _, _ = _result(report, "scale-check")
        if status is TestStatus.PASSED:
            return None
        if status is TestStatus.TIMEOUT or report.status == "timeout":
            return f"perf_input did not finish within {self.timeout_s:g} s"
        if "MemoryError" in detail or report.status == "memory_limit":
            return "perf_input exceeded the memory limit"
        if status is None:
            return f"perf_input could not run: {_last_line(report.detail)}"
        return f"perf_input is unusable: {_last_line(detail)}"

    async def _run_at(
        self, generator: str, scale: int, candidates: Sequence[Candidate]
    ) -> list[ExecutionReport]:
        tests = scale_tests(self.target, generator, scale)
        jobs = [(self.module_of(c.code), tests) for c in candidates]
        return await self.sandbox.run_many(jobs)

    async def probe(
        self, generator: str, candidates: Sequence[Candidate]
    ) -> tuple[int | None, str | None]:
        """The largest scale to measure (the fastest candidate near ``TARGET_NS``, or the cap).

        All candidates run at each step, interleaved; one that times out or takes more than
        ``SLOW_FACTOR`` × the target stops being probed. Returns (scale, note).
        """
        scale, reached = min(START_SCALE, self.max_scale), None
        alive = list(candidates)
        while alive:
            reports = await self._run_at(generator, scale, alive)
            fastest: int | None = None
            still: list[Candidate] = []
            for candidate, report in zip(alive, reports, strict=True):
                warm, warm_detail, _, _ = _result(report, f"scale-input:{scale}")
                if warm is not TestStatus.PASSED:
                    why = (
                        "did not finish in time"
                        if warm is TestStatus.TIMEOUT
                        else _last_line(warm_detail or report.detail)
                    )
                    if reached is None:
                        return None, f"perf_input({scale}) failed: {why}"
                    return (
                        reached,
                        f"perf_input({scale}) failed ({why}); scales stop at {reached:,}",
                    )
                timed, _, wall, _ = _result(report, f"scale:{scale}")
                if timed is TestStatus.PASSED and wall is not None:
                    fastest = wall if fastest is None else min(fastest, wall)
                    if wall <= SLOW_FACTOR * TARGET_NS:
                        still.append(candidate)
            if fastest is None:
                return reached, None
            reached = scale
            if fastest >= TARGET_NS or scale >= self.max_scale or not still:
                return reached, None
            # Half the log-distance to the target at a time: a quadratic lands on it, not past
            # the timeout, and a linear one gets there in a few more steps.
            ratio = math.sqrt(TARGET_NS / max(fastest, 1))
            step = 2 ** max(1, min(int(math.log2(MAX_STEP)), round(math.log2(ratio))))
            scale = min(self.max_scale, scale * step)
            alive = still
        return reached, None

    async def measure(self, generator: str, top: int, candidates: Sequence[Candidate]) -> ScaleRun:
        """Time every candidate at the measured scales, interleaved, smallest scale first."""
        scales = sorted({max(1, top >> shift) for shift in MEASURED_SHIFTS})
        if len(scales) < 3:
            scales = sorted({max(1, top >> shift) for shift in (2, 1, 0)})
        run = ScaleRun(scales=scales)
        alive = list(candidates)
        digests: dict[int, dict[str, str]] = {}
        # The check run and the repetitions (up to a quarter of it) share one test timeout.
        limit_ns = self.timeout_s * 1e9 / 2
        for scale in scales:
            # One that would surely exceed the timeout (extrapolated with its own growth, at
            # least linear) is counted as timed out without spending the timeout on it.
            hopeless = [c for c in alive if _projected(run.points.get(c.id, []), scale) > limit_ns]
            for c in hopeless:
                run.stopped_at[c.id] = scale
            alive = [c for c in alive if c not in hopeless]
            if not alive:
                break
            reports = await self._run_at(generator, scale, alive)
            still: list[Candidate] = []
            for candidate, report in zip(alive, reports, strict=True):
                status, _, wall, noise = _result(report, f"scale:{scale}")
                if status is TestStatus.PASSED and wall is not None:
                    run.points.setdefault(candidate.id, []).append(
                        ScalePoint(scale=scale, runtime_ns=max(1, wall), noise_ns=noise)
                    )
                    still.append(candidate)
                    _, detail, _, _ = _result(report, f"scale-digest:{scale}")
                    if match := _DIGEST.search(detail):
                        digests.setdefault(scale, {})[candidate.id] = match.group(1)
                else:
                    run.stopped_at[candidate.id] = scale
            alive = still
        for by_candidate in digests.values():
            if len(by_candidate) < 3:
                continue
            common, count = Counter(by_candidate.values()).most_common(1)[0]
            if count * 2 > len(by_candidate):
                run.outliers.update(cid for cid, d in by_candidate.items() if d != common)
        return run


def _projected(points: Sequence[ScalePoint], scale: int) -> float:
    """The runtime expected at ``scale`` from the points so far (0 when there are none)."""
    if not points:
        return 0.0
    exponent = min(2.5, max(1.0, growth(points) or 1.0))
    last = points[-1]
    return float(last.runtime_ns * (scale / last.scale) ** exponent)


def apply_scaling(candidates: Sequence[Candidate], run: ScaleRun) -> None:
    """Copy a scale run's findings onto the candidates."""
    for c in candidates:
        c.scaling = list(run.points.get(c.id, []))
        c.growth = growth(c.scaling)
        c.scale_timeout = run.stopped_at.get(c.id)
        c.scale_outlier = c.id in run.outliers


def largest_common_scale(candidates: Sequence[Candidate]) -> int | None:
    """The largest scale at which every one of ``candidates`` was measured."""
    sets = [{p.scale for p in c.scaling} for c in candidates]
    if not sets or not all(sets):
        return None
    common = set.intersection(*sets)
    return max(common) if common else None


def runtime_at(candidate: Candidate, scale: int) -> ScalePoint | None:
    return next((p for p in candidate.scaling if p.scale == scale), None)
