import pytest

from primes import count_primes


@pytest.mark.parametrize(("limit", "expected"), [(0, 0), (3, 1), (20, 8), (100, 25)])
def test_small_limits(limit, expected):
    assert count_primes(limit) == expected


def test_larger_limit():
    assert count_primes(2000) == 303
