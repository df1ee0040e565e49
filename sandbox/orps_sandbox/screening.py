"""The tampering screen: an AST check for code that reaches into the judge or the test machinery.

``screen(source)`` parses candidate code (a function, or any module text) and returns one reason
per construct that has no business in a function under test but is how a candidate would forge
its verdict or its timings: frame walks (``sys._getframe``, ``inspect.currentframe``/``stack``,
``f_back``/``f_globals``/``f_locals``/``tb_frame``), heap walks (``gc.get_objects``,
``get_referrers``, ``get_referents``), ``sys.modules``, the harness's own ``_orps_*`` modules,
assignment to attributes of ``time``, ``builtins``, ``sys``, ``os``, ``gc``, ``inspect`` or ``pytest``
(also through ``setattr``/``delattr``), pytest hooks (``pytest_*`` definitions, ``hookimpl``,
``pluginmanager``), ``ctypes``, raw descriptor writes (``os.write``, ``os.dup2``, ``socket`` objects
built from a file descriptor), signal handlers and ``os._exit``. It is static and shallow by design:
it flags, it never executes, and a flagged candidate still runs; callers keep it from being
ranked first, preferred or applied. It knows nothing of the engine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

GUARDED_MODULES = frozenset({"time", "builtins", "sys", "os", "gc", "inspect", "pytest", "_pytest"})
FRAME_ATTRIBUTES = frozenset(
    {
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "tb_frame",
        "gi_frame",
        "cr_frame",
        "ag_frame",
    }
)
CODE_ATTRIBUTES = frozenset({"__code__", "__globals__", "__closure__", "__builtins__"})
FORBIDDEN_CALLS = {
    ("sys", "_getframe"): "walks the call stack (sys._getframe)",
    ("sys", "settrace"): "installs a tracer (sys.settrace)",
    ("sys", "setprofile"): "installs a profiler hook (sys.setprofile)",
    ("sys", "addaudithook"): "installs an audit hook (sys.addaudithook)",
    ("inspect", "currentframe"): "walks the call stack (inspect.currentframe)",
    ("inspect", "stack"): "walks the call stack (inspect.stack)",
    ("inspect", "getouterframes"): "walks the call stack (inspect.getouterframes)",
    ("inspect", "trace"): "walks the call stack (inspect.trace)",
    ("traceback", "walk_stack"): "walks the call stack (traceback.walk_stack)",
    ("gc", "get_objects"): "walks the heap (gc.get_objects)",
    ("gc", "get_referrers"): "walks the heap (gc.get_referrers)",
    ("gc", "get_referents"): "walks the heap (gc.get_referents)",
    ("os", "_exit"): "ends the process abruptly (os._exit)",
    ("os", "write"): "writes to a raw file descriptor (os.write)",
    ("os", "writev"): "writes to a raw file descriptor (os.writev)",
    ("os", "pwrite"): "writes to a raw file descriptor (os.pwrite)",
    ("os", "sendfile"): "writes to a raw file descriptor (os.sendfile)",
    ("os", "dup"): "duplicates a raw file descriptor (os.dup)",
    ("os", "dup2"): "duplicates a raw file descriptor (os.dup2)",
    ("os", "fdopen"): "opens a raw file descriptor (os.fdopen)",
    ("os", "kill"): "signals a process (os.kill)",
    ("os", "killpg"): "signals a process group (os.killpg)",
    ("socket", "fromfd"): "opens a socket on a raw descriptor (socket.fromfd)",
    ("signal", "signal"): "installs a signal handler (signal.signal)",
    ("signal", "setitimer"): "arms a signal timer (signal.setitimer)",
    ("signal", "alarm"): "arms a signal timer (signal.alarm)",
    ("signal", "set_wakeup_fd"): "redirects signal wake-ups (signal.set_wakeup_fd)",
    ("pytest", "hookimpl"): "registers a pytest hook (pytest.hookimpl)",
}


@dataclass
class Screening:
    """What the screen found: one human-readable reason per construct (empty when clean)."""

    reasons: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


class _Screen(ast.NodeVisitor):
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.aliases: dict[str, str] = {}
        """Local name → module it stands for (``import time as t``; ``from os import write``)."""

    def flag(self, node: ast.AST, reason: str) -> None:
        line = getattr(node, "lineno", 0)
        text = f"line {line}: {reason}" if line else reason
        if text not in self.reasons:
            self.reasons.append(text)

    # imports -------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            root = alias.name.split(".")[0]
            self._check_module(node, alias.name)
            self.aliases[alias.asname or root] = alias.name if alias.asname else root
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._check_module(node, module)
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            qualified = (module.split(".")[0], alias.name)
            if qualified in FORBIDDEN_CALLS:
                self.flag(node, "imports a forbidden function: " + FORBIDDEN_CALLS[qualified])
            if alias.name == "modules" and module == "sys":
                self.flag(node, "reaches the module table (sys.modules)")
        self.generic_visit(node)

    def _check_module(self, node: ast.AST, module: str) -> None:
        root = module.split(".")[0]
        if root == "ctypes":
            self.flag(node, "uses ctypes (raw memory and system calls)")
        elif root.startswith("_orps"):
            self.flag(node, f"imports the harness's own module {root}")

    # names and attributes ------------------------------------------------------------------
    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name an expression stands for, through import aliases."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "__import__" and node.args:
                argument = node.args[0]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    return argument.value
        return None

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_orps"):
            self.flag(node, f"names the harness ({node.id})")
        if node.id == "__builtins__":
            self.flag(node, "reaches __builtins__")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FRAME_ATTRIBUTES:
            self.flag(node, f"walks frames (.{node.attr})")
        if node.attr in CODE_ATTRIBUTES and isinstance(node.ctx, ast.Store | ast.Del):
            self.flag(node, f"replaces a function's internals (.{node.attr})")
        if node.attr == "pluginmanager":
            self.flag(node, "reaches pytest's plugin manager")
        dotted = self.resolve(node)
        if dotted is not None:
            parts = dotted.split(".")
            if parts[:2] == ["sys", "modules"] and len(parts) == 2:
                self.flag(node, "reaches the module table (sys.modules)")
            if tuple(parts[:2]) in FORBIDDEN_CALLS and len(parts) == 2:
                self.flag(node, FORBIDDEN_CALLS[(parts[0], parts[1])])
            if parts[0].startswith("_orps"):
                self.flag(node, f"names the harness ({parts[0]})")
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._check_assignment(node)
        self.generic_visit(node)

    def _check_assignment(self, target: ast.Attribute) -> None:
        owner = self.resolve(target.value)
        root = owner.split(".")[0] if owner else None
        if root in GUARDED_MODULES:
            self.flag(target, f"assigns to {owner}.{target.attr} (patches {root})")

    def visit_Call(self, node: ast.Call) -> None:
        dotted = self.resolve(node.func)
        if dotted is not None:
            parts = dotted.split(".")
            if parts[-1] in ("setattr", "delattr") and len(parts) == 1 and node.args:
                owner = self.resolve(node.args[0])
                root = owner.split(".")[0] if owner else None
                if root in GUARDED_MODULES:
                    self.flag(node, f"{parts[-1]} on {owner} (patches {root})")
            if parts[0] == "socket" and parts[-1] == "socket":
                if any(k.arg == "fileno" for k in node.keywords) or len(node.args) >= 4:
                    self.flag(node, "opens a socket on a raw descriptor (socket(fileno=...))")
            if parts[-1] == "register" and any(
                isinstance(a, ast.Name | ast.Call) for a in node.args
            ):
                base = parts[-2] if len(parts) >= 2 else ""
                if base == "pluginmanager":
                    self.flag(node, "registers a pytest plugin")
        if isinstance(node.func, ast.Name) and node.func.id == "__import__" and node.args:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                self._check_module(node, argument.value)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_hook(node)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_hook(node)
        self.generic_visit(node)

    def _check_hook(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name.startswith("pytest_"):
            self.flag(node, f"defines a pytest hook ({node.name})")


def screen(source: str) -> Screening:
    """Reasons to distrust this code's results (empty when the screen finds nothing)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Screening()  # it will fail to import; nothing here to flag
    visitor = _Screen()
    # Imports anywhere count for every use, so collect aliases first.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                visitor.aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                visitor.aliases[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"
    visitor.visit(tree)
    return Screening(reasons=visitor.reasons)
