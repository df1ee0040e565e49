"""Turning repeated timings into figures with a noise estimate, and comparing them fairly.

Each passing test is executed repeatedly (timeit style). Its figure is the median, its noise the
half inter-quartile range. Two figures are called different only when the gap exceeds both the
combined noise and a relative floor, because a handful of samples under-estimates machine drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TARGET_NS = 5_000_000
"""Timing budget per test (on top of the correctness run): about 5 ms of repetitions."""
MIN_RUNS = 5
MAX_RUNS = 200
ROUNDS = 3
"""Repetitions are split into this many rounds, interleaved across a batch's candidates."""
MEMORY_RUN_SHARE = 20
"""Tests slower than 1/20 of the test timeout get no tracemalloc run (it costs up to ~12x)."""
RELATIVE_FLOOR = 0.05
"""Differences under 5 % of the faster figure are always a tie."""


@dataclass(frozen=True)
class Figure:
    """A robust summary of repeated measurements."""

    median: int
    spread: int
    runs: int


def _quantile(sorted_values: Sequence[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] * (1 - fraction) + sorted_values[high] * fraction


def summarise(samples: Sequence[int]) -> Figure | None:
    """Median and half-IQR of the samples (None when there are none)."""
    if not samples:
        return None
    if len(samples) == 1:  # a verdict's own run: the common case of a large suite
        return Figure(samples[0], 0, 1)
    ordered = sorted(samples)
    median = _quantile(ordered, 0.5)
    spread = (_quantile(ordered, 0.75) - _quantile(ordered, 0.25)) / 2
    return Figure(round(median), round(spread), len(ordered))


def planned_repetitions(first_run_ns: int, test_timeout_s: float) -> int:
    """How many more runs a passing test gets after its correctness run."""
    per_run = max(first_run_ns, 1_000)
    wanted = max(MIN_RUNS - 1, math.ceil(TARGET_NS / per_run) - 1)
    wanted = min(wanted, MAX_RUNS - 1)
    # Never spend more than a quarter of the test's timeout on repetitions.
    affordable = int(test_timeout_s * 1e9 / 4 / per_run)
    return max(0, min(wanted, affordable))


def compare_runtime(a_ns: float, a_spread: float, b_ns: float, b_spread: float) -> int:
    """−1 when A is measurably faster than B, +1 when slower, 0 for a tie within noise.

    The rule: the gap must exceed ``2 * (a_spread + b_spread)`` (two combined half-IQRs) and
    ``RELATIVE_FLOOR`` of the faster figure. Below either, the candidates are equally fast.
    """
    gap = abs(a_ns - b_ns)
    noise = 2 * (max(a_spread, 0) + max(b_spread, 0))
    floor = RELATIVE_FLOOR * min(a_ns, b_ns)
    if gap <= noise or gap <= floor:
        return 0
    return -1 if a_ns < b_ns else 1


def faster(a_ns: float, a_spread: float, b_ns: float, b_spread: float) -> bool | None:
    """True if A is measurably faster, False if measurably slower, None for a tie."""
    verdict = compare_runtime(a_ns, a_spread, b_ns, b_spread)
    return None if verdict == 0 else verdict < 0


def total_runtime(figures: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Sum of per-test medians with their spreads added (a conservative combined noise)."""
    return sum(m for m, _ in figures), sum(s for _, s in figures)
