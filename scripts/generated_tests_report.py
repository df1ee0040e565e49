"""How many generated tests the search keeps and drops, and why, on benchmark tasks.

For each task the search runs through the one pipeline (``orps.session.run_search``) on the
task's stub with only its docstring examples as visible tests, so the test writer is asked; each
generated test is then also run against the task's reference solution, which tells whether
keeping or dropping it was right. Prints one line per task and a total; ``--json PATH`` keeps
everything. Uses the configured model (by default the embedded one); keep it small:

    python scripts/generated_tests_report.py --dataset humanevalplus --limit 3 --max-calls 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from orps.bench.datasets import default_data_dir, load_tasks, select_tasks
from orps.project.discovery import VisibleTests, doctest_specs
from orps.project.target import locate_function
from orps.search.generated_tests import GeneratedSuite
from orps.search.records import SearchFinished, SearchResult
from orps.session import Engine, run_search
from orps.settings import Settings
from orps_sandbox import ModuleSpec, TestStatus


def reason_kind(reason: str) -> str:
    if not reason:
        return "kept"
    for key in ("contradicts", "fails on every", "fails to import"):
        if key in reason:
            return key
    return "other"


async def one_task(engine: Engine, task: Any, settings: Settings) -> dict[str, Any]:
    path = Path("/orps-report") / task.dataset / "solution.py"
    target = locate_function(task.module_source, task.entry, path)
    visible = VisibleTests(tests=doctest_specs(target), doctests=0)
    result: SearchResult | None = None
    async for event in run_search(target, visible, settings, engine=engine):
        if isinstance(event, SearchFinished):
            result = event.result
    assert result is not None
    # Judge each generated test on the reference solution: was keeping or dropping it right?
    suite = GeneratedSuite.from_reply(
        "```python\n"
        + result.generated_imports
        + "\n\n"
        + "\n\n".join(t.source for t in result.generated_tests)
        + "\n```",
        target,
        [],
    )
    reference = ModuleSpec(
        name=target.module_name,
        source=task.reference_source,
        filename=str(path),
        entry=target.qualname,
    )
    right: dict[str, bool] = {}
    if suite.specs:
        [report] = await engine.sandbox.run_many([(reference, list(suite.specs.values()))])
        right = {t.id: t.status is TestStatus.PASSED for t in report.tests}
    tests = [
        {
            "id": t.id,
            "kept": t.kept,
            "reason": t.reason,
            "passes_reference": right.get(t.id),
            "source": t.source,
        }
        for t in result.generated_tests
    ]
    return {
        "task": task.task_id,
        "llm_calls": result.llm_calls,
        "generated": len(tests),
        "kept": sum(t["kept"] for t in tests),
        "dropped": Counter(reason_kind(t["reason"]) for t in tests if not t["kept"]),
        "kept_but_wrong": sum(1 for t in tests if t["kept"] and t["passes_reference"] is False),
        "dropped_but_right": sum(
            1 for t in tests if not t["kept"] and t["passes_reference"] is True
        ),
        "tests": tests,
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = Settings(
        max_calls=args.max_calls,
        children=args.children,
        rounds=args.rounds,
        scale=False,
        concurrency=1,
        max_tokens=args.max_tokens,
    )
    rows: list[dict[str, Any]] = []
    async with Engine.open(settings) as engine:
        for dataset in args.dataset:
            tasks = select_tasks(load_tasks(args.data_dir, dataset), args.tasks, args.limit)
            for task in tasks:
                row = await one_task(engine, task, settings)
                rows.append(row)
                dropped = ", ".join(f"{k}: {v}" for k, v in row["dropped"].items()) or "none"
                print(
                    f"{row['task']}: {row['generated']} generated, {row['kept']} kept, "
                    f"dropped ({dropped}); kept but wrong on the reference: "
                    f"{row['kept_but_wrong']}, dropped but right: {row['dropped_but_right']} "
                    f"({row['llm_calls']} calls)",
                    flush=True,
                )
                if args.json:
                    args.json.write_text(json.dumps(rows, indent=2, default=dict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", default=[], help="dataset (repeatable)")
    parser.add_argument("--tasks", type=lambda s: s.split(","), help="task ids, comma-separated")
    parser.add_argument("--limit", type=int, default=3, help="first N tasks of each dataset (3)")
    parser.add_argument("--max-calls", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=1500, help="new tokens per call (1500)")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--json", type=Path, help="write every row and test here")
    args = parser.parse_args()
    args.dataset = args.dataset or ["humanevalplus"]
    rows = asyncio.run(main_async(args))
    total = Counter[str]()
    for row in rows:
        total["generated"] += row["generated"]
        total["kept"] += row["kept"]
        total.update({f"dropped: {k}": v for k, v in row["dropped"].items()})
        total["kept but wrong"] += row["kept_but_wrong"]
        total["dropped but right"] += row["dropped_but_right"]
    print("total: " + ", ".join(f"{k} {v}" for k, v in total.items()))


if __name__ == "__main__":
    main()
