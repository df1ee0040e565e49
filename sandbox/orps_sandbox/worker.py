"""The parent's handles on confined processes: a zygote per sandbox, a forked child per candidate.

``Zygote`` is one confined interpreter (bubblewrap, or rlimits alone) running the harness as a
zygote (``_orps_harness/_orps_zygote.py``): it has imported the harness, and pytest when its pool
needs it, and forks a fresh child for each candidate, which saves a candidate the ~75 ms of CPU a
new bubblewrap sandbox and interpreter cost. ``WorkerProcess`` is one such child, seen from the
parent: it serves exactly one candidate and is then killed. Records come only over the child's
private socket, each checked by ``orps_sandbox.protocol`` (size cap before reading, keyed tag,
schema, sequence) with a key the parent sends the child directly, before any candidate code
runs; the zygote's own control channel is authenticated the same way. stdout and stderr of each
child are pipes of its own, drained continuously, and only their heads are kept, so an output
flood costs the engine neither memory nor a stuck pipe. The parent's own clocks live here too:
``clock`` reads the child's CPU time and run-queue wait from the kernel
(``/proc/<pid>/schedstat``), and ``overhead_ns`` is the channel's round trip, measured with
``ping`` before the candidate is loaded.

After a child ends, the zygote kills whatever the candidate left in the sandbox and empties its
writable folders; only a zygote that reports itself clean gets another candidate
(``WorkerProcess.kill`` says whether it did). Without bubblewrap there is no pid namespace to
clean, and a zygote serves one candidate only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mmap
import os
import shutil
import signal
import socket
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from orps_sandbox._orps_harness._orps_channel import PROGRESS_BYTES
from orps_sandbox.filesystem import site_paths
from orps_sandbox.isolation import Confinement, PidsCgroup, _pids_cgroup
from orps_sandbox.measurement import MAX_RUNS, MEMORY_RUN_SHARE, MIN_RUNS, TARGET_NS
from orps_sandbox.protocol import (
    Exited,
    Forked,
    ProtocolViolation,
    Ready,
    Record,
    check_size,
    command_bytes,
    parse_record,
)

Message = dict[str, Any]
CLOCK_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 30.0
EXIT_REPORT_S = 3.0
"""How long a zygote may take to report a killed child gone and its sandbox clean."""
ZYGOTE_PROCESSES = 3
"""Processes of a worker that are not the candidate's: bubblewrap's two and the zygote."""


class WorkerGone(Exception):
    """The worker's channel closed: the process exited or was killed."""


class OutputHead:
    """Keeps the first ``limit`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        value = self.data.decode(errors="replace")
        if self.dropped:
            value += f"\n[... {self.dropped} more bytes dropped]"
        return value


def describe_exit(code: int | None, bubblewrap: bool) -> tuple[str, int | None]:
    """Human text for an exit status, plus the signal number when a signal ended the process."""
    if code is None:
        return "still running", None
    number: int | None = None
    if code < 0:
        number = -code
    elif bubblewrap and code > 128:
        number = code - 128  # bubblewrap reports a signalled child as 128 + signal
    if number is not None:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}", number
    return f"exited with code {code}", None


class _Link:
    """One authenticated, framed connection to a process in the sandbox (the parent's side)."""

    def __init__(self) -> None:
        self.key = os.urandom(32)
        self.seq = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._frame_size: int | None = None

    async def open(self, sock: socket.socket) -> None:
        self.reader, self.writer = await asyncio.open_connection(sock=sock)
        await self.send({"op": "key", "key": self.key.hex()})

    async def send(self, message: Message) -> None:
        if self.writer is None:
            raise WorkerGone("not started")
        data = command_bytes(message)
        try:
            self.writer.write(struct.pack("!I", len(data)) + data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc

    async def receive(self) -> Record:
        """The next record; WorkerGone on EOF, ProtocolViolation on a record that fails a check."""
        if self.reader is None:
            raise WorkerGone("not started")
        try:
            # Cancellation-safe: a timeout between the header and the frame keeps the size, so
            # a later call reads the same record (``readexactly`` takes nothing until it can
            # take everything).
            if self._frame_size is None:
                header = await self.reader.readexactly(4)
                (size,) = struct.unpack("!I", header)
                check_size(size)
                self._frame_size = size
            frame = await self.reader.readexactly(self._frame_size)
            self._frame_size = None
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc
        record = parse_record(self.key, frame, self.seq)
        self.seq += 1
        return record

    def buffered(self) -> bool:
        """Whether bytes of a later record already wait in the reader (asyncio has no public
        accessor for ``StreamReader._buffer``; pinned by a test)."""
        reader = self.reader
        return reader is not None and len(getattr(reader, "_buffer", b"")) > 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None


async def _drain(stream: asyncio.StreamReader, head: OutputHead) -> None:
    with contextlib.suppress(Exception):
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            head.feed(chunk)


async def _pipe_reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


class Zygote:
    """One confined zygote process: started once, then forks a child per candidate."""

    def __init__(self, confinement: Confinement, binds: tuple[str, ...], pytest: bool) -> None:
        self.confinement = confinement
        self.binds = binds
        self.pytest = pytest
        self.process: asyncio.subprocess.Process | None = None
        self.scratch = ""
        self.cgroup: Path | None = None
        self.stdout = OutputHead(confinement.limits.output_bytes)
        self.stderr = OutputHead(confinement.limits.output_bytes)
        self._link = _Link()
        self._control: socket.socket | None = None
        """A second handle on the control socket, for commands that carry descriptors."""
        self._drains: list[asyncio.Task[None]] = []
        self.killed = False
        self.host_pid: int | None = None
        """The zygote's own pid (under bubblewrap, the python below the bwrap processes)."""
        self.reusable = confinement.info.kind == "bubblewrap"
        """Only a pid namespace lets the zygote find what a candidate left; else one child."""
        self.child: WorkerProcess | None = None

    @property
    def key(self) -> tuple[tuple[str, ...], bool]:
        return self.binds, self.pytest

    async def start(self) -> None:
        """Spawn the zygote and wait for it to be ready; WorkerGone (with stderr) on failure."""
        try:
            await self._spawn()
            async with asyncio.timeout(READY_TIMEOUT_S):
                reply = await self._link.receive()
            if not isinstance(reply, Ready):
                raise ProtocolViolation(f"'{reply.ev}' arrived where 'ready' was due")
        except (TimeoutError, WorkerGone, OSError, ProtocolViolation) as exc:
            await self.kill()
            stderr = self.stderr.text().strip()[-500:]
            raise WorkerGone(f"{exc or type(exc).__name__} {stderr}".strip()) from exc
        except BaseException:
            await asyncio.shield(self.kill())
            raise
        self.host_pid = self._find_zygote()

    async def _spawn(self) -> None:
        limits = self.confinement.limits
        self.scratch = tempfile.mkdtemp(prefix="orps-scratch-")
        os.chmod(self.scratch, 0o777)
        cgroup, _ = _pids_cgroup()
        nproc: int | None = None
        if cgroup is not None:
            self.cgroup = cgroup.create(limits.processes + ZYGOTE_PROCESSES)
        elif os.geteuid() != 0:
            uid = os.geteuid()
            mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid)
            nproc = mine + limits.processes + ZYGOTE_PROCESSES
        parent_sock, child_sock = socket.socketpair()
        config = {
            "scratch": self.scratch,
            "channel_fd": child_sock.fileno(),
            "output_bytes": limits.output_bytes,
            "preimport_pytest": self.pytest,
            "guard": True,
            "rlimits": self.confinement.rlimits(),
            "timing": [TARGET_NS, MIN_RUNS, MAX_RUNS],
            "test_timeout_s": limits.test_timeout_s,
            "memory_cutoff_ns": int(limits.test_timeout_s * 1e9 / MEMORY_RUN_SHARE),
            "site_paths": list(site_paths()),
            "zygote": True,
            "pid_namespace": self.reusable,
        }
        seccomp_fd = self.confinement.open_seccomp()
        argv = self.confinement.command(
            self.scratch, self.binds, json.dumps(config), seccomp_fd=seccomp_fd
        )
        inherited = (child_sock.fileno(),) + (() if seccomp_fd is None else (seccomp_fd,))
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=inherited,
                env=self.confinement.environment(self.scratch),
                cwd=self.scratch,
                start_new_session=True,
                preexec_fn=self.confinement.preexec(self.cgroup, nproc),
            )
        )
        try:
            # Shielded: a cancel that reaches create_subprocess_exec while it connects the
            # pipes makes it wait forever for a process it has already killed (CPython
            # gh-103847, gh-125502), which would hang a cancelled search. The spawn ends
            # (Popen returns once the child has exec'd), then the caller kills the process.
            self.process = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            await asyncio.wait({spawn})
            if not spawn.cancelled() and spawn.exception() is None:
                self.process = spawn.result()
            raise
        finally:
            child_sock.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._drains = [
            asyncio.create_task(_drain(self.process.stdout, self.stdout)),
            asyncio.create_task(_drain(self.process.stderr, self.stderr)),
        ]
        self._control = parent_sock.dup()
        await self._link.open(parent_sock)

    def _find_zygote(self) -> int | None:
        """The zygote's pid: the python process at the bottom of the bwrap processes."""
        if self.process is None:
            return None
        if self.confinement.info.kind != "bubblewrap":
            return self.process.pid
        found: int | None = None
        frontier = [self.process.pid]
        while frontier:  # the kernel's children lists: cheaper than scanning every process
            pid = frontier.pop()
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).name().startswith("python"):
                    found = pid
            frontier.extend(_children(pid))
        return found

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self.killed

    async def fork(self, output_bytes: int) -> WorkerProcess:
        """A new child of this zygote, with its key sent; WorkerGone if the zygote cannot."""
        if not self.alive() or self._control is None or self.child is not None:
            raise WorkerGone("the zygote is not available")
        parent_sock, child_sock = socket.socketpair()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        progress = os.memfd_create("orps-progress", os.MFD_CLOEXEC)
        os.ftruncate(progress, PROGRESS_BYTES)
        worker = WorkerProcess(self, output_bytes, progress)
        try:
            data = command_bytes({"op": "fork"})
            socket.send_fds(
                self._control,
                [struct.pack("!I", len(data)) + data],
                [child_sock.fileno(), out_write, err_write, progress],
            )
            await worker.open(parent_sock, out_read, err_read)
            async with asyncio.timeout(READY_TIMEOUT_S):
                reply = await self._link.receive()
            if not isinstance(reply, Forked):
                raise ProtocolViolation(f"'{reply.ev}' arrived where 'forked' was due")
        except (OSError, TimeoutError, ProtocolViolation) as exc:
            await worker.close()
            raise WorkerGone(f"the zygote failed to fork: {exc}") from exc
        finally:
            for fd in (out_write, err_write, progress):
                os.close(fd)
            child_sock.close()
        self.child = worker
        kids = _children(self.host_pid) if self.host_pid is not None else []
        if len(kids) == 1:
            worker.attach(kids[0])
        return worker

    async def wait_exited(self, seconds: float) -> Exited | None:
        """The zygote's report that its child ended (None if it does not come in time)."""
        with contextlib.suppress(TimeoutError, WorkerGone, ProtocolViolation):
            async with asyncio.timeout(seconds):
                while True:
                    record = await self._link.receive()
                    if isinstance(record, Exited):
                        self.child = None
                        return record
        return None

    def _signal_all(self) -> list[psutil.Process]:
        """SIGKILL the process group, every descendant and every member of the pids cgroup."""
        victims: list[psutil.Process] = []
        if self.process is None:
            return victims
        pid = self.process.pid
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            victims = [root, *root.children(recursive=True)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.kill()
        if self.cgroup is not None:
            for member in PidsCgroup.members(self.cgroup):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(member, signal.SIGKILL)
        return victims

    def kill_now(self) -> None:
        """Synchronous kill of everything in this worker, safe from a cancellation path."""
        self.killed = True
        self._signal_all()

    async def kill(self) -> None:
        """Kill everything this zygote and its children started; wait until it is gone (≤ ~2 s)."""
        self.killed = True
        victims = self._signal_all()
        deadline = time.monotonic() + 2.0
        if self.process is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self.process.wait()
        while time.monotonic() < deadline:
            remaining = [v for v in victims if _exists(v)]
            members = PidsCgroup.members(self.cgroup) if self.cgroup is not None else []
            if not remaining and not members:
                break
            for member in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(member, signal.SIGKILL)
            await asyncio.sleep(0.01)
        await self.close()

    async def close(self) -> None:
        await self._link.close()
        if self._control is not None:
            self._control.close()
            self._control = None
        cancelled = await _finish_drains(self._drains)
        if self.cgroup is not None and PidsCgroup.remove(self.cgroup):
            self.cgroup = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = ""
        if cancelled:
            raise asyncio.CancelledError


class WorkerProcess:
    """One candidate's process, a child of a zygote, seen from the parent (it runs
    ``HarnessLoop``)."""

    def __init__(self, zygote: Zygote, output_bytes: int, progress_fd: int) -> None:
        self.zygote = zygote
        self._progress = mmap.mmap(progress_fd, PROGRESS_BYTES)
        self._progress_words: memoryview | None = memoryview(self._progress).cast("Q")
        self.confinement = zygote.confinement
        self.stdout = OutputHead(output_bytes)
        self.stderr = OutputHead(output_bytes)
        self._link = _Link()
        self._drains: list[asyncio.Task[None]] = []
        self._transports: list[asyncio.BaseTransport] = []
        self.killed = False
        self.gone = False
        self.harness_pid: int | None = None
        """The child's pid as the parent's kernel sees it (the zygote reports its own view)."""
        self.overhead_ns = 0
        """The channel's round trip (min of a few pings before any candidate code ran)."""
        self._exit: Exited | None = None
        self._released = False
        self._pidfd: int | None = None

    @property
    def pid(self) -> int | None:
        return self.harness_pid

    async def open(self, sock: socket.socket, stdout_fd: int, stderr_fd: int) -> None:
        for fd, head in ((stdout_fd, self.stdout), (stderr_fd, self.stderr)):
            reader, transport = await _pipe_reader(fd)
            self._transports.append(transport)
            self._drains.append(asyncio.create_task(_drain(reader, head)))
        await self._link.open(sock)

    def attach(self, pid: int) -> None:
        """The child's pid as the parent's kernel sees it, held as a pidfd where the kernel has
        them, so a signal can never reach another process that took the pid after it ended."""
        self.harness_pid = pid
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(pid)

    def started(self) -> int | None:
        """The test the child last noted it was starting (verdict-only streams), if any: what
        it writes there only ever concerns its own tests."""
        value = self._progress_words[0] if self._progress_words is not None else 0
        return int(value) - 1 if value else None

    def clock(self) -> tuple[int, int] | None:
        """(ns on a CPU, ns runnable but waiting for one) of the child, from the kernel.

        ``/proc/<pid>/schedstat`` counts in nanoseconds; where the kernel lacks it, utime + stime
        from ``/proc/<pid>/stat`` (10 ms ticks) stand in and the wait is unknown (0).
        """
        if self.harness_pid is None:
            return None
        try:
            with open(f"/proc/{self.harness_pid}/schedstat", "rb") as handle:
                run, wait = handle.read().split()[:2]
            return int(run), int(wait)
        except (OSError, ValueError):
            pass
        try:
            with open(f"/proc/{self.harness_pid}/stat", "rb") as handle:
                raw = handle.read()
            fields = raw[raw.rfind(b")") + 2 :].split()
            return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_NS, 0
        except (OSError, IndexError, ValueError):
            return None

    async def send(self, message: Message) -> None:
        await self._link.send(message)

    async def receive(self) -> Record:
        try:
            return await self._link.receive()
        except WorkerGone:
            self.gone = True
            raise

    async def receive_within(self, seconds: float) -> Record:
        """The next record, or TimeoutError after ``seconds`` (at least 10 ms)."""
        async with asyncio.timeout(max(0.01, seconds)):
            return await self.receive()

    def buffered(self) -> bool:
        """Whether bytes of a later record already wait in the reader: the parent is behind.

        A record read while others wait arrived earlier than the parent's clock says, so its
        interval is judged together with the next one's (``orps_sandbox.crosscheck``).
        """
        return self._link.buffered()

    def alive(self) -> bool:
        return not (self.killed or self.gone or self._exit) and self.zygote.alive()

    async def exit_description(self, wait_s: float = 1.0) -> tuple[str, int | None]:
        """Wait briefly for the child to end and describe how it ended."""
        if self._exit is None and self.zygote.alive():
            self._exit = await self.zygote.wait_exited(wait_s)
        if self._exit is None:
            if not self.zygote.alive() or self.zygote.process is None:
                return "ended with its sandbox", None
            return "still running", None
        return describe_exit(os.waitstatus_to_exitcode(self._exit.status), False)

    def _signal(self) -> None:
        """SIGKILL the child (the zygote removes what it left); without bubblewrap also its
        process group and descendants, since there is no namespace to clean."""
        if self.harness_pid is None:
            self.zygote.kill_now()  # no way to reach the child alone
            return
        if self._exit is not None:
            return  # the zygote reported it gone: its pid may be another process's by now
        if not self.zygote.reusable:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.harness_pid, signal.SIGKILL)
            with contextlib.suppress(psutil.Error):
                for victim in psutil.Process(self.harness_pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        victim.kill()
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.harness_pid, signal.SIGKILL)

    def kill_now(self) -> None:
        """Synchronous kill, safe from a cancellation path or a finaliser: the child and its
        zygote, since nothing here can wait for the zygote's report."""
        self.killed = True
        self._signal()
        self.zygote.kill_now()

    async def kill(self) -> bool:
        """Kill the child; True when its zygote then reported the sandbox clean (reusable)."""
        self.killed = True
        if self._released:
            return False
        self._released = True
        self._signal()
        if self._exit is None and self.zygote.alive():
            self._exit = await self.zygote.wait_exited(EXIT_REPORT_S)
        await self.close()
        return (
            self._exit is not None
            and self._exit.clean
            and self.zygote.reusable
            and self.zygote.alive()
        )

    async def close(self) -> None:
        await self._link.close()
        cancelled = await _finish_drains(self._drains)
        for transport in self._transports:
            transport.close()
        self._transports = []
        if self._progress_words is not None:
            self._progress_words.release()
            self._progress_words = None
            self._progress.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if cancelled:
            raise asyncio.CancelledError


async def _finish_drains(drains: list[asyncio.Task[None]]) -> bool:
    """Give each output drain half a second to read what is left, then cancel it. True when
    the caller was cancelled meanwhile: it finishes its clean-up, then raises CancelledError
    (a clean-up that swallowed it would let a cancelled search run on)."""
    cancelled = False
    for task in drains:
        try:
            done, _ = await asyncio.wait({task}, timeout=0.5)
        except asyncio.CancelledError:
            cancelled, done = True, set()
        if not done:
            task.cancel()
    return cancelled


def _children(pid: int) -> list[int]:
    """The pids the kernel lists as children of any thread of ``pid``."""
    found: list[int] = []
    for task in _listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _exists(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
