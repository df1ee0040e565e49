"""The parent's own clocks around a command, and the rules that hold the child's figures to them.

``CommandClock`` starts when the parent sends a command to a worker and reads, when the answer
arrives, the wall time that passed (raw, and less the channel's measured round trip and the time
the kernel kept the harness waiting for a CPU) and the CPU time the kernel counted for the harness
(``WorkerProcess.clock``: ``/proc/<pid>/schedstat``). The ``check_*`` functions compare those with
the timings the child reported for the same command and return why they disagree (None when they
agree): a disagreement is ``timing_tampered``. Tolerances are generous, because a false alarm
demotes a correct candidate: the child's figures are believed unless they miss at least
``TAMPER_FLOOR_NS`` of CPU (``WALL_FLOOR_NS`` of wall time, which the parent's own event loop may
add on a busy machine) and half of what the parent measured.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from orps_sandbox.worker import WorkerProcess

TAMPER_FLOOR_NS = 10_000_000
"""CPU time the kernel counted beyond the child's figures, below 10 ms (or half the kernel's
figure), is never called tampering."""
WALL_FLOOR_NS = 100_000_000
"""The same for wall time, with more room: the parent's own event loop may be late to read a
record on a busy machine, and that delay is not the child's."""
PER_RUN_ALLOWANCE_NS = 20_000
"""Harness work per repetition outside the child's clock (namespace copy, judging)."""
CHECK_SLACK_NS = 100_000_000
"""Room for a single run (a check): event-loop latency while other jobs run, judging, encoding."""


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


def check_first_run(
    wall_ns: int, cpu_ns: int, elapsed_ns: int, kernel_cpu_ns: int | None
) -> str | None:
    """A test's single correctness run against the parent's clocks around its ``check``."""
    if elapsed_ns - wall_ns > CHECK_SLACK_NS and wall_ns < elapsed_ns / 2:
        return f"the child reported {wall_ns:,} ns for a run the parent timed at {elapsed_ns:,} ns"
    if kernel_cpu_ns is not None and kernel_cpu_ns - cpu_ns > max(
        CHECK_SLACK_NS, kernel_cpu_ns // 2
    ):
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
) -> str | None:
    """One ``time`` command's samples against the parent's clocks around it."""
    slack = len(walls) * PER_RUN_ALLOWANCE_NS
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
