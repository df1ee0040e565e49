"""How a sandboxed process is confined: bubblewrap namespaces, resource limits, a pids cgroup.

``detect_isolation`` probes the machine once and says what will be in force and why nothing
stronger is available. ``Confinement`` turns that decision into the argv, environment and
pre-exec steps of one worker process:

* **bubblewrap** (preferred): new user/pid/net/ipc/uts/cgroup namespaces, the whole filesystem
  bound read-only, a private ``/tmp`` tmpfs, a writable scratch directory bound in as cwd, no
  network, all capabilities dropped, killed with its parent.
* **rlimits** (fallback): the same harness with resource limits, its own session, and the
  in-process guard; no filesystem or network isolation.

Process count is bounded by a pids cgroup per worker when the cgroup v1 ``pids`` hierarchy is
writable (root, as in CI), else by ``RLIMIT_NPROC`` (which the kernel does not apply to root).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orps_sandbox.spec import Limits

IsolationKind = Literal["bubblewrap", "rlimits"]
IsolationChoice = Literal["auto", "bubblewrap", "none"]

HARNESS = Path(__file__).with_name("_orps_harness")
"""The child-side program: a directory run by the interpreter (its ``__main__.py``), stdlib only."""
HIDDEN_ROOTS = ("/tmp",)
"""Mount points replaced inside the bubblewrap sandbox; paths below them need explicit binds."""

SECRET_DIRS = (".ssh", ".gnupg", ".aws", ".config/gcloud", ".docker", ".kube")
"""Credential directories of the engine's user, hidden inside the sandbox: stdout flows to an LLM."""


@dataclass(frozen=True)
class IsolationInfo:
    """What confinement is in force, in one human line, and why nothing stronger is."""

    kind: IsolationKind
    description: str
    reasons: list[str] = field(default_factory=list)
    process_limit: Literal["pids-cgroup", "rlimit-nproc", "none"] = "none"


class IsolationUnavailable(RuntimeError):
    """Raised when bubblewrap is demanded explicitly but cannot run here."""


@functools.cache
def _bwrap_probe() -> str | None:
    """None when bubblewrap works here, else the reason it does not."""
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        result = subprocess.run(
            [
                path,
                "--unshare-all",
                "--die-with-parent",
                "--ro-bind",
                "/",
                "/",
                "--tmpfs",
                "/tmp",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--cap-drop",
                "ALL",
                sys.executable,
                "-I",
                "-c",
                "pass",
            ],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        return "bubblewrap cannot create namespaces here: " + (message[-1] if message else "?")
    return None


@dataclass(frozen=True)
class PidsCgroup:
    """A writable cgroup v1 ``pids`` hierarchy where per-worker cgroups can be made."""

    base: Path

    def create(self, max_pids: int) -> Path:
        path = self.base / f"orps-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        path.mkdir()
        (path / "pids.max").write_text(str(max_pids))
        return path

    @staticmethod
    def members(path: Path) -> list[int]:
        try:
            return [int(x) for x in (path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    @staticmethod
    def remove(path: Path) -> bool:
        try:
            path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True


@functools.cache
def _pids_cgroup() -> tuple[PidsCgroup | None, str]:
    """The pids hierarchy we may use (v1 only), or the reason there is none."""
    mount: Path | None = None
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                before, _, after = line.partition(" - ")
                fields, extra = before.split(), after.split()
                if len(extra) >= 3 and extra[0] == "cgroup" and "pids" in extra[2].split(","):
                    mount = Path(fields[4])
                    break
    except OSError:
        return None, "cannot read /proc/self/mountinfo"
    if mount is None:
        return None, "no cgroup v1 pids hierarchy is mounted"
    own = "/"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and "pids" in parts[1].split(","):
                own = parts[2]
    base = mount / own.lstrip("/")
    if not os.access(base, os.W_OK):
        return None, f"the pids cgroup {base} is not writable"
    cgroup = PidsCgroup(base)
    try:
        probe = cgroup.create(8)
    except OSError as exc:
        return None, f"cannot create a pids cgroup under {base}: {exc}"
    cgroup.remove(probe)
    _sweep_stale(base)
    return cgroup, ""


def _sweep_stale(base: Path) -> None:
    """Remove empty per-worker cgroups left by engines that died without ``aclose``."""
    for path in base.glob("orps-*-*"):
        try:
            owner = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(owner) and not PidsCgroup.members(path):
            PidsCgroup.remove(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def detect_isolation(
    choice: IsolationChoice = "auto", limits: Limits | None = None
) -> IsolationInfo:
    """Probe the machine and describe the strongest confinement available (for ``orps doctor``)."""
    limits = limits or Limits()
    reasons: list[str] = []
    use_bwrap = False
    if choice == "none":
        reasons.append("isolation='none' was requested")
    else:
        problem = _bwrap_probe()
        if problem is None:
            use_bwrap = True
        elif choice == "bubblewrap":
            raise IsolationUnavailable(problem)
        else:
            reasons.append(problem)
    cgroup, cgroup_problem = _pids_cgroup()
    process_limit: Literal["pids-cgroup", "rlimit-nproc", "none"]
    if cgroup is not None:
        process_limit = "pids-cgroup"
        processes = f"pids cgroup (max {limits.processes})"
    elif os.geteuid() != 0:
        process_limit = "rlimit-nproc"
        processes = f"RLIMIT_NPROC (+{limits.processes})"
    else:
        process_limit = "none"
        processes = "no process-count limit"
        reasons.append(f"running as root and {cgroup_problem}: RLIMIT_NPROC does not bind root")
    rlimits = f"rlimits (AS {limits.memory_mb} MB, CPU {limits.cpu_s} s, FSIZE {limits.file_size_mb} MB, NOFILE {limits.open_files})"
    if use_bwrap:
        description = (
            "bubblewrap (no network, read-only fs, own pid namespace, no capabilities) + "
            f"{rlimits} + {processes} + guard"
        )
        return IsolationInfo("bubblewrap", description, reasons, process_limit)
    description = f"{rlimits} + {processes} + in-process guard (no filesystem or network isolation)"
    return IsolationInfo("rlimits", description, reasons, process_limit)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def required_binds(paths: Sequence[str]) -> tuple[str, ...]:
    """Directories that bubblewrap must bind explicitly because they sit under a hidden mount."""
    binds: set[str] = set()
    for raw in paths:
        path = os.path.realpath(raw)
        if any(_under(path, root) for root in HIDDEN_ROOTS) and os.path.isdir(path):
            binds.add(path)
    # Drop binds already covered by a parent bind.
    return tuple(sorted(b for b in binds if not any(b != o and _under(b, o) for o in binds)))


@dataclass
class Confinement:
    """Builds one worker's command line and pre-exec steps from the isolation decision."""

    info: IsolationInfo
    limits: Limits

    def command(self, scratch: str, binds: Sequence[str], config_json: str) -> list[str]:
        python = [sys.executable, "-I", "-X", "utf8", str(HARNESS), config_json]
        if self.info.kind != "bubblewrap":
            return python
        bwrap = shutil.which("bwrap") or "bwrap"
        argv = [
            bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "orps-sandbox",
            "--ro-bind",
            "/",
            "/",
            "--tmpfs",
            "/tmp",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        home = os.path.expanduser("~")
        for name in SECRET_DIRS:
            secret = os.path.join(home, name)
            if os.path.isdir(secret) and not any(_under(secret, b) for b in binds):
                argv += ["--tmpfs", secret]
        extra = set(binds) | set(required_binds([str(HARNESS), sys.prefix, sys.base_prefix]))
        for path in sorted(extra):
            argv += ["--ro-bind", path, path]
        argv += ["--bind", scratch, scratch, "--chdir", scratch, "--"]
        return argv + python

    def environment(self, scratch: str) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": scratch,
            "TMPDIR": scratch,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }

    def rlimits(self) -> dict[str, int]:
        """Limits applied before exec (and again, harmlessly, by the harness)."""
        mb = 1024 * 1024
        return {
            "RLIMIT_AS": self.limits.memory_mb * mb,
            "RLIMIT_CPU": max(1, self.limits.cpu_s),
            "RLIMIT_FSIZE": self.limits.file_size_mb * mb,
            "RLIMIT_NOFILE": self.limits.open_files,
            "RLIMIT_CORE": 0,
        }

    def preexec(self, cgroup: Path | None, nproc: int | None) -> Callable[[], None]:
        """The steps run in the forked child before exec: join the cgroup, lower the limits."""
        limits = [(getattr(resource, name), value) for name, value in self.rlimits().items()]
        procs_file = str(cgroup / "cgroup.procs") if cgroup is not None else None

        def prepare() -> None:
            if procs_file is not None:
                fd = os.open(procs_file, os.O_WRONLY)
                try:
                    os.write(fd, str(os.getpid()).encode())
                finally:
                    os.close(fd)
            for which, value in limits:
                resource.setrlimit(which, (value, value))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

        return prepare
