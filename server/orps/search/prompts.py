"""What the model is shown: the programmer's and the critic's turns, and how replies are read.

The programmer thinks, then writes one fenced Python block; the critic reads the reasoning, the
code and the execution analysis and ends with a machine-readable score and done signal. The
execution analysis is plain text: which tests passed, for each failure the test and expected vs
actual (or the exception), per-test time and memory, and the comparison with the best so far.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orps.model.chat import ChatMessage
from orps.project.target import FunctionTarget
from orps.search.records import Candidate, Critique
from orps.units import format_bytes, format_ns
from orps_sandbox import TestSpec, TestStatus

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
    max_failures: int = 8,
) -> str:
    """The execution results as text for both roles."""
    report = candidate.execution
    if report is None:
        return "The code was not executed."
    lines: list[str] = []
    if report.status != "completed":
        lines.append(f"The code did not run to the end: {report.status}. {report.detail}".strip())
    by_id = {t.id: t for t in tests}
    total = candidate.tests_total
    lines.append(f"Tests passed: {candidate.tests_passed}/{total}.")
    failures = [r for r in report.tests if r.status is not TestStatus.PASSED]
    for result in failures[:max_failures]:
        spec = by_id.get(result.id)
        label = test_label(spec) if spec else result.id
        lines.append(f"- FAILED ({result.status}) {label}\n  {_indent(result.detail.strip())}")
    if len(failures) > max_failures:
        lines.append(f"- ... and {len(failures) - max_failures} more failures")
    timed = [r for r in report.tests if r.status is TestStatus.PASSED and r.wall_ns]
    if timed:
        lines.append("Per-test time and memory (passing tests):")
        for result in timed[:10]:
            spec = by_id.get(result.id)
            label = _short(test_label(spec) if spec else result.id)
            mem = format_bytes(result.peak_memory_bytes)
            lines.append(f"- {label}: time {format_ns(result.wall_ns)}, memory {mem}")
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


_SCORE = re.compile(r"SCORE\s*[:=]\s*\**\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)
_DONE = re.compile(r"DONE\s*[:=]\s*\**\s*(yes|no|true|false)", re.IGNORECASE)


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


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")[:1200]


__all__ = [
    "CRITIC_SYSTEM",
    "INPUT_GENERATOR_SYSTEM",
    "PROGRAMMER_SYSTEM",
    "STYLE_DIRECTIVES",
    "TEST_WRITER_SYSTEM",
    "closing_instruction",
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
