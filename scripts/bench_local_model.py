"""Measure the embedded local model on this machine: load time, prompt and generation speed, RSS.

Usage: python scripts/bench_local_model.py [--model-path FILE.gguf] [--threads N] [--tokens 256]
[--runs 3]. Runs through ``orps.local_model.LocalModel``, the same path the search uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import psutil

from orps.model.chat import ChatMessage, ModelError, SamplingParams
from orps.model.local import make_local_model

GENERATE: list[ChatMessage] = [
    {"role": "user", "content": "Count from 1 to 5000, one number per line, with no other text."}
]


def review_prompt(functions: int, ask: str = "Review this code.") -> list[ChatMessage]:
    """A code-review conversation of about 19 tokens per function."""
    code = "\n".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(functions))
    return [
        {"role": "system", "content": "You are a Python programmer."},
        {"role": "user", "content": f"{ask}\n\n```python\n{code}```"},
    ]


# About 1,000 prompt tokens: the size of a programmer turn late in a search.
LONG_PROMPT = review_prompt(70)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per generation run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    process = psutil.Process()
    rss_before = process.memory_info().rss

    started = time.perf_counter()
    try:
        model = make_local_model(args.model_path, threads=args.threads)
        model.load_blocking()
    except ModelError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    load_s = time.perf_counter() - started
    rss_loaded = process.memory_info().rss

    prefill: list[float] = []
    decode: list[float] = []
    prefill_cpu: list[float] = []
    decode_cpu: list[float] = []
    for run in range(args.runs):
        started, cpu = time.perf_counter(), time.process_time()
        [long] = model.generate(
            LONG_PROMPT, SamplingParams(temperature=0.0, max_tokens=1, seed=run)
        )
        prefill.append(long.prompt_tokens / (time.perf_counter() - started))
        prefill_cpu.append(long.prompt_tokens / (time.process_time() - cpu))
        started, cpu = time.perf_counter(), time.process_time()
        [gen] = model.generate(
            GENERATE, SamplingParams(temperature=0.0, max_tokens=args.tokens, seed=run)
        )
        decode.append(gen.completion_tokens / (time.perf_counter() - started))
        decode_cpu.append(gen.completion_tokens / (time.process_time() - cpu))
    rss_peak = process.memory_info().rss
    model.close()

    mib = 1024 * 1024
    print(f"model            {model.identity}")
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine          {platform.machine()}, {os.cpu_count()} CPUs, threads={model.threads}")
    print(f"load average     {load_avg} (other work on the machine slows every figure)")
    print(
        f"load             {load_s:.2f} s (import + weights + {model.context_tokens}-token context)"
    )
    # Per CPU-second of this process: with one thread, close to what an idle machine gives.
    print(
        f"prompt eval      {statistics.median(prefill):.0f} tokens/s wall, "
        f"{statistics.median(prefill_cpu):.0f} per CPU-second "
        f"(median of {args.runs}, {long.prompt_tokens}-token prompt)"
    )
    print(
        f"generation       {statistics.median(decode):.1f} tokens/s wall, "
        f"{statistics.median(decode_cpu):.1f} per CPU-second "
        f"(median of {args.runs}, {gen.completion_tokens} new tokens, short prompt)"
    )
    print(
        f"RSS              {(rss_loaded - rss_before) / mib:.0f} MiB added by loading, "
        f"{rss_peak / mib:.0f} MiB total after generating"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
