"""How a sandboxed process is confined: bubblewrap namespaces, seccomp, resource limits, a pids cgroup.

``detect_isolation`` probes the machine once and says what will be in force and, when it is
weaker than the best, why. It fails closed: when bubblewrap is installed but cannot run, it
raises ``IsolationUnavailable`` with one line naming the cause and the remedy, unless isolation
was turned off explicitly (``"none"``). The probe runs the very command line a worker runs (same
binds, same filter), so an interpreter, virtual environment or project under ``/tmp`` is probed
as it will be used. ``Confinement`` turns the decision into the argv, environment and pre-exec
steps of one worker process:

* **bubblewrap** (preferred): new user/pid/net/ipc/uts/cgroup namespaces with uid and gid 65534
  inside and no nested user namespaces, the seccomp filter of ``orps_sandbox.seccomp``, a root
  built from read-only binds of only what a candidate needs (``orps_sandbox.filesystem``),
  size-limited ``/tmp``, ``/dev/shm`` and scratch, no network, all capabilities dropped, killed
  with its parent.
* **rlimits** (bubblewrap not installed, or ``"none"``): the same harness with resource limits,
  its own session and the in-process guard; no filesystem or network isolation.

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
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orps_sandbox.filesystem import (
    HARNESS,
    bind_arguments,
    cache_harness_bytecode,
    job_binds,
    scratch_arguments,
    system_arguments,
    tmpfs_arguments,
)
from orps_sandbox.seccomp import open_seccomp_program, seccomp_problem
from orps_sandbox.spec import Limits

IsolationKind = Literal["bubblewrap", "rlimits"]
IsolationChoice = Literal["auto", "bubblewrap", "none"]
ProcessLimit = Literal["pids-cgroup", "rlimit-nproc", "none"]

SANDBOX_UID = 65534
"""The unprivileged uid and gid (``nobody``) a candidate runs as inside its user namespace."""
PROBE_TIMEOUT_S = 60.0
DISABLE_USERNS_SINCE = (0, 8)
"""The bubblewrap release that added ``--disable-userns``."""
NO_ISOLATION_REMEDY = (
    "or set isolation to 'none' (--isolation none) to run candidates with no OS isolation"
)


class IsolationInfo(BaseModel):
    """What confinement is in force, in one human line, and why it is weaker than the best."""

    model_config = ConfigDict(frozen=True)

    kind: IsolationKind
    description: str
    reasons: list[str] = Field(
        default_factory=list, description="Why the isolation is weaker than bubblewrap + seccomp."
    )
    process_limit: ProcessLimit = "none"
    seccomp: bool = False
    choice: IsolationChoice = "auto"


class IsolationUnavailable(RuntimeError):
    """Bubblewrap is demanded (or installed, under ``auto``) but cannot run here: one line."""


def required_binds(paths: Sequence[str]) -> tuple[str, ...]:
    """The folders among ``paths`` a worker binds read-only (the module's and tests' folders)."""
    return job_binds(paths)


@functools.cache
def bubblewrap_version() -> tuple[int, ...]:
    """The installed bubblewrap's version, e.g. ``(0, 8, 0)``; ``()`` when it cannot be read."""
    path = shutil.which("bwrap")
    if path is None:
        return ()
    try:
        text = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        return tuple(int(part) for part in text.split()[-1].split("."))
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return ()


def disables_userns() -> bool:
    """Whether this bubblewrap can forbid nested user namespaces itself (``--disable-userns``)."""
    return bubblewrap_version() >= DISABLE_USERNS_SINCE


def bubblewrap_arguments(
    limits: Limits, scratch: str, binds: Sequence[str], seccomp_fd: int | None
) -> list[str]:
    """Everything between ``bwrap`` and ``--``: what a worker (and the probe) runs inside."""
    size = limits.tmpfs_mb * 1024 * 1024
    argv = [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        *(["--disable-userns"] if disables_userns() else []),
        # The zygote is the pid namespace's init: signals from its children cannot reach it, and
        # kill(-1) from it reaches every other process of the sandbox.
        "--as-pid-1",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "orps-sandbox",
    ]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv += system_arguments()
    argv += tmpfs_arguments(size)
    argv += bind_arguments(binds)
    argv += scratch_arguments(scratch, size)
    argv += ["--remount-ro", "/"]
    return argv


PROBE_CODE = (
    "import os, sys\n"
    "assert os.getuid() == {uid}, 'uid %d inside the sandbox' % os.getuid()\n"
    "assert os.path.isfile({main!r}), 'the harness is not visible inside the sandbox'\n"
    "with open('probe', 'w') as handle:\n"
    "    handle.write('ok')\n"
)


def _remedy(cause: str) -> str:
    text = cause.lower()
    if "unknown option" in text or "unrecognized" in text:
        return "install bubblewrap 0.8 or newer"
    if "seccomp" in text:
        return "install a bubblewrap and kernel that support seccomp filters"
    if "no such file" in text or "execvp" in text or "not visible" in text:
        return "report this to orps (a folder the interpreter needs was not bound)"
    return (
        "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
        "user.max_user_namespaces > 0; in a container, a profile that permits them)"
    )


@functools.cache
def _bwrap_probe() -> str | None:
    """None when bubblewrap works here with a worker's exact confinement, else the cause."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    scratch = tempfile.mkdtemp(prefix="orps-probe-")
    seccomp_fd = open_seccomp_program()
    try:
        argv = [path, *bubblewrap_arguments(Limits(), scratch, (), seccomp_fd), "--"]
        code = PROBE_CODE.format(uid=SANDBOX_UID, main=str(HARNESS / "__main__.py"))
        argv += [sys.executable, "-I", "-X", "utf8", "-c", code]
        result = subprocess.run(
            argv,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
            pass_fds=() if seccomp_fd is None else (seccomp_fd,),
            env=_environment(scratch),
            cwd=scratch,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start ({exc})"
    finally:
        if seccomp_fd is not None:
            os.close(seccomp_fd)
        shutil.rmtree(scratch, ignore_errors=True)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else f"exit status {result.returncode}"
    return None


def bubblewrap_installed() -> bool:
    return shutil.which("bwrap") is not None


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


def _process_limit(limits: Limits) -> tuple[ProcessLimit, str, str]:
    """The process-count bound in force, its description, and the reason when there is none."""
    cgroup, cgroup_problem = _pids_cgroup()
    if cgroup is not None:
        return "pids-cgroup", f"pids cgroup (max {limits.processes})", ""
    if os.geteuid() != 0:
        return "rlimit-nproc", f"RLIMIT_NPROC (+{limits.processes})", ""
    reason = f"running as root and {cgroup_problem}: RLIMIT_NPROC does not bind root"
    return "none", "no process-count limit", reason


def detect_isolation(
    choice: IsolationChoice = "auto", limits: Limits | None = None
) -> IsolationInfo:
    """The confinement workers will get here, for ``choice``; fails closed.

    Raises ``IsolationUnavailable`` when bubblewrap is installed but cannot run (under
    ``"auto"`` as under ``"bubblewrap"``) and when ``"bubblewrap"`` is demanded but missing.
    """
    limits = limits or Limits()
    reasons: list[str] = []
    use_bwrap = False
    if choice == "none":
        reasons.append("isolation='none' was requested: no filesystem or network isolation")
    elif not bubblewrap_installed():
        problem = "bubblewrap (bwrap) is not installed"
        if choice == "bubblewrap":
            raise IsolationUnavailable(
                f"{problem}: install the 'bubblewrap' package {NO_ISOLATION_REMEDY}"
            )
        reasons.append(f"{problem}: install the 'bubblewrap' package for OS isolation")
    else:
        cause = _bwrap_probe()
        if cause is not None:
            _bwrap_probe.cache_clear()  # only success is remembered: the next sandbox probes again
            raise IsolationUnavailable(
                f"bubblewrap is installed but cannot run here ({cause}); "
                f"remedy: {_remedy(cause)}, {NO_ISOLATION_REMEDY}"
            )
        use_bwrap = True
    process_limit, processes, process_problem = _process_limit(limits)
    if process_problem:
        reasons.append(process_problem)
    rlimits = (
        f"rlimits (AS {limits.memory_mb} MB, CPU {limits.cpu_s} s, FSIZE {limits.file_size_mb} MB, "
        f"NOFILE {limits.open_files})"
    )
    if not use_bwrap:
        description = (
            f"{rlimits} + {processes} + in-process guard (no filesystem or network isolation)"
        )
        return IsolationInfo(
            kind="rlimits",
            description=description,
            reasons=reasons,
            process_limit=process_limit,
            choice=choice,
        )
    filter_problem = seccomp_problem()
    if filter_problem:
        reasons.append(filter_problem)
    if not disables_userns():
        version = ".".join(str(part) for part in bubblewrap_version()) or "of unknown version"
        reasons.append(
            f"bubblewrap {version} has no --disable-userns (0.8+): nested user namespaces are "
            "stopped by the seccomp filter alone"
        )
    description = (
        f"bubblewrap (uid {SANDBOX_UID}, no network, no nested namespaces, "
        f"{'seccomp filter, ' if not filter_problem else 'NO seccomp filter, '}"
        f"read-only binds of the interpreter and project only, /tmp, /dev/shm and scratch "
        f"{limits.tmpfs_mb} MB each, no capabilities) + {rlimits} + {processes} + guard"
    )
    return IsolationInfo(
        kind="bubblewrap",
        description=description,
        reasons=reasons,
        process_limit=process_limit,
        seccomp=not filter_problem,
        choice=choice,
    )


def _environment(scratch: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


@dataclass
class Confinement:
    """Builds one worker's command line and pre-exec steps from the isolation decision."""

    info: IsolationInfo
    limits: Limits

    def open_seccomp(self) -> int | None:
        """A fresh descriptor of the seccomp program for one worker (the caller closes it)."""
        if self.info.kind != "bubblewrap" or not self.info.seccomp:
            return None
        return open_seccomp_program()

    def command(
        self,
        scratch: str,
        binds: Sequence[str],
        config_json: str,
        *,
        seccomp_fd: int | None = None,
    ) -> list[str]:
        cache_harness_bytecode()
        python = [sys.executable, "-I", "-S", "-X", "utf8", str(HARNESS), config_json]
        if self.info.kind != "bubblewrap":
            return python
        bwrap = shutil.which("bwrap") or "bwrap"
        return [
            bwrap,
            *bubblewrap_arguments(self.limits, scratch, binds, seccomp_fd),
            "--",
            *python,
        ]

    def environment(self, scratch: str) -> dict[str, str]:
        return _environment(scratch)

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
