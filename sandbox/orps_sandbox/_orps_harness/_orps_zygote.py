"""The zygote: one confined, warm interpreter that forks a fresh child for every candidate.

Starting bubblewrap and an interpreter costs a worker about 75 ms of CPU; a fork of this process,
which has already imported the harness (and pytest, when the pool wants it), costs about one. The
zygote itself never loads candidate code or tests: on ``fork`` it receives, with the command,
four descriptors from the parent (the child's own channel socket, pipes for its stdout and
stderr, and a page the child writes its progress to), forks, and reports the child's pid; the
child closes the zygote's channel and serves one candidate as ``HarnessLoop`` on its own channel,
whose key the parent sends it directly. When the child has exited (the parent kills it, or it
finishes), the zygote removes everything the candidate may have left: it is the init of its own
pid namespace (bubblewrap's ``--as-pid-1``), so no signal from a child reaches it (the kernel
drops signals to an init that keeps their default action) and orphans become its children; it
signals every other process (``kill(-1)``) and reaps them until none is left, then empties
``/tmp``, ``/dev/shm`` and the scratch folder and removes System V IPC objects, and reports
``exited`` with the child's wait status and whether the sandbox is clean. The parent gives a
zygote its next candidate only after a clean report; without a pid namespace (no bubblewrap) it
never reuses one. The zygote makes itself non-dumpable, so no child can read or write its memory
through ``/proc``. Part of the harness that runs inside the sandbox: standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_channel import Channel, Message
else:
    from _orps_channel import Channel, Message

PR_SET_DUMPABLE = 4
CLEANUP_S = 2.0
"""How long the zygote keeps killing a candidate's leftovers before it reports itself unclean."""
IPC_RMID = 0
_IPC_TABLES = (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl"))


class Zygote:
    """Forks one child per ``fork`` command and cleans up after each (see the module docstring)."""

    def __init__(
        self, channel: Channel, config: Message, serve: Callable[[int, int, Message], None]
    ) -> None:
        self.channel = channel
        self.send = channel.send
        self.config = config
        self.serve_child = serve
        self.pid_namespace = bool(config.get("pid_namespace"))
        self.scratch = str(config["scratch"])
        # Read before any candidate runs (none can mount): what cleaning leaves in place, and
        # the folders that lead to it, as they were.
        self.kept = _mount_points() | {self.scratch}
        self.around: dict[str, int] = {}
        for path in _ancestors(self.kept):
            with contextlib.suppress(OSError):
                self.around[path] = os.stat(path).st_mode & 0o7777
        self.libc: ctypes.CDLL | None = None
        with contextlib.suppress(OSError, AttributeError):
            self.libc = ctypes.CDLL(None, use_errno=True)
            self.libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        # Default actions only (Python handles SIGINT itself): as the namespace's init, the
        # zygote then ignores every signal its children send; each child restores Python's own.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    def serve(self) -> None:
        self.send({"ev": "ready"})
        while True:
            command, fds = self.channel.receive_with_fds()
            if command.get("op") != "fork" or len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                os._exit(0)
            self.fork(*fds)

    def fork(self, channel_fd: int, stdout_fd: int, stderr_fd: int, progress_fd: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.become_child(channel_fd, stdout_fd, stderr_fd, progress_fd)
        for fd in (channel_fd, stdout_fd, stderr_fd, progress_fd):
            os.close(fd)
        self.send({"ev": "forked", "pid": pid})
        _, status = os.waitpid(pid, 0)
        clean = self.cleanup()
        self.send({"ev": "exited", "status": status, "clean": clean})

    def become_child(
        self, channel_fd: int, stdout_fd: int, stderr_fd: int, progress_fd: int
    ) -> None:
        code = 1
        try:
            own = self.channel.fileno()
            self.channel.close()  # the child can never talk to the zygote
            # ... nor find its channel (and key) among its objects: the references go.
            del self.channel, self.send
            os.dup2(stdout_fd, 1)
            os.dup2(stderr_fd, 2)
            os.dup2(channel_fd, own)
            os.dup2(progress_fd, own + 1)
            # Nothing else of the zygote's stays open: fds 0-2, the channel, the progress page.
            top = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            os.closerange(own + 2, max(own + 2, top))
            os.closerange(3, own)
            os.setsid()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.serve_child(own, own + 1, self.config)
            code = 0
        finally:
            os._exit(code)

    def cleanup(self) -> bool:
        """Kill every process the candidate left, empty the writable folders, drop IPC objects."""
        if not self.pid_namespace:
            return False  # without a pid namespace, leftovers cannot be found: never reused
        me = os.getpid()
        deadline = time.monotonic() + CLEANUP_S
        while True:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)  # every process but this one, the namespace's init
            _reap()
            others = [p for p in _listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
            if not others:
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
        try:
            clean = all(
                _empty(folder, self.kept, self.around)
                for folder in (self.scratch, "/tmp", "/dev/shm")
            )
        except RecursionError:  # a folder nested deeper than this interpreter recurses
            return False
        return self.remove_ipc() and clean

    def remove_ipc(self) -> bool:
        """Remove every System V shared memory segment, semaphore set and message queue."""
        left = False
        for table, call in _IPC_TABLES:
            try:
                with open(f"/proc/sysvipc/{table}") as handle:
                    rows = handle.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if len(fields) < 2 or self.libc is None:
                    left = True
                    continue
                function = getattr(self.libc, call)
                if call == "semctl":
                    result = function(int(fields[1]), 0, IPC_RMID, None)
                else:
                    result = function(int(fields[1]), IPC_RMID, None)
                left = left or result != 0
        return not left


def _reap() -> None:
    """Collect every child that has ended (orphans of candidates are the init's children)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _mount_points() -> frozenset[str]:
    """Every mount point of the sandbox: the scratch tmpfs and, for a project or interpreter
    that lives under ``/tmp``, its read-only binds there."""
    points: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                fields = line.split(" ")
                if len(fields) > 4:
                    points.add(_unescape(fields[4]))
    except OSError:
        pass
    return frozenset(points)


def _unescape(text: str) -> str:
    """A mountinfo path: space, tab, newline and backslash are written as octal escapes."""
    parts = text.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        code = part[:3]
        if len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)


def _ancestors(paths: Iterable[str]) -> set[str]:
    """Every folder above the given paths."""
    found: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent and parent not in found and parent != path:
            found.add(parent)
            path, parent = parent, os.path.dirname(parent)
    return found


def _empty(folder: str, kept: frozenset[str], around: dict[str, int]) -> bool:
    """Remove everything inside ``folder`` but the ``kept`` mount points, emptying the folders
    ``around`` them that lead there and giving them back their modes: True when nothing else is
    left."""
    clean = True
    for name in _listdir(folder):
        path = os.path.join(folder, name)
        if path in kept:
            continue
        if path in around and os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.chmod(path, around[path])  # a candidate may have locked the way to a bind
            clean = _empty(path, kept, around) and clean
        else:
            _remove(path)
    for name in _listdir(folder):
        path = os.path.join(folder, name)
        if path not in kept and path not in around:
            return False
    return clean


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)  # a candidate may have locked its own folder
            for name in _listdir(path):
                _remove(os.path.join(path, name))
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass
