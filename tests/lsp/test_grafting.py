"""Accept keeps what the user wrote: the signature and docstring stay, the candidate's body goes
in, its imports go to the module's import block; a syntax error elsewhere does not stop it."""

from __future__ import annotations

import ast
from pathlib import Path

from orps.lsp.functions import accept_edits, apply_text_edits

PATH = Path("/tmp/mod.py")

MODULE = '''"""Counting things."""

import os
from collections import defaultdict


def top_k(items, k):
    """The k most frequent items.

    >>> top_k([1, 1, 2], 1)
    [1]
    """
    counts = defaultdict(int)
    for item in items:
        counts[item] += 1
    return sorted(counts, key=counts.get, reverse=True)[:k]


class Box:
    @staticmethod
    def add(
        a,
        b,
    ) -> int:
        # the slow way
        return sum([a, b])
'''

CANDIDATE = '''def top_k(items, k=3):
    """Shorter."""
    from collections import Counter
    import heapq
    import os
    return [item for item, _ in Counter(items).most_common(k)]
'''


def accepted(source: str, qualname: str, code: str) -> str:
    edits = accept_edits(source, qualname, code, PATH)
    assert edits is not None
    return apply_text_edits(source, edits)


def test_signature_and_docstring_stay_and_imports_move_up() -> None:
    text = accepted(MODULE, "top_k", CANDIDATE)
    ast.parse(text)
    assert "def top_k(items, k):\n" in text and "k=3" not in text
    assert ">>> top_k([1, 1, 2], 1)" in text and "Shorter." not in text
    assert (
        "from collections import defaultdict\nfrom collections import Counter\nimport heapq\n"
        in text
    )
    assert text.count("import os") == 1  # already imported: not repeated
    body = text.split('    """\n', 1)[1].split("\n\n\nclass Box", 1)[0]
    assert body == "    return [item for item, _ in Counter(items).most_common(k)]"
    assert text.endswith("        return sum([a, b])\n")


def test_methods_keep_their_decorators_and_multiline_signature() -> None:
    text = accepted(
        MODULE, "Box.add", "def add(a, b):\n    import operator\n    return operator.add(a, b)\n"
    )
    ast.parse(text)
    assert "    @staticmethod\n    def add(\n        a,\n        b,\n    ) -> int:\n" in text
    assert text.endswith("    ) -> int:\n        return operator.add(a, b)\n")
    assert "\nimport operator\n" in text and "# the slow way" not in text


def test_an_import_the_module_binds_otherwise_stays_in_the_body() -> None:
    source = "def sqrt(x):\n    return x\n\n\ndef root(x):\n    return x ** 0.5\n"
    text = accepted(source, "root", "def root(x):\n    from math import sqrt\n    return sqrt(x)\n")
    assert text.endswith("def root(x):\n    from math import sqrt\n    return sqrt(x)\n")


def test_renamed_parameters_replace_the_whole_function() -> None:
    text = accepted(MODULE, "top_k", "def top_k(xs, n):\n    return sorted(xs)[:n]\n")
    assert 'def top_k(xs, n):\n    """The k most frequent items.' in text  # docstring restored


def test_a_syntax_error_elsewhere_does_not_stop_an_accept() -> None:
    broken = MODULE + "\n\ndef half_typed(:\n    pass\n"
    text = accepted(broken, "top_k", CANDIDATE)
    assert "Counter(items).most_common(k)" in text and text.endswith("def half_typed(:\n    pass\n")


def test_a_crlf_document_stays_crlf_through_a_graft() -> None:
    crlf = MODULE.replace("\n", "\r\n")
    text = accepted(crlf, "top_k", CANDIDATE)
    assert "\n" not in text.replace("\r\n", "")
    assert text == accepted(MODULE, "top_k", CANDIDATE).replace("\n", "\r\n")


def test_a_renamed_signature_does_not_bring_its_own_docstring() -> None:
    code = 'def top_k(xs, n):\n    """Mine."""\n    return sorted(xs)[:n]\n'
    text = accepted(MODULE, "top_k", code)
    assert "Mine." not in text and text.count('"""The k most frequent items.') == 1
    assert 'def top_k(xs, n):\n    """The k most frequent items.' in text
    assert "    return sorted(xs)[:n]\n\n\nclass Box" in text
