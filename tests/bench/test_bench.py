"""``orps bench`` end to end against the scripted OpenAI-compatible server and the real sandbox.

The fixtures are three MBPP tasks copied from the shared benchmark folder (dev.csv = visible
tests, test.csv = held-out tests). Programmer replies are chosen per task by the function name
in the last user turn; the critic always answers with a score.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orps.bench.datasets import default_data_dir, load_tasks
from orps.cli.main import main
from tests.support.scripted_server import ScriptedServer

FIXTURES = Path(__file__).parent / "fixtures"

SORT_MATRIX_RIGHT = """## Reasoning
Sort the rows by their sums.

## Code
```python
def sort_matrix(M):
    return sorted(M, key=sum)
```
"""

FIND_VOLUME_WRONG = """## Reasoning
Volume is length times breadth times height.

## Code
```python
def find_Volume(l, b, h):
    return l * b * h
```
"""

REMOVE_OCC_RIGHT = """## Reasoning
Remove the first and the last occurrence.

## Code
```python
def remove_Occ(s, ch):
    first = s.find(ch)
    if first == -1:
        return s
    s = s[:first] + s[first + 1:]
    last = s.rfind(ch)
    if last == -1:
        return s
    return s[:last] + s[last + 1:]
```
"""

CRITIC_NOT_DONE = "The code runs but could be better.\nSCORE: 3\nDONE: no"


def script(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "programmer": ["no code here"],
        "critic": [CRITIC_NOT_DONE],
        "rules": [
            {"role": "programmer", "contains": "sort_matrix", "reply": SORT_MATRIX_RIGHT},
            {"role": "programmer", "contains": "find_Volume", "reply": FIND_VOLUME_WRONG},
            {"role": "programmer", "contains": "remove_Occ", "reply": REMOVE_OCC_RIGHT},
        ],
    }
    base.update(overrides)
    return base


def bench(server: ScriptedServer, out: Path, *flags: str) -> int:
    return main(
        [
            "bench",
            "--data-dir",
            str(FIXTURES),
            "--dataset",
            "mbpp",
            "--base-url",
            server.url,
            "--model",
            "scripted",
            "--no-cache",
            "--no-plot",
            "--out",
            str(out),
            *flags,
        ]
    )


def outcomes(out: Path) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    rows: list[dict[str, Any]] = data["outcomes"]
    return rows


def held_out_texts() -> list[str]:
    tasks = load_tasks(FIXTURES, "mbpp")
    return [t.source for task in tasks for t in task.held_out]


def task_of(request: dict[str, Any]) -> str:
    first_user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    for name in ("sort_matrix", "find_Volume", "remove_Occ"):
        if f"`{name}`" in first_user:
            return name
    raise AssertionError("a request names no task")


@pytest.fixture
def server() -> Any:
    running = ScriptedServer(script()).start()
    try:
        yield running
    finally:
        running.stop()


def test_pass_at_1_counts_only_answers_passing_every_held_out_test(
    server: ScriptedServer, tmp_path: Path
) -> None:
    assert (
        bench(server, tmp_path, "--tasks", "mbpp/12,mbpp/14", "--method", "direct", "--budget", "2")
        == 0
    )
    rows = {o["task_id"]: o for o in outcomes(tmp_path)}
    assert rows["mbpp/12"]["held_out_passed"] == rows["mbpp/12"]["held_out_total"] == 3
    assert rows["mbpp/14"]["held_out_passed"] == 0
    assert all(o["valid"] and o["llm_calls"] == 1 for o in rows.values())
    assert rows["mbpp/12"]["relative_runtime"] is not None
    assert rows["mbpp/14"]["relative_runtime"] is None
    report = (tmp_path / "report.md").read_text()
    assert "| mbpp | direct | 2 | 2 | 50.0 | 0.500 | 1.00 |" in report


def test_held_out_tests_never_reach_the_model(server: ScriptedServer, tmp_path: Path) -> None:
    assert bench(server, tmp_path, "--method", "direct,bon,reflexion,orps", "--budget", "4") == 0
    assert len(outcomes(tmp_path)) == 12
    requests = server.requests
    assert requests
    prompts = "\n".join(m["content"] for r in requests for m in r["messages"])
    assert "assert sort_matrix([[0, 0], [1, 1], [-1, -1]])" in prompts  # a visible test is shown
    for source in held_out_texts():
        assert source not in prompts
    assert "find_Volume(10,8,6)" not in prompts


@pytest.mark.parametrize("method", ["bon", "reflexion", "orps"])
def test_the_budget_is_never_exceeded(method: str, tmp_path: Path) -> None:
    # Wrong code everywhere and a critic that never says done: every method wants more calls.
    wrong = script(rules=[{"role": "programmer", "contains": "", "reply": FIND_VOLUME_WRONG}])
    running = ScriptedServer(wrong).start()
    try:
        assert (
            bench(running, tmp_path, "--tasks", "mbpp/14", "--method", method, "--budget", "3") == 0
        )
        requests = running.requests
    finally:
        running.stop()
    assert 1 <= len(requests) <= 3
    (row,) = outcomes(tmp_path)
    assert row["llm_calls"] == len(requests)


def test_budget_holds_per_task_with_parallel_jobs(server: ScriptedServer, tmp_path: Path) -> None:
    assert bench(server, tmp_path, "--method", "orps", "--budget", "5", "--jobs", "3") == 0
    per_task: dict[str, int] = {}
    for request in server.requests:
        per_task[task_of(request)] = per_task.get(task_of(request), 0) + 1
    assert per_task and all(count <= 5 for count in per_task.values())
    assert sum(o["llm_calls"] for o in outcomes(tmp_path)) == len(server.requests)


def test_a_rerun_with_the_same_out_skips_finished_tasks(
    server: ScriptedServer, tmp_path: Path
) -> None:
    assert bench(server, tmp_path, "--tasks", "mbpp/12", "--method", "direct,reflexion") == 0
    first = len(server.requests)
    assert bench(server, tmp_path, "--limit", "3", "--method", "direct,reflexion") == 0
    later = server.requests[first:]
    assert later and {task_of(r) for r in later} == {"remove_Occ", "find_Volume"}
    keys = [(o["task_id"], o["method"]) for o in outcomes(tmp_path)]
    assert len(keys) == len(set(keys)) == 6


def test_missing_data_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--model",
            "x",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "benchmark data not found" in err[0]


@pytest.mark.skipif(not default_data_dir().is_dir(), reason="shared benchmark folder not present")
def test_shared_folder_loads_every_dataset_without_the_canary() -> None:
    lbpp = load_tasks(default_data_dir(), "lbpp")
    assert len(lbpp) == 161 and all(t.task_id != "lbpp/41" for t in lbpp)
    assert len(load_tasks(default_data_dir(), "mbpp")) == 257
    assert len(load_tasks(default_data_dir(), "humaneval")) == 164


def test_report_only_rewrites_report_and_plot_from_the_results_file(
    server: ScriptedServer, tmp_path: Path
) -> None:
    assert (
        bench(
            server,
            tmp_path,
            "--tasks",
            "mbpp/12,mbpp/14",
            "--method",
            "direct,bon",
            "--budget",
            "2",
        )
        == 0
    )
    (tmp_path / "report.md").unlink()
    requests = len(server.requests)
    code = main(
        [
            "bench",
            "--out",
            str(tmp_path),
            "--report-only",
            "--model",
            "scripted",
            "--base-url",
            server.url,
        ]
    )
    assert code == 0 and len(server.requests) == requests
    report = (tmp_path / "report.md").read_text()
    assert "| mbpp | bon | 2 | 2 |" in report and "![Pass@1" in report
    assert (tmp_path / "results.png").stat().st_size > 1000


def test_evalplus_tasks_run_end_to_end(server: ScriptedServer, tmp_path: Path) -> None:
    prime = """## Code
```python
def is_not_prime(n):
    return n < 2 or any(n % d == 0 for d in range(2, int(n ** 0.5) + 1))
```
"""
    server.load(script(rules=[{"role": "programmer", "contains": "is_not_prime", "reply": prime}]))
    code = main(
        [
            "bench",
            "--data-dir",
            str(FIXTURES),
            "--dataset",
            "mbppplus",
            "--tasks",
            "Mbpp/3",
            "--method",
            "direct",
            "--base-url",
            server.url,
            "--model",
            "scripted",
            "--no-cache",
            "--no-plot",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    (row,) = outcomes(tmp_path)
    assert row["held_out_total"] == 8 and row["held_out_passed"] == 8 and row["visible_total"] == 5


SORT_MATRIX_TESTS = """```python
from solution import sort_matrix

def test_rows_by_sum():
    assert sort_matrix([[3, 3], [1, 1]]) == [[1, 1], [3, 3]]
```"""


def test_generated_tests_setting_runs_beside_the_usual_one(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.load(script(test_writer=[SORT_MATRIX_TESTS]))
    flags = ("--tasks", "mbpp/12", "--method", "orps", "--budget", "6", "--generated-tests")
    assert bench(server, tmp_path, *flags, "--rounds", "1", "--children", "1") == 0
    rows = {o["method"]: o for o in outcomes(tmp_path)}
    assert set(rows) == {"orps", "orps-generated"}
    for row in rows.values():  # held-out scoring is the same for both settings
        assert row["held_out_passed"] == row["held_out_total"] == 3
    roles = [str(r["messages"][0]["content"]).split("\n")[0] for r in server.requests]
    assert roles.count("Role: test writer") == 1  # only the no-visible-tests setting asks
    writer_free = [
        r for r in server.requests if "The visible tests" in str(r["messages"][-1]["content"])
    ]
    assert writer_free, "the usual setting still shows the visible tests"
    blind = [
        r
        for r in server.requests
        if "There are no tests" in str(r["messages"][-1]["content"])
        and str(r["messages"][0]["content"]).startswith("Role: programmer")
    ]
    assert blind, "the generated-tests setting shows the programmer no visible test"
    report = (tmp_path / "report.md").read_text()
    assert "| mbpp | orps | 6 |" in report and "| mbpp | orps-generated | 6 |" in report


def test_an_unusable_results_directory_is_one_line_error(
    server: ScriptedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "results"
    assert bench(server, out, "--limit", "1") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"orps: error: cannot create the results directory {out}: Not a directory"]
