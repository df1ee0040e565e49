"""The rules that hold the child's timings to the parent's clocks, on plain numbers: honest
figures on a busy machine pass, figures that hide the time the parent measured do not."""

from __future__ import annotations

from orps_sandbox.crosscheck import check_first_run, check_repetitions, check_session_runs

MS = 1_000_000


def test_honest_tiny_repetitions_with_harness_overhead_pass() -> None:
    walls = [1_500] * 200  # 1.5 µs tests; the parent also sees namespace copies and judging
    assert (
        check_repetitions(
            walls, walls, elapsed_ns=5 * MS, raw_wall_ns=30 * MS, kernel_cpu_ns=5 * MS
        )
        is None
    )


def test_honest_slow_repetitions_pass() -> None:
    walls = [40 * MS] * 5
    assert check_repetitions(walls, walls, 205 * MS, 260 * MS, 203 * MS) is None


def test_hidden_cpu_time_is_tampering() -> None:
    reason = check_repetitions([0] * 4, [0] * 4, 120 * MS, 130 * MS, 118 * MS)
    assert reason is not None


def test_hidden_wall_time_of_a_sleeping_test_is_tampering() -> None:
    reason = check_repetitions([MS] * 5, [10_000] * 5, 1_000 * MS, 1_010 * MS, 1 * MS)
    assert reason is not None and "parent's clock" in reason


def test_claiming_more_time_than_passed_is_tampering() -> None:
    assert check_repetitions([500 * MS], [MS], 10 * MS, 20 * MS, MS) is not None
    assert check_session_runs(900 * MS, 300 * MS) is not None
    assert check_session_runs(200 * MS, 300 * MS) is None


def test_first_run() -> None:
    assert check_first_run(300 * MS, 290 * MS, 320 * MS, 295 * MS) is None
    assert check_first_run(100, 100, 400 * MS, 10 * MS) is not None
    assert check_first_run(100, 100, 20 * MS, 395 * MS) is not None


def test_the_values_a_first_run_sent_buy_room_for_encoding_them() -> None:
    # 6 MB of a value's text sent to be judged, encoded off the child's clock in 480 ms
    assert check_first_run(MS, MS, 480 * MS, 470 * MS, value_bytes=6_000_000) is None
    assert check_first_run(MS, MS, 480 * MS, 470 * MS) is not None
    # the room is per byte: a few bytes do not hide a second
    assert check_first_run(MS, MS, 1_000 * MS, 990 * MS, value_bytes=1_000) is not None
