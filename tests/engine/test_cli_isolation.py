"""The isolation a user gets from `orps refine` and `orps doctor`: shown in the output and the
JSON, chosen with `--isolation`, and refused in one line when bubblewrap cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_cli import GOOD, STUB, TESTS, _endpoint
from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer

NESTED = ["--dev-bind", "/", "/", "--unshare-user", "--disable-userns", "--die-with-parent", "--"]
"""An outer sandbox in which bubblewrap is installed but cannot create its namespaces."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The CLI tests' project, under /tmp like a quick try: it must be bound to be seen."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='geo'\nversion='0'\n")
    (tmp_path / "geo.py").write_text(STUB)
    (tmp_path / "test_geo.py").write_text(TESTS)
    return tmp_path


def orps(
    *args: str, cwd: Path, wrapper: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORPS_", "OPENAI_"))}
    return subprocess.run(
        [*(wrapper or []), sys.executable, "-m", "orps", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def refine_args(scripted: ScriptedServer, *extra: str) -> list[str]:
    scripted.load({"programmer": [programmer(GOOD)], "critic": [critic(5, "yes")]})
    return [
        "refine",
        "geo.py::area",
        "--children",
        "1",
        "--rounds",
        "0",
        *extra,
        *_endpoint(scripted),
    ]


def test_json_and_human_output_state_the_isolation(project: Path, scripted: ScriptedServer) -> None:
    proc = orps(*refine_args(scripted, "--json"), cwd=project)
    assert proc.returncode == 0, proc.stderr
    isolation = json.loads(proc.stdout)["isolation"]
    assert isolation["kind"] == "bubblewrap" and isolation["seccomp"] is True, isolation
    assert isolation["reasons"] == [] and "uid 65534" in isolation["description"]
    assert "scratch 256 MB" in isolation["description"]

    proc = orps(*refine_args(scripted, "--isolation", "none", "--scratch-limit", "64"), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "sandbox: rlimits" in proc.stdout and "weaker than the best" in proc.stdout
    assert "isolation='none' was requested" in proc.stderr


def test_refuses_in_one_line_when_bubblewrap_cannot_run(
    project: Path, scripted: ScriptedServer
) -> None:
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    outer = [bwrap, *NESTED]
    proc = orps(*refine_args(scripted), cwd=project, wrapper=outer)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("orps: error: bubblewrap is installed but cannot run here")
    assert "remedy:" in lines[0] and "--isolation none" in lines[0]
    assert "Traceback" not in proc.stderr

    doctor = orps("doctor", *_endpoint(scripted), cwd=project, wrapper=outer)
    assert doctor.returncode == 1
    assert "sandbox:   refused (isolation 'auto'): bubblewrap is installed" in doctor.stdout

    allowed = orps(
        *refine_args(scripted, "--isolation", "none", "--json"), cwd=project, wrapper=outer
    )
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["isolation"]["kind"] == "rlimits"
