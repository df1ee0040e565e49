"""The child side of the sandbox: runs inside the confined process and executes one candidate.

This file is executed as a script (``python -I harness.py CONFIG``) inside the sandbox, so it uses
the standard library only (pytest is imported lazily for pytest items) and never imports the rest
of ``orps_sandbox``. It talks to the parent over an inherited socket (fd 3), never over stdout: the
parent only believes framed records that arrive on that socket, so printing a fake result line and
exiting forges nothing. The protocol is command driven so the parent can interleave measurement
across candidates:

``load`` (module + tests) → ``loaded``; ``check`` (test indices) → ``start``/``result`` per test;
``time`` (indices + repetitions) → ``start``/``samples`` per test; ``finish`` → ``bye``.

Before any candidate code runs, a guard disables process, signal and destructive file APIs. The
guard is defence in depth only: the boundary is the OS confinement set up by the parent.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import doctest
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import linecache
import math
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
import tracemalloc
import types
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Generator
from typing import Any

CHANNEL_FD = 3
REPR_LIMIT = 200
DETAIL_LIMIT = 2000
TRACEBACK_FRAMES = 3

Message = dict[str, Any]


class Channel:
    """Framed JSON records over the inherited socket; references captured before candidate code."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sendall = self._sock.sendall
        self._recv = self._sock.recv
        self._dumps = json.dumps
        self._loads = json.loads
        self._pack = struct.pack
        self._unpack = struct.unpack

    def send(self, message: Message) -> None:
        data = self._dumps(message).encode()
        self._sendall(self._pack("!I", len(data)) + data)

    def receive(self) -> Message:
        header = self._read_exact(4)
        (size,) = self._unpack("!I", header)
        value = self._loads(self._read_exact(size).decode())
        if not isinstance(value, dict):
            raise ValueError("malformed command")
        return value

    def _read_exact(self, size: int) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self._recv(min(remaining, 1 << 20))
            if not chunk:
                os._exit(0)  # parent closed the channel: nothing left to do
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Type-aware comparison: a value from candidate code never gets to judge itself.

_NUMBER_TYPES = (int, float, complex, bool)
_TRUSTED_EQ: dict[type, Callable[..., Any]] = {
    list: list.__eq__,
    tuple: tuple.__eq__,
    dict: dict.__eq__,
    set: set.__eq__,
    frozenset: frozenset.__eq__,
    str: str.__eq__,
    bytes: bytes.__eq__,
    bytearray: bytearray.__eq__,
}
_TRUSTED_SUBCLASS_EQ = {
    dict.__eq__,
    list.__eq__,
    tuple.__eq__,
    OrderedDict.__eq__,
    Counter.__eq__,
    defaultdict.__eq__,
    deque.__eq__,
}


def _builtin_base(value: object) -> type | None:
    """The builtin container/scalar type a value behaves as, if its equality is a trusted one."""
    kind = type(value)
    if kind in _TRUSTED_EQ:
        return kind
    for base in (dict, list, tuple, str, bytes, set, frozenset):
        if isinstance(value, base) and getattr(kind, "__eq__", None) in _TRUSTED_SUBCLASS_EQ:
            return base
    if isinstance(value, deque) and kind.__eq__ in _TRUSTED_SUBCLASS_EQ:
        return deque
    return None


def values_equal(actual: object, expected: object, depth: int = 0) -> bool:
    """Equality that cannot be faked by an ``__eq__`` that always returns True."""
    if depth > 200:
        return False
    if type(actual) in _NUMBER_TYPES and type(expected) in _NUMBER_TYPES:
        if actual == expected:
            return True
        if isinstance(actual, float | int) and isinstance(expected, float | int):
            return math.isclose(actual, expected, rel_tol=1e-9)
        return False
    if actual is None or expected is None:
        return actual is expected
    base_a, base_e = _builtin_base(actual), _builtin_base(expected)
    if base_a is not None or base_e is not None:
        if base_a is not base_e:
            return False
        if base_a in (list, tuple, deque):
            seq_a, seq_e = list(actual), list(expected)  # type: ignore[call-overload]
            return len(seq_a) == len(seq_e) and all(
                values_equal(x, y, depth + 1) for x, y in zip(seq_a, seq_e, strict=True)
            )
        if base_a is dict:
            map_a: dict[Any, Any] = dict(actual)  # type: ignore[call-overload]
            map_e: dict[Any, Any] = dict(expected)  # type: ignore[call-overload]
            if len(map_a) != len(map_e):
                return False
            for key, value in map_e.items():
                if not _trusted_hashable(key) or key not in map_a:
                    return False
                if not values_equal(map_a[key], value, depth + 1):
                    return False
            return True
        if base_a in (set, frozenset):
            items_a, items_e = list(actual), list(expected)  # type: ignore[call-overload]
            if not all(_trusted_hashable(x) for x in items_a + items_e):
                return False
            return set(items_a) == set(items_e)
        assert base_a is not None
        return bool(_TRUSTED_EQ[base_a](actual, expected))
    if type(actual) is not type(expected):
        return False
    # Same user-defined type on both sides: its own __eq__ is the only definition we have.
    try:
        return bool(actual == expected)
    except Exception:
        return False


def _trusted_hashable(value: object) -> bool:
    kind = type(value)
    if kind in _NUMBER_TYPES or kind in (str, bytes, type(None), frozenset):
        return kind is not frozenset or all(_trusted_hashable(x) for x in value)  # type: ignore[attr-defined]
    if kind is tuple:
        return all(_trusted_hashable(x) for x in value)  # type: ignore[attr-defined]
    return False


def safe_repr(value: object, limit: int = REPR_LIMIT) -> str:
    try:
        text = repr(value)
    except BaseException as exc:  # candidate objects may raise anything
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _trim(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n... (truncated)"


# ---------------------------------------------------------------------------------------------
# Bounded output capture for doctests.


class BoundedWriter(io.TextIOBase):
    """A text sink that keeps at most ``limit`` characters and silently counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._parts: list[str] = []
        self._kept = 0
        self._limit = limit
        self.dropped = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")
        room = self._limit - self._kept
        if room > 0:
            piece = text[:room]
            self._parts.append(piece)
            self._kept += len(piece)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)


# ---------------------------------------------------------------------------------------------
# Guard: defence in depth, not the boundary.


class GuardError(PermissionError):
    pass


def install_guard(writable_roots: list[str]) -> None:
    """Disable process, signal, network and destructive file APIs for candidate code."""
    roots = [os.path.realpath(r) for r in writable_roots]
    realpath = os.path.realpath
    fspath = os.fspath

    def inside(path: Any) -> bool:
        try:
            if isinstance(path, int):
                return True
            target = realpath(fspath(path))
        except Exception:
            return False
        return any(target == r or target.startswith(r + os.sep) for r in roots)

    def blocked(name: str) -> Callable[..., Any]:
        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise GuardError(f"{name} is not allowed in the orps sandbox")

        return refuse

    for name in (
        "kill",
        "killpg",
        "system",
        "fork",
        "forkpty",
        "popen",
        "execv",
        "execve",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execvp",
        "execvpe",
        "spawnv",
        "spawnve",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
        "setsid",
        "setpgid",
    ):
        if hasattr(os, name):
            setattr(os, name, blocked(f"os.{name}"))
    signal.pthread_kill = blocked("signal.pthread_kill")
    subprocess.Popen = blocked("subprocess.Popen")  # type: ignore[misc,assignment]
    for name in ("call", "run", "check_call", "check_output", "getoutput", "getstatusoutput"):
        setattr(subprocess, name, blocked(f"subprocess.{name}"))

    def path_guarded(name: str, original: Callable[..., Any], nargs: int = 1) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            for path in args[:nargs]:
                if not inside(path):
                    raise GuardError(f"{name} outside the scratch directory is not allowed")
            return original(*args, **kwargs)

        return guarded

    os.remove = path_guarded("os.remove", os.remove)
    os.unlink = path_guarded("os.unlink", os.unlink)
    os.rmdir = path_guarded("os.rmdir", os.rmdir)
    os.rename = path_guarded("os.rename", os.rename, 2)
    os.replace = path_guarded("os.replace", os.replace, 2)
    shutil.rmtree = path_guarded("shutil.rmtree", shutil.rmtree)  # type: ignore[assignment]

    original_open = builtins.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+") and not inside(file):
            raise GuardError("writing outside the scratch directory is not allowed")
        return original_open(file, mode, *args, **kwargs)

    builtins.open = guarded_open
    io.open = guarded_open

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family != socket.AF_UNIX:
            raise GuardError("network access is not allowed in the orps sandbox")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family != socket.AF_UNIX:
            raise GuardError("network access is not allowed in the orps sandbox")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


# ---------------------------------------------------------------------------------------------
# Loading the candidate module under its dotted name.


class CandidateLoader(importlib.abc.Loader):
    """Serves the candidate's source for its module name; everything else imports normally."""

    def __init__(self, name: str, source: str, filename: str) -> None:
        self.name = name
        self.source = source
        self.filename = filename

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)


class CandidateFinder(importlib.abc.MetaPathFinder):
    def __init__(self, loader: CandidateLoader) -> None:
        self.loader = loader

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.loader.name:
            return None
        is_package = os.path.basename(self.loader.filename) == "__init__.py"
        spec = importlib.util.spec_from_loader(
            fullname, self.loader, origin=self.loader.filename, is_package=is_package
        )
        if spec is not None:
            spec.has_location = True
            if is_package:
                spec.submodule_search_locations = [os.path.dirname(self.loader.filename)]
        return spec


# ---------------------------------------------------------------------------------------------
# Running tests.


class Outcome:
    """The verdict of one execution of one test."""

    __slots__ = ("detail", "exit_requested", "memory_error", "status")

    def __init__(self, status: str, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        self.memory_error = False
        self.exit_requested = False


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
    return _trim(text)


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
        "expected",
        "has_literal",
        "is_expression",
        "left",
        "main",
        "mode",
        "node",
        "right",
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


def _expression_code(node: ast.expr) -> types.CodeType:
    expression = ast.Expression(body=node)
    ast.fix_missing_locations(expression)
    return compile(expression, "<test>", "eval", dont_inherit=True)


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
        self.last_wall = 0
        self.last_cpu = 0

    def namespace(self) -> dict[str, Any]:
        return dict(vars(self.module))

    def prepare(self, test: Message) -> Prepared:
        key = test["id"]
        cached = self.prepared.get(key)
        if cached is not None:
            return cached
        prepared = Prepared()
        prepared.source = test["source"]
        if test.get("setup"):
            prepared.setup = compile(test["setup"], "<test setup>", "exec", dont_inherit=True)
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
        else:
            tree = ast.parse(prepared.source, "<test>")
            prepared.main = compile(tree, "<test>", "exec", dont_inherit=True)
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
                    prepared.left = _expression_code(condition.left)
                    prepared.right = _expression_code(condition.comparators[0])
                elif not isinstance(condition, ast.Compare | ast.BoolOp | ast.UnaryOp):
                    prepared.mode = "truth"
                    prepared.left = _expression_code(condition)
        self.prepared[key] = prepared
        return prepared

    def _clock_start(self) -> tuple[int, int]:
        return time.perf_counter_ns(), time.thread_time_ns()

    def _clock_stop(self, start: tuple[int, int]) -> None:
        self.last_wall = time.perf_counter_ns() - start[0]
        self.last_cpu = time.thread_time_ns() - start[1]

    def run_assert(self, test: Message) -> Outcome:
        try:
            prepared = self.prepare(test)
        except SyntaxError as exc:
            return Outcome("error", f"the test does not parse: {exc}")
        namespace = self.namespace()
        source = prepared.source
        start = self._clock_start()
        try:
            if prepared.setup is not None:
                exec(prepared.setup, namespace)
            if prepared.mode == "exec":
                assert prepared.main is not None
                exec(prepared.main, namespace)
                self._clock_stop(start)
                return Outcome("passed")
            assert prepared.left is not None
            left = eval(prepared.left, namespace)
            right = eval(prepared.right, namespace) if prepared.right is not None else None
            self._clock_stop(start)
        except AssertionError as exc:
            self._clock_stop(start)
            message = f": {safe_repr(exc.args[0])}" if exc.args else ""
            return Outcome("failed", _trim(f"assertion failed: {source.strip()}{message}"))
        except BaseException as exc:  # candidate code may raise anything
            self._clock_stop(start)
            return exception_outcome(exc, self.trusted_files)
        try:
            return self._judge(prepared, left, right, namespace)
        except BaseException as exc:  # candidate objects may raise anything
            return exception_outcome(exc, self.trusted_files)

    def _judge(
        self, prepared: Prepared, left: Any, right: Any, namespace: dict[str, Any]
    ) -> Outcome:
        node = prepared.node
        assert node is not None
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
        if type(value) in _NUMBER_TYPES or _builtin_base(value) is not None:
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
                return Outcome("passed")
            return Outcome(
                "failed",
                f"{source.strip()} returned {safe_repr(value)}, expected {want.strip()[:REPR_LIMIT]}",
            )
        got = printed
        if prepared.is_expression and value is not None:
            got += safe_repr(value, self.output_limit) + "\n"
        checker = doctest.OutputChecker()
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        if checker.check_output(want, got, flags):
            return Outcome("passed")
        return Outcome(
            "failed",
            _trim(f"{source.strip()}\nexpected:\n{want.rstrip()}\ngot:\n{got.rstrip()}"),
        )

    def _judge_doctest_exception(self, exc: BaseException, want: str, source: str) -> Outcome:
        got_line = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if want.lstrip().startswith("Traceback (most recent call last)"):
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
                _trim(
                    f"{source.strip()}\nexpected exception:\n{want_msg.strip()}\ngot: {got_line}"
                ),
            )
        return Outcome("error", format_exception(exc, self.trusted_files))


# ---------------------------------------------------------------------------------------------
# pytest items, run in-process through pytest itself.


class PytestSession:
    """Runs selected pytest items in one session, reporting each through callbacks."""

    def __init__(self, tests: dict[int, Message], repetitions: dict[int, int]) -> None:
        self.tests = tests
        self.repetitions = repetitions
        self.item_index: dict[str, int] = {}
        self.reports: dict[int, list[Any]] = {}
        self.samples: dict[int, tuple[list[int], list[int]]] = {}
        self.peak: dict[int, int] = {}
        self.collect_errors: list[str] = []
        self.on_start: Callable[[int], None] = lambda _i: None
        self.on_done: Callable[[int], None] = lambda _i: None
        self.plan: Callable[[int], int] = lambda _ns: 0

    # pytest hooks -----------------------------------------------------------------------------
    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.collect_errors.append(_trim(str(report.longrepr), 1500))

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]) -> None:
        wanted = {
            (os.path.realpath(t["path"]), t["node"]): index for index, t in self.tests.items()
        }
        selected = []
        for item in items:
            node = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name
            key = (os.path.realpath(str(item.path)), node)
            if key in wanted:
                self.item_index[item.nodeid] = wanted[key]
                selected.append(item)
        items[:] = selected

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        index = self.item_index.get(nodeid)
        if index is not None:
            self.on_start(index)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        index = self.item_index.get(nodeid)
        if index is not None:
            self.on_done(index)

    def pytest_runtest_logreport(self, report: Any) -> None:
        index = self.item_index.get(report.nodeid)
        if index is not None:
            self.reports.setdefault(index, []).append(report)

    def timed_call(self, item: Any) -> Generator[None, Any, None]:
        """The body of a ``pytest_runtest_call`` hook wrapper: time, then repeat or trace."""
        index = self.item_index.get(item.nodeid)
        wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        outcome = yield
        wall1, cpu1 = time.perf_counter_ns(), time.thread_time_ns()
        if index is None or outcome.excinfo is not None:  # type: ignore[attr-defined]
            return
        walls, cpus = [wall1 - wall0], [cpu1 - cpu0]
        reps = self.repetitions.get(index, 0)
        if reps == 0:
            # correctness run: one more execution under tracemalloc for the memory figure
            tracemalloc.start()
            try:
                item.runtest()
                self.peak[index] = tracemalloc.get_traced_memory()[1]
            except BaseException:  # a flaky second run only loses the figure
                pass
            finally:
                tracemalloc.stop()
            # pytest sessions are costly, so a pytest item's repetitions happen right here
            reps = self.plan(wall1 - wall0)
        for _ in range(reps):
            wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
            try:
                item.runtest()
            except BaseException:
                break
            walls.append(time.perf_counter_ns() - wall0)
            cpus.append(time.thread_time_ns() - cpu0)
        self.samples[index] = (walls, cpus)

    # verdicts ---------------------------------------------------------------------------------
    def verdict(self, index: int) -> Outcome:
        reports = self.reports.get(index, [])
        if not reports:
            if self.collect_errors:
                return Outcome("error", "pytest collection failed:\n" + self.collect_errors[0])
            return Outcome("error", "pytest item not found or not run")
        for report in reports:
            if report.failed:
                text = _trim(str(report.longrepr), 1500)
                if report.when == "call":
                    kind = "failed"
                    if "SystemExit" in text or "KeyboardInterrupt" in text:
                        kind = "error"
                    return Outcome(kind, text)
                return Outcome("error", f"error in {report.when}:\n{text}")
            if report.skipped:
                return Outcome("error", f"skipped: {_trim(str(report.longrepr), 300)}")
        if not any(r.when == "call" and r.passed for r in reports):
            return Outcome("error", "pytest item did not complete")
        return Outcome("passed")


def run_pytest(session: PytestSession) -> None:
    import pytest

    paths = sorted({t["path"] for t in session.tests.values()})

    class CallTimer:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item: Any) -> Generator[None, Any, None]:
            yield from session.timed_call(item)

    args = [
        *paths,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:pastebin",
        "-p",
        "no:junitxml",
        "-q",
        "--no-header",
        "-o",
        "addopts=",
        "-o",
        "console_output_style=classic",
        "-W",
        "ignore::pytest.PytestUnraisableExceptionWarning",
    ]
    with contextlib.redirect_stdout(BoundedWriter(0)):
        pytest.main(args, plugins=[session, CallTimer()])


# ---------------------------------------------------------------------------------------------
# The worker loop.


def rusage_peak() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


class Worker:
    """One candidate, start to finish, driven by the parent's commands."""

    def __init__(self, channel: Channel, config: Message) -> None:
        self.channel = channel
        self.config = config
        self.tests: list[Message] = []
        self.runner: Runner | None = None

    def serve(self) -> None:
        self.channel.send({"ev": "ready"})
        while True:
            command = self.channel.receive()
            op = command.get("op")
            if op == "load":
                self.load(command)
            elif op == "check":
                self.check(command["indices"])
            elif op == "time":
                self.time(command["indices"], {int(k): v for k, v in command["reps"].items()})
            else:
                self.channel.send({"ev": "bye", "rss": rusage_peak()})
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)

    def load(self, command: Message) -> None:
        module_spec: Message = command["module"]
        self.tests = command["tests"]
        for path in reversed(module_spec.get("search_paths", [])):
            if path not in sys.path:
                sys.path.insert(0, path)
        for test in self.tests:
            if test["kind"] == "pytest" and test.get("path"):
                directory = os.path.dirname(test["path"])
                if directory not in sys.path:
                    sys.path.append(directory)
        name: str = module_spec["name"]
        filename: str = module_spec["filename"]
        source: str = module_spec["source"]
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        sys.meta_path.insert(0, CandidateFinder(CandidateLoader(name, source, filename)))
        sys.modules.pop(name, None)
        if self.config.get("guard", True):
            install_guard([self.config["scratch"], "/tmp", "/dev/null"])
        try:
            module = importlib.import_module(name)
            entry = self.resolve_entry(module, module_spec.get("entry", ""))
        except BaseException as exc:  # candidate module code may raise anything
            text = format_exception(exc, {filename})
            if isinstance(exc, SystemExit | KeyboardInterrupt):
                text = f"module raised {type(exc).__name__} while importing"
            self.channel.send(
                {
                    "ev": "loaded",
                    "ok": False,
                    "detail": text,
                    "memory": isinstance(exc, MemoryError),
                    "rss": rusage_peak(),
                }
            )
            return
        ok = entry is None or callable(entry)
        detail = "" if ok else f"{module_spec.get('entry')} is not callable"
        if entry is None and not self.tests and module_spec.get("entry"):
            ok, detail = False, f"{module_spec.get('entry')} not found in module {name}"
        self.runner = Runner(module, filename, int(self.config["output_bytes"]))
        self.channel.send({"ev": "loaded", "ok": ok, "detail": detail, "rss": rusage_peak()})

    @staticmethod
    def resolve_entry(module: types.ModuleType, entry: str) -> Any:
        value: Any = module
        for part in entry.split(".") if entry else []:
            if not hasattr(value, part):
                return None
            value = getattr(value, part)
        return value if entry else None

    def run_once(self, test: Message) -> Outcome:
        assert self.runner is not None
        if test["kind"] == "doctest":
            return self.runner.run_doctest(test)
        return self.runner.run_assert(test)

    def check(self, indices: list[int]) -> None:
        pytest_tests = {i: self.tests[i] for i in indices if self.tests[i]["kind"] == "pytest"}
        for index in indices:
            if index in pytest_tests:
                continue
            test = self.tests[index]
            self.channel.send({"ev": "start", "index": index})
            outcome = self.run_once(test)
            assert self.runner is not None
            wall, cpu = self.runner.last_wall, self.runner.last_cpu
            peak = None
            if outcome.status == "passed":
                tracemalloc.start()
                try:
                    self.run_once(test)
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
            self.send_result(index, outcome, wall, cpu, peak)
        if pytest_tests:
            self.check_pytest(pytest_tests)

    def plan(self, first_ns: int) -> int:
        """Repetitions after a first passing run (the parent's rule, for in-session pytest)."""
        per_run = max(first_ns, 1_000)
        target, low, high = (int(x) for x in self.config["timing"])
        wanted = min(max(low - 1, -(-target // per_run) - 1), high - 1)
        affordable = int(float(self.config["test_timeout_s"]) * 1e9 / 4 / per_run)
        return max(0, min(wanted, affordable))

    def send_result(
        self,
        index: int,
        outcome: Outcome,
        wall: int | None,
        cpu: int | None,
        peak: int | None,
        extra: tuple[list[int], list[int]] = ([], []),
    ) -> None:
        passed = outcome.status == "passed"
        self.channel.send(
            {
                "walls": extra[0] if passed else [],
                "cpus": extra[1] if passed else [],
                "ev": "result",
                "index": index,
                "status": outcome.status,
                "detail": outcome.detail,
                "wall_ns": wall if passed else None,
                "cpu_ns": cpu if passed else None,
                "peak_memory_bytes": peak,
                "memory": outcome.memory_error,
                "rss": rusage_peak(),
            }
        )

    def check_pytest(self, tests: dict[int, Message]) -> None:
        session = PytestSession(tests, {})
        done: set[int] = set()

        def finished(index: int) -> None:
            done.add(index)
            outcome = session.verdict(index)
            walls, cpus = session.samples.get(index, ([], []))
            self.send_result(
                index,
                outcome,
                walls[0] if walls else None,
                cpus[0] if cpus else None,
                session.peak.get(index),
                (walls[1:], cpus[1:]),
            )

        session.on_start = lambda index: self.channel.send({"ev": "start", "index": index})
        session.on_done = finished
        session.plan = self.plan
        try:
            run_pytest(session)
        except BaseException as exc:
            session.collect_errors.append(f"pytest aborted: {type(exc).__name__}: {exc}")
        for index in tests:
            if index not in done:
                self.channel.send({"ev": "start", "index": index})
                outcome = session.verdict(index)
                if outcome.status == "passed":
                    outcome = Outcome("error", "pytest session ended before the item finished")
                self.send_result(index, outcome, None, None, None)

    def time(self, indices: list[int], reps: dict[int, int]) -> None:
        pytest_tests = {i: self.tests[i] for i in indices if self.tests[i]["kind"] == "pytest"}
        for index in indices:
            if index in pytest_tests:
                continue
            test = self.tests[index]
            runner = self.runner
            assert runner is not None
            self.channel.send({"ev": "start", "index": index})
            walls: list[int] = []
            cpus: list[int] = []
            for _ in range(reps.get(index, 1)):
                outcome = self.run_once(test)
                if outcome.status != "passed":
                    break
                walls.append(runner.last_wall)
                cpus.append(runner.last_cpu)
            self.channel.send({"ev": "samples", "index": index, "wall": walls, "cpu": cpus})
        if pytest_tests:
            session = PytestSession(pytest_tests, {i: max(1, reps.get(i, 1)) for i in pytest_tests})

            def finished(index: int) -> None:
                walls, cpus = session.samples.get(index, ([], []))
                self.channel.send({"ev": "samples", "index": index, "wall": walls, "cpu": cpus})

            sent: set[int] = set()

            def started(index: int) -> None:
                sent.add(index)
                self.channel.send({"ev": "start", "index": index})

            session.on_start = started
            session.on_done = finished
            with contextlib.suppress(BaseException):
                run_pytest(session)
            for index in pytest_tests:
                if index not in sent:
                    self.channel.send({"ev": "start", "index": index})
                    self.channel.send({"ev": "samples", "index": index, "wall": [], "cpu": []})


def apply_limits(config: Message) -> None:
    """Lower resource limits from inside (harmless duplicates of what the parent set)."""
    for name, value in config.get("rlimits", {}).items():
        limit = getattr(resource, name)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


def preimport_pytest() -> None:
    """Import pytest and its auto-loaded plugins now, so a pytest item does not pay seconds."""
    with contextlib.suppress(Exception):
        import _pytest.python  # noqa: F401
        import pytest  # noqa: F401
    with contextlib.suppress(Exception):
        from importlib.metadata import entry_points

        for entry in entry_points(group="pytest11"):
            with contextlib.suppress(Exception):
                entry.load()


def main() -> None:
    config: Message = json.loads(sys.argv[1])
    sys.dont_write_bytecode = True
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    channel = Channel(int(config.get("channel_fd", CHANNEL_FD)))
    os.chdir(config["scratch"])
    apply_limits(config)
    if config.get("preimport_pytest"):
        preimport_pytest()
    # Fail loudly rather than silently if a C stack overflow is about to kill us: the parent
    # sees the signal either way; faulthandler only adds a traceback on stderr.
    with contextlib.suppress(Exception):
        import faulthandler

        faulthandler.enable()
    Worker(channel, config).serve()


if __name__ == "__main__":
    main()
