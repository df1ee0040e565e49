"""The run's markdown report (methods side by side) and its plot (Pass@1 and relative runtime).

Both are derived from the results file alone, so they can be regenerated at any time and always
say what the file says, including the model, budget, seed, token cap and machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orps.bench.evaluation import complete_tasks, head_to_head, summaries
from orps.bench.outcomes import BenchRun, Method, MethodSummary

REPORT_FILE = "report.md"
PLOT_FILE = "results.png"


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def summary_table(rows: Sequence[MethodSummary]) -> str:
    lines = [
        "| dataset | method | budget | tasks | Pass@1 % | mean pass ratio | valid | rel. time | timed | LLM calls | tokens | wall s/task | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in rows:
        lines.append(
            f"| {s.dataset} | {s.method.value} | {s.budget} | {s.tasks} | {s.pass_at_1:.1f} | "
            f"{s.mean_pass_ratio:.3f} | {s.valid_ratio:.2f} | {_fmt(s.relative_runtime)} | "
            f"{s.timed_tasks} | {s.mean_llm_calls:.1f} | {s.mean_tokens:.0f} | "
            f"{s.mean_wall_s:.1f} | {s.errors} |"
        )
    return "\n".join(lines)


def _task_order(task_id: str) -> tuple[str, int, str]:
    """Dataset name, then the task number numerically (HumanEval/2 before HumanEval/10)."""
    prefix, _, number = task_id.rpartition("/")
    return (prefix, int(number), "") if number.isdigit() else (prefix, 0, number)


def task_table(run: BenchRun) -> str:
    methods = [m for m in Method if any(o.method is m for o in run.outcomes)]
    budgets = sorted({o.budget for o in run.outcomes})
    columns = [(m, b) for b in budgets for m in methods]
    header = "| task | " + " | ".join(f"{m.value}@{b}" for m, b in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    index = {o.key: o for o in run.outcomes}
    keys = {(o.dataset, o.task_id) for o in run.outcomes}
    for dataset, task_id in sorted(keys, key=lambda k: (k[0], _task_order(k[1]))):
        cells = []
        for method, budget in columns:
            o = index.get((dataset, task_id, method.value, budget))
            cells.append("" if o is None else f"{o.held_out_passed}/{o.held_out_total}")
        lines.append(f"| {task_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_report(run: BenchRun, plot_name: str | None = PLOT_FILE) -> str:
    compared = complete_tasks(run.outcomes)
    rows = summaries(compared)
    task_count = len({(o.dataset, o.task_id) for o in compared})
    partial = sorted(
        {o.task_id for o in run.outcomes} - {o.task_id for o in compared}, key=_task_order
    )
    s = run.settings
    budgets = ", ".join(str(b) for b in sorted({o.budget for o in run.outcomes})) or "–"
    parts = [
        "# orps bench report",
        "",
        f"- model: `{s.model}`",
        f"- budget (LLM calls per task and method): {budgets}",
        f"- max_tokens per call: {s.max_tokens}; temperature {s.temperature}; seed {s.seed}",
        f"- response cache: {'on' if s.cache else 'off'}",
        f"- machine: {s.machine}",
        f"- sandbox: {s.sandbox or 'unknown'}",
        *(f"- sandbox weaker than the best: {reason}" for reason in s.sandbox_reasons),
        f"- data: `{s.data_dir}`",
        f"- outcomes recorded: {len(run.outcomes)} (started {run.started}, updated {run.updated})",
    ]
    if run.command:
        parts.append(f"- command: `{run.command}`")
    parts += [
        "",
        "Pass@1 = answers passing every held-out test; mean pass ratio = mean fraction of held-out "
        "tests passed; valid = answers that ran without error; rel. time = mean over tasks of "
        "(answer time ÷ reference time on the tests it passes, capped at 10) ÷ mean pass ratio "
        "(1.0 = as fast as the reference; lower is faster); timed = tasks with a passing test. "
        "The search only ever saw the visible (dev) tests.",
        "",
        "## Methods side by side",
        "",
        f"Over the {task_count} tasks every method finished"
        + (f" (one task is {100 / task_count:.1f} points of Pass@1)" if task_count else "")
        + (f"; left out as unfinished by some method: {', '.join(partial)}." if partial else "."),
        "",
        summary_table(rows),
        "",
    ]
    duels = head_to_head(compared, Method.ORPS)
    if duels:
        parts += [
            "Task by task, ORPS's held-out pass ratio against each other method's "
            "(same tasks, same budget):",
            "",
            "| ORPS vs | budget | ORPS higher | equal | ORPS lower |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {d.other.value} | {d.budget} | {d.better} | {d.same} | {d.worse} |"
                for d in duels
            ),
            "",
        ]
    left_out = [s for s in rows if s.unscorable]
    if left_out:
        parts += [
            "Left out as unscorable (the reference passed no held-out test): "
            + "; ".join(
                f"{s.dataset} {s.method.value}@{s.budget}: {s.unscorable}" for s in left_out
            ),
            "",
        ]
    if plot_name:
        parts += [f"![Pass@1 and relative runtime]({plot_name})", ""]
    parts += ["## Per task (held-out tests passed / scored)", "", task_table(run), ""]
    return "\n".join(parts)


def plot(run: BenchRun, path: Path) -> None:
    """Pass@1 per method and budget, and relative runtime per method (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summaries(complete_tasks(run.outcomes))
    scope = "all" if any(s.dataset == "all" for s in rows) else (rows[0].dataset if rows else "")
    rows = [s for s in rows if s.dataset == scope]
    methods = [m for m in Method if any(s.method is m for s in rows)]
    budgets = sorted({s.budget for s in rows})
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(1, len(budgets))
    for j, budget in enumerate(budgets):
        values = [
            next((s.pass_at_1 for s in rows if s.method is m and s.budget == budget), 0.0)
            for m in methods
        ]
        xs = [i + (j - (len(budgets) - 1) / 2) * width for i in range(len(methods))]
        bars = left.bar(xs, values, width, label=f"budget {budget}")
        left.bar_label(bars, fmt="%.1f", fontsize=8)
    left.set_xticks(range(len(methods)), [m.value for m in methods])
    left.set_ylabel("Pass@1 on held-out tests (%)")
    left.set_title(f"Pass@1 ({scope})")
    left.legend(fontsize=8)
    top_budget = budgets[-1] if budgets else 0
    times = [
        next((s.relative_runtime for s in rows if s.method is m and s.budget == top_budget), None)
        for m in methods
    ]
    bars = right.bar(range(len(methods)), [t or 0.0 for t in times], 0.6, color="tab:orange")
    right.bar_label(bars, labels=[_fmt(t) for t in times], fontsize=8)
    right.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    right.set_xticks(range(len(methods)), [m.value for m in methods])
    right.set_ylabel("relative runtime (reference = 1, lower is faster)")
    right.set_title(f"Relative runtime (budget {top_budget})")
    figure.suptitle(f"orps bench: {run.settings.model}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_outputs(run: BenchRun, out_dir: Path, *, with_plot: bool = True) -> list[Path]:
    """Write report.md (and results.png) beside the results file."""
    written = []
    plot_name: str | None = None
    if with_plot and run.outcomes:
        plot(run, out_dir / PLOT_FILE)
        plot_name = PLOT_FILE
        written.append(out_dir / PLOT_FILE)
    (out_dir / REPORT_FILE).write_text(render_report(run, plot_name), encoding="utf-8")
    written.insert(0, out_dir / REPORT_FILE)
    return written
