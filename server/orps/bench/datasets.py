"""Benchmark tasks read from the shared folder: a function stub, a reference, visible and held-out tests.

A ``BenchTask`` is what every method works on. Its ``module_source`` is a stub module: the
imports and interface definitions the tests need, then the target function with its instruction
as docstring and ``...`` as body. The model sees that stub and the visible tests only; the
held-out tests and the reference solution are used to score the final answer.

CSV datasets (LBPP, HumanEval, MBPP) carry ``dev.csv`` (visible tests) and ``test.csv``
(held-out tests). Their ``test_setup`` imports the solution with ``from code import ...``; the
module is called ``solution`` here rather than ``code`` (which would shadow the standard
library module), so that import is rewritten to ``from solution import ...``.

EvalPlus datasets (HumanEval+, MBPP+) carry inputs only. Visible tests are built from
``base_input`` and held-out tests from ``plus_input`` (the first ``plus_limit`` of them);
expected outputs come from running ``canonical_solution`` on the inputs in the sandbox (see
``orps.bench.expected``), so a ``PlusTask`` becomes a ``BenchTask`` only after that step.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import marshal
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orps_sandbox import TestKind, TestSpec

MODULE_NAME = "solution"
LBPP_CANARY = "lbpp/41"
CSV_DATASETS = ("lbpp", "humaneval", "mbpp")
PLUS_DATASETS = ("humanevalplus", "mbppplus")
DATASETS = CSV_DATASETS + PLUS_DATASETS
PLUS_FILES = {
    "humanevalplus": "HumanEvalPlus.jsonl.gz",
    "mbppplus": "MbppPlus.jsonl.gz",
}
LABEL_CHARS = 300

_FROM_CODE = re.compile(r"^(\s*)from\s+code\s+import\b", re.MULTILINE)
_IMPORT_CODE = re.compile(r"^(\s*)import\s+code\b", re.MULTILINE)


class DatasetError(Exception):
    """The benchmark data cannot be used; the message is one readable line."""


@dataclass(frozen=True)
class BenchTask:
    """One benchmark problem, ready for every method."""

    task_id: str
    dataset: str
    entry: str
    module_source: str
    reference_source: str
    visible: tuple[TestSpec, ...]
    held_out: tuple[TestSpec, ...]
    notes: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "_", self.task_id).strip("_")


@dataclass(frozen=True)
class PlusTask:
    """An EvalPlus problem whose expected outputs are not computed yet."""

    task_id: str
    dataset: str
    entry: str
    module_source: str
    reference_source: str
    base_inputs: tuple[str, ...]
    plus_inputs: tuple[str, ...]
    atol: float
    notes: tuple[str, ...] = ()
    base_arguments: tuple[bytes, ...] = ()
    """Each base input's arguments as marshal data (a tuple), beside its text: tests built from
    them need no parsing (``TestSpec.data``)."""
    plus_arguments: tuple[bytes, ...] = ()


def default_data_dir() -> Path:
    """``shared/benchmarks`` beside the project root (the repository's parent directory).

    The project root is found from this package's location, not from the working directory.
    """
    here = Path(__file__).resolve()
    for directory in here.parents:
        if (directory / "pyproject.toml").exists():
            return directory.parent / "shared" / "benchmarks"
    return here.parents[3].parent / "shared" / "benchmarks"


def rewrite_code_import(setup: str) -> str:
    """``from code import f`` becomes ``from solution import f`` (the candidate's module)."""
    setup = _FROM_CODE.sub(rf"\1from {MODULE_NAME} import", setup)
    return _IMPORT_CODE.sub(rf"\1import {MODULE_NAME} as code", setup)


def one_line_label(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def assert_tests(snippets: Sequence[str], setup: str, prefix: str) -> tuple[TestSpec, ...]:
    setup = rewrite_code_import(setup)
    return tuple(
        TestSpec(
            id=f"{prefix}:{i}",
            kind=TestKind.ASSERT,
            source=snippet,
            setup=setup,
            label=one_line_label(snippet),
        )
        for i, snippet in enumerate(snippets)
    )


# -- reading sources ----------------------------------------------------------------------------


def _top_level_defs(tree: ast.Module) -> dict[str, ast.stmt]:
    return {
        stmt.name: stmt
        for stmt in tree.body
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def _called_names(snippets: Sequence[str]) -> list[str]:
    names: list[str] = []
    for snippet in snippets:
        try:
            tree = ast.parse(snippet)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id not in names:
                    names.append(node.func.id)
    return names


def _imported_from_code(setup: str) -> list[str]:
    try:
        tree = ast.parse(setup)
    except SyntaxError:
        return []
    return [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "code"
        for alias in node.names
    ]


def find_entry(reference: ast.Module, snippets: Sequence[str], signature: str = "") -> str:
    """The function under test: named by the signature, else the first defined one the tests call."""
    match = re.search(r"def\s+([A-Za-z_]\w*)\s*\(", signature)
    if match:
        return match.group(1)
    defs = [
        name
        for name, stmt in _top_level_defs(reference).items()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for name in _called_names(snippets):
        if name in defs:
            return name
    if defs:
        return defs[-1]
    raise DatasetError("the reference solution defines no function")


def stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef, docstring: str) -> str:
    """The function's signature with ``docstring`` and ``...`` as its whole body."""
    stub = ast.FunctionDef(
        name=node.name,
        args=node.args,
        body=[ast.Expr(ast.Constant(docstring)), ast.Expr(ast.Constant(...))],
        decorator_list=[],
        returns=node.returns,
        type_comment=None,
    )
    ast.fix_missing_locations(stub)
    return ast.unparse(stub) + "\n"


def stub_module(
    reference: str,
    entry: str,
    docstring: str | None,
    *,
    keep: Sequence[str] = (),
    keep_all_defs: bool = False,
    extra_imports: str = "",
    signature: str = "",
) -> str:
    """A module holding the reference's imports, the kept definitions and the entry as a stub.

    ``keep`` names definitions the tests import beside the entry (interface classes);
    ``keep_all_defs`` keeps every other definition (HumanEval, whose helpers are in the prompt).
    """
    tree = ast.parse(reference)
    defs = _top_level_defs(tree)
    node = defs.get(entry)
    imports = [
        ast.get_source_segment(reference, stmt) or ast.unparse(stmt)
        for stmt in tree.body
        if isinstance(stmt, ast.Import)
        or (isinstance(stmt, ast.ImportFrom) and stmt.module not in ("__future__", "code"))
    ]
    extra = _imports_of(extra_imports)
    kept = [
        _definition_source(reference, stmt)
        for name, stmt in defs.items()
        if name != entry and (keep_all_defs or name in keep)
    ]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if docstring is None:
            docstring = ast.get_docstring(node, clean=False) or ""
        entry_stub = stub_function(node, _indent_docstring(docstring))
    elif signature:
        text = _indent_docstring(docstring or "").replace('"""', "'''")
        entry_stub = f'{signature.strip()}\n    """{text}"""\n    ...\n'
    else:
        raise DatasetError(f"no function {entry!r} in the reference solution")
    if not keep_all_defs:
        # Only the imports the stub's own text uses: the reference's others would hint at it.
        body = "\n".join([*kept, entry_stub])
        imports = [line for line in imports if _binds_used_name(line, body)]
    header = list(dict.fromkeys([*extra, *imports]))
    parts = ["from __future__ import annotations", "\n".join(header), *kept, entry_stub]
    return "\n\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"


def _imports_of(setup: str) -> list[str]:
    """The import statements of a test setup, except the solution's own import."""
    try:
        tree = ast.parse(setup)
    except SyntaxError:
        return []
    return [
        ast.unparse(stmt)
        for stmt in tree.body
        if isinstance(stmt, ast.Import)
        or (isinstance(stmt, ast.ImportFrom) and stmt.module not in ("__future__", "code"))
    ]


def _definition_source(reference: str, stmt: ast.stmt) -> str:
    segment = ast.get_source_segment(reference, stmt, padded=True)
    if segment is not None:
        try:
            ast.parse(segment)
            return segment
        except SyntaxError:
            pass
    return ast.unparse(stmt)


def _indent_docstring(text: str) -> str:
    """Continuation lines indented as in a function body (text already indented stays as is)."""
    lines = text.strip("\n").split("\n")
    if len(lines) == 1:
        return lines[0]
    if all(not line.strip() or line.startswith("    ") for line in lines[1:]):
        return "\n".join(lines) + "\n    "
    rest = ["    " + line if line.strip() else "" for line in lines[1:]]
    return "\n".join([lines[0], *rest]) + "\n    "


def _binds_used_name(import_line: str, body: str) -> bool:
    try:
        tree = ast.parse(import_line)
    except SyntaxError:
        return True
    names = [
        (alias.asname or alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    return any(re.search(rf"\b{re.escape(name)}\b", body) for name in names)


# -- CSV datasets -------------------------------------------------------------------------------


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["task_id"]: row for row in csv.DictReader(handle)}


def _snippets(row: dict[str, str], task_id: str) -> list[str]:
    try:
        value = ast.literal_eval(row["test_list"])
    except (ValueError, SyntaxError) as exc:
        raise DatasetError(f"{task_id}: unreadable test_list ({exc})") from None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise DatasetError(f"{task_id}: test_list is not a list of strings")
    return value


def csv_task(dataset: str, visible_row: dict[str, str], held_out_row: dict[str, str]) -> BenchTask:
    task_id = visible_row["task_id"]
    reference = held_out_row["completion"]
    visible = _snippets(visible_row, task_id)
    held_out = _snippets(held_out_row, task_id)
    try:
        tree = ast.parse(reference)
    except SyntaxError as exc:
        raise DatasetError(f"{task_id}: the reference does not parse ({exc.msg})") from None
    signature = visible_row.get("signature", "") or ""
    entry = find_entry(tree, [*visible, *held_out], signature)
    setup = held_out_row.get("test_setup", "") or ""
    interface = [
        name
        for name in _imported_from_code(setup)
        + _imported_from_code(visible_row.get("test_setup", ""))
        if name != entry
    ]
    if dataset == "humaneval":
        module = stub_module(reference, entry, None, keep_all_defs=True, extra_imports=setup)
    else:
        module = stub_module(
            reference,
            entry,
            visible_row["instruction"],
            keep=interface,
            extra_imports=setup,
            signature=signature,
        )
    return BenchTask(
        task_id=task_id,
        dataset=dataset,
        entry=entry,
        module_source=module,
        reference_source=reference,
        visible=assert_tests(visible, visible_row.get("test_setup", "") or "", "visible"),
        held_out=assert_tests(held_out, setup, "held_out"),
    )


def load_csv_tasks(directory: Path, dataset: str) -> list[BenchTask]:
    dev, test = directory / "dev.csv", directory / "test.csv"
    for path in (dev, test):
        if not path.is_file():
            raise DatasetError(f"missing {path}")
    visible_rows, held_out_rows = _read_csv(dev), _read_csv(test)
    tasks = []
    for task_id, row in visible_rows.items():
        if task_id == LBPP_CANARY or task_id not in held_out_rows:
            continue
        tasks.append(csv_task(dataset, row, held_out_rows[task_id]))
    return tasks


# -- EvalPlus datasets --------------------------------------------------------------------------


def _inputs(value: Any) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """Each input list as Python source (JSON lists stay lists: both sides see the same values)
    and as marshal data of its arguments."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        return (), ()
    lists = [args for args in value if isinstance(args, list)]
    return tuple(repr(args) for args in lists), tuple(marshal.dumps(tuple(a)) for a in lists)


def plus_task(dataset: str, record: dict[str, Any], plus_limit: int) -> PlusTask:
    task_id = str(record["task_id"])
    entry = str(record["entry_point"])
    if dataset == "humanevalplus":
        reference = str(record["prompt"]) + str(record["canonical_solution"])
        module = stub_module(reference, entry, None, keep_all_defs=True)
    else:
        reference = str(record["canonical_solution"])
        instruction = str(record["prompt"]).strip().strip('"').strip()
        module = stub_module(reference, entry, instruction)
    plus_inputs, plus_arguments = _inputs(record.get("plus_input", []))
    base_inputs, base_arguments = _inputs(record.get("base_input", []))
    notes: tuple[str, ...] = ()
    if len(plus_inputs) > plus_limit:
        notes = (f"held-out inputs capped at {plus_limit} of {len(plus_inputs)}",)
    try:
        atol = float(record.get("atol") or 0)
    except (TypeError, ValueError):
        atol = 0.0
    return PlusTask(
        task_id=task_id,
        dataset=dataset,
        entry=entry,
        module_source=module,
        reference_source=reference,
        base_inputs=base_inputs,
        plus_inputs=plus_inputs[:plus_limit],
        atol=atol,
        notes=notes,
        base_arguments=base_arguments,
        plus_arguments=plus_arguments[:plus_limit],
    )


def load_plus_tasks(directory: Path, dataset: str, plus_limit: int) -> list[PlusTask]:
    path = directory / PLUS_FILES[dataset]
    if not path.is_file():
        raise DatasetError(f"missing {path}")
    tasks = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                tasks.append(plus_task(dataset, json.loads(line), plus_limit))
    return tasks


def load_tasks(
    data_dir: Path, dataset: str, plus_limit: int = 50
) -> Sequence[BenchTask | PlusTask]:
    """All tasks of ``dataset`` (the LBPP canary skipped)."""
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r} (choose from {', '.join(DATASETS)})")
    if not data_dir.is_dir():
        raise DatasetError(f"benchmark data not found at {data_dir} (pass --data-dir DIR)")
    directory = data_dir / dataset
    if not directory.is_dir():
        raise DatasetError(f"no {dataset} data at {directory} (pass --data-dir DIR)")
    try:
        with warnings.catch_warnings():
            # Dataset code written for older Pythons ("\w" in plain strings) is not our concern.
            warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
            if dataset in PLUS_DATASETS:
                return load_plus_tasks(directory, dataset, plus_limit)
            return load_csv_tasks(directory, dataset)
    except (OSError, csv.Error, json.JSONDecodeError, KeyError) as exc:
        raise DatasetError(f"cannot read {dataset} data in {directory}: {exc}") from None


def select_tasks(
    tasks: Sequence[BenchTask | PlusTask], ids: Sequence[str] | None, limit: int | None
) -> list[BenchTask | PlusTask]:
    """The tasks named by ``ids`` (in that order), else the first ``limit`` tasks."""
    if ids:
        by_id = {t.task_id: t for t in tasks}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DatasetError(f"unknown task id(s): {', '.join(missing)}")
        return [by_id[i] for i in ids]
    return list(tasks[:limit] if limit else tasks)
