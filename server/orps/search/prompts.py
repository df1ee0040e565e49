"""What the model is shown: the programmer's and the critic's turns, and how replies are read.

The programmer thinks, then writes one fenced Python block; the critic reads the reasoning, the
code and the execution analysis and ends with a machine-readable score and done signal. The
execution analysis is compact plain text: the passing tests with their time and memory, the
failures grouped by cause (expected vs actual, or the exception with its last frames, shown once
for all the tests it fails), and the comparison with the best so far. ``CRITIC_STOP`` ends the
critic's reply once its score and done lines are written.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from orps.model.chat import ChatMessage
from orps.model.stopping import DEGENERATE_REPEATS, StopRule
from orps.project.target import FunctionTarget
from orps.search.records import Candidate, Critique
from orps.units import format_bytes, format_ns
from orps_sandbox import TestResult, TestSpec, TestStatus

STYLE_DIRECTIVES: tuple[str, ...] = (
    "Favour the most efficient algorithm you know, in time first, then memory.",
    "Write the most concise correct solution.",
    "Use a straightforward iterative approach.",
    "Use recursion or divide and conquer where it fits, with care for depth.",
    "Minimise memory: avoid building intermediate collections.",
    "Lean on the standard library (itertools, collections, bisect, heapq, functools).",
    "Prefer built-in functions implemented in C over explicit Python loops.",
    "Think about edge cases first (empty input, one element, negatives, duplicates), then code.",
    "Use a mathematical insight or closed form if one exists.",
    "Precompute or cache what is reused (memoisation, lookup tables).",
    "Use a different algorithm from the obvious one.",
    "Write clear, readable code with meaningful names; correctness before speed.",
    "Use a single pass over the data if possible.",
    "Use sorting or two pointers if it simplifies the problem.",
    "Use hashing (dict or set) to avoid repeated searches.",
    "Use dynamic programming if the problem has overlapping subproblems.",
    "Use generators and lazy evaluation where it saves work.",
    "Avoid repeated string concatenation and repeated list copies.",
    "Reduce constant factors: hoist attribute lookups and invariant work out of loops.",
    "Check the specification word by word and handle every case it names.",
)

PROGRAMMER_SYSTEM = """Role: programmer
You are the programmer in a search for the best implementation of one Python function.
Think first, then write code. Do not write tests.

Reply in exactly this format:

## Reasoning
Your plan: the algorithm, its complexity, what earlier feedback taught you, and whether to change approach.

## Code
```python
# the complete function definition, with any imports it needs inside it or above it
```

Keep the function's name and signature. The code must work with the rest of its module as shown.
Do not print anything and do not read input."""

CRITIC_SYSTEM = """Role: critic
You are the critic in a search for the best implementation of one Python function.
You write no code. You judge one step: the programmer's reasoning, the code, and its execution results.

Check, in this order:
1. Did any test fail or error? Name the cause precisely, from the expected and actual values.
2. If all tests pass: is it efficient? Judge the measured time and memory against the best so far.
3. Is there a better algorithm or a new direction worth trying?

Grades:
1 = wrong approach; 2 = major bugs; 3 = partly correct or correct but clearly slow;
4 = correct and reasonably efficient; 5 = correct and as good as it will get.

Metrics: "time" is the median wall-clock time of one test run; "memory" is the peak Python allocation during a test; "x best" compares with the best candidate so far (below 1 is faster).

End your reply with exactly these two lines:
SCORE: <1-5>
DONE: <yes|no>
(DONE: yes means correct and not worth refining further.)"""


TEST_WRITER_SYSTEM = """Role: test writer
You write pytest tests for one Python function, from its signature, its docstring and its examples.
You do not implement the function.

Reply with exactly one ```python block that contains:
- the import of the function from its module (the line is given to you);
- 3 to 8 functions named test_..., each taking no arguments, each with one or a few plain
  `assert function(...) == expected` lines on small inputs whose expected values you are sure of
  from the docstring (edge cases: empty input, one element, typical cases).

No fixtures, no classes, no randomness, no printing, no other text after the block."""

INPUT_GENERATOR_SYSTEM = """Role: input generator
You write an input generator for measuring how one Python function's runtime grows with input size.

Reply with exactly one ```python block that defines

def perf_input(scale: int) -> tuple:

returning the function's positional arguments (a tuple) for an input of size `scale`
(for example a list of `scale` elements, a string of `scale` characters, or the number `scale`).
Rules: deterministic (use random.Random(scale) if you need randomness, never the global
random state), fast (linear in scale at most), valid for every scale from 1 to 1,000,000,
and representative of a typical, demanding input. Import what you need inside the function.
Do not call the function under test."""


def test_writer_messages(target: FunctionTarget) -> list[ChatMessage]:
    """The test writer's request: the function's text and the import line to use."""
    user = (
        f"The function `{target.name}` in module `{target.module_name}`:\n"
        f"```python\n{target.dedented_source.rstrip()}\n```\n\n"
        f"Import it with: `from {target.module_name} import {target.name}`\n\n"
        f"Do not implement `{target.name}`: write only tests. Start your reply exactly like "
        "this, and continue with more test functions:\n"
        f"```python\nfrom {target.module_name} import {target.name}\n\n\n"
        f"def test_{target.name}_"
    )
    return [
        {"role": "system", "content": TEST_WRITER_SYSTEM},
        {"role": "user", "content": user},
    ]


def input_generator_messages(target: FunctionTarget) -> list[ChatMessage]:
    """The input generator's request: the function's text."""
    user = (
        f"The function `{target.name}`:\n"
        f"```python\n{target.dedented_source.rstrip()}\n```\n\n"
        f"Do not implement `{target.name}`: write only the input generator. Start your reply "
        "exactly like this:\n```python\ndef perf_input(scale: int) -> tuple:\n"
    )
    return [
        {"role": "system", "content": INPUT_GENERATOR_SYSTEM},
        {"role": "user", "content": user},
    ]


def task_prompt(
    target: FunctionTarget, tests: Sequence[TestSpec], context_chars: int = 6000
) -> str:
    """The first user turn: the module for context, the function, and the visible tests."""
    module = target.module_source
    if len(module) > context_chars:
        head = target.splice(target.dedented_source)[:context_chars]
        module = head + "\n# ... (module truncated)\n"
    parts = [
        f"Implement the function `{target.qualname}` in module `{target.module_name}`.",
        "",
        "The module as it stands (the function is part of it):",
        f"```python\n{module.rstrip()}\n```",
        "",
    ]
    if target.is_stub:
        parts.append("The function is a stub: write a complete implementation.")
    else:
        parts.append(
            "The function has an implementation: write a faster or leaner one that behaves the same."
        )
        parts.append(f"```python\n{target.dedented_source.rstrip()}\n```")
    parts.append("")
    parts.append(describe_tests(tests))
    return "\n".join(parts)


def closing_instruction(target: FunctionTarget, style: str) -> str:
    """The last words of every programmer turn: small models follow what they read last."""
    return (
        f"Style: {style}\n\nNow write `{target.name}`: first a short reasoning, "
        "then the complete function in one ```python block."
    )


def describe_tests(tests: Sequence[TestSpec], limit: int = 30) -> str:
    if not tests:
        return "There are no tests: the code must at least import and be correct by the docstring."
    lines = [f"The visible tests ({len(tests)}):"]
    for test in tests[:limit]:
        lines.append(f"- {test_label(test)}")
    if len(tests) > limit:
        lines.append(f"- ... and {len(tests) - limit} more")
    return "\n".join(lines)


def test_label(test: TestSpec) -> str:
    if test.label:
        return test.label
    if test.kind == "doctest" and test.expected_output is not None:
        return f">>> {test.source.strip()}  ->  {test.expected_output.strip()}"
    return test.source.strip().splitlines()[0] if test.source.strip() else test.id


def execution_analysis(
    candidate: Candidate,
    tests: Sequence[TestSpec],
    best: Candidate | None,
    max_causes: int = 6,
    max_listed: int = 10,
) -> str:
    """The execution results as text for both roles, compact (see ``docs/architecture.md``,
    "The execution analysis"): the passing tests with their time and memory; the failures
    grouped by cause, each cause shown once (for a pytest item its failing line and pytest's
    ``E`` lines, for an exception the message and the last two frames) with the tests it
    fails; the mean time against the best so far and the peak memory."""
    report = candidate.execution
    if report is None:
        return "The code was not executed."
    lines: list[str] = []
    if report.status != "completed":
        lines.append(f"The code did not run to the end: {report.status}. {report.detail}".strip())
    by_id = {t.id: t for t in tests}

    def label(test_id: str) -> str:
        spec = by_id.get(test_id)
        return _short(test_label(spec) if spec else test_id, 100)

    lines.append(f"Tests passed: {candidate.tests_passed}/{candidate.tests_total}.")
    passed = [r for r in report.tests if r.status is TestStatus.PASSED]
    if passed:
        lines.append("Passed (time, memory):" if any(r.wall_ns for r in passed) else "Passed:")
        for result in passed[:max_listed]:
            figures = ""
            if result.wall_ns:
                figures = f": {format_ns(result.wall_ns)}, {format_bytes(result.peak_memory_bytes)}"
            lines.append(f"- {label(result.id)}{figures}")
        if len(passed) > max_listed:
            lines.append(f"- ... and {len(passed) - max_listed} more")
    groups: dict[str, list[tuple[TestResult, str]]] = {}
    for result in report.tests:
        if result.status is not TestStatus.PASSED:
            cause, own = compact_failure(result.detail)
            groups.setdefault(cause, []).append((result, own))
    if groups:
        failed = sum(map(len, groups.values()))
        causes = "1 cause" if len(groups) == 1 else f"{len(groups)} causes"
        lines.append(f"Failed: {failed} test{'s' if failed != 1 else ''}, {causes}.")
    for cause, members in list(groups.items())[:max_causes]:
        statuses = "/".join(dict.fromkeys(str(result.status) for result, _ in members))
        if len(members) == 1:
            [(result, own)] = members
            lines.append(f"- FAILED ({statuses}) {label(result.id)}")
            if own:
                lines.append(f"  > {own}")
            lines.extend(f"  {line}" for line in cause.splitlines())
            continue
        lines.append(f"- FAILED ({statuses}) in {len(members)} tests, with the same cause:")
        lines.extend(f"  {line}" for line in cause.splitlines())
        for result, own in members[:max_listed]:
            lines.append(f"  - {label(result.id)}" + (f": {own}" if own else ""))
        if len(members) > max_listed:
            lines.append(f"  - ... and {len(members) - max_listed} more")
    if len(groups) > max_causes:
        hidden = sum(len(m) for m in list(groups.values())[max_causes:])
        lines.append(f"- ... and {hidden} more failing tests with other causes")
    if candidate.runtime_ns is not None:
        line = f"Mean time per passing test: {format_ns(candidate.runtime_ns)}"
        if best is not None and best.runtime_ns and best.id != candidate.id:
            ratio = candidate.runtime_ns / best.runtime_ns
            line += (
                f"; best so far ({best.tests_passed}/{best.tests_total} passed): "
                f"{format_ns(best.runtime_ns)}, so this is {ratio:.2f}x best"
            )
        lines.append(line + ".")
    if candidate.peak_memory_bytes:
        lines.append(f"Peak memory: {format_bytes(candidate.peak_memory_bytes)}.")
    if report.stderr.strip() and report.status != "completed":
        lines.append(f"stderr (truncated):\n{report.stderr.strip()[-600:]}")
    return "\n".join(lines)


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[^\s\\/:\"'<>()]*[\\/])+([^\s\\/:\"'<>()]+\.py)\b")
_PYTEST_EXPLANATION = re.compile(r"^E(?:\s|$)")
_PYTEST_SEPARATOR = re.compile(r"^(?:_ )+_?\s*$")
_PYTEST_LOCATION = re.compile(r"^(\S[^:]*):(\d+):(?: in (\S+)| \w[\w.]*)?\s*$")
_TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_FRAMES_SHOWN = 2
_CAUSE_LINES = 10
_LINE_CHARS = 200


def compact_failure(detail: str) -> tuple[str, str]:
    """(the cause, the test's own failing line or "") of a failure detail from the sandbox.

    Tests whose failures have the same cause are shown together. Paths are shortened to file
    names. A pytest report keeps its ``E`` lines and, when the error was raised below the test,
    the last frames (``at file:line: code``) as the cause, and the test's failing line as its
    own; an assert failing in the test itself keeps that line and its ``E`` lines as the cause.
    An exception from a doctest or assert keeps its message and last frames; anything else is
    its first lines. Caret lines (``^^^``) and pytest's source listings are dropped.
    """
    text = _PATH.sub(r"\1", detail.strip())
    if not text:
        return "(no detail)", ""
    lines = [line for line in text.splitlines() if not _CARETS.match(line)]
    if any(_PYTEST_EXPLANATION.match(line) for line in lines):
        return _pytest_failure(lines)
    if "Traceback (last frames):" in lines:
        at = lines.index("Traceback (last frames):")
        frames = _traceback_frames(lines[at + 1 :])
        return _cause(lines[:at], frames), ""
    return _cause(lines, []), ""


def _pytest_failure(lines: list[str]) -> tuple[str, str]:
    head = [line for line in lines[:1] if re.match(r"^error in \w+:$", line)]
    explanation = textwrap.dedent(
        "\n".join(line[1:] for line in lines if _PYTEST_EXPLANATION.match(line))
    ).splitlines()
    frames = _pytest_frames(lines)
    if len(frames) >= 2:
        return _cause(head + explanation, frames[1:]), frames[0][1]
    failing = [f"> {frames[0][1]}"] if frames else []
    return _cause(head + failing + [f"E {line}" for line in explanation], []), ""


def _pytest_frames(lines: list[str]) -> list[tuple[str, str]]:
    """(file:line, code) of each frame of a pytest report (long or short style), test first."""
    frames: list[tuple[str, str]] = []
    section: list[str] = []
    for line in [*lines, "_ _"]:
        if not _PYTEST_SEPARATOR.match(line):
            section.append(line)
            continue
        for i, item in enumerate(section):
            found = _PYTEST_LOCATION.match(item)
            if found is None:
                continue
            if found.group(3):  # short style: "file:line: in function", then the code
                code = next((c.strip() for c in section[i + 1 :] if c.strip()), "")
            else:  # long style: the listing marks the failing line with ">"
                marked = [c for c in section[:i] if c.startswith(">")]
                code = marked[-1][1:].strip() if marked else ""
            frames.append((f"{found.group(1)}:{found.group(2)}", code))
            break
        section = []
    return frames


def _traceback_frames(lines: list[str]) -> list[tuple[str, str]]:
    frames: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        found = _TRACEBACK_FRAME.match(line)
        if found and not found.group(1).startswith("<"):
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _TRACEBACK_FRAME.match(code):
                code = ""
            frames.append((f"{found.group(1)}:{found.group(2)}", code))
    return frames


def _cause(message: list[str], frames: list[tuple[str, str]]) -> str:
    shown = [line.rstrip() for line in message if line.strip()][:_CAUSE_LINES]
    shown += [f"at {where}: {code}".rstrip(": ") for where, code in frames[-_FRAMES_SHOWN:]]
    return "\n".join(_short_line(line) for line in shown) or "(no detail)"


def _short_line(line: str) -> str:
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


def critic_messages(task: str, candidate: Candidate, analysis: str) -> list[ChatMessage]:
    user = (
        f"{task}\n\n## The programmer's reasoning\n{candidate.reasoning.strip() or '(none)'}\n\n"
        f"## The code\n```python\n{candidate.code.rstrip()}\n```\n\n"
        f"## Execution results\n{analysis}\n\n"
        "Critique this step, then give SCORE and DONE."
    )
    return [
        {"role": "system", "content": CRITIC_SYSTEM},
        {"role": "user", "content": user},
    ]


def programmer_messages(
    task: str, path: Sequence[tuple[str, str]], closing: str
) -> list[ChatMessage]:
    """The programmer's conversation: the task, then per ancestor its reply and the feedback.

    ``path`` holds (reply, feedback) pairs from the root to the parent; ``closing`` (the style
    directive and the request for code, see ``closing_instruction``) ends the last user turn.
    """
    messages: list[ChatMessage] = [{"role": "system", "content": PROGRAMMER_SYSTEM}]
    if not path:
        messages.append({"role": "user", "content": f"{task}\n\n{closing}"})
        return messages
    messages.append({"role": "user", "content": task})
    for i, (reply, feedback) in enumerate(path):
        messages.append({"role": "assistant", "content": reply})
        content = feedback
        if i == len(path) - 1:
            content += (
                "\n\nImprove the solution: fix every failure first, then make it faster.\n"
                f"{closing}"
            )
        messages.append({"role": "user", "content": content})
    return messages


def feedback_turn(analysis: str, critique: Critique | None) -> str:
    text = f"## Execution results\n{analysis}"
    if critique is not None and critique.text.strip():
        text += f"\n\n## Critique (score {critique.score}/5)\n{critique.text.strip()}"
    return text


_SCORE_PATTERN = r"(?i)SCORE\s*[:=]\s*\**\s*([0-9]+(?:\.[0-9]+)?)"
_DONE_PATTERN = r"(?i)DONE\s*[:=]\s*\**\s*(yes|no|true|false)"
_SCORE = re.compile(_SCORE_PATTERN)
_DONE = re.compile(_DONE_PATTERN)
CRITIC_STOP = StopRule(lines=(_SCORE_PATTERN, _DONE_PATTERN), repeats=DEGENERATE_REPEATS)
"""Ends the critic's reply with the line that completes its SCORE and DONE, the two lines its
format ends with (or in a degenerate repetition, where it would not have written them)."""


def parse_critique(text: str) -> Critique:
    """Read the critic's reply. Malformed or empty: a neutral score of 3, marked unparsed."""
    scores = _SCORE.findall(text or "")
    done = _DONE.findall(text or "")
    body = _SCORE.split(text or "")[0].strip() if scores else (text or "").strip()
    if not scores:
        return Critique(text=body, score=3, done=False, parsed=False)
    value = round(float(scores[-1]))
    score = min(5, max(1, value))
    is_done = bool(done) and done[-1].lower() in ("yes", "true")
    return Critique(text=body, score=score, done=is_done, parsed=True)


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = [
    "CRITIC_STOP",
    "CRITIC_SYSTEM",
    "INPUT_GENERATOR_SYSTEM",
    "PROGRAMMER_SYSTEM",
    "STYLE_DIRECTIVES",
    "TEST_WRITER_SYSTEM",
    "closing_instruction",
    "compact_failure",
    "critic_messages",
    "describe_tests",
    "execution_analysis",
    "feedback_turn",
    "input_generator_messages",
    "parse_critique",
    "programmer_messages",
    "task_prompt",
    "test_label",
    "test_writer_messages",
]
