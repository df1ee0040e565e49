"""The guard: defence in depth against candidate code, not the boundary.

Before the candidate is imported, ``install_guard`` replaces process, signal and destructive
file APIs (``os.kill``/``fork``/``exec*``/``spawn*``/``setsid``…, ``signal.pthread_kill``,
``subprocess``, ``shutil.rmtree``, ``os.remove``/``rename``/… and write-mode ``open`` outside
the writable roots) and non-Unix ``socket.connect`` with functions raising ``GuardError``, a
``PermissionError``. It gives readable errors for common mistakes and is trivially bypassed
(``ctypes``, ``_socket``, ``os.open``): the boundary is the OS confinement the parent sets up.
Part of the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from typing import Any


class GuardError(PermissionError):
    """Raised by every guarded function."""

    # Shown as "GuardError: …" as when the harness was one script, not qualified by a harness
    # module name: test details reach the user and the model.
    __module__ = "builtins"


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
