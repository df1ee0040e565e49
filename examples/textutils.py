"""Small text helpers: the demo target for `orps refine` (see README)."""


def is_palindrome(text: str) -> bool:
    """Return True if ``text`` reads the same forwards and backwards.

    Only letters and digits count, and case is ignored.

    >>> is_palindrome("racecar")
    True
    >>> is_palindrome("hello")
    False
    >>> is_palindrome("A man, a plan, a canal: Panama")
    True
    """
    ...


def word_count(text: str) -> int:
    """Return the number of whitespace-separated words in ``text``.

    >>> word_count("the quick  brown fox")
    4
    """
    return len(text.split())
