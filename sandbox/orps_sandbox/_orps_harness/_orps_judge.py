"""Running and judging one ``assert`` or doctest test against the loaded candidate.

``Runner`` compiles each test once (``Prepared``), so timing repetitions time the test's own code
(setup + statement) and not the compiler, then runs it in a fresh namespace seeded with the
module's globals and returns an ``Outcome`` (status and detail). A single ``assert a == b`` /
``a != b`` / bare ``assert a`` is evaluated side by side and judged with the trusted comparison;
doctests compare a literal want type-aware and anything else with ``doctest.OutputChecker``.
Where both sides are plain data (``_orps_values.encode``), the outcome also carries them
type-tagged in ``Outcome.judge`` and the parent judges again outside this process: its verdict is
the one that counts, so a candidate that patches the comparison here gains nothing. For a split
the parent judges (``assert CALL == LITERAL``) the harness never sees the expected side at all:
it sends the call's value, or, when the value is not plain data (which never equals a literal),
its bounded repr. A call with literal arguments comes as the callee's name and the arguments as
``marshal`` data, built afresh for every run and never compiled.
Exceptions become details showing only frames of candidate and test code, never the harness's.
Part of the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import ast
import hashlib
import json
import marshal
import sys
import time
import traceback
import types
from typing import TYPE_CHECKING, Any

# mypy sees these modules as orps_sandbox._orps_harness.*; at run time they import flat.
if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_channel import Message
    from orps_sandbox._orps_harness._orps_compare import (
        NUMBER_TYPES,
        REPR_LIMIT,
        builtin_base,
        safe_repr,
        values_equal,
    )
    from orps_sandbox._orps_harness._orps_output import BoundedWriter, trim
    from orps_sandbox._orps_harness._orps_values import (
        INLINE_BYTES,
        MAX_CHARS,
        MAX_VALUE_BYTES,
        Unencodable,
        encode,
        scalar_text,
        str_text_digest,
    )
else:
    from _orps_channel import Message
    from _orps_compare import NUMBER_TYPES, REPR_LIMIT, builtin_base, safe_repr, values_equal
    from _orps_output import BoundedWriter, trim
    from _orps_values import (
        INLINE_BYTES,
        MAX_CHARS,
        MAX_VALUE_BYTES,
        Unencodable,
        encode,
        scalar_text,
        str_text_digest,
    )

TRACEBACK_FRAMES = 3


def _side_code(text: str) -> types.CodeType:
    return compile(f"({text})", "<test>", "eval", dont_inherit=True)


def _doctest() -> types.ModuleType:
    """``doctest``, imported on first use: it brings ``pdb``, ``unittest`` and ``inspect``, about
    a third of a worker's start-up, which suites without doctests need not pay."""
    import doctest

    return doctest


# Captured at import, before candidate code: patching ``time.perf_counter_ns`` changes nothing here.
_PERF_COUNTER_NS = time.perf_counter_ns
_THREAD_TIME_NS = time.thread_time_ns
_LOADS = marshal.loads
_DUMPS = json.dumps
_SHA256 = hashlib.sha256


class Outcome:
    """The verdict of one execution of one test."""

    __slots__ = (
        "detail",
        "exit_requested",
        "judge",
        "judge_size",
        "large_str",
        "memory_error",
        "status",
    )

    def __init__(self, status: str, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        self.memory_error = False
        self.exit_requested = False
        self.judge: Message | None = None
        """Plain type-tagged values for the parent's own judgement, when both sides encode."""
        self.judge_size = -1
        """About the judgement's JSON length, when known (-1: measure it)."""
        self.large_str: str | None = None
        """A str value too large for one record whose JSON text (``judge["actual"]``) is made
        only if the parent does not match its digest (``value_digest``, then ``make_text``)."""

    def value_digest(self) -> tuple[str, int] | None:
        """The SHA-256 digest and length of the value's JSON text, for a value the parent judges
        that is too large for one record; None for any other outcome."""
        judge = self.judge
        if judge is None or judge["mode"] not in ("eq", "ne") or judge["expected"] is not None:
            return None
        if self.large_str is not None:
            found = str_text_digest(self.large_str)
            if found is not None:
                return found
            self.make_text()
            return self.value_digest()
        text: str = judge["actual"]
        if len(text) <= INLINE_BYTES:
            return None
        return _SHA256(text.encode()).hexdigest(), len(text)

    def make_text(self) -> None:
        """Make the JSON text of a large str kept as it is (a value whose digest the parent did
        not match travels whole); nothing for any other outcome."""
        value = self.large_str
        if value is None:
            return
        self.large_str = None
        assert self.judge is not None
        self.judge = _value_judgement(self.judge["mode"], value, _DUMPS(value))


def _value_judgement(mode: str, value: object, text: str | Exception) -> Message:
    """The judgement of a value the parent judges: its JSON text, or, when it has none (``text``
    is why) or one too large to judge, its bounded repr."""
    if isinstance(text, str) and len(text) > MAX_VALUE_BYTES:
        text = Unencodable(f"more than {MAX_VALUE_BYTES // 2**20} MiB: too large to judge")
    if isinstance(text, str):
        return {"mode": mode, "actual": text, "expected": None}
    return {
        "mode": "opaque",
        "actual": safe_repr(value),
        "expected": f"{type(value).__name__}: {text}",
    }


def judge_payload(mode: str, actual: object, expected: object) -> Message | None:
    """The values of one comparison as the JSON text of their plain data, or None when either
    side is not plain (or too large to judge)."""
    try:
        texts = [_DUMPS(encode(actual)), _DUMPS(encode(expected))]
    except (Unencodable, ValueError, RecursionError):
        return None
    if sum(map(len, texts)) > MAX_VALUE_BYTES:
        return None
    return {"mode": mode, "actual": texts[0], "expected": texts[1]}


def format_exception(exc: BaseException, trusted_files: set[str]) -> str:
    """Exception type and message plus the last frames that belong to candidate or test code."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename in trusted_files or frame.filename.startswith("<")
    ]
    lines = traceback.format_list(frames[-TRACEBACK_FRAMES:])
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = head
    if lines:
        text += "\nTraceback (last frames):\n" + "".join(lines).rstrip()
    return trim(text)


def exception_outcome(exc: BaseException, trusted_files: set[str]) -> Outcome:
    if isinstance(exc, SystemExit | KeyboardInterrupt | GeneratorExit):
        outcome = Outcome(
            "error",
            f"test raised {type(exc).__name__}({safe_repr(getattr(exc, 'code', ''))}): "
            "exiting or interrupting during a test is not allowed",
        )
        outcome.exit_requested = True
        return outcome
    if isinstance(exc, MemoryError):
        outcome = Outcome("error", "MemoryError: the candidate exceeded its memory limit")
        outcome.memory_error = True
        return outcome
    if isinstance(exc, AssertionError):
        return Outcome("failed", format_exception(exc, trusted_files))
    return Outcome("error", format_exception(exc, trusted_files))


def describe_mismatch(node: ast.expr, source: str, actual: object, expected: object) -> str:
    text = ast.get_source_segment(source, node) or "value"
    if isinstance(node, ast.Call):
        return f"{text} returned {safe_repr(actual)}, expected {safe_repr(expected)}"
    return f"{text} is {safe_repr(actual)}, expected {safe_repr(expected)}"


class Prepared:
    """A test compiled once, so repetitions time the test and not the compiler."""

    __slots__ = (
        "call_args",
        "callee",
        "expected",
        "has_literal",
        "is_expression",
        "left",
        "left_is_call",
        "left_text",
        "main",
        "mode",
        "node",
        "parent_judges",
        "right",
        "right_text",
        "setup",
        "source",
        "want",
    )

    def __init__(self) -> None:
        self.setup: types.CodeType | None = None
        self.main: types.CodeType | None = None
        self.left: types.CodeType | None = None
        self.right: types.CodeType | None = None
        self.mode = "exec"
        self.node: ast.Assert | None = None
        self.source = ""
        self.want = ""
        self.is_expression = False
        self.has_literal = False
        self.expected: Any = None
        self.right_text = ""
        """A split the parent sent: the right side compiles only when it is needed."""
        self.parent_judges = False
        self.left_text = ""
        self.left_is_call = False
        self.callee: types.CodeType | None = None
        """For a call with literal arguments: the callee's name, compiled once."""
        self.call_args = b""
        """... and its positional arguments, ``marshal`` data loaded afresh for every run."""


def _expression_code(node: ast.expr, source: str = "") -> types.CodeType:
    """Code for one expression of a test. From its own text when the test is one line (the
    compiler reads text much faster than it converts a parsed tree), else from the tree, whose
    nodes already carry their locations."""
    if source and "\n" not in source and node.lineno == node.end_lineno == 1:
        raw = source.encode()
        segment = raw[node.col_offset : node.end_col_offset].decode()
        try:
            return compile(f"({segment})", "<test>", "eval", dont_inherit=True)
        except SyntaxError:
            pass
    return compile(ast.Expression(body=node), "<test>", "eval", dont_inherit=True)


class Runner:
    """Executes tests of one loaded candidate; each call is one repetition.

    ``last_wall``/``last_cpu`` hold the time of the test's own code (setup + statement), not of
    namespace preparation or judging.
    """

    def __init__(self, module: types.ModuleType, filename: str, output_limit: int) -> None:
        self.module = module
        self.trusted_files = {filename}
        self.output_limit = output_limit
        self.prepared: dict[str, Prepared] = {}
        self.setups: dict[str, types.CodeType] = {}
        """Compiled setups by text: a suite's tests often share one."""
        self.callees: dict[str, types.CodeType] = {}
        """Compiled callees by name: a suite's calls are usually all to one function."""
        self.last_wall = 0
        self.last_cpu = 0
        self.encode_values = True
        """A correctness run: judge, and send the values for the parent to judge; timing and
        memory runs (False) give no verdict of their own and skip the comparisons."""

    def namespace(self) -> dict[str, Any]:
        return dict(vars(self.module))

    def prepare(self, test: Message) -> Prepared:
        key = test["id"]
        cached = self.prepared.get(key)
        if cached is not None:
            return cached
        prepared = Prepared()
        prepared.source = test["source"]
        setup = test.get("setup")
        if setup:
            code = self.setups.get(setup)
            if code is None:
                code = compile(setup, "<test setup>", "exec", dont_inherit=True)
                self.setups[setup] = code
            prepared.setup = code
        if test["kind"] == "doctest":
            prepared.want = test.get("expected_output") or ""
            try:
                prepared.main = compile(prepared.source, "<doctest>", "eval", dont_inherit=True)
                prepared.is_expression = True
            except SyntaxError:
                prepared.main = compile(prepared.source, "<doctest>", "single", dont_inherit=True)
            try:
                prepared.expected = ast.literal_eval(prepared.want.strip())
                # "..." in a want is doctest's ELLIPSIS, not the Ellipsis literal.
                prepared.has_literal = "..." not in prepared.want
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                prepared.has_literal = False
        elif test.get("split"):
            # The parent parsed this one-line ``assert a == b`` already: compile the sides only.
            split = test["split"]
            prepared.mode = "eq" if split["op"] == "eq" else "ne"
            call = split.get("call")
            if call is not None:
                callee = self.callees.get(call[0])
                if callee is None:
                    callee = self.callees[call[0]] = _side_code(call[0])
                prepared.callee = callee
                prepared.call_args = call[1]
            else:
                prepared.left = _side_code(split["left"])
            prepared.right_text = split.get("right") or ""
            prepared.parent_judges = bool(split["parent_judges"])
            prepared.left_text = split["left"]
            prepared.left_is_call = bool(split["left_is_call"])
            # The parent sends no source with a split (it would double a large expected value).
            prepared.source = f"{split['left']} {'==' if prepared.mode == 'eq' else '!='} ..."
        else:
            tree = ast.parse(prepared.source, "<test>")
            if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
                node = tree.body[0]
                condition = node.test
                prepared.node = node
                if (
                    isinstance(condition, ast.Compare)
                    and len(condition.ops) == 1
                    and isinstance(condition.ops[0], ast.Eq | ast.NotEq)
                ):
                    prepared.mode = "eq" if isinstance(condition.ops[0], ast.Eq) else "ne"
                    prepared.left = _expression_code(condition.left, prepared.source)
                    prepared.right = _expression_code(condition.comparators[0], prepared.source)
                elif not isinstance(condition, ast.Compare | ast.BoolOp | ast.UnaryOp):
                    prepared.mode = "truth"
                    prepared.left = _expression_code(condition, prepared.source)
            if prepared.mode == "exec":
                prepared.main = compile(tree, "<test>", "exec", dont_inherit=True)
        self.prepared[key] = prepared
        return prepared

    def _clock_start(self) -> tuple[int, int]:
        return _PERF_COUNTER_NS(), _THREAD_TIME_NS()

    def _clock_stop(self, start: tuple[int, int]) -> None:
        self.last_wall = _PERF_COUNTER_NS() - start[0]
        self.last_cpu = _THREAD_TIME_NS() - start[1]

    def run_assert(self, test: Message) -> Outcome:
        try:
            prepared = self.prepare(test)
        except SyntaxError as exc:
            return Outcome("error", f"the test does not parse: {exc}")
        defer = prepared.parent_judges and self.encode_values
        if prepared.right is None and prepared.right_text and not defer:
            prepared.right = _side_code(prepared.right_text)  # compiled outside the clock
        namespace = self.namespace()
        source = prepared.source
        args = _LOADS(prepared.call_args) if prepared.callee is not None else ()
        start = self._clock_start()
        try:
            if prepared.setup is not None:
                exec(prepared.setup, namespace)
            if prepared.mode == "exec":
                assert prepared.main is not None
                exec(prepared.main, namespace)
                self._clock_stop(start)
                return Outcome("passed")
            if prepared.callee is not None:
                left = eval(prepared.callee, namespace)(*args)
            else:
                assert prepared.left is not None
                left = eval(prepared.left, namespace)
            if defer or prepared.right is None:
                # The expected side is a literal the parent holds: it judges the value itself
                # (timing runs, which need no verdict, skip the comparison altogether).
                self._clock_stop(start)
                right = None
                if defer:
                    return self._deferred(prepared, left)
            else:
                right = eval(prepared.right, namespace)
                self._clock_stop(start)
        except AssertionError as exc:
            self._clock_stop(start)
            message = f": {safe_repr(exc.args[0])}" if exc.args else ""
            return Outcome("failed", trim(f"assertion failed: {source.strip()}{message}"))
        except BaseException as exc:  # candidate code may raise anything
            self._clock_stop(start)
            return exception_outcome(exc, self.trusted_files)
        if prepared.parent_judges and prepared.right is None:
            return Outcome("passed")  # a timing run of a test whose verdict the parent gave
        if not self.encode_values and prepared.mode in ("eq", "ne"):
            # A timing or memory run: the check gave the verdict, and comparing large values
            # (in Python, off the clock) would cost more than the run the parent times.
            return Outcome("passed")
        try:
            outcome = self._judge(prepared, left, right, namespace)
        except BaseException as exc:  # candidate objects may raise anything
            return exception_outcome(exc, self.trusted_files)
        if self.encode_values and prepared.mode in ("eq", "ne"):
            outcome.judge = judge_payload(prepared.mode, left, right)
        return outcome

    @staticmethod
    def _deferred(prepared: Prepared, left: Any) -> Outcome:
        """The outcome that leaves the verdict to the parent: the value as plain data, or, when
        it is not plain data (so never equal to the parent's literal), its bounded repr. A str
        too large for one record is kept as it is: the parent is offered its digest first, and
        its text is made only if it is sent (``Outcome.make_text``)."""
        outcome = Outcome("failed", "the parent judges this comparison")
        if type(left) is str and INLINE_BYTES < len(left) <= MAX_CHARS:
            outcome.judge = {"mode": prepared.mode, "actual": None, "expected": None}
            outcome.judge_size = len(left) + 66
            outcome.large_str = left
            return outcome
        text: str | Exception
        try:
            # The JSON text itself: the parent compares it with its literal's own text first.
            text = scalar_text(left) or _DUMPS(encode(left))
        except (Unencodable, ValueError, RecursionError) as exc:
            text = exc
        outcome.judge = _value_judgement(prepared.mode, left, text)
        outcome.judge_size = len(text) + 64 if isinstance(text, str) else -1
        return outcome

    def _judge(
        self, prepared: Prepared, left: Any, right: Any, namespace: dict[str, Any]
    ) -> Outcome:
        node = prepared.node
        if node is None:  # a split the parent sent: no message, and the sides' own text
            equal = values_equal(left, right)
            if equal == (prepared.mode == "eq"):
                return Outcome("passed")
            text = prepared.left_text
            if prepared.mode == "ne":
                return Outcome("failed", f"{text} is {safe_repr(left)}, expected a different value")
            verb = "returned" if prepared.left_is_call else "is"
            return Outcome(
                "failed", f"{text} {verb} {safe_repr(left)}, expected {safe_repr(right)}"
            )
        source = prepared.source
        message = ""
        if node.msg is not None:
            message = " (" + safe_repr(eval(_expression_code(node.msg), namespace)) + ")"
        condition = node.test
        if prepared.mode in ("eq", "ne"):
            assert isinstance(condition, ast.Compare)
            equal = values_equal(left, right)
            if prepared.mode == "eq":
                if equal:
                    return Outcome("passed")
                return Outcome(
                    "failed", describe_mismatch(condition.left, source, left, right) + message
                )
            if not equal:
                return Outcome("passed")
            text = ast.get_source_segment(source, condition.left) or "value"
            return Outcome(
                "failed", f"{text} is {safe_repr(left)}, expected a different value{message}"
            )
        value = left
        if type(value) in NUMBER_TYPES or builtin_base(value) is not None:
            truth = bool(value)
        else:
            truth = value is not None and bool(value)
        if truth:
            return Outcome("passed")
        text = ast.get_source_segment(source, condition) or "value"
        return Outcome("failed", f"{text} is {safe_repr(value)}, expected a true value{message}")

    def run_doctest(self, test: Message) -> Outcome:
        try:
            prepared = self.prepare(test)
        except SyntaxError as exc:
            return Outcome("error", f"the example does not parse: {exc}")
        source, want = prepared.source, prepared.want
        namespace = self.namespace()
        capture = BoundedWriter(self.output_limit)
        real_stdout = sys.stdout
        value: Any = None
        start = self._clock_start()
        try:
            sys.stdout = capture
            try:
                if prepared.setup is not None:
                    exec(prepared.setup, namespace)
                    capture = BoundedWriter(self.output_limit)
                    sys.stdout = capture
                assert prepared.main is not None
                if prepared.is_expression:
                    value = eval(prepared.main, namespace)
                else:
                    exec(prepared.main, namespace)
            finally:
                sys.stdout = real_stdout
                self._clock_stop(start)
        except BaseException as exc:  # candidate code may raise anything
            if isinstance(exc, SystemExit | KeyboardInterrupt | GeneratorExit | MemoryError):
                return exception_outcome(exc, self.trusted_files)
            return self._judge_doctest_exception(exc, want, source)
        try:
            return self._judge_doctest(prepared, value, capture.getvalue())
        except BaseException as exc:  # candidate objects may raise anything
            return exception_outcome(exc, self.trusted_files)

    def _judge_doctest(self, prepared: Prepared, value: Any, printed: str) -> Outcome:
        source, want = prepared.source, prepared.want
        if want.lstrip().startswith("Traceback (most recent call last)"):
            return Outcome("failed", f"{source.strip()} raised nothing, expected:\n{want.strip()}")
        if prepared.is_expression and not printed and value is not None and prepared.has_literal:
            if values_equal(value, prepared.expected):
                outcome = Outcome("passed")
            else:
                outcome = Outcome(
                    "failed",
                    f"{source.strip()} returned {safe_repr(value)}, "
                    f"expected {want.strip()[:REPR_LIMIT]}",
                )
            if self.encode_values:
                outcome.judge = judge_payload("doctest", value, prepared.expected)
            return outcome
        got = printed
        if prepared.is_expression and value is not None:
            got += safe_repr(value, self.output_limit) + "\n"
        doctest = _doctest()
        checker = doctest.OutputChecker()
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        if checker.check_output(want, got, flags):
            return Outcome("passed")
        return Outcome(
            "failed",
            trim(f"{source.strip()}\nexpected:\n{want.rstrip()}\ngot:\n{got.rstrip()}"),
        )

    def _judge_doctest_exception(self, exc: BaseException, want: str, source: str) -> Outcome:
        got_line = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if want.lstrip().startswith("Traceback (most recent call last)"):
            doctest = _doctest()
            match = doctest.DocTestParser._EXCEPTION_RE.match(want)  # type: ignore[attr-defined]
            want_msg = match.group("msg") if match else want.splitlines()[-1]
            checker = doctest.OutputChecker()
            flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
            if checker.check_output(want_msg, got_line + "\n", flags):
                return Outcome("passed")
            # doctest also accepts a module-qualified exception name.
            short = got_line.split(":", 1)
            qualified = f"{type(exc).__module__}.{short[0]}" + (
                ":" + short[1] if len(short) > 1 else ""
            )
            if checker.check_output(want_msg, qualified + "\n", flags):
                return Outcome("passed")
            return Outcome(
                "failed",
                trim(f"{source.strip()}\nexpected exception:\n{want_msg.strip()}\ngot: {got_line}"),
            )
        return Outcome("error", format_exception(exc, self.trusted_files))
