"""Side by side: parallel calls served by one copy of the embedded model or by several copies.

Usage: python scripts/bench_local_copies.py [--calls 4] [--rounds 2] [--tokens 48]. A search
makes its calls in parallel (N children, then their critiques); this sends ``--calls`` such
calls at once, each a ~500-token prompt with a distinct seed, to three set-ups in interleaved
rounds and prints the wall time of the batch and the ratio to the single-thread copy:

- one copy, one thread (the earlier default: calls queue behind each other);
- one copy, one thread per CPU (calls still queue; each runs on all the CPUs);
- one copy per CPU, one thread each (``LocalModelPool``, the default now).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from bench_local_model import review_prompt

from orps.model.chat import ChatModel, ModelError, SamplingParams
from orps.model.local import (
    LocalModel,
    LocalModelPool,
    available_cpus,
    default_copies,
    resolve_model_path,
)

# About 500 prompt tokens.
PROMPT = review_prompt(35, "Review this code and suggest one improvement.")


async def batch(model: ChatModel, calls: int, tokens: int, round_number: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(
            model.complete(
                PROMPT,
                SamplingParams(temperature=0.7, max_tokens=tokens, seed=100 * round_number + i),
            )
            for i in range(calls)
        )
    )
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> int:
    path = resolve_model_path(args.model_path)
    cpus = available_cpus()
    copies = default_copies()
    setups: dict[str, ChatModel] = {
        "1 copy x 1 thread": LocalModel(path, threads=1),
        f"1 copy x {cpus} threads": LocalModel(path, threads=cpus),
        f"{copies} copies x 1 thread": LocalModelPool(
            [LocalModel(path, threads=1) for _ in range(copies)]
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in setups}
    try:
        for model in setups.values():  # load and warm each once, untimed
            await batch(model, 1, 4, -1)
        for round_number in range(args.rounds):
            for name, model in setups.items():
                times[name].append(await batch(model, args.calls, args.tokens, round_number))
    except ModelError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for model in setups.values():
            await model.aclose()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.calls} parallel calls (~500-token prompt, up to {args.tokens} new tokens)")
    print(f"{cpus} CPUs; load average after the run {load}; median of {args.rounds} rounds")
    base = statistics.median(times["1 copy x 1 thread"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22} {median:7.1f} s   {base / median:4.2f}x the single-thread copy")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--calls", type=int, default=4, help="calls sent at once")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per call at most")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
