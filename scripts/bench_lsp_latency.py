"""Latency of code-action and hover requests to ``orps serve``, idle and while a search runs.

Starts the real server over stdio (as the tests do) against the scripted OpenAI-compatible
server, opens a module, then in one run measures N code-action and N hover requests with no
search running, and again, alternating, for as long as searches of two functions both run
(the scripted model answers after ``--delay`` seconds; candidates are executed in the
sandbox). Prints the median and 95th percentile of each.

    python scripts/bench_lsp_latency.py [--samples 200] [--delay 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lsp.session import (  # noqa: E402
    CRITIQUE,
    FAST_FIB,
    FAST_SQUARE,
    SCRIPTED_SETTINGS,
    SLOW_MODULE,
    LspSession,
    start_session,
    wait_for,
)
from tests.support.scripted_server import ScriptedServer  # noqa: E402

MODULE = (
    SLOW_MODULE
    + '''

def square(x):
    """Return x squared."""
    return sum(x for _ in range(x))
'''
)
TESTS = "from mod import fib, square\n\nassert fib(18) == 2584\nassert square(30) == 900\n"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(request: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    timings: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        await request()
        timings.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return timings


async def run(samples: int, delay: float) -> None:
    model = ScriptedServer(
        {
            "programmer": [FAST_FIB],
            "critic": [CRITIQUE],
            "rules": [
                {"contains": "function `square`", "reply": FAST_SQUARE, "role": "programmer"}
            ],
            "delay_s": delay,
        }
    ).start()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
        (root / "mod.py").write_text(MODULE)
        (root / "test_mod.py").write_text(TESTS)
        settings = {**SCRIPTED_SETTINGS, "baseUrl": model.url, "rounds": 3, "maxCalls": 40}
        session = await start_session(root, settings)
        try:
            uri = session.open("mod.py")
            square_line = MODULE.splitlines().index("def square(x):") + 1
            await measure(lambda: session.hover(uri, 0), 20)  # warm up
            results: dict[str, list[float]] = {}
            results["code action, idle"] = await measure(
                lambda: session.code_actions(uri, 2), samples
            )
            results["hover, idle"] = await measure(lambda: session.hover(uri, 0), samples)
            searches = asyncio.gather(session.refine(uri, 1), session.refine(uri, square_line))
            await wait_running(session)
            busy_actions: list[float] = []
            busy_hovers: list[float] = []
            # alternate the two requests for as long as both searches are still running
            while len(busy_actions) < samples and len(session.statuses[-1]["running"]) == 2:
                busy_actions += await measure(lambda: session.code_actions(uri, 2), 1)
                busy_hovers += await measure(lambda: session.hover(uri, 0), 1)
            results["code action, searching"] = busy_actions
            results["hover, searching"] = busy_hovers
            outcomes = await searches
        finally:
            await session.client.shutdown_session()
            await session.client.stop()
            model.stop()
    print(f"{'request':<24} {'median ms':>10} {'p95 ms':>8} {'n':>5}")
    for name, timings in results.items():
        print(
            f"{name:<24} {statistics.median(timings):>10.1f} {percentile(timings, 0.95):>8.1f} "
            f"{len(timings):>5}"
        )
    found = [len(o["candidates"]) for o in outcomes if o]
    print(f"searches: {found} candidates each; searching samples taken while both ran")


async def wait_running(session: LspSession) -> None:
    await wait_for(lambda: bool(session.statuses) and len(session.statuses[-1]["running"]) == 2, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="requests per measurement (200)")
    parser.add_argument("--delay", type=float, default=0.5, help="scripted model delay, s (0.5)")
    args = parser.parse_args()
    asyncio.run(run(args.samples, args.delay))


if __name__ == "__main__":
    main()
