"""The child side of the sandbox: the harness that runs inside the confined process.

The parent starts this directory as a program (``python -I -S -X utf8 <this directory> CONFIG``,
inside bubblewrap or not), which runs this file; the directory is first on ``sys.path`` while
the harness imports its own modules, all named ``_orps_*`` so that no candidate import can reach
them by accident, and it is then removed. The harness uses the standard library only (pytest is
imported lazily for pytest items) and never imports ``orps_sandbox``. ``HarnessLoop`` serves one
candidate, driven by the parent's commands over the channel (fd 3), never over stdout:

``key`` (first, before anything else) authenticates every later record; ``ping`` → ``pong`` (the
parent measures the channel's round trip before candidate code exists); ``load`` (module + tests)
→ ``loaded``; ``check`` (test indices) → one ``result`` per assert/doctest test, in the order
given, then ``done`` (verdicts only: the same results, several to a ``results`` record, sent at
least every ``FLUSH_NS``; pytest items: ``start``/``result``/``memory`` each, in pytest's order);
``memory`` (indices) → one ``memory`` per test, then ``done``; ``time`` (indices + repetitions) →
one ``samples`` per assert/doctest test in the order given (pytest items: ``start``/``samples``),
then ``done``; ``finish`` → ``bye``. Tests run back to back with no round trip between them (the
parent reads each record's arrival as that test's clock). A ``result`` carries plain type-tagged
values (``judge``) when the parent can judge the comparison itself, and the run's own wall and CPU
time whatever its verdict, so that every interval of the stream is accounted for. The memory run
under tracemalloc is its own command, after the check, so it never counts against a test's
timeout or clock; the parent asks for it only for tests cheap enough to trace. A value too large
for one record is offered by its digest first (``digest``, which the parent answers: equal to
its literal, or not) and, unless the parent matched it, goes ahead of its result in ``chunk``
records.

Under bubblewrap the program starts as a zygote (``_orps_zygote``): it forks one child per
candidate, and each child runs ``HarnessLoop`` on a channel of its own.

Before any candidate code runs, the guard disables process, signal and destructive file APIs. The
guard is defence in depth only: the boundary is the OS confinement set up by the parent.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import linecache
import marshal
import mmap
import os
import resource
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# mypy sees these modules as orps_sandbox._orps_harness.*; at run time they import flat.
if TYPE_CHECKING:
    from orps_sandbox._orps_harness._orps_channel import (
        CHANNEL_FD,
        PROGRESS_BYTES,
        Channel,
        Message,
    )
    from orps_sandbox._orps_harness._orps_guard import install_guard
    from orps_sandbox._orps_harness._orps_judge import Outcome, Runner, format_exception
    from orps_sandbox._orps_harness._orps_loader import CandidateFinder, CandidateLoader
    from orps_sandbox._orps_harness._orps_pytest import (
        PytestSession,
        preimport_pytest,
        run_pytest,
    )
    from orps_sandbox._orps_harness._orps_values import CHUNK_BYTES, INLINE_BYTES
    from orps_sandbox._orps_harness._orps_zygote import Zygote
else:
    # No bytecode cache for the harness's modules or the candidate's (as for the former
    # single-file harness); the interpreter has already cached this file, if it could.
    sys.dont_write_bytecode = True
    from _orps_channel import CHANNEL_FD, PROGRESS_BYTES, Channel, Message
    from _orps_guard import install_guard
    from _orps_judge import Outcome, Runner, format_exception
    from _orps_loader import CandidateFinder, CandidateLoader
    from _orps_pytest import PytestSession, preimport_pytest, run_pytest
    from _orps_values import CHUNK_BYTES, INLINE_BYTES
    from _orps_zygote import Zygote

FLUSH_NS = 4_000_000
"""Verdicts only: results wait at most this long (or for ``BATCH_ITEMS``) before they are sent;
a test slower than this is sent on its own, so a test's deadline still runs from the record
before it."""
BATCH_ITEMS = 256
BATCH_BYTES = 512 * 1024
_DUMPS = json.dumps
_MONOTONIC_NS = time.monotonic_ns
# The process's own output streams, as the harness starts: a candidate may rebind ``sys.stdout``
# or set attributes on it, but the type's own ``flush`` of these objects runs no candidate code.
_STREAMS = (sys.stdout, sys.stderr)


def flush_output() -> None:
    """Push what the candidate printed into the pipes the parent reads: a verdict-only
    candidate is killed once its results are in (no ``finish``), and Python buffers a pipe."""
    for stream in _STREAMS:
        with contextlib.suppress(Exception):
            if isinstance(stream, io.TextIOWrapper):
                io.TextIOWrapper.flush(stream)


Sender = Callable[[Message], None]


def rusage_peak() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def send_value(
    send: Sender, judge: Message | None, text: str | None = None
) -> tuple[Message | None, int]:
    """A judgement for a record: as it is, or, when its JSON (``text``, if already made) is too
    large for one record, sent ahead in ``chunk`` records (the record then carries ``None`` and
    the number of chunks)."""
    if judge is None:
        return None, 0
    if text is None:
        text = _DUMPS(judge)
    if len(text) <= INLINE_BYTES:
        return judge, 0
    parts = range(0, len(text), CHUNK_BYTES)
    for start in parts:
        send({"ev": "chunk", "data": text[start : start + CHUNK_BYTES]})
    return None, len(parts)


class ValueOffer:
    """A large value the parent judges goes as its digest first: the parent compares it with
    its literal's and answers; only a value it did not match is sent whole (in chunks)."""

    def __init__(self, send: Sender, receive: Callable[[], Message]) -> None:
        self.send = send
        self.receive = receive

    def matched(self, index: int, outcome: Outcome, wall: int | None, cpu: int | None) -> bool:
        """True when the parent found the value equal to its literal: no result follows. When
        it did not, the outcome's judgement holds the value's whole text (``make_text``)."""
        found = outcome.value_digest()
        if found is None:
            return False
        digest, length = found
        self.send(
            {
                "ev": "digest",
                "index": index,
                "digest": digest,
                "length": length,
                "wall_ns": wall or 0,
                "cpu_ns": cpu or 0,
                "memory": outcome.memory_error,
                "rss": rusage_peak(),
            }
        )
        if self.receive().get("match"):
            return True
        outcome.make_text()
        return False


class ResultBatch:
    """Verdict-only results, several to a ``results`` record: one authenticated record (and one
    parent wake-up) per batch instead of per test. A batch is sent when it is ``FLUSH_NS`` old,
    full, or the stream ends, and before any large value (offered by digest, else in chunks)."""

    def __init__(self, send: Sender, offer: ValueOffer) -> None:
        self.send = send
        self.offer = offer
        self.items: list[Message] = []
        self.size = 0
        self.since = _MONOTONIC_NS()

    def add(self, index: int, outcome: Outcome, wall: int, cpu: int) -> None:
        judge: Message | None = outcome.judge
        chunks = 0
        if judge is not None:
            text = None
            size = outcome.judge_size
            if size < 0:
                text = _DUMPS(judge)
                size = len(text)
            if size > INLINE_BYTES:
                self.flush()
                if self.offer.matched(index, outcome, wall, cpu):
                    return
                if outcome.judge is not judge:  # its text was made (``Outcome.make_text``)
                    judge, text = outcome.judge, None
                judge, chunks = send_value(self.send, judge, text)
            self.size += size if chunks == 0 else 0
        self.size += len(outcome.detail) + 64
        self.items.append(
            {
                "index": index,
                "status": outcome.status,
                "detail": outcome.detail,
                "wall_ns": wall,
                "cpu_ns": cpu,
                "judge": judge,
                "chunks": chunks,
                "memory": outcome.memory_error,
            }
        )
        if (
            chunks
            or len(self.items) >= BATCH_ITEMS
            or self.size >= BATCH_BYTES
            or _MONOTONIC_NS() - self.since >= FLUSH_NS
        ):
            self.flush()

    def flush(self) -> None:
        if self.items:
            flush_output()  # before the results: the parent may kill the candidate on reading them
            self.send({"ev": "results", "items": self.items, "rss": rusage_peak()})
            self.items = []
            self.size = 0
        self.since = _MONOTONIC_NS()


class HarnessLoop:
    """One candidate, start to finish, driven by the parent's commands."""

    def __init__(self, channel: Channel, config: Message, progress: Progress | None = None) -> None:
        self.channel = channel
        # Bound now, before candidate code: wrapping ``Channel.send`` later changes nothing here.
        self.send = channel.send
        self.offer = ValueOffer(channel.send, channel.receive)
        self.progress = progress
        self.config = config
        self.memory_cutoff_ns = int(config.get("memory_cutoff_ns", 0))
        self.tests: list[Message] = []
        self.runner: Runner | None = None

    def serve(self) -> None:
        self.send({"ev": "ready"})
        while True:
            command = self.channel.receive()
            op = command.get("op")
            if op == "ping":
                self.send({"ev": "pong"})
            elif op == "load":
                self.load(command)
            elif op == "check":
                if self.runner is not None:
                    self.runner.encode_values = True  # verdicts, with the values to judge
                self.check(command["indices"], bool(command.get("measure", True)))
                flush_output()
                self.send({"ev": "done"})
            elif op == "memory":
                assert self.runner is not None
                self.runner.encode_values = False
                self.memory(command["indices"])
                self.send({"ev": "done"})
            elif op == "time":
                assert self.runner is not None
                self.runner.encode_values = False
                self.time(command["indices"], {int(k): v for k, v in command["reps"].items()})
                self.send({"ev": "done"})
            else:
                self.send({"ev": "bye", "rss": rusage_peak()})
                flush_output()
                os._exit(0)

    def load(self, command: Message) -> None:
        module_spec: Message = command["module"]
        # The suite travels as marshal data of its own: the parent encodes it once per batch.
        self.tests = marshal.loads(command["tests"])
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
            self.send(
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
        self.send({"ev": "loaded", "ok": ok, "detail": detail, "rss": rusage_peak()})

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
        self.runner.last_wall = self.runner.last_cpu = 0
        if test["kind"] == "doctest":
            return self.runner.run_doctest(test)
        return self.runner.run_assert(test)

    def check(self, indices: list[int], measure: bool = True) -> None:
        pytest_tests = {i: self.tests[i] for i in indices if self.tests[i]["kind"] == "pytest"}
        assert self.runner is not None
        runner = self.runner
        batch = None if measure else ResultBatch(self.send, self.offer)
        progress = self.progress if batch is not None else None
        for index in indices:
            if index in pytest_tests:
                continue
            if progress is not None:
                progress.started(index)  # a batch's results wait: the parent reads which hung
            outcome = self.run_once(self.tests[index])
            if batch is None:
                self.send_result(index, outcome, runner.last_wall, runner.last_cpu, always=True)
            else:
                batch.add(index, outcome, runner.last_wall, runner.last_cpu)
        if batch is not None:
            batch.flush()
        if pytest_tests:
            self.check_pytest(pytest_tests, measure)

    def memory(self, indices: list[int]) -> None:
        """One run under tracemalloc per test: its peak, or None when the run did not pass."""
        for index in indices:
            peak = None
            tracemalloc.start()
            try:
                if self.run_once(self.tests[index]).status == "passed":
                    peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            self.send({"ev": "memory", "index": index, "peak": peak})

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
        extra: tuple[list[int], list[int]] = ([], []),
        *,
        always: bool = False,
    ) -> None:
        # Timings go with every verdict the parent may turn into a pass (it judges values itself),
        # and with every assert/doctest result (the parent accounts for each interval it timed).
        timed = always or outcome.status == "passed" or outcome.judge is not None
        if timed and self.offer.matched(index, outcome, wall, cpu):
            return
        outcome.make_text()
        judge, chunks = send_value(self.send, outcome.judge)
        self.send(
            {
                "walls": extra[0] if timed else [],
                "cpus": extra[1] if timed else [],
                "ev": "result",
                "index": index,
                "status": outcome.status,
                "detail": outcome.detail,
                "wall_ns": wall if timed else None,
                "cpu_ns": cpu if timed else None,
                "judge": judge,
                "chunks": chunks,
                "memory": outcome.memory_error,
                "rss": rusage_peak(),
            }
        )

    def check_pytest(self, tests: dict[int, Message], measure: bool = True) -> None:
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
                (walls[1:], cpus[1:]),
            )
            self.send({"ev": "memory", "index": index, "peak": session.peak.get(index)})

        session.on_start = lambda index: self.send({"ev": "start", "index": index})
        session.on_done = finished
        if measure:  # pytest sessions are costly: memory and repetitions happen in-session
            session.plan = self.plan
            session.memory_cutoff_ns = self.memory_cutoff_ns
        else:
            session.memory_cutoff_ns = -1  # verdicts only: no traced run, no repetitions
        try:
            run_pytest(session)
        except BaseException as exc:
            session.collect_errors.append(f"pytest aborted: {type(exc).__name__}: {exc}")
        for index in tests:
            if index not in done:
                self.send({"ev": "start", "index": index})
                outcome = session.verdict(index)
                if outcome.status == "passed":
                    outcome = Outcome("error", "pytest session ended before the item finished")
                self.send_result(index, outcome, None, None)
                self.send({"ev": "memory", "index": index, "peak": None})

    def time(self, indices: list[int], reps: dict[int, int]) -> None:
        pytest_tests = {i: self.tests[i] for i in indices if self.tests[i]["kind"] == "pytest"}
        for index in indices:
            if index in pytest_tests:
                continue
            test = self.tests[index]
            runner = self.runner
            assert runner is not None
            walls: list[int] = []
            cpus: list[int] = []
            for _ in range(reps.get(index, 1)):
                outcome = self.run_once(test)
                if outcome.status != "passed":
                    break
                walls.append(runner.last_wall)
                cpus.append(runner.last_cpu)
            self.send({"ev": "samples", "index": index, "wall": walls, "cpu": cpus})
        if pytest_tests:
            session = PytestSession(pytest_tests, {i: max(1, reps.get(i, 1)) for i in pytest_tests})

            def finished(index: int) -> None:
                walls, cpus = session.samples.get(index, ([], []))
                self.send({"ev": "samples", "index": index, "wall": walls, "cpu": cpus})

            sent: set[int] = set()

            def started(index: int) -> None:
                sent.add(index)
                self.send({"ev": "start", "index": index})

            session.on_start = started
            session.on_done = finished
            with contextlib.suppress(BaseException):
                run_pytest(session)
            for index in pytest_tests:
                if index not in sent:
                    self.send({"ev": "start", "index": index})
                    self.send({"ev": "samples", "index": index, "wall": [], "cpu": []})


def apply_limits(config: Message) -> None:
    """Lower resource limits from inside (harmless duplicates of what the parent set)."""
    for name, value in config.get("rlimits", {}).items():
        limit = getattr(resource, name)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


def main() -> None:
    # Running a directory puts it first on sys.path; the single-file harness was never on it.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]
    config: Message = json.loads(sys.argv[1])
    # Started with -S: the engine's site-packages (and what .pth files add inside them) instead.
    for entry in config.get("site_paths", []):
        if entry not in sys.path:
            sys.path.append(entry)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    channel = Channel(int(config.get("channel_fd", CHANNEL_FD)))
    os.chdir(config["scratch"])
    apply_limits(config)
    if config.get("preimport_pytest"):
        preimport_pytest()
    if config.get("zygote"):
        zygote = Zygote(channel, config, serve_candidate)
        del channel  # only the zygote holds its channel, and drops it in every child
        zygote.serve()
    else:
        enable_faulthandler()
        HarnessLoop(channel, config).serve()


def enable_faulthandler() -> None:
    """Fail loudly rather than silently if a C stack overflow is about to kill the candidate's
    process: the parent sees the signal either way; faulthandler only adds a traceback on
    stderr. (Not in the zygote: as its namespace's init it keeps every default action.)"""
    with contextlib.suppress(Exception):
        import faulthandler

        faulthandler.enable()


def serve_candidate(fd: int, progress_fd: int, config: Message) -> None:
    """A zygote's child: one candidate on the channel the parent sent it (never returns)."""
    enable_faulthandler()
    progress = Progress(progress_fd)
    HarnessLoop(Channel(fd), config, progress).serve()


class Progress:
    """A page shared with the parent where the child notes the test it is starting, one store
    per test: verdict-only results wait in a batch, so when a test hangs the parent reads here
    which one it was (a candidate that writes here only misleads the blame for its own hang,
    and every test it skips is run again)."""

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, PROGRESS_BYTES)
        os.close(fd)
        self._words = memoryview(self._map).cast("Q")

    def started(self, index: int) -> None:
        self._words[0] = index + 1


if __name__ == "__main__":
    main()
