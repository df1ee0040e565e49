from textutils import is_palindrome, word_count


def test_empty_string_is_a_palindrome():
    assert is_palindrome("") is True


def test_single_character():
    assert is_palindrome("x") is True


def test_mixed_case_and_punctuation():
    assert is_palindrome("No 'x' in Nixon") is True


def test_not_a_palindrome():
    assert is_palindrome("palindrome") is False


def test_word_count():
    assert word_count("a b c") == 3
