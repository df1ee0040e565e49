"""Benchmark of the orps sandbox: throughput, per-execution overhead and measurement noise.

Prints, on this machine and in one run:

* test executions per second for many tiny tests on one candidate, and for many candidates,
  measured as a search ranks them and as verdicts only (``run_many(measure=False,
  fail_fast=True)``, the mode for pass/fail scoring);
* the cost of one sandboxed candidate (warm worker) beside a bare ``python -c pass`` start;
* the coefficient of variation of a fixed workload's measured median over repeated runs;
* verdicts only on tests built from values: the engine's and the rest of the machine's CPU per
  test; on many one-test candidates: the machine's and the engine's CPU per candidate; and the
  cost of values too large for one record (strs of megabytes);
* a new sandbox's first candidate, the zygote's start included.

Run: ``python scripts/bench_sandbox.py`` from the repository, in its virtual environment (add ``--isolation none`` to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import marshal
import statistics
import subprocess
import sys
import time

from compare_evalplus import machine_cpu_s

from orps_sandbox import (
    IsolationUnavailable,
    Limits,
    ModuleSpec,
    Sandbox,
    TestKind,
    TestSpec,
    expected_text,
)

try:
    from orps_sandbox.filesystem import harness_bytecode_current
except ImportError:  # an older tree, run by this script side by side
    harness_bytecode_current = None


def candidate(k: int = 0) -> ModuleSpec:
    source = f"def f(x):\n    return x + 1 + {k} - {k}\n"
    return ModuleSpec(name="cand", source=source, filename="/bench/cand.py", entry="f")


def tiny_tests(n: int) -> list[TestSpec]:
    return [
        TestSpec(id=f"t{i}", kind="assert", source=f"assert f({i}) == {i + 1}") for i in range(n)
    ]


def value_test(test_id: str, args: tuple[object, ...], value: object) -> TestSpec:
    """A test as ``orps bench`` builds it: the call's arguments and the expected value as data."""
    text = expected_text(value)
    assert text is not None
    call = f"f(*{list(args)!r})"
    return TestSpec(
        id=test_id,
        kind=TestKind.ASSERT,
        source=f"assert {call} == {value!r}",
        sides=(call, repr(value)),
        data=(marshal.dumps(args), text),
    )


def value_tests(n: int) -> list[TestSpec]:
    return [value_test(f"v{i}", ([i, i + 1],), [i + 1, i + 2]) for i in range(n)]


async def per_test_cpu(isolation: str, candidates: int = 60, size: int = 700) -> None:
    """Verdicts only on tests built from values, in a sandbox of its own, from its start to its
    close: the engine's CPU, and the rest of the machine's busy CPU (the sandboxed processes,
    and whatever else runs meanwhile: read it on an otherwise idle machine)."""
    tests = value_tests(size)
    source = "def f(xs):\n    return [x + 1 for x in xs]\n"
    jobs = [
        (
            ModuleSpec(name="cand", source=f"{source}# {k}\n", filename="/bench/c.py", entry="f"),
            tests,
        )
        for k in range(candidates)
    ]
    before, engine = machine_cpu_s(), time.process_time()
    async with Sandbox(Limits(), isolation=isolation) as sandbox:  # type: ignore[arg-type]
        start = time.perf_counter()
        reports = await sandbox.run_many(jobs, measure=False, fail_fast=True)
        elapsed = time.perf_counter() - start
    engine = time.process_time() - engine
    after = machine_cpu_s()
    others = after[0] - before[0] - engine if before and after else float("nan")
    count = candidates * size
    passed = sum(r.passed for r in reports)
    print(
        f"verdicts only, {candidates} candidates x {size} tests built from values: "
        f"{elapsed:.2f} s, {count / elapsed:,.0f} tests/s ({passed} passed); CPU per test: "
        f"engine {engine / count * 1e6:.1f} us, the rest of the machine {others / count * 1e6:.1f} us"
    )


async def per_candidate_cpu(isolation: str, candidates: int = 200, rounds: int = 3) -> None:
    """Verdicts only on many candidates of one trivial test each, in a warm sandbox: the
    machine's busy CPU per candidate (fork from the zygote, import, the test, kill, clean-up,
    and the engine's share) and the engine's own, median of ``rounds`` batches. Read it on an
    otherwise idle machine: the figure is the whole machine's."""
    test = [TestSpec(id="t", kind="assert", source="assert f(1) == 2")]
    machine, engine, walls = [], [], []
    async with Sandbox(Limits(), isolation=isolation) as sandbox:  # type: ignore[arg-type]
        await sandbox.run_many([(candidate(), test)], measure=False)  # start the zygotes
        await asyncio.sleep(1.0)
        for _ in range(rounds):
            jobs = [(candidate(k), test) for k in range(candidates)]
            before, own = machine_cpu_s(), time.process_time()
            start = time.perf_counter()
            reports = await sandbox.run_many(jobs, measure=False, fail_fast=True)
            walls.append(time.perf_counter() - start)
            engine.append(time.process_time() - own)
            after = machine_cpu_s()
            machine.append(after[0] - before[0] if before and after else float("nan"))
            assert all(r.passed == 1 for r in reports)
    print(
        f"verdicts only, {candidates} candidates x 1 test (median of {rounds}): "
        f"{candidates / statistics.median(walls):.0f} candidates/s; CPU per candidate: the machine "
        f"{statistics.median(machine) / candidates * 1e3:.2f} ms, of it the engine "
        f"{statistics.median(engine) / candidates * 1e3:.2f} ms"
    )


async def large_values(isolation: str, size: int = 40, rounds: int = 5) -> None:
    """Verdicts only on values too large for one record: each test's value is a slice of a str
    of megabytes built at import (so the candidate's own work is a copy), offered to the parent
    by its digest and matched. Prints the median round's wall clock and the machine's busy CPU
    outside the engine (the child's judging: its text, digest and records)."""
    numbers = 1_200_000
    text = " ".join(map(str, range(numbers)))
    lengths = [(200_000 + 20_000 * i) * 6 for i in range(size)]
    tests = [value_test(f"s{i}", (length,), text[:length]) for i, length in enumerate(lengths)]
    source = f"TEXT = ' '.join(map(str, range({numbers})))\n\ndef f(n):\n    return TEXT[:n]\n"
    work = ModuleSpec(name="big", source=source, filename="/bench/big.py", entry="f")
    limits = Limits(test_timeout_s=10, memory_mb=4096)
    walls, others = [], []
    async with Sandbox(limits, workers=1, isolation=isolation) as sandbox:  # type: ignore[arg-type]
        for _ in range(rounds):
            before, engine = machine_cpu_s(), time.process_time()
            start = time.perf_counter()
            report = await sandbox.run(work, tests, measure=False)
            walls.append(time.perf_counter() - start)
            engine = time.process_time() - engine
            after = machine_cpu_s()
            others.append(after[0] - before[0] - engine if before and after else float("nan"))
            assert report.passed == size, report.detail
    megabytes = sum(lengths) / 1e6
    print(
        f"verdicts only, {size} str values of {megabytes / size:.1f} MB ({megabytes:.0f} MB): "
        f"median of {rounds} rounds {statistics.median(walls):.2f} s, the machine's CPU outside "
        f"the engine {statistics.median(others):.2f} s"
    )


async def cold_start(isolation: str, samples: int = 15) -> None:
    """A new sandbox's first candidate, from creating the sandbox to closing it: the zygote's
    start (bubblewrap, interpreter, harness) is in it. The engine caches the harness's bytecode
    only where bytecode writing is on (``PYTHONDONTWRITEBYTECODE`` unset)."""
    walls = []
    for _ in range(samples):
        start = time.perf_counter()
        async with Sandbox(Limits(), workers=1, isolation=isolation) as sandbox:  # type: ignore[arg-type]
            await sandbox.run(candidate(), [])
        walls.append(time.perf_counter() - start)
    cached = "unknown"
    if harness_bytecode_current is not None:
        cached = "cached" if harness_bytecode_current() else "not cached"
    print(
        f"a new sandbox's first candidate (zygote start, import + entry check, close; harness "
        f"bytecode {cached}): median of {samples} {statistics.median(walls) * 1000:.0f} ms"
    )


def bare_interpreter_s(samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def main(isolation: str) -> None:
    limits = Limits()
    async with Sandbox(limits, isolation=isolation) as sandbox:  # type: ignore[arg-type]
        print(f"isolation: {sandbox.isolation.description}")
        for reason in sandbox.isolation.reasons:
            print(f"isolation weaker than the best: {reason}")
        print(f"workers: {sandbox.workers}")
        await sandbox.run(candidate(), tiny_tests(1))  # warm the pool
        await asyncio.sleep(1.0)

        # 1. many tiny tests on one candidate (correctness + timing repetitions)
        tests = tiny_tests(200)
        start = time.perf_counter()
        report = await sandbox.run(candidate(), tests)
        elapsed = time.perf_counter() - start
        executions = sum(t.runs + 1 for t in report.tests)  # + the tracemalloc run
        print(
            f"one candidate, 200 tiny tests: {elapsed:.2f} s, {executions} executions "
            f"({executions / elapsed:,.0f}/s incl. timing), {len(tests) / elapsed:,.0f} tests/s"
        )

        # 2. many candidates, 5 tests each
        jobs = [(candidate(k), tiny_tests(5)) for k in range(40)]
        start = time.perf_counter()
        reports = await sandbox.run_many(jobs)
        elapsed = time.perf_counter() - start
        passed = sum(r.passed for r in reports)
        print(
            f"40 candidates x 5 tests: {elapsed:.2f} s, {len(jobs) / elapsed:.1f} candidates/s, "
            f"{passed / elapsed:.0f} tests/s ({passed} passed)"
        )

        # 3. verdicts only, as a benchmark scores: 40 candidates x 200 tests
        jobs = [(candidate(k), tiny_tests(200)) for k in range(40)]
        start = time.perf_counter()
        reports = await sandbox.run_many(jobs, measure=False, fail_fast=True)
        elapsed = time.perf_counter() - start
        passed = sum(r.passed for r in reports)
        print(
            f"verdicts only, 40 candidates x 200 tests: {elapsed:.2f} s, "
            f"{len(jobs) / elapsed:.1f} candidates/s, {passed / elapsed:,.0f} tests/s "
            f"({passed} passed)"
        )

        # 4. per-candidate overhead beside a bare interpreter start, interleaved
        bare, sandboxed = [], []
        for _ in range(10):
            bare.append(bare_interpreter_s(1))
            await asyncio.sleep(0.3)  # let the pool refill so the run takes a warm worker
            start = time.perf_counter()
            await sandbox.run(candidate(), [])
            sandboxed.append(time.perf_counter() - start)
        print(
            f"bare `python -I -c pass`: {statistics.median(bare) * 1000:.1f} ms; "
            f"sandboxed candidate (warm worker, import + entry check, kill): "
            f"{statistics.median(sandboxed) * 1000:.1f} ms"
        )

        # 5. noise: a fixed workload measured repeatedly
        work = ModuleSpec(
            name="work",
            source="def f(n):\n    return sum(i * i for i in range(n))\n",
            filename="/bench/work.py",
            entry="f",
        )
        test = [TestSpec(id="w", kind="assert", source="assert f(20000) == 2666466670000")]
        medians = []
        spreads = []
        for _ in range(10):
            result = (await sandbox.run(work, test)).tests[0]
            assert result.wall_ns is not None and result.wall_ns_spread is not None
            medians.append(result.wall_ns)
            spreads.append(result.wall_ns_spread)
        cv = statistics.stdev(medians) / statistics.mean(medians)
        print(
            f"fixed workload (~{statistics.mean(medians) / 1e6:.2f} ms): CV of the median over "
            f"10 runs = {cv * 100:.1f} %, mean reported spread = "
            f"{statistics.mean(spreads) / statistics.mean(medians) * 100:.1f} % of the median"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "none"])
    isolation = parser.parse_args().isolation
    try:
        asyncio.run(main(isolation))
        asyncio.run(per_test_cpu(isolation))
        asyncio.run(per_candidate_cpu(isolation))
        asyncio.run(large_values(isolation))
        asyncio.run(cold_start(isolation))
    except IsolationUnavailable as exc:
        sys.exit(f"bench_sandbox: {exc}")
