"""The rule of ``conftest.py``: where bubblewrap is installed, a skipped sandbox test fails the run
(from a clone under ``/tmp``, the suite once reported green with every bubblewrap test skipped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_skipped_sandbox_test_fails_where_bwrap_is_installed(tmp_path: Path) -> None:
    assert shutil.which("bwrap") is not None, "this machine is expected to have bubblewrap"
    (tmp_path / "conftest.py").write_text(
        "from tests.sandbox.conftest import pytest_runtest_makereport  # noqa: F401\n"
    )
    (tmp_path / "test_hidden.py").write_text(
        "import pytest\n\n"
        "def test_skipped():\n    pytest.skip('bubblewrap is not available on this machine')\n\n"
        "def test_runs():\n    assert True\n"
    )
    paths = [str(REPOSITORY), str(REPOSITORY / "sandbox"), str(REPOSITORY / "server")]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "1 failed, 1 passed" in completed.stdout, completed.stdout
    assert "bubblewrap is installed" in completed.stdout
    assert "but this sandbox test was skipped" in completed.stdout
