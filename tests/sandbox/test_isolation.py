"""The adversarial battery for isolation: each finding of the sandbox review, attacked for real.

Every candidate here returns what its attack achieved and the test asserts it achieved nothing,
so each test fails if the defence it checks is removed. All run under bubblewrap (they fail,
never skip, where bubblewrap is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from orps_sandbox import Limits, Sandbox, TestStatus

from .conftest import FAST_LIMITS, SandboxFactory, check, module
from .test_battery import body

REPOSITORY = Path(__file__).resolve().parents[2]


def passed(report: object) -> None:
    for result in report.tests:  # type: ignore[attr-defined]
        assert result.status is TestStatus.PASSED, result.detail


def _home_entries() -> list[str]:
    """Everything in the engine user's home, except folders leading to a bound interpreter."""
    interpreter = [Path(os.path.realpath(p)) for p in (sys.prefix, sys.base_prefix)]
    return [
        str(entry)
        for entry in Path.home().iterdir()
        if not any(entry == p or entry in p.parents for p in interpreter)
    ]


async def test_secrets_are_not_in_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text("[remote]\nurl = https://user:token@host/x\n")
    (project / ".env").write_text("API_KEY=sk-project-secret\n")
    (project / ".netrc").write_text("machine host login u password p\n")
    (project / "data.txt").write_text("needed")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the project")
    home = Path.home()
    paths = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/ssh",
        "/etc/pip.conf",
        str(home / ".netrc"),
        str(home / ".git-credentials"),
        str(home / ".config/gh/hosts.yml"),
        str(home / ".bash_history"),
        *_home_entries(),
        str(project / ".env"),
        str(project / ".netrc"),
        str(project / ".git" / "config"),
        str(outside),
    ]
    code = textwrap.dedent(
        f"""\
        found = []
        for path in {paths!r}:
            try:
                if os.path.isdir(path):
                    if os.listdir(path):
                        found.append(path)
                elif open(path).read():
                    found.append(path)
            except OSError:
                pass
        return found"""
    )
    candidate = module(body(code), search_paths=[str(project)])
    report = await sandbox.run(candidate, [check("nothing", "assert f() == []")])
    passed(report)
    # least privilege still lets the candidate do its job: read the project, write scratch
    worker = textwrap.dedent(
        f"""\
        import tempfile
        assert os.getuid() == 65534 and os.getgid() == 65534
        with open('out.txt', 'w') as handle:
            handle.write('scratch')
        with tempfile.NamedTemporaryFile('w') as handle:
            handle.write('tmp')
        return open({str(project / "data.txt")!r}).read()"""
    )
    report = await sandbox.run(
        module(body(worker), search_paths=[str(project)]),
        [check("works", "assert f() == 'needed'")],
    )
    passed(report)


async def test_engine_environment_is_unreadable(
    make_sandbox: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("ORPS_API_KEY", secret)
    sandbox = make_sandbox(isolation="bubblewrap")
    code = textwrap.dedent(
        """\
        seen = []
        for entry in os.listdir('/proc'):
            if entry.isdigit() or entry == 'self':
                for name in ('environ', 'cmdline'):
                    try:
                        seen.append(open(f'/proc/{entry}/{name}', 'rb').read().decode(errors='replace'))
                    except OSError:
                        pass
        try:  # the parent is the zygote, which is not even readable (not dumpable)
            seen.append(open(f'/proc/{os.getppid()}/environ', 'rb').read().decode(errors='replace'))
        except PermissionError:
            seen.append('parent unreadable')
        return '\\n'.join(seen)"""
    )
    report = await sandbox.run(
        module(body(code)),
        [
            check(
                "no-key",
                f"text = f()\nassert 'ORPS_API_KEY' not in text and {secret!r} not in text",
            )
        ],
    )
    passed(report)


async def test_unix_sockets_under_run_and_abstract_are_unreachable(sandbox: Sandbox) -> None:
    path = f"/run/orps-test-{uuid.uuid4().hex[:8]}.sock"
    abstract = f"\0orps-test-{uuid.uuid4().hex[:8]}"
    listeners = []
    for address in (path, abstract):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(4)
        listener.setblocking(False)
        listeners.append(listener)
    try:
        code = textwrap.dedent(
            f"""\
            import _socket
            reached = []
            for address in {[path, abstract]!r}:
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    s.connect(address)
                    reached.append(address)
                except OSError:
                    pass
            reached += [p for p in ('/run', '/var/run') if os.path.isdir(p) and os.listdir(p)]
            return reached"""
        )
        report = await sandbox.run(module(body(code)), [check("none", "assert f() == []")])
        passed(report)
        for listener in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        for listener in listeners:
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def test_kernel_surface_is_cut(sandbox: Sandbox) -> None:
    code = textwrap.dedent(
        """\
        import ctypes, errno, _socket
        c = ctypes.CDLL(None, use_errno=True)
        c.syscall.restype = ctypes.c_long
        done = []
        def denied(result, name, allowed=(errno.EPERM,)):
            if result >= 0 or ctypes.get_errno() not in allowed:
                done.append(f'{name}: {result} errno {ctypes.get_errno()}')
        denied(c.unshare(0x10000000), 'unshare(CLONE_NEWUSER)', (errno.EPERM, errno.ENOSPC))
        denied(c.unshare(0x00020000), 'unshare(CLONE_NEWNS)')
        denied(c.ptrace(16, 1, 0, 0), 'ptrace(ATTACH, pid 1)')
        denied(c.ptrace(16, os.getppid(), 0, 0), 'ptrace(ATTACH, parent)')
        denied(c.mount(b'none', b'/tmp', b'tmpfs', 0, None), 'mount')
        for name, number in (('keyctl', 250), ('bpf', 321), ('perf_event_open', 298),
                             ('io_uring_setup', 425), ('userfaultfd', 323), ('setns', 308)):
            denied(c.syscall(number, 0, 0, 0, 0, 0), name)
        for family in (16, 17, 38, 40):  # netlink, packet, alg, vsock
            try:
                _socket.socket(family, _socket.SOCK_RAW if family != 38 else 5)
                done.append(f'socket family {family}')
            except OSError as exc:
                if exc.errno != errno.EAFNOSUPPORT:
                    done.append(f'socket family {family}: {exc}')
        status = open('/proc/self/status').read()
        if 'Seccomp:\\t2' not in status:
            done.append('no seccomp filter')
        if '\\nUid:\\t65534\\t' not in status:
            done.append('not uid 65534')
        if 'CapEff:\\t0000000000000000' not in status:
            done.append('capabilities left')
        return done"""
    )
    assert os.uname().machine == "x86_64", "syscall numbers above are x86_64's"
    report = await sandbox.run(module(body(code)), [check("cut", "assert f() == []")])
    passed(report)


async def test_tmp_shm_and_scratch_are_size_limited(make_sandbox: SandboxFactory) -> None:
    limits = Limits(**{**FAST_LIMITS.model_dump(), "tmpfs_mb": 24, "test_timeout_s": 20.0})
    sandbox = make_sandbox(limits, isolation="bubblewrap")
    code = textwrap.dedent(
        """\
        chunk = b'x' * (1 << 20)
        written = {}
        for folder in ('/tmp', '/dev/shm', os.getcwd(), '/', '/run', '/dev'):
            count = 0
            try:  # os.open, not open(): the in-process guard is not the boundary tested here
                for i in range(200):
                    fd = os.open(os.path.join(folder, f'fill{i}'), os.O_WRONLY | os.O_CREAT)
                    try:
                        count += os.write(fd, chunk)
                    finally:
                        os.close(fd)
            except OSError:
                pass
            written[folder] = count >> 20
        return written"""
    )
    check_sizes = (
        "w = f()\n"
        "assert 16 <= w['/tmp'] <= 24 and 16 <= w['/dev/shm'] <= 24, w\n"
        "scratch = [v for k, v in w.items() if k not in ('/tmp', '/dev/shm', '/', '/run', '/dev')]\n"
        "assert len(scratch) == 1 and 16 <= scratch[0] <= 24, w\n"
        "assert w['/'] == w['/run'] == w['/dev'] == 0, w"
    )
    report = await sandbox.run(module(body(code)), [check("bounded", check_sizes)])
    passed(report)


async def test_daemon_does_not_outlive_the_run(make_sandbox: SandboxFactory) -> None:
    marker = f"orpsd{uuid.uuid4().hex[:8]}"
    sandbox = make_sandbox(isolation="bubblewrap")
    code = textwrap.dedent(
        f"""\
        import time
        if libc.fork() == 0:
            libc.setsid()
            if libc.fork() == 0:
                libc.prctl(15, {marker.encode()!r}, 0, 0, 0)  # PR_SET_NAME
                for target in ('/sys/fs/cgroup/pids/cgroup.procs', '/sys/fs/cgroup/cgroup.procs'):
                    try:
                        with open(target, 'w') as handle:
                            handle.write(str(os.getpid()))
                    except OSError:
                        pass
                while True:
                    time.sleep(0.1)
            os._exit(0)
        time.sleep(0.3)
        return x"""
    )
    report = await sandbox.run(module(body(code)), [check("t", "assert f(1) == 1")])
    passed(report)
    await sandbox.aclose()
    for _ in range(50):
        alive = [p for p in psutil.process_iter(["name"]) if p.info["name"] == marker]
        if not alive:
            break
        await asyncio.sleep(0.05)
    assert not alive, f"a daemon outlived its sandbox: {alive}"


def _venv_under_tmp(root: Path) -> Path:
    """A virtual environment under ``/tmp`` that sees this one's packages, and a clone of the
    sandbox package beside it: the usual quick try from a clone in ``/tmp``."""
    base = getattr(sys, "_base_executable", sys.executable)
    venv = root / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    found = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    )
    (Path(found.stdout.strip()) / "engine.pth").write_text("\n".join(site.getsitepackages()))
    shutil.copytree(
        REPOSITORY / "sandbox" / "orps_sandbox",
        root / "clone" / "orps_sandbox",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return python


RUN_ONE = """
import asyncio, json, sys
import orps_sandbox
from orps_sandbox import Sandbox, ModuleSpec, TestSpec

async def main():
    async with Sandbox(isolation=sys.argv[1]) as sandbox:
        source = "def f(x):\\n    return x + 1\\n"
        spec = ModuleSpec(name="cand", source=source, filename="/p/cand.py", entry="f")
        report = await sandbox.run(spec, [TestSpec(id="t", kind="assert", source="assert f(1) == 2")])
        print(json.dumps({"kind": sandbox.isolation.kind, "passed": report.passed,
                          "prefix": sys.prefix, "package": orps_sandbox.__file__,
                          "detail": report.detail + report.stderr}))

asyncio.run(main())
"""


async def test_venv_and_clone_under_tmp_run_under_bubblewrap(tmp_path: Path) -> None:
    assert str(tmp_path).startswith("/tmp/")
    python = await asyncio.to_thread(_venv_under_tmp, tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "clone")}
    completed = await asyncio.to_thread(
        subprocess.run,
        [python, "-c", RUN_ONE, "auto"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    assert outcome["prefix"].startswith(str(tmp_path)), outcome
    assert outcome["package"].startswith(str(tmp_path / "clone")), outcome
    assert outcome["kind"] == "bubblewrap", outcome
    assert outcome["passed"] == 1, outcome


NESTED = ["--dev-bind", "/", "/", "--unshare-user", "--disable-userns", "--die-with-parent", "--"]
"""An outer sandbox in which bubblewrap is installed but cannot create its namespaces."""


async def test_refuses_when_bubblewrap_is_installed_but_cannot_run(tmp_path: Path) -> None:
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "sandbox")}
    script = (
        "import sys\n"
        "from orps_sandbox import IsolationUnavailable, detect_isolation\n"
        "try:\n"
        "    detect_isolation(sys.argv[1])\n"
        "except IsolationUnavailable as exc:\n"
        "    print('refused:', exc)\n"
        "else:\n"
        "    print('ran:', detect_isolation(sys.argv[1]).kind)\n"
    )
    lines = {}
    for choice in ("auto", "bubblewrap", "none"):
        completed = await asyncio.to_thread(
            subprocess.run,
            [bwrap, *NESTED, sys.executable, "-c", script, choice],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        lines[choice] = completed.stdout.strip()
    for choice in ("auto", "bubblewrap"):
        assert lines[choice].startswith("refused: bubblewrap is installed but cannot run here")
        assert "remedy:" in lines[choice] and "--isolation none" in lines[choice]
        assert "\n" not in lines[choice]
    assert lines["none"] == "ran: rlimits"


async def test_a_project_reached_through_a_symlink_imports_its_siblings(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    real = tmp_path / "real" / "project"
    real.mkdir(parents=True)
    (real / "helper.py").write_text("VALUE = 7\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    source = "from helper import VALUE\n\ndef f(x):\n    return x + VALUE\n"
    candidate = module(source, search_paths=[str(tmp_path / "link" / "project")])
    report = await sandbox.run(candidate, [check("sibling", "assert f(1) == 8")])
    passed(report)
