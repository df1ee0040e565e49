"""Locating functions, splicing candidates, reading replies: the pure parts of the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from orps.project.discovery import file_specs
from orps.project.grafting import accepted_source
from orps.project.target import (
    TargetError,
    apply_to_file,
    file_fingerprint,
    function_at_line,
    load_target,
    locate_function,
    parse_target_spec,
)
from orps.search.extraction import extract_function, fingerprint, split_reply
from orps.search.prompts import parse_critique

MODULE = '''"""A module."""
import math

LIMIT = 10


def helper(x):
    return x + 1


def stub(n: int) -> int:
    """Double n.

    >>> stub(2)
    4
    """
    ...


class Shape:
    @staticmethod
    def area(r: float) -> float:
        return math.pi * r * r
'''


def test_stub_and_method_are_located(tmp_path: Path) -> None:
    target = locate_function(MODULE, "stub", tmp_path / "mod.py")
    assert target.is_stub
    assert target.source.startswith("def stub(n: int) -> int:")
    method = locate_function(MODULE, "Shape.area", tmp_path / "mod.py")
    assert not method.is_stub
    assert method.indent == "    "
    assert method.source.startswith("    @staticmethod")


@pytest.mark.parametrize(
    "body", ["pass", "...", "raise NotImplementedError", "raise NotImplementedError('todo')"]
)
def test_stub_forms(tmp_path: Path, body: str) -> None:
    source = f'def f():\n    """Doc."""\n    {body}\n'
    assert locate_function(source, "f", tmp_path / "m.py").is_stub


def test_splice_keeps_every_other_byte(tmp_path: Path) -> None:
    target = locate_function(MODULE, "stub", tmp_path / "mod.py")
    spliced = target.splice("def stub(n: int) -> int:\n    return 2 * n\n")
    before, after = MODULE.split("def stub", 1)[0], MODULE.split("    ...\n", 1)[1]
    assert spliced.startswith(before)
    assert spliced.endswith(after)
    assert "return 2 * n" in spliced


def test_splice_reindents_methods_and_keeps_crlf(tmp_path: Path) -> None:
    crlf = MODULE.replace("\n", "\r\n")
    target = locate_function(crlf, "Shape.area", tmp_path / "mod.py")
    spliced = target.splice("@staticmethod\ndef area(r):\n\n    return 3 * r * r\n")
    assert "    @staticmethod\r\n    def area(r):\r\n\r\n        return 3 * r * r\r\n" in spliced
    assert "\n" not in spliced.replace("\r\n", "")


def test_a_crlf_method_with_a_blank_line_keeps_its_decorator_and_docstring(tmp_path: Path) -> None:
    source = (
        "class Acc:\r\n    @staticmethod\r\n    def total(xs):\r\n"
        '        """Sum of xs.\r\n\r\n        >>> Acc.total([1, 2])\r\n        3\r\n        """\r\n'
        "\r\n        return sum(x for x in xs)\r\n"
    )
    target = locate_function(source, "Acc.total", tmp_path / "acc.py")
    assert target.dedented_source.startswith("@staticmethod\ndef total(xs):\n")
    assert "\r" not in target.dedented_source
    code = extract_function("def total(xs):\n    return sum(xs)\n", target)
    assert code is not None
    assert code.startswith("@staticmethod\ndef total(xs):\n")
    assert ">>> Acc.total([1, 2])" in code
    spliced = target.splice(code)
    assert "\n" not in spliced.replace("\r\n", "")
    assert spliced.startswith("class Acc:\r\n    @staticmethod\r\n    def total(xs):\r\n")


def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"):
        load_target(tmp_path / "missing.py", "f")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(TargetError, match=r"syntax error in bad\.py line 1"):
        load_target(bad, "f")
    good = tmp_path / "good.py"
    good.write_text(MODULE)
    with pytest.raises(TargetError, match=r"no function 'nope'.*stub"):
        load_target(good, "nope")
    with pytest.raises(TargetError, match="must look like"):
        parse_target_spec("module.py")


def test_function_at_line() -> None:
    lines = MODULE.splitlines()
    assert function_at_line(MODULE, lines.index("    ...")) == "stub"
    assert function_at_line(MODULE, lines.index("        return math.pi * r * r")) == "Shape.area"
    assert function_at_line(MODULE, 1) is None


def test_apply_refuses_a_changed_file_and_keeps_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_bytes(MODULE.encode())
    target = load_target(path, "stub")
    stamp = file_fingerprint(path)
    path.write_bytes(MODULE.encode() + b"# edited\n")
    accepted = accepted_source(target, "def stub(n):\n    return 2 * n\n")
    assert accepted is not None
    with pytest.raises(TargetError, match="changed since the search began"):
        apply_to_file(target, accepted, stamp)
    assert path.read_bytes() == MODULE.encode() + b"# edited\n"
    path.write_bytes(MODULE.encode())
    apply_to_file(target, accepted, file_fingerprint(path))
    # The user's signature and docstring stay; only the body is the candidate's.
    assert path.read_text() == MODULE.replace("    ...\n", "    return 2 * n\n")
    # A write that fails is one line, and the file stays as it was.
    (tmp_path / ".mod.py.orps-tmp").mkdir()
    written = path.read_bytes()
    again = load_target(path, "stub")
    with pytest.raises(TargetError, match=r"^cannot write .*mod\.py: Is a directory; not applied$"):
        apply_to_file(again, MODULE, file_fingerprint(path))
    assert path.read_bytes() == written


def test_a_file_with_a_byte_order_mark_is_read_and_written_back_with_it(tmp_path: Path) -> None:
    """Python runs a file that starts with a UTF-8 BOM; so does orps, and the BOM stays."""
    path = tmp_path / "mod.py"
    path.write_bytes(b"\xef\xbb\xbf" + MODULE.encode())
    tests = tmp_path / "checks.py"
    tests.write_bytes(b"\xef\xbb\xbffrom mod import stub\n\nassert stub(3) == 6\n")
    assert [spec.source for spec in file_specs(tests)] == ["assert stub(3) == 6"]
    target = load_target(path, "stub")
    assert target.byte_order_mark and target.module_source == MODULE
    accepted = accepted_source(target, "def stub(n):\n    return 2 * n\n")
    assert accepted is not None
    apply_to_file(target, accepted, file_fingerprint(path))
    assert path.read_bytes() == b"\xef\xbb\xbf" + accepted.encode()
    plain = tmp_path / "plain.py"
    plain.write_text(MODULE)
    assert not load_target(plain, "stub").byte_order_mark


def test_accepting_keeps_the_users_text_in_a_crlf_file(tmp_path: Path) -> None:
    crlf = MODULE.replace("\n", "\r\n").replace(
        "        return math.pi * r * r",
        '        """Area."""\r\n\r\n        return math.pi * r * r',
    )
    target = locate_function(crlf, "Shape.area", tmp_path / "mod.py")
    code = extract_function(
        'from math import tau\n\ndef area(r):\n    """Short."""\n    return tau / 2 * r ** 2\n',
        target,
    )
    assert code is not None
    accepted = accepted_source(target, code)
    assert accepted is not None
    assert "\n" not in accepted.replace("\r\n", "")
    assert accepted.startswith('"""A module."""\r\nimport math\r\nfrom math import tau\r\n')
    assert accepted.endswith(
        "    @staticmethod\r\n    def area(r: float) -> float:\r\n"
        '        """Area."""\r\n        return tau / 2 * r ** 2\r\n'
    )
    again = locate_function(accepted, "Shape.area", tmp_path / "mod.py")
    assert accepted_source(again, again.dedented_source) is None  # nothing would change
    assert accepted_source(target, "def area(r):\n    return (\n") is None  # would not parse


def test_reply_parsing_and_extraction(tmp_path: Path) -> None:
    target = locate_function(MODULE, "stub", tmp_path / "mod.py")
    reply = (
        "I will double it.\n```python\nimport operator\n\ndef helper(x):\n    return x\n\n"
        "def stub(n: int) -> int:\n    return operator.mul(n, 2)\n\n"
        "assert stub(2) == 4\n```\ntrailing words"
    )
    reasoning, block = split_reply(reply)
    assert reasoning == "I will double it."
    assert block is not None
    code = extract_function(block, target)
    assert code is not None
    # the import moves inside, the module's own helper is not redefined, the docstring is kept
    assert "import operator" in code and "def helper" not in code
    assert '"""Double n.' in code or "Double n." in code
    assert split_reply("no code here") == ("no code here", None)
    # a reply cut off inside its fence still yields its code
    assert split_reply("plan\n```python\ndef stub(n):\n    return n")[1] is not None


def test_fingerprint_ignores_layout_and_docstrings() -> None:
    a = 'def f(x):\n    """Doc."""\n    return x+1\n'
    b = "def f(x):\n\n    # a comment\n    return x + 1\n"
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint("def f(x):\n    return x + 2\n")


@pytest.mark.parametrize(
    ("reply", "score", "done", "parsed"),
    [
        ("Good.\nSCORE: 5\nDONE: yes", 5, True, True),
        ("SCORE: 9\nDONE: no", 5, False, True),
        ("SCORE: 0", 1, False, True),
        ("**SCORE:** 4", 4, False, True),
        ("", 3, False, False),
        ("I think it is fine.", 3, False, False),
    ],
)
def test_critic_scores_are_clamped_and_malformed_is_neutral(
    reply: str, score: int, done: bool, parsed: bool
) -> None:
    critique = parse_critique(reply)
    assert (critique.score, critique.done, critique.parsed) == (score, done, parsed)
