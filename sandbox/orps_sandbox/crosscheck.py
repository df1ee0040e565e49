"""The parent's own clocks around a command, and the rules that hold the child's figures to them.

``CommandClock`` starts when the parent sends a command to a worker and reads, when the answer
arrives, the wall time that passed (raw, and less the channel's measured round trip and the time
the kernel kept the harness waiting for a CPU) and the CPU time the kernel counted for the harness
(``WorkerProcess.clock``: ``/proc/<pid>/schedstat``). ``StreamClock`` does the same along one
streamed command, whose tests run back to back: each lap runs from the previous record (or the
send) to the record just read, so every interval of the stream belongs to exactly one test. When
the parent falls behind (more records already wait in its reader), the record just read arrived
earlier than the clock says; its lap is then merged with the next, and the group is judged on its
sums. The ``check_*`` functions compare those with the timings the child reported for the same
interval and return why they disagree (None when they agree): a disagreement is
``timing_tampered``. Tolerances are generous, because a false alarm demotes a correct candidate:
the child's figures are believed unless they miss at least ``TAMPER_FLOOR_NS`` of CPU
(``WALL_FLOOR_NS`` of wall time, which the parent's own event loop may add on a busy machine) and
half of what the parent measured, plus ``PER_RECORD_ALLOWANCE_NS`` for each test in the interval.
A child that reports time too large is held to the whole command: the sum of what it reported
never exceeds the time since the command was sent.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence

from orps_sandbox.worker import WorkerProcess

TAMPER_FLOOR_NS = 10_000_000
"""CPU time the kernel counted beyond the child's figures, below 10 ms (or half the kernel's
figure), is never called tampering."""
WALL_FLOOR_NS = 100_000_000
"""The same for wall time, with more room: the parent's own event loop may be late to read a
record on a busy machine, and that delay is not the child's."""
PER_RUN_ALLOWANCE_NS = 20_000
"""Harness work per repetition outside the child's clock (namespace copy, judging)."""
PER_RECORD_ALLOWANCE_NS = 200_000
"""Harness work per test outside the child's clock in a stream (namespace copy, judging,
encoding and sending the record)."""
COMPILE_NS_PER_CHAR = 1_000
"""Compiling a test's text, off the child's clock: ~0.5 µs per character of a literal here,
doubled (a 7 MB expected value the harness must build itself costs it seconds)."""
CHECK_SLACK_NS = 100_000_000
"""Room for a single run (a check): event-loop latency while other jobs run, judging, encoding."""
VALUE_NS_PER_BYTE = 400
"""What the harness may spend off its clock per byte of a value it sends the parent to judge
(its JSON text, counted by the parent as it arrives): walking the value (a nested one costs up
to about 160 ns a byte here), writing its text and the pipe, doubled for a busy machine. The
bytes are real, and a test timed by its first run alone is never reported below half the
parent's own figure for it (``Sandbox._figures``), so this room cannot lower a ranking."""


class CommandClock:
    """The parent's clocks around one command to one worker."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.start = worker.clock()
        self.sent = time.perf_counter_ns()
        self.wall_ns = 0
        """Raw wall time from the send to the last ``elapsed_ns`` call."""

    def elapsed_ns(self) -> int:
        """Wall time since the send, less the channel's round trip and the harness's CPU waits."""
        self.wall_ns = time.perf_counter_ns() - self.sent
        now = self.worker.clock()
        waited = now[1] - self.start[1] if now is not None and self.start is not None else 0
        return max(0, self.wall_ns - self.worker.overhead_ns - waited)

    def cpu_ns(self) -> int | None:
        """CPU time the kernel counted for the harness since the send (None where unknown)."""
        now = self.worker.clock()
        if now is None or self.start is None:
            return None
        return now[0] - self.start[0]


WATCH_PERIOD_NS = 5_000_000
"""How often ``LoopWatch`` wakes while streams run; a wake later than this is a stall."""
STALL_GRACE_NS = 20_000_000
"""Lateness of a wake that is ordinary scheduling on a busy machine, not a stall."""


class LoopWatch:
    """Notes when the parent's own event loop could not run (blocked, or the process descheduled).

    A record that arrives during a stall is read late, so the lap that ends with it looks longer
    than the child's work: ``StreamClock`` takes stalled time out of its laps, and does not hold a
    lap that overlapped a stall to the kernel's CPU count (the child kept working meanwhile). It
    runs while the sandbox serves a batch.
    """

    def __init__(self) -> None:
        self._stalls: deque[tuple[int, int]] = deque(maxlen=4096)
        """(start, end) of each stall, in order."""
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._last = time.perf_counter_ns()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        self._users += 1
        if self._task is None or self._task.done():
            self._last = time.perf_counter_ns()
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0 and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _run(self) -> None:
        self._last = time.perf_counter_ns()
        while True:
            await asyncio.sleep(WATCH_PERIOD_NS / 1e9)
            now = time.perf_counter_ns()
            late = now - self._last - WATCH_PERIOD_NS
            if late > STALL_GRACE_NS:
                self._stalls.append((now - late, now))
            self._last = now

    def stalled_ns(self, start: int, end: int) -> int:
        """Stalled time inside [start, end], including a stall the watch has not woken from yet
        (the loop may run the stream's reader before the watch after a stall)."""
        total = 0
        if self._task is not None:
            overdue = self._last + WATCH_PERIOD_NS
            if end - overdue > STALL_GRACE_NS:
                total += max(0, end - max(overdue, start))
        first = bisect.bisect_left(self._stalls, start, key=lambda stall: stall[1])
        for index in range(first, len(self._stalls)):
            low, high = self._stalls[index]
            total += max(0, min(high, end) - max(low, start))
        return total


class StreamClock:
    """The parent's clocks along one streamed command: one lap per record or group of records."""

    def __init__(self, worker: WorkerProcess, watch: LoopWatch | None = None) -> None:
        self.worker = worker
        self.watch = watch
        self.sent = time.perf_counter_ns()
        self._mark = self.sent
        self._mark_clock = worker.clock()

    def lap(self) -> tuple[int, int | None]:
        """(wall ns less the round trip, CPU waits and the parent's own stalls, kernel CPU ns)
        since the previous lap; the CPU figure is None when the parent stalled meanwhile."""
        now, clock = time.perf_counter_ns(), self.worker.clock()
        raw = now - self._mark
        waited, cpu = 0, None
        if clock is not None and self._mark_clock is not None:
            waited = clock[1] - self._mark_clock[1]
            cpu = clock[0] - self._mark_clock[0]
        stalled = self.watch.stalled_ns(self._mark, now) if self.watch is not None else 0
        if stalled:
            cpu = None
        self._mark, self._mark_clock = now, clock
        return max(0, raw - self.worker.overhead_ns - waited - stalled), cpu

    def since_send_ns(self) -> int:
        return time.perf_counter_ns() - self.sent


def check_first_run(
    wall_ns: int,
    cpu_ns: int,
    elapsed_ns: int,
    kernel_cpu_ns: int | None,
    records: int = 1,
    text_chars: int = 0,
    value_bytes: int = 0,
) -> str | None:
    """Correctness runs (one test, or a group in a stream) against the parent's clocks;
    ``text_chars`` is the size of the tests' text, which the harness compiles off its clock,
    ``value_bytes`` that of the values it sent to be judged, which it encodes off its clock."""
    slack = (
        CHECK_SLACK_NS
        + (records - 1) * PER_RECORD_ALLOWANCE_NS
        + text_chars * COMPILE_NS_PER_CHAR
        + value_bytes * VALUE_NS_PER_BYTE
    )
    if elapsed_ns - wall_ns > slack and wall_ns < elapsed_ns / 2:
        what = "a run" if records == 1 else f"{records} runs"
        return f"the child reported {wall_ns:,} ns for {what} the parent timed at {elapsed_ns:,} ns"
    if kernel_cpu_ns is not None and kernel_cpu_ns - cpu_ns > max(slack, kernel_cpu_ns // 2):
        return (
            f"the child reported {cpu_ns:,} ns of CPU for a run the kernel counted at "
            f"{kernel_cpu_ns:,} ns"
        )
    return None


def check_session_runs(walls_total_ns: int, raw_wall_ns: int) -> str | None:
    """pytest items time their repetitions in-session: they cannot take longer than the check."""
    if walls_total_ns > raw_wall_ns + CHECK_SLACK_NS:
        return "the child reported more time than had passed"
    return None


def check_repetitions(
    walls: Sequence[int],
    cpus: Sequence[int],
    elapsed_ns: int,
    raw_wall_ns: int,
    kernel_cpu_ns: int | None,
    records: int = 1,
    text_chars: int = 0,
) -> str | None:
    """Timing samples (one test's, or a group's in a stream) against the parent's clocks.

    ``raw_wall_ns`` bounds the total from above: the time since the command was sent, less what
    the child reported for the tests before these in the same command.
    """
    slack = (
        len(walls) * PER_RUN_ALLOWANCE_NS
        + records * PER_RECORD_ALLOWANCE_NS
        + text_chars * COMPILE_NS_PER_CHAR
    )
    wall_total, cpu_total = sum(walls), sum(cpus)
    if wall_total + TAMPER_FLOOR_NS < cpu_total // 2:
        return "the child reported less wall time than CPU time"
    if elapsed_ns - wall_total > max(WALL_FLOOR_NS, elapsed_ns // 2) + slack:
        return (
            f"{len(walls)} runs reported as {wall_total:,} ns took {elapsed_ns:,} ns by the "
            "parent's clock"
        )
    if wall_total > raw_wall_ns + CHECK_SLACK_NS:
        return "the child reported more time than had passed"
    if kernel_cpu_ns is not None and kernel_cpu_ns - cpu_total > (
        max(TAMPER_FLOOR_NS, kernel_cpu_ns // 2) + slack
    ):
        return (
            f"the child reported {cpu_total:,} ns of CPU where the kernel counted "
            f"{kernel_cpu_ns:,} ns"
        )
    return None
