"""The ``orps bench`` front end: flags in, a results file, a markdown report and a plot out.

``add_bench_arguments`` declares the flags on the ``bench`` sub-parser that ``orps.cli.main`` owns;
``run_bench`` loads the tasks, builds the model, cache and sandbox the way ``orps refine`` does
(through ``orps.session``), runs the plan with a progress bar on stderr, and writes the outputs
even when interrupted. Bad input ends with one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from orps.bench.datasets import (
    DATASETS,
    BenchTask,
    DatasetError,
    PlusTask,
    default_data_dir,
    load_tasks,
    select_tasks,
)
from orps.bench.evaluation import complete_tasks, summaries
from orps.bench.methods import OrpsShape, Sampling
from orps.bench.outcomes import BenchRun, Method, RunSettings, TaskOutcome
from orps.bench.report import summary_table, write_outputs
from orps.bench.runner import (
    RESULTS_FILE,
    BenchPlan,
    BenchRunner,
    ResultsError,
    ResultsStore,
    machine_description,
)
from orps.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UserError,
    add_model_options,
    add_sandbox_options,
    positive_int,
    settings_from_args,
)
from orps.model.chat import ModelError
from orps.session import Engine

DEFAULT_METHODS = "direct,bon,reflexion,orps"


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _methods(text: str) -> list[Method]:
    names = _comma_list(text)
    known = {m.value: m for m in Method}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(unknown) or text!r} (choose from {', '.join(known)})"
        )
    return [known[n] for n in dict.fromkeys(names)]


def _datasets(text: str) -> list[str]:
    names = _comma_list(text)
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {', '.join(unknown) or text!r} (choose from {', '.join(DATASETS)})"
        )
    return list(dict.fromkeys(names))


def _budgets(text: str) -> list[int]:
    try:
        values = [int(part) for part in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number (or a comma list)"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"budgets must be at least 1, got {text!r}")
    return sorted(set(values))


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``orps bench`` flags."""
    parser.description = (
        "Run ORPS and baselines (direct, best-of-N, reflexion) on public benchmarks at the same "
        "per-task LLM-call budget; the search sees the visible tests, answers are scored on "
        "held-out ones."
    )
    what = parser.add_argument_group("what to run")
    what.add_argument(
        "--method",
        type=_methods,
        default=_methods(DEFAULT_METHODS),
        metavar="M[,M...]",
        help=f"methods, comma-separated ({DEFAULT_METHODS})",
    )
    what.add_argument(
        "--generated-tests",
        action="store_true",
        help="also run ORPS with no visible tests, only the prompt and the test writer's tests "
        "(method orps-generated; held-out scoring unchanged)",
    )
    what.add_argument(
        "--dataset",
        type=_datasets,
        default=["mbpp"],
        metavar="D[,D...]",
        help=f"datasets, comma-separated: {', '.join(DATASETS)} (mbpp)",
    )
    chosen = what.add_mutually_exclusive_group()
    chosen.add_argument(
        "--limit", type=positive_int, metavar="N", help="first N tasks of each dataset"
    )
    chosen.add_argument(
        "--tasks", type=_comma_list, metavar="ID[,ID...]", help="these task ids only"
    )
    what.add_argument(
        "--budget",
        type=_budgets,
        default=[20],
        metavar="CALLS[,CALLS...]",
        help="LLM calls per task and method, critic included (20); a list runs each",
    )
    what.add_argument(
        "--data-dir",
        type=Path,
        help="benchmark folder (default: ../shared/benchmarks beside the project)",
    )
    what.add_argument(
        "--plus-limit",
        type=positive_int,
        default=50,
        metavar="N",
        help="held-out inputs per EvalPlus task (50)",
    )
    where = parser.add_argument_group("output")
    where.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="results directory; reusing it resumes the run (bench-results)",
    )
    where.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="tasks in parallel (1)",
    )
    where.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    where.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite report.md and the plot from the results file in --out",
    )

    add_model_options(parser)
    add_sandbox_options(parser)
    sampling = parser.add_argument_group("sampling and search")
    sampling.add_argument("--seed", type=int, help="sampling seed (0)")
    sampling.add_argument("--max-tokens", type=positive_int, help="new tokens per call (1500)")
    sampling.add_argument("--temperature", type=float, help="sampling temperature (0.5)")
    sampling.add_argument(
        "--timeout", type=float, dest="timeout_seconds", help="seconds per test (5)"
    )
    sampling.add_argument(
        "--beam-width", type=positive_int, metavar="K", help="ORPS beam width (3)"
    )
    sampling.add_argument(
        "--children", type=positive_int, metavar="N", help="ORPS children per node (3)"
    )
    sampling.add_argument(
        "--rounds",
        type=positive_int,
        metavar="T",
        help="ORPS rounds; the budget usually ends it first (5)",
    )


def _load(args: argparse.Namespace, data_dir: Path) -> list[BenchTask | PlusTask]:
    chosen: list[BenchTask | PlusTask] = []
    ids: list[str] | None = args.tasks
    for dataset in args.dataset:
        tasks = load_tasks(data_dir, dataset, args.plus_limit)
        wanted = None
        if ids:
            known = {t.task_id for t in tasks}
            wanted = [i for i in ids if i in known]
            if not wanted:
                continue
        chosen.extend(select_tasks(tasks, wanted, args.limit))
    if ids:
        missing = sorted(set(ids) - {t.task_id for t in chosen})
        if missing:
            raise DatasetError(
                f"unknown task id(s) in {', '.join(args.dataset)}: {', '.join(missing)}"
            )
    if not chosen:
        raise DatasetError("no tasks selected")
    if ids:
        order = {task_id: i for i, task_id in enumerate(ids)}
        chosen.sort(key=lambda t: order[t.task_id])  # run in the order given
    return chosen


def run_bench(args: argparse.Namespace) -> int:
    """The ``orps bench`` command; returns the exit status."""
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        print(
            "orps: interrupted (finished tasks are saved; rerun with the same --out to resume)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (DatasetError, ResultsError, ModelError) as exc:
        print(f"orps: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def display_path(path: Path) -> str:
    """A path as recorded in reports: relative to the working directory when it is near it
    (``../shared/benchmarks``), so no one machine's layout ends up in a committed report."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith(os.path.join("..", "..")) else str(path)


def _invocation() -> str:
    """The command line as typed, when this process is the ``orps`` command."""
    if sys.argv and Path(sys.argv[0]).name == "orps":
        return "orps " + shlex.join(sys.argv[1:])
    return ""


def _print_summary(run: BenchRun) -> None:
    """The side-by-side table on stdout, over the tasks every method finished."""
    rows = summaries(complete_tasks(run.outcomes))
    if rows:
        print(summary_table(rows))


def _report_only(out_dir: Path, *, with_plot: bool) -> int:
    path = out_dir / RESULTS_FILE
    if not path.is_file():
        raise ResultsError(f"no results file at {path}")
    try:
        run = BenchRun.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ResultsError(f"{path} is not a results file ({str(exc).splitlines()[0]})") from None
    written = write_outputs(run, out_dir, with_plot=with_plot)
    _print_summary(run)
    print("; ".join(str(p) for p in written), file=sys.stderr)
    return EXIT_OK


async def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.report_only:
        return _report_only(args.out, with_plot=not args.no_plot)

    data_dir = (args.data_dir or default_data_dir()).resolve()
    tasks = _load(args, data_dir)
    try:
        settings = settings_from_args(args)
    except UserError as exc:
        raise DatasetError(str(exc)) from None
    shape = OrpsShape(
        beam_width=settings.beam_width,
        children=settings.children,
        rounds=args.rounds or OrpsShape.rounds,
    )
    sampling = Sampling(
        temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed
    )
    methods = list(args.method)
    if args.generated_tests and Method.ORPS_GENERATED not in methods:
        methods.append(Method.ORPS_GENERATED)
    plan = BenchPlan(
        tasks=tasks,
        methods=methods,
        budgets=args.budget,
        sampling=sampling,
        shape=shape,
        jobs=args.jobs,
    )
    out_dir: Path = args.out
    async with Engine.open(settings) as engine:
        run_settings = RunSettings(
            model=engine.model.identity,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            cache=settings.cache,
            data_dir=display_path(data_dir),
            machine=machine_description(),
            sandbox=engine.sandbox.isolation.description,
            sandbox_reasons=list(engine.sandbox.isolation.reasons),
            plus_limit=args.plus_limit,
        )
        store = ResultsStore(out_dir, run_settings, _invocation())
        bar = tqdm(total=0, desc="bench", unit="run", file=sys.stderr, dynamic_ncols=True)
        passed = [0]

        def done(outcome: TaskOutcome | None) -> None:
            if outcome is not None and outcome.passed_all:
                passed[0] += 1
            if outcome is not None:
                bar.set_postfix_str(
                    f"{outcome.task_id} {outcome.method.value}: "
                    f"{outcome.held_out_passed}/{outcome.held_out_total}; pass@1 {passed[0]}"
                )
            bar.update(1)

        runner = BenchRunner(engine=engine, store=store, on_unit_done=done)
        pending = runner.pending(plan)
        skipped = len(tasks) * len(args.method) * len(args.budget) - len(pending)
        if skipped:
            print(
                f"orps bench: resuming {out_dir}: {skipped} finished runs skipped",
                file=sys.stderr,
            )
        bar.reset(total=len(pending))
        try:
            await runner.run(plan)
        finally:
            bar.close()
            _finish(store, out_dir, with_plot=not args.no_plot)
    return EXIT_OK


def _finish(store: ResultsStore, out_dir: Path, *, with_plot: bool) -> None:
    store.save()
    written = write_outputs(store.run, out_dir, with_plot=with_plot)
    _print_summary(store.run)
    print(f"results: {store.path}; " + "; ".join(str(p) for p in written), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orps.cli.bench`` without the ``orps`` umbrella (same flags)."""
    parser = argparse.ArgumentParser(prog="orps bench")
    add_bench_arguments(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
