"""The parent's handle on one confined harness process: spawn, talk, drain output, kill.

A worker serves exactly one candidate and is then killed. Records come only over the private
socket, each checked by ``orps_sandbox.protocol`` (size cap before reading, keyed tag, schema,
sequence) with a key sent as the worker's first command, before any candidate code runs; stdout
and stderr are drained continuously and only their heads are kept, so an output flood costs the
engine neither memory nor a stuck pipe. The parent's own clocks live here too: ``clock`` reads the
harness process's CPU time and run-queue wait from the kernel (``/proc/<pid>/schedstat``), and
``overhead_ns`` is the channel's round trip, measured with ``ping`` before the candidate is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

from orps_sandbox.filesystem import site_paths
from orps_sandbox.isolation import Confinement, PidsCgroup, _pids_cgroup
from orps_sandbox.measurement import MAX_RUNS, MEMORY_RUN_SHARE, MIN_RUNS, TARGET_NS
from orps_sandbox.protocol import Record, check_size, parse_record

Message = dict[str, Any]
CLOCK_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


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


class WorkerProcess:
    """One harness process in its confinement, seen from the parent (the child runs ``HarnessLoop``)."""

    def __init__(self, confinement: Confinement, binds: tuple[str, ...]) -> None:
        self.confinement = confinement
        self.binds = binds
        self.process: asyncio.subprocess.Process | None = None
        self.scratch = ""
        self.cgroup: Path | None = None
        self.stdout = OutputHead(confinement.limits.output_bytes)
        self.stderr = OutputHead(confinement.limits.output_bytes)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._drains: list[asyncio.Task[None]] = []
        self.killed = False
        self.started = 0.0
        self._key = os.urandom(32)
        self._seq = 0
        self._frame_size: int | None = None
        self.harness_pid: int | None = None
        self.overhead_ns = 0
        """The channel's round trip (min of a few pings before any candidate code ran)."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, preimport_pytest: bool) -> None:
        limits = self.confinement.limits
        self.scratch = tempfile.mkdtemp(prefix="orps-scratch-")
        os.chmod(self.scratch, 0o777)
        cgroup, _ = _pids_cgroup()
        nproc: int | None = None
        if cgroup is not None:
            self.cgroup = cgroup.create(limits.processes + 2)  # + bubblewrap's two processes
        elif os.geteuid() != 0:
            uid = os.geteuid()
            mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid)
            nproc = mine + limits.processes + 2
        parent_sock, child_sock = socket.socketpair()
        config = {
            "scratch": self.scratch,
            "channel_fd": child_sock.fileno(),
            "output_bytes": limits.output_bytes,
            "preimport_pytest": preimport_pytest,
            "guard": True,
            "rlimits": self.confinement.rlimits(),
            "timing": [TARGET_NS, MIN_RUNS, MAX_RUNS],
            "test_timeout_s": limits.test_timeout_s,
            "memory_cutoff_ns": int(limits.test_timeout_s * 1e9 / MEMORY_RUN_SHARE),
            "site_paths": list(site_paths()),
        }
        seccomp_fd = self.confinement.open_seccomp()
        argv = self.confinement.command(
            self.scratch, self.binds, json.dumps(config), seccomp_fd=seccomp_fd
        )
        inherited = (child_sock.fileno(),) + (() if seccomp_fd is None else (seccomp_fd,))
        try:
            self.process = await asyncio.create_subprocess_exec(
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
        finally:
            child_sock.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self.started = time.monotonic()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._drains = [
            asyncio.create_task(self._drain(self.process.stdout, self.stdout)),
            asyncio.create_task(self._drain(self.process.stderr, self.stderr)),
        ]
        self._reader, self._writer = await asyncio.open_connection(sock=parent_sock)
        await self.send({"op": "key", "key": self._key.hex()})

    def find_harness(self) -> None:
        """Remember the harness's pid (under bubblewrap, the python below the bwrap processes)."""
        if self.process is None:
            return
        frontier, seen = [self.process.pid], []
        while frontier:  # the kernel's children lists: cheaper than scanning every process
            pid = frontier.pop()
            seen.append(pid)
            for task in _listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as handle:
                        frontier.extend(int(child) for child in handle.read().split())
                except (OSError, ValueError):
                    continue
        for pid in seen:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).name().startswith("python"):
                    self.harness_pid = pid

    def clock(self) -> tuple[int, int] | None:
        """(ns on a CPU, ns runnable but waiting for one) of the harness, from the kernel.

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

    @staticmethod
    async def _drain(stream: asyncio.StreamReader, head: OutputHead) -> None:
        with contextlib.suppress(Exception):
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    return
                head.feed(chunk)

    async def send(self, message: Message) -> None:
        if self._writer is None:
            raise WorkerGone("not started")
        data = json.dumps(message).encode()
        try:
            self._writer.write(struct.pack("!I", len(data)) + data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc

    async def receive(self) -> Record:
        """The next record; WorkerGone on EOF, ProtocolViolation on a record that fails a check."""
        if self._reader is None:
            raise WorkerGone("not started")
        try:
            # Cancellation-safe: a timeout between the header and the frame keeps the size, so
            # a later call reads the same record (``readexactly`` takes nothing until it can
            # take everything).
            if self._frame_size is None:
                header = await self._reader.readexactly(4)
                (size,) = struct.unpack("!I", header)
                check_size(size)
                self._frame_size = size
            frame = await self._reader.readexactly(self._frame_size)
            self._frame_size = None
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc
        record = parse_record(self._key, frame, self._seq)
        self._seq += 1
        return record

    async def receive_within(self, seconds: float) -> Record:
        """The next record, or TimeoutError after ``seconds`` (at least 10 ms)."""
        async with asyncio.timeout(max(0.01, seconds)):
            return await self.receive()

    def buffered(self) -> bool:
        """Whether bytes of a later record already wait in the reader: the parent is behind.

        Reads ``StreamReader._buffer`` (asyncio has no public accessor; pinned by a test). A
        record read while others wait arrived earlier than the parent's clock says, so its
        interval is judged together with the next one's (``orps_sandbox.crosscheck``).
        """
        reader = self._reader
        return reader is not None and len(getattr(reader, "_buffer", b"")) > 0

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self.killed

    async def exit_description(self, wait_s: float = 1.0) -> tuple[str, int | None]:
        """Wait briefly for the process to end and describe how it ended."""
        if self.process is None:
            return "never started", None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), wait_s)
        return describe_exit(self.process.returncode, self.confinement.info.kind == "bubblewrap")

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
        """Synchronous kill, safe from a cancellation path or a finaliser."""
        self.killed = True
        self._signal_all()

    async def kill(self) -> None:
        """Kill everything this worker started and wait until it is all gone (≤ ~2 s)."""
        self.killed = True
        victims = self._signal_all()
        deadline = time.monotonic() + 2.0
        if self.process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 2.0)
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
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
        for task in self._drains:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 0.5)
        if self.cgroup is not None and PidsCgroup.remove(self.cgroup):
            self.cgroup = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = ""


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
