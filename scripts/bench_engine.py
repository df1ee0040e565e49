"""Measure the engine's own costs, apart from the model: sandbox overhead per test execution,
and engine time per search round against an instantly answering scripted model.

Run: ``python scripts/bench_engine.py [--rounds 3] [--repeat 3]``. It prints figures; it asserts
nothing. Everything is measured in one run, side by side, because this machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orps.model.client import LLMClient  # noqa: E402
from orps.model.openai_compat import OpenAICompatibleModel  # noqa: E402
from orps.project.discovery import discover_tests  # noqa: E402
from orps.project.target import load_target  # noqa: E402
from orps.search.beam import Search, SearchConfig, execute  # noqa: E402
from orps.search.records import Candidate  # noqa: E402
from orps_sandbox import Sandbox  # noqa: E402
from tests.support.replies import critic, programmer  # noqa: E402
from tests.support.scripted_server import ScriptedServer  # noqa: E402

STUB = '''
def total(n: int) -> int:
    """Return 0 + 1 + ... + (n - 1).

    >>> total(4)
    6
    """
    ...
'''


def tests_file(count: int) -> str:
    lines = ["from mod import total", ""]
    lines += [f"assert total({i}) == {i * (i - 1) // 2}" for i in range(count)]
    return "\n".join(lines) + "\n"


def bare_interpreter_ms(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def sandbox_overhead(project: Path, repeat: int) -> tuple[float, float, float]:
    """(ms per candidate with 1 test, ms per extra test, candidates per second in a batch)."""
    target = load_target(project / "mod.py", "total")
    code = "def total(n):\n    return n * (n - 1) // 2\n"
    results: dict[int, float] = {}
    async with Sandbox() as sandbox:
        for count in (1, 50):
            (project / "test_mod.py").write_text(tests_file(count))
            tests = discover_tests(target, [project / "test_mod.py"]).tests
            samples = []
            for _ in range(repeat):
                cand = Candidate(id="c", code=code)
                start = time.perf_counter()
                await execute(target, tests, [cand], sandbox)
                samples.append((time.perf_counter() - start) * 1000)
                assert cand.tests_passed == len(tests), cand.execution
            results[count] = statistics.median(samples)
        batch = [
            Candidate(id=str(i), code=code.replace("// 2", f"// 2 + {i} * 0")) for i in range(8)
        ]
        start = time.perf_counter()
        await execute(target, tests, batch, sandbox)
        per_second = len(batch) / (time.perf_counter() - start)
    per_test = (results[50] - results[1]) / 49
    return results[1], per_test, per_second


async def engine_round_time(project: Path, rounds: int) -> tuple[float, float, int]:
    """(seconds per round, of which sandbox-bound, candidates) with an instant model."""
    (project / "test_mod.py").write_text(tests_file(10))
    target = load_target(project / "mod.py", "total")
    tests = discover_tests(target, [project / "test_mod.py"]).tests
    replies = [
        programmer(f"def total(n):\n    return n * (n - 1) // 2 + {i} * 0\n") for i in range(500)
    ]
    server = ScriptedServer({"programmer": replies, "critic": [critic(4)]}).start()
    model = OpenAICompatibleModel(server.url, "scripted", None)
    config = SearchConfig(beam_width=3, children=3, rounds=rounds, remeasure=False)
    try:
        async with Sandbox() as sandbox:
            llm = LLMClient(model=model, max_calls=10_000)
            start = time.perf_counter()
            result = await Search(target, tests, llm, sandbox, config).run()
            elapsed = time.perf_counter() - start
    finally:
        await model.aclose()
        server.stop()
    return elapsed / (rounds + 1), elapsed, len(result.candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "mod.py").write_text(STUB)
        bare = bare_interpreter_ms(args.repeat)
        one, per_test, per_second = asyncio.run(sandbox_overhead(project, args.repeat))
        per_round, total, candidates = asyncio.run(engine_round_time(project, args.rounds))
    print(f"bare interpreter start (python -c pass):        {bare:8.1f} ms")
    print(
        f"sandbox: one candidate, one test, end to end:    {one:8.1f} ms ({one / bare:.1f}x a bare start)"
    )
    print(f"sandbox: each further test in the same candidate:{per_test:8.2f} ms")
    print(f"sandbox: candidates per second, batch of 8:      {per_second:8.1f}")
    print(
        f"engine:  time per round, K=3 N=3, instant model:  {per_round:8.2f} s "
        f"({args.rounds + 1} rounds, {candidates} candidates, {total:.1f} s in all)"
    )


if __name__ == "__main__":
    main()
