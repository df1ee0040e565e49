"""Prime numbers: an existing, slow implementation that `orps refine` can improve."""


def count_primes(limit: int) -> int:
    """Return how many primes are strictly below ``limit``.

    >>> count_primes(10)
    4
    >>> count_primes(2)
    0
    """
    count = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, n)):
            count += 1
    return count
