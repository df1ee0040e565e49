"""Expected outputs for the EvalPlus datasets, computed by the reference solution in the sandbox.

EvalPlus ships inputs, not outputs. Each input becomes a probe: a doctest example that prints
``repr(entry(*args))`` under the reference module, with an expected text that never matches, so
the sandbox reports what was printed. An output that does not read back as a Python literal
(objects, ``inf``/``nan``, output cut at the sandbox's detail limit) is dropped with its input,
and counted in the task's notes. Each surviving pair becomes an ``assert`` test; when the task
has an ``atol`` the comparison is approximate, element-wise.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from orps.bench.datasets import MODULE_NAME, BenchTask, PlusTask, one_line_label
from orps_sandbox import ModuleSpec, Sandbox, TestKind, TestSpec, TestStatus, expected_text

PROBE_WANT = "<orps bench: expected output probe>"
GOT_MARKER = "\ngot:\n"

CLOSE_HELPER = """def _orps_close(actual, expected, atol):
    if isinstance(expected, float) or isinstance(actual, float):
        return abs(actual - expected) <= atol or actual == expected
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(actual) == len(expected) and all(
            _orps_close(a, e, atol) for a, e in zip(actual, expected)
        )
    return actual == expected
"""


FLOAT_ATOL = 1e-6
"""The tolerance evalplus applies to float outputs (a float, or a non-empty list or tuple of
floats) of a task whose own atol is 0; orps grades those outputs the same way."""


def _is_floats(value: object) -> bool:
    if isinstance(value, float):
        return True
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, float) for item in value)
    )


def probe_tests(task: PlusTask, inputs: tuple[str, ...], prefix: str) -> list[TestSpec]:
    return [
        TestSpec(
            id=f"{prefix}:{i}",
            kind=TestKind.DOCTEST,
            source=f"print(repr({task.entry}(*{args})))",
            setup=f"from {MODULE_NAME} import {task.entry}",
            expected_output=PROBE_WANT,
        )
        for i, args in enumerate(inputs)
    ]


def read_probe(detail: str) -> object:
    """The printed output of a probe, as a value; raises ValueError when unreadable."""
    if GOT_MARKER not in detail or detail.rstrip().endswith("(truncated)"):
        raise ValueError("no complete output")
    text = detail.split(GOT_MARKER, 1)[1].strip()
    return ast.literal_eval(text)


def output_tests(
    task: PlusTask,
    inputs: tuple[str, ...],
    outputs: list[object],
    prefix: str,
    arguments: Sequence[bytes] | None = None,
) -> list[TestSpec]:
    """One ``assert`` test per (input, expected output) pair; with ``arguments`` (each input's
    marshal data), the tests carry their values and nobody parses them."""
    tests: list[TestSpec] = []
    plain_setup = f"from {MODULE_NAME} import {task.entry}\n"
    for i, (args, value) in enumerate(zip(inputs, outputs, strict=True)):
        call = f"{task.entry}(*{args})"
        atol = task.atol or (FLOAT_ATOL if _is_floats(value) else 0)
        setup = plain_setup + CLOSE_HELPER if atol else plain_setup
        sides = (call, repr(value))
        if atol:
            # The parent judges the sides within atol; the helper serves the text alone.
            source = f"assert _orps_close({call}, {value!r}, {atol!r})"
        else:
            source = f"assert {call} == {sides[1]}"
        tests.append(
            TestSpec(
                id=f"{prefix}:{i}",
                kind=TestKind.ASSERT,
                source=source,
                setup=setup,
                label=one_line_label(source),
                sides=sides,
                data=_data(arguments[i], value) if arguments is not None else None,
                atol=float(atol) if atol else None,
            )
        )
    return tests


def _data(arguments: bytes, value: object) -> tuple[bytes, str] | None:
    text = expected_text(value)
    return None if text is None else (arguments, text)  # None: the sides' text is read


class _Missing:
    """Marks an output that could not be read (distinct from a real ``None``)."""


MISSING = _Missing()


async def resolve_expected(task: PlusTask, sandbox: Sandbox) -> BenchTask:
    """Run the reference on every input and turn the task into a ``BenchTask``."""
    reference = ModuleSpec(
        name=MODULE_NAME,
        source=task.reference_source,
        filename=f"<reference {task.task_id}>",
        entry=task.entry,
    )
    base = probe_tests(task, task.base_inputs, "visible")
    plus = probe_tests(task, task.plus_inputs, "held_out")
    # Only the values are wanted: no memory or timing runs (every probe "fails" by design).
    report = (await sandbox.run_many([(reference, base + plus)], measure=False))[0]
    by_id = {t.id: t for t in report.tests}

    def outputs(probes: list[TestSpec]) -> list[object]:
        values: list[object] = []
        for probe in probes:
            result = by_id.get(probe.id)
            try:
                if result is None or result.status is not TestStatus.FAILED:
                    raise ValueError("the reference did not run")
                values.append(read_probe(result.detail))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                values.append(MISSING)
        return values

    visible, visible_dropped = _keep(
        task, task.base_inputs, task.base_arguments, outputs(base), "visible"
    )
    held_out, held_out_dropped = _keep(
        task, task.plus_inputs, task.plus_arguments, outputs(plus), "held_out"
    )
    notes = list(task.notes)
    if visible_dropped or held_out_dropped:
        notes.append(
            f"inputs without a readable reference output dropped: {visible_dropped} visible, "
            f"{held_out_dropped} held-out"
        )
    return BenchTask(
        task_id=task.task_id,
        dataset=task.dataset,
        entry=task.entry,
        module_source=task.module_source,
        reference_source=task.reference_source,
        visible=tuple(visible),
        held_out=tuple(held_out),
        notes=tuple(notes),
    )


def _keep(
    task: PlusTask,
    inputs: tuple[str, ...],
    arguments: tuple[bytes, ...],
    values: list[object],
    prefix: str,
) -> tuple[list[TestSpec], int]:
    if len(values) != len(inputs):
        raise ValueError("one value per input expected")
    kept = [i for i, value in enumerate(values) if not isinstance(value, _Missing)]
    tests = output_tests(
        task,
        tuple(inputs[i] for i in kept),
        [values[i] for i in kept],
        prefix,
        [arguments[i] for i in kept] if len(arguments) == len(inputs) else None,
    )
    return tests, len(inputs) - len(kept)
