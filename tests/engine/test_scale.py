"""Generated tests and scale profiles end to end: scripted model over HTTP, real sandbox.

A stub with only doctests gets generated tests (a contradicting one and one that every good
candidate fails are dropped, with reasons); an O(n²) and an O(n) candidate that look alike on the
doctests get growths near 2 and 1 and the O(n) one ranks first; broken input generators (endless,
huge, nondeterministic) are contained and reported while the search falls back to test runtimes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orps.model.client import LLMClient
from orps.model.openai_compat import OpenAICompatibleModel
from orps.project.discovery import discover_tests
from orps.project.target import load_target
from orps.search.beam import Search, SearchConfig
from orps.search.generated_tests import GeneratedSuite, parse_tests
from orps.search.records import ScalePoint, SearchFinished, SearchResult, Warned
from orps.search.scaling import growth, parse_generator
from orps_sandbox import Limits, Sandbox
from tests.support.replies import critic, programmer
from tests.support.scripted_server import ScriptedServer

VOWELS = '''
def count_vowels(text: str) -> int:
    """Count the vowels (a, e, i, o, u) in text.

    >>> count_vowels("hello")
    2
    """
    ...
'''

VOWEL_TESTS = """```python
from mod import count_vowels

def test_empty():
    assert count_vowels("") == 0

def test_hello_contradicts():
    assert count_vowels("hello") == 3

def test_upper():
    assert count_vowels("AEIOU") == 5

def test_word():
    assert count_vowels("banana") == 3
```"""

VOWELS_A = 'def count_vowels(text: str) -> int:\n    return sum(ch in "aeiou" for ch in text)\n'
VOWELS_B = (
    "def count_vowels(text: str) -> int:\n"
    "    n = 0\n"
    "    for ch in text:\n"
    '        if ch in "aeiou":\n'
    "            n += 1\n"
    "    return n\n"
)

DUPLICATES = '''
def has_duplicates(xs: list[int]) -> bool:
    """Whether some value occurs twice in xs.

    >>> has_duplicates([1, 2, 1])
    True
    >>> has_duplicates([3, 4])
    False
    """
    ...
'''

QUADRATIC = (
    "def has_duplicates(xs: list[int]) -> bool:\n"
    "    for i, x in enumerate(xs):\n"
    "        if x in xs[:i]:\n"
    "            return True\n"
    "    return False\n"
)
LINEAR = (
    "def has_duplicates(xs: list[int]) -> bool:\n"
    "    seen = set()\n"
    "    for x in xs:\n"
    "        if x in seen:\n"
    "            return True\n"
    "        seen.add(x)\n"
    "    return False\n"
)
GENERATOR = "```python\ndef perf_input(scale: int) -> tuple:\n    return (list(range(scale)),)\n```"


def _project(tmp_path: Path, source: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\nversion='0'\n")
    (tmp_path / "mod.py").write_text(source)
    return tmp_path / "mod.py"


async def _search(
    tmp_path: Path,
    scripted: ScriptedServer,
    source: str,
    name: str,
    config: SearchConfig,
    limits: Limits | None = None,
) -> tuple[SearchResult, list[object]]:
    target = load_target(_project(tmp_path, source), name)
    visible = discover_tests(target)
    model = OpenAICompatibleModel(scripted.url, "scripted", None)
    llm = LLMClient(model=model, max_calls=12)
    events: list[object] = []
    async with Sandbox(limits or Limits()) as sandbox:
        search = Search(target, visible.tests, llm, sandbox, config, visible.sources)
        async for event in search.events():
            events.append(event)
    await model.aclose()
    finished = events[-1]
    assert isinstance(finished, SearchFinished)
    return finished.result, events


def _roles(scripted: ScriptedServer) -> list[str]:
    return [str(r["messages"][0]["content"]).split("\n", 1)[0] for r in scripted.requests]


async def test_a_stub_with_only_doctests_gets_generated_tests(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    scripted.load(
        {
            "test_writer": [VOWEL_TESTS],
            "programmer": [programmer(VOWELS_A), programmer(VOWELS_B)],
            "critic": [critic(4)],
        }
    )
    config = SearchConfig(beam_width=2, children=2, rounds=0, generate_tests=True)
    result, _ = await _search(tmp_path, scripted, VOWELS, "count_vowels", config)
    assert sorted(set(_roles(scripted))) == [
        "Role: critic",
        "Role: programmer",
        "Role: test writer",
    ]
    assert result.llm_calls == 5  # the test writer counts against the budget
    by_id = {t.id: t for t in result.generated_tests}
    assert set(by_id) == {
        "generated:test_empty",
        "generated:test_hello_contradicts",
        "generated:test_upper",
        "generated:test_word",
    }
    assert by_id["generated:test_empty"].kept and by_id["generated:test_word"].kept
    assert not by_id["generated:test_hello_contradicts"].kept
    assert "contradicts the docstring" in by_id["generated:test_hello_contradicts"].reason
    assert not by_id["generated:test_upper"].kept
    assert "fails on every candidate" in by_id["generated:test_upper"].reason
    for candidate in result.candidates:
        assert (candidate.tests_passed, candidate.tests_total) == (1, 1)  # the doctest only
        assert (candidate.generated_passed, candidate.generated_total) == (2, 2)


async def test_linear_beats_quadratic_at_scale(tmp_path: Path, scripted: ScriptedServer) -> None:
    scripted.load(
        {
            "input_generator": [GENERATOR],
            "programmer": [programmer(QUADRATIC), programmer(LINEAR)],
            "critic": [critic(4)],
        }
    )
    config = SearchConfig(beam_width=2, children=2, rounds=0, scale=True, max_scale=1 << 18)
    result, _ = await _search(tmp_path, scripted, DUPLICATES, "has_duplicates", config)
    assert "Role: input generator" in _roles(scripted)
    assert result.scale_note is None
    first, second = result.candidates
    assert "seen" in first.code and "xs[:i]" in second.code
    # Loose bounds: the machine that runs the tests is shared, and caches bend small sizes.
    assert first.growth is not None and 0.6 <= first.growth <= 1.5, first.scaling
    assert second.growth is not None and 1.5 <= second.growth <= 3.0, second.scaling
    assert second.growth - first.growth >= 0.6
    assert len(first.scaling) >= 3
    assert second.scale_timeout is not None  # it could not follow to the largest scale
    assert max(p.scale for p in first.scaling) > max(p.scale for p in second.scaling)
    assert not first.scale_outlier and not second.scale_outlier


BROKEN_GENERATORS = {
    "endless": "def perf_input(scale: int) -> tuple:\n    while True:\n        pass\n",
    "huge": "def perf_input(scale: int) -> tuple:\n    return (bytearray(10 * 1024**3),)\n",
    "random": (
        "def perf_input(scale: int) -> tuple:\n    import random\n"
        "    return ([random.random() for _ in range(scale)],)\n"
    ),
}
EXPECTED_NOTE = {
    "endless": "did not finish within",
    "huge": "memory",
    "random": "not deterministic",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_GENERATORS))
async def test_a_broken_generator_is_contained_and_reported(
    tmp_path: Path, scripted: ScriptedServer, kind: str
) -> None:
    scripted.load(
        {
            "input_generator": [f"```python\n{BROKEN_GENERATORS[kind]}```"],
            "programmer": [programmer(LINEAR)],
            "critic": [critic(4)],
        }
    )
    config = SearchConfig(beam_width=1, children=1, rounds=0, scale=True)
    limits = Limits(test_timeout_s=2.0, memory_mb=512)
    result, events = await _search(tmp_path, scripted, DUPLICATES, "has_duplicates", config, limits)
    assert result.scale_note is not None
    assert EXPECTED_NOTE[kind] in result.scale_note
    assert "runtimes are from the tests only" in result.scale_note
    assert any(isinstance(e, Warned) and e.message == result.scale_note for e in events)
    [only] = result.candidates
    assert only.tests_passed == only.tests_total == 2
    assert only.runtime_ns is not None and not only.scaling and only.growth is None


def test_growth_is_the_log_log_slope() -> None:
    def points(power: float) -> list[ScalePoint]:
        return [ScalePoint(scale=n, runtime_ns=round(50 * n**power)) for n in (64, 256, 1024)]

    assert growth(points(1.0)) == pytest.approx(1.0, abs=0.01)
    assert growth(points(2.0)) == pytest.approx(2.0, abs=0.01)
    assert growth(points(0.0)) == pytest.approx(0.0, abs=0.01)
    assert growth(points(1.0)[:1]) is None


def test_the_block_with_the_tests_or_the_generator_is_read() -> None:
    reply = (
        "First the function:\n```python\ndef count_vowels(text):\n    return 0\n```\n"
        "Then the tests:\n```python\nfrom mod import count_vowels\n\n"
        "def test_empty():\n    assert count_vowels('') == 0\n\n"
        "def test_fixture(tmp_path):\n    assert tmp_path\n```\n"
    )
    imports, tests = parse_tests(reply)
    assert imports == "from mod import count_vowels"
    assert [t.name for t in tests] == ["test_empty"]  # a test taking fixtures is not plain
    assert parse_tests("no code at all") == ("", [])
    generator = parse_generator(
        "```python\ndef count_vowels(text):\n    return 0\n```\n"
        "```python\nimport random\n\ndef perf_input(scale: int) -> tuple:\n"
        "    return ('a' * scale,)\n\nprint('side effect')\n```"
    )
    assert generator is not None and "def perf_input" in generator and "import random" in generator
    assert "print" not in generator  # top-level statements other than defs are left out
    assert parse_generator("```python\ndef other(): pass\n```") is None


SORTING = (
    "def has_duplicates(xs: list[int]) -> bool:\n"
    "    ys = sorted(xs)\n"
    "    return any(a == b for a, b in zip(ys, ys[1:]))\n"
)
SHORT_SIGHTED = (  # passes the doctests, but only looks at the first 100 values
    "def has_duplicates(xs: list[int]) -> bool:\n"
    "    head = xs[:100]\n"
    "    return len(set(head)) < len(head)\n"
)
LATE_DUPLICATE = (
    "```python\ndef perf_input(scale: int) -> tuple:\n    return (list(range(scale)) + [0],)\n```"
)


async def test_a_candidate_whose_outputs_at_scale_differ_is_flagged(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    scripted.load(
        {
            "input_generator": [LATE_DUPLICATE],
            "programmer": [programmer(LINEAR), programmer(SORTING), programmer(SHORT_SIGHTED)],
            "critic": [critic(4)],
        }
    )
    config = SearchConfig(beam_width=3, children=3, rounds=0, scale=True, max_scale=1 << 14)
    result, _ = await _search(tmp_path, scripted, DUPLICATES, "has_duplicates", config)
    assert all(c.tests_passed == c.tests_total == 2 for c in result.candidates)
    flagged = [c for c in result.candidates if c.scale_outlier]
    assert [("head" in c.code) for c in flagged] == [True]


def test_a_test_contradicting_an_assert_in_the_docstring_is_dropped(tmp_path: Path) -> None:
    source = (
        "def largest(nums: list, n: int) -> list:\n"
        '    """The n largest, in descending order.\n'
        "    assert largest([25, 35, 22, 85], 2) == [85, 35]\n"
        '    """\n'
        "    ...\n"
    )
    target = load_target(_project(tmp_path, source), "largest")
    reply = (
        "```python\nfrom mod import largest\n\n"
        "def test_wrong():\n    assert largest([25, 35, 22, 85], 2) == [85, 35, 22]\n\n"
        "def test_other():\n    assert largest([1, 2], 1) == [2]\n```"
    )
    suite = GeneratedSuite.from_reply(reply, target, [])
    kept = {t.id: t.kept for t in suite.tests}
    assert kept == {"generated:test_wrong": False, "generated:test_other": True}
    assert "contradicts the docstring" in suite.tests[0].reason
