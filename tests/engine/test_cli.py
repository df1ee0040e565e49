"""`orps refine` as a user runs it: a real process, real HTTP, real sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer

STUB = '''"""Module docstring."""

import math


def area(r: float) -> float:
    """Area of a circle of radius r.

    >>> area(1.0) == math.pi
    True
    """
    raise NotImplementedError


def untouched():
    return 1
'''

TESTS = "from geo import area\n\n\ndef test_area():\n    assert area(2.0) == 4 * math.pi\n\nimport math\n"
GOOD = "def area(r: float) -> float:\n    return math.pi * r * r\n"
BAD = "def area(r: float) -> float:\n    return 3 * r * r\n"


def run_orps(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORPS_", "OPENAI_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "orps", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='geo'\nversion='0'\n")
    (tmp_path / "geo.py").write_text(STUB)
    (tmp_path / "test_geo.py").write_text(TESTS)
    return tmp_path


def _endpoint(server: ScriptedServer) -> list[str]:
    return ["--base-url", server.url, "--model", "scripted", "--no-cache"]


def test_json_output_matches_the_documented_schema(project: Path, scripted: ScriptedServer) -> None:
    scripted.load({"programmer": [programmer(BAD), programmer(GOOD)], "critic": [critic(4)]})
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--json",
        "--children",
        "2",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for key in (
        "target",
        "candidates",
        "llm_calls",
        "prompt_tokens",
        "prompt_tokens_reused",
        "completion_tokens",
        "elapsed_s",
    ):
        assert key in doc
    assert doc["prompt_tokens_reused"] == 0  # an endpoint reuses nothing that orps can see
    # two programmer and two critic calls, plus the test writer and the input generator
    # (2 visible tests < 5), whose empty replies add nothing but still count
    assert doc["llm_calls"] == 6
    assert doc["generated_tests"] == [] and doc["scale_note"]
    first = doc["candidates"][0]
    for key in (
        "rank",
        "code",
        "reasoning",
        "tests_passed",
        "tests_total",
        "runtime_ns",
        "peak_memory_bytes",
        "score",
        "process_score",
        "outcome_score",
        "round",
        "generated_passed",
        "generated_total",
        "scaling",
        "growth",
    ):
        assert key in first
    assert [c["rank"] for c in doc["candidates"]] == [1, 2]
    assert (
        first["code"].endswith("return math.pi * r * r\n")
        and first["tests_passed"] == first["tests_total"] == 2
    )
    assert doc["candidates"][1]["runtime_ns"] is None  # the wrong one passed nothing timed


def test_human_output_has_a_table_and_the_best_code(
    project: Path, scripted: ScriptedServer
) -> None:
    scripted.load({"programmer": [programmer(GOOD)], "critic": [critic(5, "yes")]})
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--children",
        "1",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Preferred candidate #1" in proc.stdout and "math.pi * r * r" in proc.stdout
    assert "no baseline: the function is a stub; #1 passes 2/2 tests" in proc.stdout
    assert "2/2" in proc.stdout
    assert "sandbox:" in proc.stderr and "tests: 2 visible test(s)" in proc.stderr


def test_apply_replaces_only_the_function(project: Path, scripted: ScriptedServer) -> None:
    scripted.load({"programmer": [programmer(GOOD)], "critic": [critic(5)]})
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--apply",
        "--children",
        "1",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    text = (project / "geo.py").read_text()
    assert "return math.pi * r * r" in text and "raise NotImplementedError" not in text
    assert text.startswith('"""Module docstring."""\n\nimport math\n')
    assert text.endswith("\n\ndef untouched():\n    return 1\n")
    assert "Area of a circle of radius r." in text  # docstring kept


def test_apply_keeps_the_users_docstring_and_hoists_the_candidates_imports(
    project: Path, scripted: ScriptedServer
) -> None:
    """The model restates the function with a shorter docstring (the user's doctest gone) and an
    import of its own: --apply writes only its body, as the editor's accept does, and the
    re-run checks that very text (the doctest needs ``math``, the body ``pi``)."""
    short = 'from math import pi\n\ndef area(r):\n    """Area."""\n    return pi * r ** 2\n'
    scripted.load({"programmer": [programmer(short)], "critic": [critic(5)]})
    args = ("refine", "geo.py::area", "--apply", "--children", "1", "--rounds", "0")
    proc = run_orps(*args, *_endpoint(scripted), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (project / "geo.py").read_text() == STUB.replace(
        "import math\n", "import math\nfrom math import pi\n"
    ).replace("    raise NotImplementedError\n", "    return pi * r ** 2\n")


def test_apply_rechecks_the_text_it_would_write(project: Path, scripted: ScriptedServer) -> None:
    """The candidate passes only under its own default; written with the user's signature it
    fails, and the re-run (of the module as it would be written) says so."""
    stub = 'def scaled(x, k=2):\n    """x times k."""\n    ...\n'
    (project / "sc.py").write_text(stub)
    (project / "test_sc.py").write_text(
        "from sc import scaled\n\n\ndef test_scaled():\n    assert scaled(3) == 9\n"
    )
    scripted.load(
        {
            "programmer": [programmer("def scaled(x, k=3):\n    return x * k\n")],
            "critic": [critic(5)],
        }
    )
    args = ("refine", "sc.py::scaled", "--apply", "--children", "1", "--rounds", "0")
    proc = run_orps(*args, *_endpoint(scripted), cwd=project)
    assert proc.returncode == 1
    assert "not applied: the re-run passed 0/1 tests; use --force" in proc.stderr
    assert (project / "sc.py").read_text() == stub


def test_apply_refuses_a_failing_best_candidate(project: Path, scripted: ScriptedServer) -> None:
    scripted.load({"programmer": [programmer(BAD)], "critic": [critic(2)]})
    before = (project / "geo.py").read_bytes()
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--apply",
        "--children",
        "1",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 1
    assert "not applied" in proc.stderr and "--force" in proc.stderr
    assert (project / "geo.py").read_bytes() == before


def _one_line_error(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert pattern in lines[0], lines[0]


def test_bad_inputs_give_one_clear_line(project: Path, scripted: ScriptedServer) -> None:
    scripted.load({"programmer": [programmer(GOOD)], "critic": [critic(4)]})
    ep = _endpoint(scripted)
    _one_line_error(run_orps("refine", "missing.py::area", *ep, cwd=project), "no such file")
    _one_line_error(run_orps("refine", "geo.py::nope", *ep, cwd=project), "no function 'nope'")
    (project / "broken.py").write_text("def f(:\n    pass\n")
    _one_line_error(
        run_orps("refine", "broken.py::f", *ep, cwd=project), "syntax error in broken.py"
    )
    _one_line_error(run_orps("refine", "geo.py", *ep, cwd=project), "must look like")
    _one_line_error(
        run_orps("refine", "geo.py::area", "--max-calls", "0", *ep, cwd=project),
        "--max-calls: must be at least 1",
    )
    _one_line_error(  # the flag as the user typed it, not the setting's name
        run_orps("refine", "geo.py::area", "--timeout", "0", *ep, cwd=project),
        "invalid --timeout: Input should be greater than 0",
    )
    _one_line_error(
        run_orps("refine", "geo.py::area", "--memory-limit", "10", *ep, cwd=project),
        "invalid --memory-limit: Input should be greater than or equal to 64",
    )
    _one_line_error(
        run_orps("refine", "geo.py::area", "--tests", "nope_test.py", *ep, cwd=project),
        "tests file not found",
    )
    (project / "test_broken.py").write_text(
        "import no_such_module_anywhere\n\ndef test_x():\n    pass\n"
    )
    _one_line_error(
        run_orps("refine", "geo.py::area", "--tests", "test_broken.py", *ep, cwd=project),
        "test_broken.py fails to import: ModuleNotFoundError: No module named"
        " 'no_such_module_anywhere'",
    )
    (project / "n.txt").write_text("3\n")
    (project / "needs.py").write_text(
        'from pathlib import Path\n\nN = int(Path("n.txt").read_text())\n\n\ndef f():\n    ...\n'
    )
    (project / "test_needs.py").write_text("from needs import f\n\n\ndef test_f():\n    f()\n")
    _one_line_error(
        run_orps("refine", "needs.py::f", *ep, cwd=project),
        "the module needs fails to import: FileNotFoundError: [Errno 2] No such file or"
        " directory: 'n.txt' (in the sandbox the working directory is an empty scratch directory",
    )
    scripted.load({"programmer": [programmer(GOOD)], "critic": [critic(4)], "api_key": "right"})
    _one_line_error(
        run_orps("refine", "geo.py::area", *ep, cwd=project, env={"ORPS_API_KEY": "wrong"}),
        "rejected the API key",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _one_line_error(
        run_orps(
            "refine",
            "geo.py::area",
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--model",
            "m",
            cwd=project,
        ),
        "unreachable",
    )
    assert (project / "geo.py").read_text() == STUB


FORGER = """def area(r: float) -> float:
    import json, os, struct, sys
    fd = json.loads(sys.argv[1])["channel_fd"]
    data = json.dumps({"ev": "result", "index": 0, "status": "passed", "seq": 9}).encode()
    os.write(fd, struct.pack("!I", len(data) + 16) + bytes(16) + data)
    return 3 * r * r
"""


def test_apply_refuses_a_candidate_that_forges_records_even_forced(
    project: Path, scripted: ScriptedServer
) -> None:
    scripted.load({"programmer": [programmer(FORGER)], "critic": [critic(5)]})
    before = (project / "geo.py").read_bytes()
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--apply",
        "--force",
        "--json",
        "--children",
        "1",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    (candidate,) = result["candidates"]
    assert candidate["status"] == "protocol_violation"
    assert candidate["tests_passed"] == 0
    assert any("os.write" in flag for flag in candidate["flags"])
    assert "not applied" in proc.stderr and "flagged" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (project / "geo.py").read_bytes() == before


VOWELS = '''
def count_vowels(text: str) -> int:
    """Count the vowels (a, e, i, o, u) in text.

    >>> count_vowels("hello")
    2
    """
    ...
'''
VOWEL_TESTS = (
    "```python\nfrom vowels import count_vowels\n\n"
    "def test_empty():\n    assert count_vowels('') == 0\n\n"
    "def test_hello_contradicts():\n    assert count_vowels('hello') == 3\n\n"
    "def test_word():\n    assert count_vowels('banana') == 3\n```"
)
VOWELS_CODE = 'def count_vowels(text: str) -> int:\n    return sum(ch in "aeiou" for ch in text)\n'


def test_generated_tests_are_labelled_and_saved(tmp_path: Path, scripted: ScriptedServer) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='v'\nversion='0'\n")
    (tmp_path / "vowels.py").write_text(VOWELS)
    scripted.load(
        {
            "test_writer": [VOWEL_TESTS],
            "programmer": [programmer(VOWELS_CODE)],
            "critic": [critic(4)],
        }
    )
    common = ["refine", "vowels.py::count_vowels", "--children", "1", "--rounds", "0"]
    proc = run_orps(
        *common,
        "--json",
        "--no-scale",
        "--save-tests",
        "kept_tests.py",
        *_endpoint(scripted),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["llm_calls"] == 3  # test writer, programmer, critic: --no-scale asks no generator
    tests = {t["id"]: t for t in doc["generated_tests"]}
    assert tests["generated:test_empty"]["kept"] and tests["generated:test_word"]["kept"]
    dropped = tests["generated:test_hello_contradicts"]
    assert not dropped["kept"] and "contradicts the docstring" in dropped["reason"]
    [best] = doc["candidates"]
    assert (best["tests_passed"], best["tests_total"]) == (1, 1)  # the doctest only
    assert (best["generated_passed"], best["generated_total"]) == (2, 2)
    saved = (tmp_path / "kept_tests.py").read_text()
    assert "from vowels import count_vowels" in saved
    assert "def test_empty" in saved and "def test_word" in saved
    assert "test_hello_contradicts" not in saved
    # The saved file is a pytest file the user owns: it runs against the module.
    body = '    return sum(ch in "aeiou" for ch in text)\n'
    (tmp_path / "vowels.py").write_text(VOWELS.replace("    ...\n", body))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "kept_tests.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    # It never writes over a file, and says so before searching (no model call is made).
    before = len(scripted.requests)
    again = run_orps(*common, "--save-tests", "kept_tests.py", *_endpoint(scripted), cwd=tmp_path)
    assert again.returncode == 1 and len(scripted.requests) == before
    assert again.stderr == (
        "orps: error: kept_tests.py exists; --save-tests writes a new file only"
        " (remove it or name another)\n"
    )
    assert (tmp_path / "kept_tests.py").read_text() == saved

    scripted.load({"programmer": [programmer(VOWELS_CODE)], "critic": [critic(4)]})
    before = len(scripted.requests)
    off = run_orps(
        *common, "--json", "--no-generate-tests", "--no-scale", *_endpoint(scripted), cwd=tmp_path
    )
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["generated_tests"] == []
    roles = {str(r["messages"][0]["content"]).split("\n")[0] for r in scripted.requests[before:]}
    assert roles <= {"Role: programmer", "Role: critic"}


MARKUP = 'def area(r: float) -> float:\n    raise ValueError("[/oops] [bold]x \\x1b[2J\\x1b]0;title\\x07")\n'


def test_candidate_text_is_escaped_in_the_table(project: Path, scripted: ScriptedServer) -> None:
    scripted.load({"programmer": [programmer(MARKUP)], "critic": [critic(2)]})
    proc = run_orps(
        "refine",
        "geo.py::area",
        "--children",
        "1",
        "--rounds",
        "0",
        *_endpoint(scripted),
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    assert "[/oops] [bold]x" in proc.stdout  # shown as written, not read as markup
    assert "\x1b" not in proc.stdout and "\\x1b[2J" in proc.stdout and "\\x07" in proc.stdout


FAST = '''import math


def area(r: float) -> float:
    """Area of a circle of radius r."""
    return math.pi * r * r
'''


SLOW = (
    "def area(r: float) -> float:\n"
    "    total = 0.0\n"
    "    for _ in range(20000):\n"
    "        total += 0.0\n"
    "    return math.pi * r * r + total\n"
)


def test_the_current_code_is_a_row_and_stays_best_when_faster(
    project: Path, scripted: ScriptedServer
) -> None:
    (project / "geo.py").write_text(FAST)
    (project / "test_geo.py").write_text(
        "import math\nfrom geo import area\n\n\ndef test_area():\n    assert area(2.0) == 4 * math.pi\n"
    )
    scripted.load({"programmer": [programmer(SLOW), programmer(BAD)], "critic": [critic(4)]})
    args = ("refine", "geo.py::area", "--children", "2", "--rounds", "0", *_endpoint(scripted))
    proc = run_orps(*args, "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["baseline"] == "current" and result["current"]["origin"] == "current"
    assert not any(c["preferred"] for c in result["candidates"])
    assert result["verdict"].startswith("the current code stays best")
    bad = next(c for c in result["candidates"] if "3 * r * r" in c["code"])
    assert bad["fails_current_tests"] and bad["speedup"] is None

    proc = run_orps(*args, "--apply", cwd=project)
    assert proc.returncode == 1 and "not applied: the current code stays best" in proc.stderr
    assert "current" in proc.stdout and "baseline" in proc.stdout
    assert "fails 1 current test(s)" in proc.stdout
    assert (project / "geo.py").read_text() == FAST


def test_the_terminal_shows_a_long_failure_shortened(
    project: Path, scripted: ScriptedServer
) -> None:
    loud = "def area(r: float) -> float:\n    raise ValueError('z' * 5000)\n"
    scripted.load({"programmer": [programmer(loud)], "critic": [critic(2)]})
    args = ("refine", "geo.py::area", "--children", "1", "--rounds", "0", *_endpoint(scripted))
    proc = run_orps(*args, cwd=project)
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout.split("failures: ", 1)[1].split(" LLM calls", 1)[0]
    assert "z" * 100 in shown.replace("\n", "") and "…" in shown
    assert "z" * 300 not in shown.replace("\n", "")  # each failure at most 300 characters
    whole = json.loads(run_orps(*args, "--json", cwd=project).stdout)
    assert any("z" * 1000 in f for f in whole["candidates"][0]["failures"])  # --json: longer
