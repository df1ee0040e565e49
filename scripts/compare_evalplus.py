"""orps beside evalplus: the same HumanEval+ solutions judged by evalplus's evaluator and by orps.

Prints, from one run on this machine, side by side:

* throughput (solutions/s, tests/s) of evalplus's evaluator and of orps's sandbox over the same
  solutions with the same number of workers, each measured ``--rounds`` times in alternating
  order (the machine is noisy), and the ratio orps / evalplus;
* the verdict of each side for every solution (evalplus: base and plus tests pass; orps: every
  TestSpec passed) and every disagreement, with the explanation recorded for deliberate ones.

The solutions are the HumanEval+ reference solutions of the first ``--limit`` tasks plus the
deliberately wrong or slow variants of ``scripts/compare_evalplus_variants.py`` (off-by-one,
wrong type, infinite loop, quadratic where linear is expected, float tolerance).

evalplus runs in its own virtual environment (``.venv-evalplus`` at the repository root, created
on first use with ``pip install evalplus==0.3.1``), offline: ``HUMANEVAL_OVERRIDE_PATH`` points it
at ``../shared/benchmarks/humanevalplus/HumanEvalPlus.jsonl.gz`` and its cache (the ground truth
it computes once) lives under that environment. This script drives evalplus's own
``check_correctness`` over a ``ProcessPoolExecutor`` exactly as ``evalplus.evaluate`` does (which
refuses a sample file that does not cover all 164 tasks), by running itself with that
environment's interpreter.

The orps side runs in the project's environment: tests are built with ``orps.bench.expected``
from the inputs and the expected outputs evalplus computed (so both sides judge the same pairs),
and orps's own expected outputs (``resolve_expected``) are checked against evalplus's. Two orps
figures are printed: measured (correctness, one tracemalloc run and timing repetitions for every
passing test, as a search ranks candidates) and verdicts only (``run_many(measure=False,
fail_fast=True)``, the sandbox's mode for pass/fail scoring, which does what evalplus does).

Run from the repository, in its virtual environment::

    python scripts/compare_evalplus.py                     # 6 tasks, 2 workers, 2 rounds
    python scripts/compare_evalplus.py --limit 34 --rounds 2 --json compare-evalplus.json
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import base64
import contextlib
import gc
import gzip
import json
import marshal
import os
import pickle
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compare_evalplus_variants import REFERENCE_NOTES, Variant, variants_for

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "benchmarks"
PLUS_FILE = Path("humanevalplus") / "HumanEvalPlus.jsonl.gz"
DEFAULT_VENV = ROOT / ".venv-evalplus"
EVALPLUS_VERSION = "0.3.1"
DATASET = "humanevalplus"
REFERENCE = "reference"
DETAIL_CHARS = 110


# -- the evalplus side (runs in .venv-evalplus; standard library and evalplus only) -------------


def _timed_check(*args: Any) -> tuple[dict[str, Any], float]:
    """evalplus's ``check_correctness`` with its own duration (runs in a pool process)."""
    from evalplus.evaluate import check_correctness

    start = time.perf_counter()
    result = check_correctness(*args)
    return result, time.perf_counter() - start


def _value_repr(value: object) -> str | None:
    try:
        return repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return None


def evalplus_prepare(request: dict[str, Any]) -> dict[str, Any]:
    """Inputs, evalplus's expected outputs and per-input time limits of the requested tasks."""
    from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR, DEFAULT_MIN_TIME_LIMIT
    from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash
    from evalplus.evaluate import get_groundtruth

    start = time.perf_counter()
    problems = get_human_eval_plus()
    digest = get_human_eval_plus_hash()
    expected = get_groundtruth(problems, digest, [])
    tasks = {}
    for task_id in request["tasks"]:
        problem, oracle = problems[task_id], expected[task_id]
        entry: dict[str, Any] = {"atol": problem["atol"]}
        limits = []
        for part in ("base", "plus"):
            inputs = problem[f"{part}_input"]
            # Each value also as pickle (base64): not every expected output has a literal repr
            # (inf, nan, ints beyond the digit limit), and both sides must judge the same values.
            entry[part] = [
                [repr(args), _value_repr(value), base64.b64encode(pickle.dumps(value)).decode()]
                for args, value in zip(inputs, oracle[part], strict=True)
            ]
            limits += [
                max(DEFAULT_MIN_TIME_LIMIT, DEFAULT_GT_TIME_LIMIT_FACTOR * t)
                for t in oracle[f"{part}_time"]
            ]
        entry["max_time_limit_s"] = max(limits, default=DEFAULT_MIN_TIME_LIMIT)
        tasks[task_id] = entry
    return {
        "hash": digest,
        "seconds": time.perf_counter() - start,
        "tasks": tasks,
        "min_time_limit_s": DEFAULT_MIN_TIME_LIMIT,
        "time_limit_factor": DEFAULT_GT_TIME_LIMIT_FACTOR,
    }


def evalplus_evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """Judge every solution with evalplus's ``check_correctness``, as ``evalplus.evaluate`` does."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR, DEFAULT_MIN_TIME_LIMIT
    from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash
    from evalplus.evaluate import get_groundtruth

    problems = get_human_eval_plus()
    expected = get_groundtruth(problems, get_human_eval_plus_hash(), [])
    results: dict[str, Any] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=request["workers"]) as executor:
        futures = {}
        for number, sample in enumerate(request["solutions"]):
            task_id = sample["task_id"]
            args = (
                "humaneval",
                number,
                problems[task_id],
                sample["solution"],
                expected[task_id],
                False,  # base_only
                True,  # fast_check: evaluate's default (no --test-details)
                sample["key"],
                DEFAULT_MIN_TIME_LIMIT,
                DEFAULT_GT_TIME_LIMIT_FACTOR,
            )
            futures[executor.submit(_timed_check, *args)] = sample["key"]
        for future in as_completed(futures):
            result, seconds = future.result()
            base_status, base_details = result["base"]
            plus_status, plus_details = result["plus"]
            results[futures[future]] = {
                "base": base_status,
                "plus": plus_status,
                "ran": len(base_details) + len(plus_details),
                "seconds": seconds,
                # fast_check stops at the first failing input: its position, if any
                "base_failed_at": _first_failure(base_status, base_details),
                "plus_failed_at": _first_failure(plus_status, plus_details),
            }
    wall = time.perf_counter() - start
    return {"wall_s": wall, "results": results}


def _first_failure(status: str, details: Any) -> int | None:
    if status == "pass":
        return None
    flags = [bool(x) for x in details]
    return flags.index(False) if False in flags else len(flags)


def evalplus_side(mode: str, request_path: str, response_path: str) -> None:
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    handler = evalplus_prepare if mode == "prepare" else evalplus_evaluate
    response = handler(request)
    import evalplus

    response["version"] = evalplus.__version__
    Path(response_path).write_text(json.dumps(response), encoding="utf-8")


# -- driving evalplus from the project's environment --------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def evalplus_installed(venv: Path) -> str | None:
    python = venv_python(venv)
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import evalplus.evaluate, evalplus; print(evalplus.__version__)"],
        capture_output=True,
        text=True,
        env=evalplus_env(venv, None),
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_evalplus(venv: Path) -> str:
    """evalplus's version in ``venv``, creating the environment and installing it if needed."""
    version = evalplus_installed(venv)
    if version == EVALPLUS_VERSION:
        return version
    print(f"setting up {venv.name}/ with evalplus=={EVALPLUS_VERSION} from PyPI …", flush=True)
    if not venv_python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "-q", f"evalplus=={EVALPLUS_VERSION}"],
        check=True,
    )
    version = evalplus_installed(venv)
    if version is None:
        raise SystemExit(f"evalplus does not import in {venv} after installing it")
    return version


def evalplus_env(venv: Path, data_file: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EVALPLUS_TIMEOUT_PER_TASK", None)  # evalplus compares it, as a str, with an int
    env.update(
        XDG_CACHE_HOME=str(venv / "cache"),  # evalplus's ground-truth cache stays in its venv
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if data_file is not None:
        env["HUMANEVAL_OVERRIDE_PATH"] = str(data_file)
    return env


def call_evalplus(
    venv: Path, data_file: Path, mode: str, request: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Run this script's evalplus side; returns its response and the process's wall time."""
    with tempfile.TemporaryDirectory(prefix="orps-evalplus-") as tmp:
        request_path, response_path = Path(tmp) / "request.json", Path(tmp) / "response.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        command = [
            str(venv_python(venv)),
            str(Path(__file__).resolve()),
            "--evalplus-side",
            mode,
            "--request",
            str(request_path),
            "--response",
            str(response_path),
        ]
        start = time.perf_counter()
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=evalplus_env(venv, data_file),
            cwd=ROOT,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0 or not response_path.exists():
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"evalplus's {mode} step failed (exit {done.returncode})")
        return json.loads(response_path.read_text(encoding="utf-8")), elapsed


# -- solutions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    key: str
    task_id: str
    name: str
    kind: str
    code: str
    variant: Variant | None = None

    @property
    def expect(self) -> tuple[bool, bool] | None:
        if self.variant is None:
            note = REFERENCE_NOTES.get(self.task_id)
            return note[0] if note else (True, True)
        return self.variant.expect

    @property
    def why(self) -> str:
        if self.variant is None:
            note = REFERENCE_NOTES.get(self.task_id)
            return note[2] if note else ""
        return self.variant.why

    @property
    def load_dependent(self) -> bool:
        note = REFERENCE_NOTES.get(self.task_id)
        return self.variant is None and note is not None and note[1]


def read_records(data_file: Path) -> list[dict[str, Any]]:
    with gzip.open(data_file, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_solutions(records: list[dict[str, Any]], with_variants: bool) -> list[Solution]:
    by_id = {r["task_id"]: r for r in records}
    variants = variants_for(list(by_id)) if with_variants else []
    solutions = []
    for task_id, record in by_id.items():
        code = record["prompt"] + record["canonical_solution"]
        solutions.append(Solution(f"{task_id}#{REFERENCE}", task_id, REFERENCE, REFERENCE, code))
        for variant in (v for v in variants if v.task_id == task_id):
            solutions.append(
                Solution(
                    f"{task_id}#{variant.name}",
                    task_id,
                    variant.name,
                    variant.kind,
                    record["prompt"] + variant.body,
                    variant,
                )
            )
    return solutions


# -- the orps side ------------------------------------------------------------------------------


@dataclass
class SideRun:
    """One timed evaluation of every solution by one side."""

    side: str
    wall_s: float
    verdicts: dict[str, bool]
    notes: dict[str, str]
    seconds: dict[str, float]
    executed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _expected(pickled: str) -> object:
    """An expected output as evalplus computed it (pickled by this script's evalplus side)."""
    return pickle.loads(base64.b64decode(pickled))


def orps_tests(record: dict[str, Any], truth: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The PlusTask and the TestSpecs (base then plus inputs) with evalplus's expected outputs."""
    from orps.bench.datasets import plus_task
    from orps.bench.expected import output_tests

    task = plus_task(DATASET, record, plus_limit=10**9)
    tests = []
    for part, inputs, arguments, prefix in (
        ("base", task.base_inputs, task.base_arguments, "visible"),
        ("plus", task.plus_inputs, task.plus_arguments, "held_out"),
    ):
        pairs = truth[part]
        if [args for args, _, _ in pairs] != list(inputs):
            raise SystemExit(f"{task.task_id}: orps and evalplus read different {part} inputs")
        values = [_expected(pickled) for _, _, pickled in pairs]
        tests += output_tests(task, inputs, values, prefix, arguments)
    return task, tests


def _expected_of(source: str) -> tuple[str, str]:
    """(args repr, expected value repr) of a test built by ``orps.bench.expected``."""
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.Assert)
    test = node.test
    if isinstance(test, ast.Compare):
        call, value = test.left, test.comparators[0]
    else:
        assert isinstance(test, ast.Call)
        call, value = test.args[0], test.args[1]
    assert isinstance(call, ast.Call) and isinstance(call.args[0], ast.Starred)
    args = ast.literal_eval(call.args[0].value)
    return repr(args), repr(ast.literal_eval(value))


async def cross_check(tasks: list[Any], truth: dict[str, Any], isolation: str) -> dict[str, int]:
    """orps's own expected outputs (``resolve_expected``) against evalplus's."""
    from orps.bench.expected import resolve_expected
    from orps_sandbox import Limits, Sandbox

    counts = {"identical": 0, "different": 0, "dropped": 0}
    limits = Limits(test_timeout_s=30.0, total_timeout_s=600.0, memory_mb=4096)
    async with Sandbox(limits, isolation=isolation) as sandbox:  # type: ignore[arg-type]
        for task in tasks:
            resolved = await resolve_expected(task, sandbox)
            for part, tests in (("base", resolved.visible), ("plus", resolved.held_out)):
                ours = [_expected_of(t.source) for t in tests]
                position = 0
                for args, value, _ in truth[task.task_id][part]:
                    if position < len(ours) and ours[position][0] == args:
                        same = ours[position][1] == value
                        counts["identical" if same else "different"] += 1
                        position += 1
                    else:
                        counts["dropped"] += 1
    return counts


def machine_cpu_s() -> tuple[float, float] | None:
    """(busy, idle) CPU seconds of the whole machine so far (Linux's ``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / hz, idle / hz


class GcClock:
    """Time this process spends in the garbage collector while it is installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1


async def orps_evaluate(
    solutions: list[Solution],
    tests: dict[str, tuple[Any, list[Any]]],
    limits: Any,
    workers: int,
    isolation: str,
    timing: bool,
) -> SideRun:
    from orps_sandbox import ModuleSpec, Sandbox, TestStatus

    jobs = [
        (
            ModuleSpec(
                name="solution",
                source=s.code,
                filename=f"<{s.key}>",
                entry=tests[s.task_id][0].entry,
            ),
            tests[s.task_id][1],
        )
        for s in solutions
    ]
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)
    machine = machine_cpu_s()
    start, engine_cpu = time.perf_counter(), time.process_time()
    async with Sandbox(limits, workers=workers, isolation=isolation) as sandbox:  # type: ignore[arg-type]
        description = sandbox.isolation.description
        # Verdicts only is the sandbox's own mode for pass/fail scoring: no memory or timing
        # runs, and a solution stops at its first failing test, as evalplus's fast check does.
        reports = await sandbox.run_many(jobs, measure=timing, fail_fast=not timing)
    wall, engine_cpu = time.perf_counter() - start, time.process_time() - engine_cpu
    gc.callbacks.remove(gc_clock)
    after = machine_cpu_s()
    busy_idle = (
        (after[0] - machine[0], after[1] - machine[1]) if machine and after else (None, None)
    )
    verdicts, notes, seconds = {}, {}, {}
    executed = 0
    for solution, (_, suite), report in zip(solutions, jobs, reports, strict=True):
        passed = len(report.tests) == len(suite) and all(
            t.status is TestStatus.PASSED for t in report.tests
        )
        verdicts[solution.key] = passed
        seconds[solution.key] = report.wall_s
        executed += sum(
            1
            for t in report.tests
            if t.status is not TestStatus.NOT_RUN and "total timeout" not in t.detail
        )
        bad = [t for t in report.tests if t.status is not TestStatus.PASSED]
        if bad:
            first = bad[0]
            detail = " ".join(first.detail.split())[:DETAIL_CHARS]
            notes[solution.key] = (
                f"{len(bad)}/{len(suite)} not passed ({report.status}); "
                f"{first.id} {first.status}: {detail}"
            )
        else:
            notes[solution.key] = f"{len(suite)}/{len(suite)} passed"
    side = "orps" if timing else "orps-verdict"
    extra = {
        "isolation": description,
        "engine_cpu_s": engine_cpu,
        "engine_gc_s": gc_clock.seconds,
        "engine_gc_collections": gc_clock.collections,
        "machine_busy_s": busy_idle[0],
        "machine_idle_s": busy_idle[1],
    }
    return SideRun(side, wall, verdicts, notes, seconds, executed, extra)


def _evalplus_note(result: dict[str, Any]) -> str:
    parts = []
    for part in ("base", "plus"):
        text = f"{part} {result[part]}"
        if result.get(f"{part}_failed_at") is not None:
            text += f" at input #{result[f'{part}_failed_at']}"
        parts.append(text)
    return ", ".join(parts)


def evalplus_evaluate_from_here(
    venv: Path, data_file: Path, solutions: list[Solution], workers: int
) -> SideRun:
    request = {
        "workers": workers,
        "solutions": [{"key": s.key, "task_id": s.task_id, "solution": s.code} for s in solutions],
    }
    response, process_s = call_evalplus(venv, data_file, "evaluate", request)
    results = response["results"]
    verdicts = {k: r["base"] == r["plus"] == "pass" for k, r in results.items()}
    notes = {k: _evalplus_note(r) for k, r in results.items()}
    seconds = {k: r["seconds"] for k, r in results.items()}
    executed = sum(r["ran"] for r in results.values())
    return SideRun(
        "evalplus",
        response["wall_s"],
        verdicts,
        notes,
        seconds,
        executed,
        {"process_s": process_s},
    )


# -- report -------------------------------------------------------------------------------------


def machine_line() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}, load {load}"
    )


class _Overtime(Exception):
    """A solution ran past the time limit on one input."""


def _overtime(*_: object) -> None:
    raise _Overtime


def compute_bound(
    solutions: list[Solution], tests: dict[str, tuple[Any, list[Any]]], limit_s: float
) -> dict[str, float]:
    """Seconds each solution computes, in this process, on its inputs up to the first one it
    fails or overruns (at most ``limit_s`` each): what any evaluator that stops at the first
    failure must spend on it, before any isolation, transport or judging. (Our own reference
    solutions and variants, run unconfined: never do this with model output.)"""
    from orps_sandbox._orps_harness._orps_compare import values_close, values_equal
    from orps_sandbox.verdicts import decode

    previous = signal.signal(signal.SIGALRM, _overtime)
    seconds: dict[str, float] = {}
    try:
        for solution in solutions:
            task, suite = tests[solution.task_id]
            namespace: dict[str, Any] = {}
            try:
                exec(compile(solution.code, solution.key, "exec"), namespace)
                function = namespace[task.entry]
            except Exception:
                seconds[solution.key] = 0.0
                continue
            spent = 0.0
            for test in suite:
                arguments = marshal.loads(test.data[0])
                signal.setitimer(signal.ITIMER_REAL, limit_s)
                start = time.perf_counter()
                try:
                    output = function(*arguments)
                except (_Overtime, Exception):
                    spent += time.perf_counter() - start
                    break
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                spent += time.perf_counter() - start
                expected = decode(json.loads(test.data[1]))
                if test.atol:
                    if not values_close(output, expected, test.atol):
                        break
                elif not values_equal(output, expected):
                    break
            seconds[solution.key] = spent
    finally:
        signal.signal(signal.SIGALRM, previous)
    return seconds


_BOUND_JOB: tuple[list[Solution], dict[str, tuple[Any, list[Any]]], float] | None = None
"""What ``concurrent_bound``'s forked processes compute (inherited, never pickled: the tests hold
hundreds of megabytes of expected values)."""


def _bound_total(_: int) -> float:
    assert _BOUND_JOB is not None
    return sum(compute_bound(*_BOUND_JOB).values())


def concurrent_bound(
    solutions: list[Solution],
    tests: dict[str, tuple[Any, list[Any]]],
    limit_s: float,
    workers: int,
) -> list[float]:
    """``compute_bound``'s total in ``workers`` forked processes at once, each computing every
    solution: what the same computing takes when the cores are all busy, as they are while two
    workers evaluate (the processes share caches and memory bandwidth)."""
    import multiprocessing

    global _BOUND_JOB
    _BOUND_JOB = (solutions, tests, limit_s)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_bound_total, range(workers))
    finally:
        _BOUND_JOB = None


def print_bound(
    runs: dict[str, list[SideRun]],
    bound: dict[str, float],
    workers: int,
    concurrent: list[float],
) -> None:
    total = sum(bound.values())
    floor = max(total / workers, max(bound.values(), default=0.0))
    print("\n## What the solutions themselves take\n")
    print(
        f"The solutions' own computing, up to each one's first failing input (`compute_bound`): "
        f"{total:.1f} s in all, so no evaluator with {workers} workers finishes in less than "
        f"{floor:.1f} s. Above that floor, wall clock (median round):\n"
    )
    print("| side | wall (s) | above the floor (s) |")
    print("|---|---|---|")
    for side, side_runs in runs.items():
        wall = statistics.median(r.wall_s for r in side_runs)
        print(f"| {side} | {wall:.1f} | {wall - floor:.1f} |")
    if concurrent:
        busy = statistics.mean(concurrent)
        print(
            f"\nThe same computing in {workers} processes at once, each doing all of it (as the "
            f"cores are while {workers} workers evaluate): "
            + ", ".join(f"{t:.1f} s" for t in concurrent)
            + f", {busy / total:.2f}× the time alone; with the cores all busy the floor is "
            f"{max(busy / workers, max(bound.values(), default=0.0)):.1f} s."
        )


def print_throughput(runs: dict[str, list[SideRun]], n_solutions: int, n_tests: int) -> None:
    print("\n## Throughput (the whole evaluation, wall clock)\n")
    header = "| side | wall per round (s) | median (s) | solutions/s | tests/s | tests run | vs evalplus |"
    print(header)
    print("|---|---|---|---|---|---|---|")
    base = statistics.median(r.wall_s for r in runs["evalplus"])
    for side, side_runs in runs.items():
        walls = [r.wall_s for r in side_runs]
        wall = statistics.median(walls)
        rounds = ", ".join(f"{w:.1f}" for w in walls)
        print(
            f"| {side} | {rounds} | {wall:.1f} | {n_solutions / wall:.2f} | "
            f"{n_tests / wall:,.0f} | {side_runs[0].executed:,} | {base / wall:.2f}× |"
        )
    print(
        "\ntests/s counts every test in each solution's suite (base + plus inputs); "
        "'tests run' is how many were executed (evalplus stops a solution at its first failure)."
    )


def print_breakdown(runs: dict[str, list[SideRun]], solutions: list[Solution]) -> None:
    print("\n## Time per kind of solution (sum of per-solution seconds, first round)\n")
    kinds = list(dict.fromkeys(s.kind for s in solutions))
    sides = list(runs)
    print("| kind | solutions | " + " | ".join(f"{side} (s)" for side in sides) + " |")
    print("|---|---|" + "---|" * len(sides))
    for kind in kinds:
        keys = [s.key for s in solutions if s.kind == kind]
        cells = [f"{sum(runs[side][0].seconds.get(k, 0.0) for k in keys):.1f}" for side in sides]
        print(f"| {kind} | {len(keys)} | " + " | ".join(cells) + " |")
    print(
        "\n(orps's per-solution seconds cover its correctness phase only; timing repetitions "
        "run afterwards, one candidate at a time.)"
    )


def verdict_word(value: bool | None) -> str:
    return "-" if value is None else ("pass" if value else "FAIL")


def print_verdicts(runs: dict[str, list[SideRun]], solutions: list[Solution]) -> list[str]:
    """The verdict table; returns the keys of unexplained disagreements."""
    evalplus = runs["evalplus"]
    orps = runs["orps"] if "orps" in runs else runs["orps-verdict"]
    print("\n## Verdicts\n")
    print("| solution | kind | evalplus | orps | agree | evalplus detail | orps detail |")
    print("|---|---|---|---|---|---|---|")
    for s in solutions:
        e = evalplus[0].verdicts.get(s.key)
        o = orps[0].verdicts.get(s.key)
        agree = "yes" if e == o else "**no**"
        print(
            f"| {s.key} | {s.kind} | {verdict_word(e)} | {verdict_word(o)} | {agree} | "
            f"{evalplus[0].notes.get(s.key, '')} | {orps[0].notes.get(s.key, '').replace('|', '¦')} |"
        )
    unstable = [
        f"{side} {s.key}"
        for side, side_runs in runs.items()
        for s in solutions
        if len({r.verdicts.get(s.key) for r in side_runs}) > 1
    ]
    if unstable:
        print("\nverdicts that changed between rounds: " + ", ".join(unstable))
    mode_gap = [
        s.key
        for s in solutions
        if "orps-verdict" in runs
        and "orps" in runs
        and runs["orps-verdict"][0].verdicts.get(s.key) != orps[0].verdicts.get(s.key)
    ]
    if mode_gap:
        print("\norps with and without timing repetitions disagree on: " + ", ".join(mode_gap))

    print("\n## Disagreements\n")
    unexplained = []
    agreements = 0
    for s in solutions:
        e, o = evalplus[0].verdicts.get(s.key), orps[0].verdicts.get(s.key)
        changed = [
            side
            for side, side_runs in runs.items()
            if side != "orps-verdict" and len({r.verdicts.get(s.key) for r in side_runs}) > 1
        ]
        if e == o and (s.expect is None or (e, o) == s.expect):
            agreements += e == o
            continue
        agreements += e == o
        head = f"- {s.key} ({s.kind}): evalplus {verdict_word(e)}, orps {verdict_word(o)}"
        details = (
            f"\n  evalplus: {evalplus[0].notes.get(s.key)}\n  orps: {orps[0].notes.get(s.key)}"
        )
        if s.expect is not None and (e, o) == s.expect:
            print(f"{head}; expected: {s.why}")
        elif s.load_dependent:
            print(f"{head}; load-dependent: {s.why}{details}")
        elif changed:
            print(f"{head}; the verdict of {', '.join(changed)} changed between rounds{details}")
        else:
            unexplained.append(s.key)
            hint = f" Possible cause: {s.why}" if s.why else ""
            print(f"{head}; UNEXPECTED (expected {s.expect}).{hint}{details}")
    print(
        f"\n{agreements} of {len(solutions)} verdicts agree (round 1); "
        f"{len(solutions) - agreements} disagree; {len(unexplained)} unexplained."
    )
    return unexplained


# -- main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=6, help="first N HumanEval+ tasks (6)")
    parser.add_argument("--tasks", nargs="*", help="task ids instead of --limit")
    parser.add_argument("--workers", type=int, default=2, help="workers on both sides (2)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds, order alternating")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--evalplus-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--isolation", default="bubblewrap", choices=["bubblewrap", "auto", "none"])
    parser.add_argument(
        "--test-timeout",
        type=float,
        help="orps seconds per test (default: evalplus's largest per-input limit on these tasks)",
    )
    parser.add_argument(
        "--total-timeout", type=float, default=60.0, help="orps seconds per solution (60)"
    )
    parser.add_argument("--memory-mb", type=int, default=4096, help="orps memory (evalplus: 4 GiB)")
    parser.add_argument("--no-variants", action="store_true", help="reference solutions only")
    parser.add_argument(
        "--no-verdict-only", action="store_true", help="skip orps without timing repetitions"
    )
    parser.add_argument(
        "--no-measured", action="store_true", help="skip orps with memory and timing runs"
    )
    parser.add_argument("--no-cross-check", action="store_true", help="skip resolve_expected check")
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also time the solutions' own computing here, and in one process per worker at once "
        "(a floor for any evaluator)",
    )
    parser.add_argument("--json", type=Path, help="write every figure and verdict here")
    parser.add_argument("--evalplus-side", choices=["prepare", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--request", help=argparse.SUPPRESS)
    parser.add_argument("--response", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.evalplus_side:
        evalplus_side(args.evalplus_side, args.request, args.response)
        return 0
    sys.set_int_max_str_digits(0)  # some expected outputs are ints of many thousand digits
    try:
        from orps_sandbox import Limits
    except ImportError:
        raise SystemExit(
            "run this in the project's virtual environment (orps_sandbox missing)"
        ) from None

    data_file = (args.data_dir / PLUS_FILE).resolve()
    if not data_file.is_file():
        raise SystemExit(f"HumanEval+ not found at {data_file} (pass --data-dir)")
    venv = args.evalplus_venv.resolve()
    version = ensure_evalplus(venv)

    records = read_records(data_file)
    if args.tasks:
        wanted = set(args.tasks)
        records = [r for r in records if r["task_id"] in wanted]
    else:
        records = records[: args.limit]
    solutions = build_solutions(records, not args.no_variants)
    task_ids = [r["task_id"] for r in records]

    print(f"# orps beside evalplus {version}\n")
    print(f"machine: {machine_line()}")
    print(f"data: {PLUS_FILE} ({len(task_ids)} tasks: {task_ids[0]} … {task_ids[-1]})")
    prepared, prepare_s = call_evalplus(venv, data_file, "prepare", {"tasks": task_ids})
    truth = prepared["tasks"]
    print(
        f"evalplus ground truth: {prepare_s:.1f} s (cached under {venv.name}/cache after the "
        f"first run), dataset hash {prepared['hash']}"
    )
    tests = {r["task_id"]: orps_tests(r, truth[r["task_id"]]) for r in records}
    n_tests = sum(len(tests[s.task_id][1]) for s in solutions)
    kinds = {
        k: sum(1 for s in solutions if s.kind == k)
        for k in dict.fromkeys(s.kind for s in solutions)
    }
    print(
        f"solutions: {len(solutions)} ("
        + ", ".join(f"{n} {k}" for k, n in kinds.items())
        + f"); tests per solution: {n_tests / len(solutions):.0f} on average, {n_tests:,} in all"
    )
    time_limit = args.test_timeout or max(t["max_time_limit_s"] for t in truth.values())
    limits = Limits(
        test_timeout_s=time_limit,
        total_timeout_s=args.total_timeout,
        memory_mb=args.memory_mb,
    )
    print(
        f"limits: evalplus per input max({prepared['min_time_limit_s']:g} s, "
        f"{prepared['time_limit_factor']:g} × reference time), at most {time_limit:.2f} s here, "
        f"4 GiB; orps per test {limits.test_timeout_s:.2f} s, per solution "
        f"{limits.total_timeout_s:g} s, {limits.memory_mb} MiB"
    )
    if not args.no_cross_check:
        plus_tasks = [tests[t][0] for t in task_ids]
        counts = asyncio.run(cross_check(plus_tasks, truth, args.isolation))
        print(
            "orps's own expected outputs (resolve_expected) against evalplus's: "
            + ", ".join(f"{n} {k}" for k, n in counts.items())
        )

    # The raw dataset and evalplus's answers stay in this process only as the tests built from
    # them: the engine, which judges here, would otherwise walk them at every full collection
    # (evalplus judges in processes of its own), and what is left is frozen for the same reason.
    del records, truth, prepared
    gc.collect()
    gc.freeze()

    sides = (
        ["evalplus"]
        + ([] if args.no_measured else ["orps"])
        + ([] if args.no_verdict_only else ["orps-verdict"])
    )
    runs: dict[str, list[SideRun]] = {side: [] for side in sides}
    for round_number in range(args.rounds):
        order = sides if round_number % 2 == 0 else sides[::-1]
        for side in order:
            if side == "evalplus":
                run = evalplus_evaluate_from_here(venv, data_file, solutions, args.workers)
            else:
                run = asyncio.run(
                    orps_evaluate(
                        solutions, tests, limits, args.workers, args.isolation, side == "orps"
                    )
                )
            runs[side].append(run)
            print(f"round {round_number + 1}: {side:<13} {run.wall_s:7.1f} s", flush=True)
    print(
        f"\nworkers: {args.workers} on each side; orps isolation: "
        f"{runs[sides[1]][0].extra['isolation']}"
    )
    print(
        "evalplus process wall (start-up, imports, loading the cached ground truth, evaluation): "
        + ", ".join(f"{r.extra['process_s']:.1f} s" for r in runs["evalplus"])
    )
    for side in (s for s in runs if s != "evalplus"):
        print(
            f"{side}: CPU of this process, the engine (judging, records, scheduling), per round: "
            + ", ".join(
                f"{r.extra['engine_cpu_s']:.1f} s ({r.extra['engine_gc_s']:.1f} s in the "
                f"garbage collector)"
                for r in runs[side]
            )
        )
        if all(r.extra["machine_busy_s"] is not None for r in runs[side]):
            print(
                f"{side}: the whole machine's CPU per round, busy / idle: "
                + ", ".join(
                    f"{r.extra['machine_busy_s']:.1f} / {r.extra['machine_idle_s']:.1f} s"
                    for r in runs[side]
                )
            )
    print_throughput(runs, len(solutions), n_tests)
    if args.bound:
        bound = compute_bound(solutions, tests, time_limit)
        concurrent = concurrent_bound(solutions, tests, time_limit, args.workers)
        print_bound(runs, bound, args.workers, concurrent)
    print_breakdown(runs, solutions)
    unexplained = print_verdicts(runs, solutions)
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.json:
        payload = {
            "machine": machine_line(),
            "evalplus_version": version,
            "tasks": task_ids,
            "workers": args.workers,
            "limits": limits.model_dump(),
            "tests": n_tests,
            "runs": {
                side: [
                    {
                        "wall_s": r.wall_s,
                        "executed": r.executed,
                        "verdicts": r.verdicts,
                        "notes": r.notes,
                        "seconds": r.seconds,
                        **r.extra,
                    }
                    for r in side_runs
                ]
                for side, side_runs in runs.items()
            },
            "kinds": {s.key: s.kind for s in solutions},
            "unexplained": unexplained,
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
