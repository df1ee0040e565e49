"""Hostile candidates through the engine: the run goes on and they fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from orps.project.discovery import discover_tests
from orps.project.target import load_target
from orps.search.beam import execute
from orps.search.records import Candidate
from orps_sandbox import Limits, Sandbox

STUB = '''
def answer(x: int) -> int:
    """Return x + 1.

    >>> answer(1)
    2
    """
    ...
'''

TESTS = "from mod import answer\n\ndef test_answer():\n    assert answer(41) == 42\n"

HOSTILE = {
    "infinite loop": "def answer(x):\n    while True:\n        pass\n",
    "memory bomb": "def answer(x):\n    data = []\n    while True:\n        data.append(bytearray(10**7))\n",
    "fake success then exit 0": (
        "def answer(x):\n    import os\n    print('2 passed, 0 failed')\n"
        '    print(\'{"status": "passed"}\')\n    os._exit(0)\n'
    ),
    "sys.exit(0) mid-test": "def answer(x):\n    import sys\n    sys.exit(0)\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_candidate_fails_and_the_engine_goes_on(tmp_path: Path, name: str) -> None:
    (tmp_path / "mod.py").write_text(STUB)
    (tmp_path / "test_mod.py").write_text(TESTS)
    target = load_target(tmp_path / "mod.py", "answer")
    tests = discover_tests(target, [tmp_path / "test_mod.py"]).tests
    good = Candidate(id="good", code="def answer(x):\n    return x + 1\n")
    bad = Candidate(id="bad", code=HOSTILE[name])
    async with Sandbox(Limits(test_timeout_s=1.0, total_timeout_s=10.0, memory_mb=256)) as sandbox:
        await execute(target, tests, [bad, good], sandbox)
    assert bad.tests_passed == 0, bad.execution
    assert good.tests_passed == 2
