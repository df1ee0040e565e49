"""The sandbox front door: run candidates against tests in confined, pre-started workers.

``Sandbox.run_many`` takes a batch of (module, tests) jobs and proceeds in two phases:

1. **Correctness**, concurrently up to ``workers``: each candidate gets a fresh worker (taken
   warm from the pool), imports its module, and runs every test once (plus one run under
   tracemalloc for passing tests). A test that exceeds ``test_timeout_s`` gets the worker killed
   and is reported as ``timeout``; a worker that dies mid-test (segfault, ``os._exit``, a killed
   process group) reports that test as ``error``. Either way the remaining tests continue on a
   fresh worker, so one bad test does not hide the others.
2. **Timing**, one candidate at a time and round-robin across the batch: passing tests are
   repeated in ``ROUNDS`` slices so that machine drift during the batch hits every candidate
   alike, while the pool stays quiet (no background spawns) to keep the machine still.

Workers serve one candidate and are then killed together with everything they started.
Nothing the candidate does raises here: it all ends in an ``ExecutionReport``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import marshal
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from orps_sandbox.crosscheck import (
    CommandClock,
    LoopWatch,
    StreamClock,
    check_first_run,
    check_repetitions,
    check_session_runs,
)
from orps_sandbox.isolation import (
    Confinement,
    IsolationChoice,
    IsolationInfo,
    detect_isolation,
    required_binds,
)
from orps_sandbox.measurement import (
    MEMORY_RUN_SHARE,
    ROUNDS,
    planned_repetitions,
    summarise,
)
from orps_sandbox.protocol import (
    MAX_VALUE_BYTES,
    Bye,
    Chunk,
    Digest,
    Done,
    Judgement,
    Loaded,
    Memory,
    Pong,
    ProtocolViolation,
    Ready,
    Record,
    Result,
    ResultItem,
    Results,
    Start,
    TimingSamples,
    judgement_from_chunks,
)
from orps_sandbox.spec import (
    ExecutionReport,
    ExecutionStatus,
    Limits,
    ModuleSpec,
    TestKind,
    TestResult,
    TestSpec,
    TestStatus,
)
from orps_sandbox.verdicts import TestReader
from orps_sandbox.worker import READY_TIMEOUT_S, Message, WorkerGone, WorkerProcess, Zygote

CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE}
STATUS_PRIORITY = [
    ExecutionStatus.PROTOCOL_VIOLATION,
    ExecutionStatus.TIMING_TAMPERED,
    ExecutionStatus.IMPORT_ERROR,
    ExecutionStatus.MEMORY_LIMIT,
    ExecutionStatus.TIMEOUT,
    ExecutionStatus.CRASHED,
]
PYTEST_STARTUP_S = 20.0
FLUSH_S = 0.02
"""Verdicts only: extra time per deadline for results waiting in the child's batch (it sends
them at least every 4 ms of work)."""
LATE_READ_S = 1.0
"""Time to finish reading a record that was already arriving when its deadline expired."""
LOAD_BYTES_PER_S = 10_000_000
"""A load message's allowance on top of the import's: 0.1 s per MB of test text."""
PINGS = 3
"""Round trips measured on each fresh worker; the smallest is its channel overhead."""
SUITE_BYTES = 256 * 1024 * 1024
"""Encoded suites kept for the next candidate, least recently used dropped first."""


def _group_size(workers: int) -> int:
    """Candidates measured together: each holds its process (and so a zygote) until its timing
    rounds are over, so this is also how many zygotes a pool keeps once they have served."""
    return max(2 * workers, 8)


_STATUSES = {status.value: status for status in TestStatus}
_PoolKey = tuple[tuple[str, ...], bool]
"""Warm workers are interchangeable when their extra binds and pytest pre-import match."""


@dataclass(frozen=True, slots=True)
class _Run:
    """A streamed test's first run, as the child reported it, until its group is checked."""

    index: int
    wall_ns: int
    cpu_ns: int
    value_bytes: int


@dataclass
class _Job:
    """Everything learnt so far about one candidate of a batch."""

    module: ModuleSpec
    tests: list[TestSpec]
    binds: tuple[str, ...]
    needs_pytest: bool
    results: dict[int, tuple[TestStatus, str]] = field(default_factory=dict)
    """Each test's status and detail so far (a report's ``TestResult`` is made at the end)."""
    first: dict[int, tuple[int, int]] = field(default_factory=dict)
    peaks: dict[int, int | None] = field(default_factory=dict)
    walls: dict[int, list[int]] = field(default_factory=dict)
    cpus: dict[int, list[int]] = field(default_factory=dict)
    planned: dict[int, int] = field(default_factory=dict)
    events: list[tuple[ExecutionStatus, str]] = field(default_factory=list)
    worker: WorkerProcess | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    rss: int = 0
    started: float = 0.0
    deadline: float = 0.0
    wall_s: float = 0.0
    loaded_once: bool = False
    import_detail: str = ""
    first_elapsed: dict[int, int] = field(default_factory=dict)
    """Parent-measured ns around a test's ``check`` command, up to its ``result`` (less the
    channel's round trip and the time either process waited for a CPU)."""
    flags: list[str] = field(default_factory=list)
    violated: bool = False
    tampered: bool = False
    measure: bool = True
    """Memory and timing runs after the verdict (False: verdicts only)."""
    fail_fast: bool = False
    """Stop at the first test that does not pass; the rest are ``not_run``."""
    stopped: bool = False
    report: ExecutionReport | None = None
    """Made as soon as the job is finished (verdicts only), else when the batch is."""


def _job_binds(module: ModuleSpec, tests: Sequence[TestSpec]) -> tuple[str, ...]:
    paths = list(module.search_paths)
    for test in tests:
        if test.kind is TestKind.PYTEST and test.path:
            paths.append(os.path.dirname(os.path.abspath(test.path)))
    return required_binds(paths)


def _text_chars(test: TestSpec) -> int:
    """The test's text the harness may compile inside a lap (its setup is compiled once)."""
    return len(test.source)


class _Suites:
    """Each distinct test list encoded for the harness once (``marshal``), kept while among the
    most recent ``SUITE_BYTES`` (the oldest first out): a batch's candidates share one suite,
    and a benchmark's suite may hold a thousand tests. Entries are found by the ``id`` of the
    tests they keep alive, which no other object can take while they last (hashing every
    test's fields would cost more)."""

    def __init__(self, reader: TestReader) -> None:
        self.reader = reader
        self._encoded: dict[tuple[int, ...], tuple[tuple[TestSpec, ...], bytes]] = {}
        self._bytes = 0

    def message(self, test: TestSpec) -> Message:
        """What the harness is sent of one test."""
        split = self.reader.for_harness(test)
        return {
            "id": test.id,
            "kind": test.kind.value,
            "source": "" if split is not None else test.source,
            "setup": test.setup,
            "expected_output": test.expected_output,
            "path": os.path.abspath(test.path) if test.path else None,
            "node": test.node,
            "split": split,
        }

    def encoded(self, tests: Sequence[TestSpec]) -> bytes:
        key = tuple(map(id, tests))
        known = self._encoded.get(key)
        if known is not None and all(a is b for a, b in zip(known[0], tests, strict=True)):
            return known[1]
        data = marshal.dumps([self.message(t) for t in tests])
        self._encoded[key] = (tuple(tests), data)
        self._bytes += len(data)
        while self._bytes > SUITE_BYTES and len(self._encoded) > 1:
            oldest = next(iter(self._encoded))
            self._bytes -= len(self._encoded.pop(oldest)[1])
        return data


class Sandbox:
    """Runs candidate modules against tests in confined worker processes."""

    def __init__(
        self,
        limits: Limits = Limits(),  # noqa: B008 - Limits is a frozen model
        *,
        workers: int | None = None,
        isolation: IsolationChoice = "auto",
    ) -> None:
        self.limits = limits
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._info = detect_isolation(isolation, limits)
        self._confinement = Confinement(self._info, limits)
        self._ready: dict[_PoolKey, list[Zygote]] = {}
        """Idle zygotes by pool key, each ready to fork a candidate's process."""
        self._zygotes: set[Zygote] = set()
        """Every zygote alive, idle or serving a candidate."""
        self._pool_key: _PoolKey | None = None
        self._spawning = 0
        self._spawn_idle: asyncio.Event | None = None
        self._refill_task: asyncio.Task[None] | None = None
        self._quiet = 0
        self._quiet_over: asyncio.Event | None = None
        self._live: set[WorkerProcess] = set()
        self._cleanup: set[asyncio.Task[None]] = set()
        self._closed = False
        self._watch = LoopWatch()
        self._reader = TestReader()
        self._suites = _Suites(self._reader)

    @property
    def isolation(self) -> IsolationInfo:
        return self._info

    # -- public API -----------------------------------------------------------------------------

    async def run(
        self,
        module: ModuleSpec,
        tests: Sequence[TestSpec],
        *,
        measure: bool = True,
        fail_fast: bool = False,
    ) -> ExecutionReport:
        return (await self.run_many([(module, tests)], measure=measure, fail_fast=fail_fast))[0]

    async def run_many(
        self,
        jobs: Sequence[tuple[ModuleSpec, Sequence[TestSpec]]],
        *,
        measure: bool = True,
        fail_fast: bool = False,
    ) -> list[ExecutionReport]:
        """Run every job; one report per job, in order.

        ``measure=False`` gives verdicts only: no tracemalloc run and no timing repetitions, and
        each candidate's worker is released as soon as its tests have reported, so the batch
        flows through the workers without waiting for the slowest candidate of a group.
        ``fail_fast`` stops a candidate at its first test that does not pass (the others are
        ``not_run``), as a pass/fail evaluation needs.
        """
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        batch = [
            _Job(
                module=module,
                tests=list(tests),
                binds=_job_binds(module, tests),
                needs_pytest=any(t.kind is TestKind.PYTEST for t in tests),
                measure=measure,
                fail_fast=fail_fast,
            )
            for module, tests in jobs
        ]
        try:
            async with self._watch.watching():
                if not measure:
                    await self._run_flowing(batch)
                else:
                    group_size = _group_size(self.workers)
                    for start in range(0, len(batch), group_size):
                        await self._run_group(batch[start : start + group_size])
        except BaseException:
            # Cancellation (or an engine bug): nothing of this batch may survive.
            for job in batch:
                for worker in job.workers:
                    worker.kill_now()
                    self._schedule_cleanup(worker)
            raise
        return [job.report or self._report(job) for job in batch]

    async def aclose(self) -> None:
        self._closed = True
        if self._refill_task is not None:
            self._refill_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refill_task
        workers = list(self._live)
        zygotes = list(self._zygotes)
        self._ready.clear()
        for worker in workers:
            worker.kill_now()
        for zygote in zygotes:
            zygote.kill_now()
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
        await asyncio.gather(*(z.kill() for z in zygotes), return_exceptions=True)
        self._live.clear()
        self._zygotes.clear()
        if self._cleanup:
            await asyncio.gather(*self._cleanup, return_exceptions=True)

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- phases ---------------------------------------------------------------------------------

    async def _run_flowing(self, batch: list[_Job]) -> None:
        """Verdicts only: each candidate checks and finishes as soon as a worker is free.

        The largest suites go first (longest-processing-time scheduling, with the size of the
        tests' text as the estimate: a suite with megabytes of expected values runs longest), so
        that a long candidate does not start last and keep the batch waiting alone; reports
        keep the batch's order."""
        gate = asyncio.Semaphore(self.workers)
        batch = sorted(batch, key=lambda job: -sum(len(t.source) for t in job.tests))

        async def run(job: _Job) -> None:
            async with gate:
                await self._check(job)
                worker, job.worker = job.worker, None
            if worker is not None:  # killed outside the gate: the next candidate starts now
                await self._dispose(job, worker)
            # Nothing changes a finished job: its report is made now, while other candidates
            # run, rather than all at the end, when the workers would wait for the last one.
            job.report = self._report(job)

        await asyncio.gather(*(run(job) for job in batch))

    async def _run_group(self, group: list[_Job]) -> None:
        gate = asyncio.Semaphore(self.workers)

        async def check(job: _Job) -> None:
            async with gate:
                await self._check(job)

        await asyncio.gather(*(check(job) for job in group))
        if not any(job.planned for job in group):
            await asyncio.gather(*(self._finish(job) for job in group))
            return
        async with self._quiet_pool():
            for round_number in range(ROUNDS):
                for job in group:
                    await self._time_round(job, round_number)
        await asyncio.gather(*(self._finish(job) for job in group))

    async def _check(self, job: _Job) -> None:
        job.started = time.monotonic()
        job.deadline = job.started + self.limits.total_timeout_s
        remaining = list(range(len(job.tests)))
        while True:
            worker = await self._fresh_worker(job)
            if worker is None:
                break
            if not await self._load(job, worker):
                break
            if not remaining:
                break
            remaining = await self._check_tests(job, worker, remaining)
            if not remaining:
                break
            if time.monotonic() >= job.deadline:
                self._expire(job, remaining)
                break
        if job.measure and not job.violated:
            await self._memory_pass(job)
        job.wall_s = time.monotonic() - job.started
        for index in range(len(job.tests)):
            if index not in job.results:
                job.results[index] = (TestStatus.ERROR, job.import_detail)

    def _expire(self, job: _Job, indices: Sequence[int]) -> None:
        text = f"candidate exceeded its total timeout of {self.limits.total_timeout_s:g} s"
        for index in indices:
            job.results.setdefault(index, (TestStatus.TIMEOUT, text))
        job.events.append((ExecutionStatus.TIMEOUT, text))

    async def _fresh_worker(self, job: _Job) -> WorkerProcess | None:
        """A started worker for this job, or None (with the job's tests marked) if none starts."""
        await self._retire(job)
        try:
            worker = await self._acquire(job)
        except WorkerGone as exc:
            detail = f"the sandbox failed to start: {exc}"
            job.events.append((ExecutionStatus.CRASHED, detail))
            job.import_detail = detail
            return None
        job.worker = worker
        return worker

    def _load_message(self, job: _Job) -> Message:
        return {
            "op": "load",
            "module": {
                "name": job.module.name,
                "source": job.module.source,
                "filename": job.module.filename,
                "search_paths": [os.path.abspath(p) for p in job.module.search_paths],
                "entry": job.module.entry,
            },
            "tests": self._suites.encoded(job.tests),
        }

    async def _load(self, job: _Job, worker: WorkerProcess) -> bool:
        message = self._load_message(job)
        # Importing gets the test timeout; shipping the tests gets time of its own, by size (a
        # suite can carry 150 MB of expected values, which no import timeout should have to cover).
        size = sum(len(t.source) + len(t.setup) for t in job.tests)
        allowance = self.limits.test_timeout_s + size / LOAD_BYTES_PER_S
        budget = min(allowance, max(0.1, job.deadline - time.monotonic()))
        try:
            await worker.send(message)
            reply = await self._receive(worker, budget)
            if not isinstance(reply, Loaded):
                raise ProtocolViolation(f"'{reply.ev}' arrived where 'loaded' was due")
        except TimeoutError:
            await self._retire(job)
            detail = f"importing the module exceeded {budget:g} s"
            job.events.append((ExecutionStatus.TIMEOUT, detail))
            job.import_detail = detail
            if not job.loaded_once:
                for index in range(len(job.tests)):
                    job.results.setdefault(index, (TestStatus.TIMEOUT, detail))
            return False
        except WorkerGone:
            description, number = await worker.exit_description()
            await self._retire(job)
            detail = f"the process {description} while importing the module"
            job.events.append((self._death_status(number), detail))
            job.import_detail = detail
            return False
        except ProtocolViolation as exc:
            await self._violate(job, str(exc))
            return False
        job.rss = max(job.rss, reply.rss)
        if not reply.ok:
            detail = reply.detail or "import failed"
            job.import_detail = f"module failed to import: {detail}"
            status = ExecutionStatus.IMPORT_ERROR
            if reply.memory:
                status = ExecutionStatus.MEMORY_LIMIT
            job.events.append((status, job.import_detail))
            await self._retire(job)
            return False
        job.loaded_once = True
        return True

    def _test_allowance(self, job: _Job, pending: Sequence[int], pytest_started: bool) -> float:
        """Seconds a test may take from its ``start`` (pytest's first item also gets start-up)."""
        allowance = self.limits.test_timeout_s
        if not pytest_started and any(job.tests[i].kind is TestKind.PYTEST for i in pending):
            allowance += PYTEST_STARTUP_S  # import, plugins and collection come first
        return allowance

    async def _check_tests(self, job: _Job, worker: WorkerProcess, indices: list[int]) -> list[int]:
        """Run tests once; returns the indices still without a result if the worker was lost.

        Assert and doctest tests stream through one ``check`` command, each timed by the parent
        from the record before it to its own (``_check_stream``); pytest items go together in one
        session (a session is costly).
        """
        plain = [i for i in indices if job.tests[i].kind is not TestKind.PYTEST]
        pytest_items = [i for i in indices if job.tests[i].kind is TestKind.PYTEST]
        if plain:
            lost = await self._check_stream(job, worker, plain)
            if job.violated or job.stopped:
                return []
            if lost is not None:
                return lost + pytest_items
        if pytest_items:
            lost = await self._check_batch(job, worker, pytest_items)
            if job.violated:
                return []
            if lost is not None:
                return lost
        return []

    def _stop_here(self, job: _Job, indices: Iterable[int], index: int) -> None:
        """Fail-fast: every test after ``index`` is ``not_run``."""
        job.stopped = True
        text = f"not run: test {job.tests[index].id} did not pass (fail-fast)"
        for later in indices:
            job.results.setdefault(later, (TestStatus.NOT_RUN, text))

    async def _check_stream(
        self, job: _Job, worker: WorkerProcess, indices: list[int]
    ) -> list[int] | None:
        """One ``check`` command for assert/doctest tests, run back to back in the worker.

        Returns None when every test reported (or fail-fast stopped the candidate), else the
        tests still to run. Results must arrive in the order asked for (verdicts only: several
        to a ``results`` record); each test has one hard deadline, ``test_timeout_s`` from the
        record before it (plus the harness's ``FLUSH_S`` when results wait in batches, and then
        the progress page says which test hung). Its figures are held to the parent's clocks
        for the interval from that record to its own (``StreamClock``).
        """
        pending = collections.deque(indices)
        clock = StreamClock(worker, self._watch)
        group: list[_Run] = []  # the first runs not yet held to the parent's clocks
        timeout = self.limits.test_timeout_s + (0.0 if job.measure else FLUSH_S)
        chunks: list[str] = []
        try:
            await worker.send({"op": "check", "indices": indices, "measure": job.measure})
            deadline = time.monotonic() + timeout
            while pending:
                record = await self._receive(worker, min(deadline, job.deadline) - time.monotonic())
                if isinstance(record, Chunk):  # a piece of the next result's value
                    chunks.append(record.data)
                    if sum(len(part) for part in chunks) > MAX_VALUE_BYTES:
                        raise ProtocolViolation(f"a value of more than {MAX_VALUE_BYTES:,} bytes")
                    continue
                if isinstance(record, Digest):  # a large value, offered before it is sent
                    if not pending or record.index != pending[0] or chunks:
                        raise ProtocolViolation(f"an unexpected digest for test {record.index}")
                    test = job.tests[pending[0]]
                    if not self._reader.parent_judges(test):
                        raise ProtocolViolation(f"a digest for test {test.id}, which it judges")
                    expected = self._reader.digest_of(test)
                    match = expected == (record.digest, record.length)
                    await worker.send({"op": "digest", "match": match})
                    if not match:
                        continue  # its chunks and result follow, within the same deadline
                    deadline = time.monotonic() + timeout
                    index = pending.popleft()
                    passed, detail = self._reader.judge_match(test)
                    status = TestStatus.PASSED if passed else TestStatus.FAILED
                    self._store(job, index, status, detail, record, record.rss)
                    if await self._took(job, pending, group, index, passed, record, record.length):
                        return None
                    if not pending or not worker.buffered():
                        self._judge_group(job, group, clock)
                        group = []
                    continue
                deadline = time.monotonic() + timeout
                if isinstance(record, Results) and not job.measure:
                    items: Sequence[Result | ResultItem] = record.items
                elif isinstance(record, Result):
                    items = [record]
                else:
                    raise ProtocolViolation(
                        f"'{record.ev}' arrived where test {pending[0]}'s result was due"
                    )
                for item in items:
                    if not pending or item.index != pending[0]:
                        due = f"test {pending[0]}'s result" if pending else "'done'"
                        raise ProtocolViolation(
                            f"a result for test {item.index} arrived where {due} was due"
                        )
                    verdict = item.judge
                    if item.chunks:
                        if len(chunks) != item.chunks or verdict is not None:
                            raise ProtocolViolation("a chunked value does not match its result")
                        verdict = judgement_from_chunks(chunks)
                    elif chunks:
                        raise ProtocolViolation("chunks arrived for a result without a value")
                    chunks = []
                    index = pending.popleft()
                    passed = self._verdict(job, index, item, verdict, record.rss)
                    sent = len(verdict.actual) + len(verdict.expected or "") if verdict else 0
                    if await self._took(job, pending, group, index, passed, item, sent):
                        return None
                if not pending or not worker.buffered():
                    self._judge_group(job, group, clock)
                    group = []
            record = await self._receive(worker, min(deadline, job.deadline) - time.monotonic())
            if not isinstance(record, Done):
                raise ProtocolViolation(f"'{record.ev}' arrived where 'done' was due")
            return None
        except TimeoutError:
            hung = worker.started() if not job.measure else None
            await self._retire(job)
            if not pending:
                return None  # every test reported; only the end marker was late
            if time.monotonic() >= job.deadline - 0.01:
                self._expire(job, pending)
                return []
            # Verdicts only: the results before the one that hung may still have been waiting
            # in the child's batch; they run again on the next worker.
            victim = hung if hung is not None and hung in pending else pending[0]
            pending.remove(victim)
            text = f"exceeded the {self.limits.test_timeout_s:g} s test timeout"
            job.results[victim] = (TestStatus.TIMEOUT, text)
            job.events.append((ExecutionStatus.TIMEOUT, f"test {job.tests[victim].id} {text}"))
        except WorkerGone:
            description, number = await worker.exit_description()
            hung = worker.started() if not job.measure else None
            await self._retire(job)
            if not pending:
                return []
            victim = hung if hung is not None and hung in pending else pending[0]
            pending.remove(victim)
            text = f"process {description} during the test"
            job.results[victim] = (TestStatus.ERROR, text)
            job.events.append((self._death_status(number), f"test {job.tests[victim].id}: {text}"))
        except ProtocolViolation as exc:
            await self._violate(job, str(exc))
            return []
        if job.fail_fast:
            self._stop_here(job, pending, victim)
            return None
        return list(pending)

    async def _took(
        self,
        job: _Job,
        pending: collections.deque[int],
        group: list[_Run],
        index: int,
        passed: bool,
        record: Result | ResultItem | Digest,
        value_bytes: int,
    ) -> bool:
        """A streamed test has its verdict: it joins the group its clocks are held to; True
        when fail-fast ends the candidate here. ``value_bytes``: the text of the value it sent
        to be judged (or offered by its digest), which the harness made off its clock."""
        group.append(_Run(index, record.wall_ns or 0, record.cpu_ns or 0, value_bytes))
        if job.fail_fast and not passed:
            self._stop_here(job, pending, index)
            await self._retire(job)
            return True
        return False

    def _judge_group(self, job: _Job, group: list[_Run], clock: StreamClock) -> None:
        """Hold a group of streamed first runs to the parent's clocks; plan the passing ones' timing."""
        elapsed, kernel_cpu = clock.lap()
        wall = sum(run.wall_ns for run in group)
        cpu = sum(run.cpu_ns for run in group)
        for run in group:
            share = elapsed if len(group) == 1 else elapsed * run.wall_ns // max(wall, 1)
            job.first_elapsed[run.index] = share
        chars = sum(_text_chars(job.tests[run.index]) for run in group)
        sent = sum(run.value_bytes for run in group)
        reason = check_first_run(wall, cpu, elapsed, kernel_cpu, len(group), chars, sent)
        if reason is not None:
            self._tampered(job, group[-1].index, reason)
            return
        if not job.measure or job.tampered:
            return
        for run in group:
            if run.index in job.first:
                self._plan(job, run.index, job.first_elapsed[run.index])

    def _plan(self, job: _Job, index: int, elapsed_ns: int) -> None:
        # Capped by the parent's figure too, so a child that under-reports its first run cannot
        # make the parent ask for more runs than a quarter of the timeout covers.
        planned = planned_repetitions(job.first[index][0], self.limits.test_timeout_s)
        affordable = int(self.limits.test_timeout_s * 1e9 / 4 / max(elapsed_ns, 1_000))
        job.planned[index] = min(planned, affordable)

    async def _memory_pass(self, job: _Job) -> None:
        """One ``memory`` command: a tracemalloc run of each passing assert/doctest test cheap
        enough to trace. Each has its own ``test_timeout_s``; a lost run only loses figures."""
        cutoff = self.limits.test_timeout_s * 1e9 / MEMORY_RUN_SHARE
        pending = [
            i
            for i, (wall, _) in sorted(job.first.items())
            if job.tests[i].kind is not TestKind.PYTEST
            and max(wall, job.first_elapsed.get(i, 0)) <= cutoff
        ]
        if not pending:
            return
        worker = job.worker
        if worker is None or not worker.alive():
            worker = await self._fresh_worker(job)
            if worker is None or not await self._load(job, worker):
                return
        timeout = self.limits.test_timeout_s
        try:
            await worker.send({"op": "memory", "indices": pending})
            deadline = time.monotonic() + timeout
            while pending:
                record = await self._receive(worker, min(deadline, job.deadline) - time.monotonic())
                deadline = time.monotonic() + timeout
                if not isinstance(record, Memory) or record.index != pending[0]:
                    raise ProtocolViolation(f"'{record.ev}' arrived where a memory figure was due")
                job.peaks[pending.pop(0)] = record.peak
            record = await self._receive(worker, min(deadline, job.deadline) - time.monotonic())
            if not isinstance(record, Done):
                raise ProtocolViolation(f"'{record.ev}' arrived where 'done' was due")
        except (TimeoutError, WorkerGone):
            await self._retire(job)  # the figures still missing stay unknown
        except ProtocolViolation as exc:
            await self._violate(job, str(exc))

    async def _check_batch(
        self, job: _Job, worker: WorkerProcess, indices: list[int]
    ) -> list[int] | None:
        """One ``check`` command; None when every test reported, else the tests still to run.

        Each test has one hard deadline from its ``start`` record (records that follow do not
        extend it); the memory run after its ``result`` has an allowance of its own, so tracing a
        correct but slow test never turns it into a timeout.
        """
        pending = list(indices)
        current: int | None = None
        stage = ""  # "" between tests, "result" while a test runs, "memory" while it is traced
        pytest_started = False
        deadline = time.monotonic() + self._test_allowance(job, pending, pytest_started)
        clocks = CommandClock(worker)
        try:
            await worker.send({"op": "check", "indices": pending, "measure": job.measure})
            while True:
                budget = min(deadline, job.deadline) - time.monotonic()
                record = await self._receive(worker, budget)
                now = time.monotonic()
                if isinstance(record, Start):
                    if stage or record.index not in pending:
                        raise ProtocolViolation(f"an unexpected start of test {record.index}")
                    current, stage = record.index, "result"
                    if job.tests[current].kind is TestKind.PYTEST:
                        pytest_started = True
                    allowance = self._test_allowance(job, pending, pytest_started)
                    deadline = now + allowance
                elif isinstance(record, Result):
                    if stage != "result" or record.index != current:
                        raise ProtocolViolation(f"an unexpected result for test {record.index}")
                    elapsed, cpu = clocks.elapsed_ns(), clocks.cpu_ns()
                    if job.tests[record.index].kind is TestKind.PYTEST:
                        cpu = None  # the session's set-up and repetitions share the clock
                    self._record(job, record.index, record, elapsed, clocks.wall_ns, cpu)
                    stage = "memory"
                    deadline = now + self.limits.test_timeout_s
                elif isinstance(record, Memory):
                    if stage != "memory" or record.index != current:
                        raise ProtocolViolation(f"an unexpected memory figure for {record.index}")
                    job.peaks[record.index] = record.peak
                    pending.remove(record.index)
                    current, stage = None, ""
                    deadline = now + self._test_allowance(job, pending, pytest_started)
                    if not pending:
                        deadline = now + self.limits.test_timeout_s + PYTEST_STARTUP_S
                elif isinstance(record, Done):
                    if stage or pending:
                        raise ProtocolViolation("the check ended before every test reported")
                    return None
                else:
                    raise ProtocolViolation(f"'{record.ev}' arrived during a check")
        except TimeoutError:
            await self._retire(job)
            if stage == "memory" and current is not None:
                # Only the memory figure is lost: the test keeps its verdict.
                job.peaks[current] = None
                return [i for i in pending if i != current]
            if not pending:
                return None  # every test reported; only the session's wind-down was slow
            victim = current if current is not None else pending[0]
            if time.monotonic() >= job.deadline - 0.01:
                self._expire(job, pending)
                return []
            text = f"exceeded the {self.limits.test_timeout_s:g} s test timeout"
            job.results[victim] = (TestStatus.TIMEOUT, text)
            job.events.append((ExecutionStatus.TIMEOUT, f"test {job.tests[victim].id} {text}"))
            return [i for i in pending if i != victim]
        except WorkerGone:
            description, number = await worker.exit_description()
            await self._retire(job)
            if stage == "memory" and current is not None:
                job.peaks[current] = None
                return [i for i in pending if i != current]
            if not pending:
                return []
            victim = current if current is not None else pending[0]
            text = f"process {description} during the test"
            job.results[victim] = (TestStatus.ERROR, text)
            job.events.append((self._death_status(number), f"test {job.tests[victim].id}: {text}"))
            return [i for i in pending if i != victim]
        except ProtocolViolation as exc:
            await self._violate(job, str(exc))
            return []

    async def _violate(self, job: _Job, reason: str) -> None:
        """A record failed a check: kill the worker and believe nothing more from this job."""
        await self._retire(job)
        text = f"protocol violation: {reason}"
        job.flags.append(text)
        job.events.append((ExecutionStatus.PROTOCOL_VIOLATION, text))
        job.violated = True
        job.planned.clear()

    def _tampered(self, job: _Job, index: int, reason: str) -> None:
        text = f"timing tampered in test {job.tests[index].id}: {reason}"
        job.flags.append(text)
        job.events.append((ExecutionStatus.TIMING_TAMPERED, text))
        job.tampered = True
        job.planned.clear()

    def _verdict(
        self,
        job: _Job,
        index: int,
        record: Result | ResultItem,
        judgement: Judgement | None,
        rss: int,
    ) -> bool:
        """Store a test's verdict (the parent's own where it can judge); True when it passed."""
        test = job.tests[index]
        status = _STATUSES[record.status]
        detail = record.detail
        if judgement is not None:
            verdict = self._reader.judge(test, judgement)
            if verdict is not None:
                passed, text = verdict
                status = TestStatus.PASSED if passed else TestStatus.FAILED
                detail = text
        elif status is TestStatus.PASSED and self._reader.parent_judges(test):
            raise ProtocolViolation(f"test {test.id} passed without the value the parent judges")
        return self._store(job, index, status, detail, record, rss)

    def _store(
        self,
        job: _Job,
        index: int,
        status: TestStatus,
        detail: str,
        record: Result | ResultItem | Digest,
        rss: int,
    ) -> bool:
        """Keep a test's verdict and its first run's figures; True when it passed."""
        job.rss = max(job.rss, rss)
        test = job.tests[index]
        if record.memory:
            job.events.append((ExecutionStatus.MEMORY_LIMIT, f"test {test.id}: {detail}"))
        job.results[index] = (status, detail)
        if status is not TestStatus.PASSED:
            return False
        if record.wall_ns is None or record.cpu_ns is None:
            raise ProtocolViolation(f"test {test.id} passed without a timing")
        job.first[index] = (record.wall_ns, record.cpu_ns)
        return True

    def _record(
        self,
        job: _Job,
        index: int,
        record: Result,
        elapsed_ns: int,
        raw_wall_ns: int,
        cpu_ns: int | None,
    ) -> None:
        """A pytest item's verdict and its in-session timings, against the check's clock."""
        if not self._verdict(job, index, record, record.judge, record.rss):
            return
        assert record.wall_ns is not None
        job.first_elapsed[index] = elapsed_ns
        # repeated inside the pytest session already: sessions are too costly to interleave
        job.walls[index] = list(record.walls)
        job.cpus[index] = list(record.cpus)
        reason = check_session_runs(sum(record.walls) + record.wall_ns, raw_wall_ns)
        if reason is not None:
            self._tampered(job, index, reason)

    async def _time_round(self, job: _Job, round_number: int) -> None:
        reps: dict[int, int] = {}
        for index, total in job.planned.items():
            done = len(job.walls.get(index, []))
            rounds_left = ROUNDS - round_number
            want = math.ceil((total - done) / rounds_left) if total > done else 0
            if want > 0:
                reps[index] = want
        if not reps:
            return
        worker = job.worker
        if worker is None or not worker.alive():
            worker = await self._fresh_worker(job)
            if worker is None or not await self._load(job, worker):
                job.planned.clear()
                return
        try:
            await self._time_stream(job, worker, reps)
        except (TimeoutError, WorkerGone):
            # A test that passed once now hangs or kills the process: stop timing this job.
            await self._retire(job)
            job.planned.clear()
        except ProtocolViolation as exc:
            await self._violate(job, str(exc))

    async def _time_stream(self, job: _Job, worker: WorkerProcess, reps: dict[int, int]) -> None:
        """One ``time`` command for a round's tests, run back to back; each test's samples are
        held to the parent's clocks from the record before them to their own (``crosscheck``),
        and samples the parent's clocks do not explain are ``timing_tampered``."""
        pending = sorted(reps)
        clock = StreamClock(worker, self._watch)
        timeout = self.limits.test_timeout_s

        def allowance(index: int) -> float:
            per_run = max(job.first[index][0], job.first_elapsed.get(index, 0))
            return timeout + 4 * reps[index] * per_run / 1e9

        await worker.send({"op": "time", "indices": pending, "reps": reps})
        deadline = time.monotonic() + allowance(pending[0])
        group: list[tuple[int, list[int], list[int]]] = []
        reported = 0  # wall time the child reported for the groups already judged
        while pending:
            record = await self._receive(worker, deadline - time.monotonic())
            if not isinstance(record, TimingSamples) or record.index != pending[0]:
                raise ProtocolViolation(f"'{record.ev}' arrived out of order while timing")
            index = pending.pop(0)
            if pending:
                deadline = time.monotonic() + allowance(pending[0])
            walls, cpus = list(record.wall), list(record.cpu)
            if len(walls) != len(cpus) or len(walls) > reps[index]:
                raise ProtocolViolation("timing samples do not match the repetitions asked for")
            group.append((index, walls, cpus))
            if pending and worker.buffered():
                continue
            elapsed, kernel_cpu = clock.lap()
            all_walls = [w for _, ws, _ in group for w in ws]
            all_cpus = [c for _, _, cs in group for c in cs]
            reason = check_repetitions(
                all_walls,
                all_cpus,
                elapsed,
                clock.since_send_ns() - reported,
                kernel_cpu,
                len(group),
                sum(_text_chars(job.tests[index]) for index, _, _ in group),
            )
            reported += sum(all_walls)
            if reason is not None:
                self._tampered(job, group[-1][0], reason)
                await self._retire(job)  # nothing more it says is wanted
                return
            for done, ws, cs in group:
                job.walls.setdefault(done, []).extend(ws)
                job.cpus.setdefault(done, []).extend(cs)
                if len(ws) < reps[done]:
                    job.planned.pop(done, None)  # stopped passing: keep what we have
            group = []
        record = await self._receive(worker, timeout)
        if not isinstance(record, Done):
            raise ProtocolViolation(f"'{record.ev}' arrived where 'done' was due")

    async def _finish(self, job: _Job) -> None:
        worker = job.worker
        if worker is not None and worker.alive() and not job.violated:
            try:
                await worker.send({"op": "finish"})
                reply = await self._receive(worker, 2.0)
                if not isinstance(reply, Bye):
                    raise ProtocolViolation(f"'{reply.ev}' arrived where 'bye' was due")
                job.rss = max(job.rss, reply.rss)
            except (TimeoutError, WorkerGone):
                pass
            except ProtocolViolation as exc:
                await self._violate(job, str(exc))
        await self._retire(job)

    # -- workers --------------------------------------------------------------------------------

    async def _receive(self, worker: WorkerProcess, seconds: float) -> Record:
        """The worker's next record within ``seconds``. A record that arrived in time but was
        not read, because the parent's own event loop was busy (a large message being encoded,
        another job's judging), still counts: on expiry, bytes already waiting in the reader
        are read (asyncio runs ready I/O before due timers, so they are there by then)."""
        try:
            return await worker.receive_within(seconds)
        except TimeoutError:
            if not worker.buffered():
                raise
            return await worker.receive_within(LATE_READ_S)

    async def _retire(self, job: _Job) -> None:
        worker = job.worker
        job.worker = None
        if worker is not None:
            await self._dispose(job, worker)

    async def _dispose(self, job: _Job, worker: WorkerProcess) -> None:
        reusable = await worker.kill()
        self._live.discard(worker)
        job.stdout.append(worker.stdout.text())
        job.stderr.append(worker.stderr.text())
        await self._release(worker.zygote, reusable)

    async def _release(self, zygote: Zygote, reusable: bool) -> None:
        """A zygote whose child is gone: idle again if it is clean and still wanted, else killed."""
        idle = self._ready.get(zygote.key, [])
        wanted = not self._closed and zygote.key == self._pool_key
        if reusable and wanted and len(idle) < _group_size(self.workers):
            idle.append(zygote)
            self._ready[zygote.key] = idle
            return
        self._zygotes.discard(zygote)
        await zygote.kill()

    async def _acquire(self, job: _Job) -> WorkerProcess:
        key = (job.binds, job.needs_pytest)
        ready = self._ready.get(key, [])
        zygote: Zygote | None = None
        while ready:
            candidate = ready.pop(0)
            if candidate.alive():
                zygote = candidate
                break
            self._schedule_kill(candidate)
        if zygote is None:
            zygote = await self._new_zygote(key)
        self._keep_filled(key)
        try:
            worker = await zygote.fork(self.limits.output_bytes)
        except WorkerGone:
            self._schedule_kill(zygote)
            raise
        except BaseException:
            zygote.kill_now()
            self._schedule_kill(zygote)
            raise
        job.workers.append(worker)
        self._live.add(worker)
        await self._start(worker)
        return worker

    async def _new_zygote(self, key: _PoolKey) -> Zygote:
        zygote = Zygote(self._confinement, key[0], key[1])
        self._zygotes.add(zygote)
        try:
            await zygote.start()
        except BaseException:
            self._zygotes.discard(zygote)
            raise
        return zygote

    async def _start(self, worker: WorkerProcess) -> None:
        """Wait for a new child's ``ready`` and measure its channel."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                reply = await worker.receive()
            if not isinstance(reply, Ready):
                raise ProtocolViolation(f"'{reply.ev}' arrived where 'ready' was due")
            await self._calibrate(worker)
        except (TimeoutError, WorkerGone, OSError, ProtocolViolation) as exc:
            worker.kill_now()
            self._live.discard(worker)
            await worker.close()
            self._schedule_kill(worker.zygote)
            stderr = worker.stderr.text().strip()[-500:]
            raise WorkerGone(f"{exc or type(exc).__name__} {stderr}".strip()) from exc

    @staticmethod
    async def _calibrate(worker: WorkerProcess) -> None:
        """Measure the channel's round trip before any candidate code exists in the worker."""
        trips: list[int] = []
        for _ in range(PINGS):
            sent = time.perf_counter_ns()
            await worker.send({"op": "ping"})
            async with asyncio.timeout(READY_TIMEOUT_S):
                reply = await worker.receive()
            if not isinstance(reply, Pong):
                raise ProtocolViolation(f"'{reply.ev}' arrived where 'pong' was due")
            trips.append(time.perf_counter_ns() - sent)
        worker.overhead_ns = min(trips)

    def _keep_filled(self, key: _PoolKey) -> None:
        if self._closed:
            return
        if self._pool_key != key:
            for other, zygotes in list(self._ready.items()):
                if other != key:
                    for zygote in zygotes:
                        self._schedule_kill(zygote)
                    del self._ready[other]
            self._pool_key = key
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        """Keep ``workers`` idle zygotes ready for the current binds and pytest need."""
        while not self._closed and self._pool_key is not None:
            key = self._pool_key
            ready = self._ready.setdefault(key, [])
            if len(ready) >= self.workers:
                return
            while self._quiet and self._quiet_over is not None:
                await self._quiet_over.wait()
            idle = self._idle_event()
            self._spawning += 1
            idle.clear()
            try:
                zygote = await self._new_zygote(key)
            except WorkerGone:
                return
            finally:
                self._spawning -= 1
                if self._spawning == 0:
                    idle.set()
            if self._closed or self._pool_key != key:
                self._zygotes.discard(zygote)
                await zygote.kill()
                continue
            self._ready.setdefault(key, []).append(zygote)

    @contextlib.asynccontextmanager
    async def _quiet_pool(self) -> AsyncIterator[None]:
        """No background spawns while timing repetitions run."""
        if self._quiet_over is None:
            self._quiet_over = asyncio.Event()
        self._quiet += 1
        self._quiet_over.clear()
        try:
            # Let an in-flight background spawn finish before the clock starts.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._idle_event().wait()
            yield
        finally:
            self._quiet -= 1
            if self._quiet == 0:
                self._quiet_over.set()

    def _idle_event(self) -> asyncio.Event:
        if self._spawn_idle is None:
            self._spawn_idle = asyncio.Event()
            self._spawn_idle.set()
        return self._spawn_idle

    def _schedule_cleanup(self, worker: WorkerProcess) -> None:
        """Finish killing a child (already signalled) and its zygote in the background."""
        self._live.discard(worker)
        self._schedule_kill(worker.zygote, worker)

    def _schedule_kill(self, zygote: Zygote, worker: WorkerProcess | None = None) -> None:
        self._zygotes.discard(zygote)
        zygote.kill_now()

        async def finish() -> None:
            if worker is not None:
                await worker.close()
            await zygote.kill()

        try:
            task = asyncio.get_running_loop().create_task(finish())
        except RuntimeError:
            return
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    # -- reports --------------------------------------------------------------------------------

    @staticmethod
    def _death_status(number: int | None) -> ExecutionStatus:
        if number is None:
            return ExecutionStatus.CRASHED
        if number == signal.SIGXCPU:
            return ExecutionStatus.TIMEOUT
        return ExecutionStatus.CRASHED

    @staticmethod
    def _figures(job: _Job, index: int) -> dict[str, Any]:
        """A passing test's timing fields: the child's median, checked against the parent.

        The child's samples give the median and its noise; every timing command was already
        checked against the parent's clocks (``_time_test``). A test timed by a single run (slow
        tests) never reports less than half the parent's own figure for that run.
        """
        walls = job.walls.get(index, [])
        cpus = job.cpus.get(index, [])
        first_wall, first_cpu = job.first[index]
        if not walls and job.tests[index].kind is not TestKind.PYTEST:  # a verdict's own run
            return {
                "wall_ns": max(first_wall, job.first_elapsed.get(index, 0) // 2),
                "wall_ns_spread": 0,
                "cpu_ns": first_cpu,
                "runs": 1,
                "peak_memory_bytes": job.peaks.get(index),
            }
        floor = 0
        if len(walls) < 3:
            walls = [first_wall, *walls]
            cpus = [first_cpu, *cpus]
            if job.tests[index].kind is not TestKind.PYTEST:
                floor = job.first_elapsed.get(index, 0) // 2
        wall = summarise(walls)
        cpu = summarise(cpus)
        median = wall.median if wall else None
        if median is not None and median < floor:
            median = floor
        return {
            "wall_ns": median,
            "wall_ns_spread": wall.spread if wall else None,
            "cpu_ns": cpu.median if cpu else None,
            "runs": wall.runs if wall else 0,
            "peak_memory_bytes": job.peaks.get(index),
        }

    def _report(self, job: _Job) -> ExecutionReport:
        tests: list[TestResult] = []
        for index, test in enumerate(job.tests):
            verdict, text = job.results[index]
            if job.violated:
                verdict, text = TestStatus.ERROR, "not believed: the worker broke the protocol"
            figures: dict[str, Any] = {}
            if verdict is TestStatus.PASSED and index in job.first:
                figures = self._figures(job, index)
            tests.append(TestResult(id=test.id, status=verdict, detail=text, **figures))
        status = ExecutionStatus.COMPLETED
        details: list[str] = []
        for candidate in STATUS_PRIORITY:
            matching = [text for kind, text in job.events if kind is candidate]
            if matching and status is ExecutionStatus.COMPLETED:
                status = candidate
            details.extend(matching)
        if job.import_detail and status is ExecutionStatus.COMPLETED and not job.tests:
            status = ExecutionStatus.IMPORT_ERROR
            details.append(job.import_detail)
        return ExecutionReport(
            flags=list(dict.fromkeys(job.flags)),
            status=status,
            detail="\n".join(dict.fromkeys(details)),
            tests=tests,
            peak_rss_bytes=job.rss or None,
            wall_s=round(job.wall_s, 4),
            stdout=_join_output(job.stdout, self.limits.output_bytes),
            stderr=_join_output(job.stderr, self.limits.output_bytes),
            isolation=self._info.description,
        )


def _join_output(parts: list[str], limit: int) -> str:
    text = "".join(p for p in parts if p)
    return text if len(text) <= limit else text[:limit] + "\n[... truncated]"
