"""The zygote and verdict-only streams, in real sandboxed processes.

Every candidate is a fresh child forked from a warm zygote inside one bubblewrap sandbox, which
is reused only after it has removed what the previous candidate left. These tests hold that to
its promise (nothing of one candidate reaches the next: files, processes, System V IPC, module
state), check that a candidate cannot take its zygote down with it, and check the verdict-only
stream: results in batches, a hang found by the child's progress page, large values sent in
pieces, and the parent's judgement of values it never shows the child.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orps_sandbox import ExecutionStatus, Limits, ModuleSpec, Sandbox, TestStatus, filesystem
from orps_sandbox._orps_harness._orps_values import str_text_digest

from .conftest import FAST_LIMITS, SandboxFactory, check, given, module

LEAVE_BEHIND = textwrap.dedent(
    """
    import ctypes, os, time

    def f(x):
        for path in ('/tmp/left-by-a', '/dev/shm/left-by-a', 'left-in-scratch'):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # past the guard
        libc = ctypes.CDLL(None)
        libc.shmget(0x0A11, 4096, 0o1666)  # IPC_CREAT | 0666: a System V segment
        if libc.fork() == 0:  # a daemon that outlives the candidate
            libc.setsid()
            while True:
                time.sleep(1)
        return x
    """
)

LOOK_AROUND = textwrap.dedent(
    """
    import os

    STATE = []

    def f(x):
        STATE.append(x)
        found = [p for p in ('/tmp/left-by-a', '/dev/shm/left-by-a', 'left-in-scratch')
                 if os.path.exists(p)]
        others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]
        with open('/proc/sysvipc/shm') as handle:
            segments = handle.read().splitlines()[1:]
        return found, others, segments, STATE
    """
)


async def test_nothing_of_one_candidate_reaches_the_next(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(workers=1)
    leave = await sandbox.run(module(LEAVE_BEHIND), [check("t", "assert f(1) == 1")])
    assert leave.tests[0].status is TestStatus.PASSED, leave.tests[0]
    for _ in range(3):  # the same zygote serves each in turn (one worker)
        look = await sandbox.run(module(LOOK_AROUND), [check("t", "assert f(1) == 0")])
        assert look.tests[0].detail == "f(1) returned ([], [], [], [1]), expected 0"


async def test_a_project_under_tmp_keeps_its_zygote_and_loses_what_a_candidate_left(
    make_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    # A project under /tmp is bound into the sandbox's own /tmp: cleaning after a candidate
    # leaves those binds alone, empties and restores the folders that lead to them, and the
    # zygote serves again (each zygote is known by its pid namespace's init's start time).
    sandbox = make_sandbox(workers=1)
    lib = tmp_path / "deep" / "lib"
    lib.mkdir(parents=True)
    (lib / "helper.py").write_text("VALUE = 7\n")
    start = "open('/proc/1/stat').read().rsplit(')', 1)[1].split()[19]"
    leave = textwrap.dedent(
        f"""
        import os

        def f(x):
            for folder in ({str(tmp_path)!r}, {str(lib.parent)!r}):
                with open(os.path.join(folder, 'left-by-a'), 'w') as handle:
                    handle.write('x')
                os.makedirs(os.path.join(folder, 'nest', 'deeper'))
            os.chmod({str(lib.parent)!r}, 0)
            return {start}
        """
    )
    look = textwrap.dedent(
        f"""
        import os
        import helper

        def f(x):
            left = [p for p in os.listdir({str(tmp_path)!r}) if p != 'deep']
            left += [p for p in os.listdir({str(lib.parent)!r}) if p != 'lib']
            return {start}, left, helper.VALUE
        """
    )

    def spec(source: str) -> ModuleSpec:
        return ModuleSpec(
            name="cand",
            source=source,
            filename=str(lib / "cand.py"),
            entry="f",
            search_paths=[str(lib)],
        )

    first = await sandbox.run(spec(leave), [check("t", "assert f(1) == 0")])
    assert first.tests[0].status is TestStatus.FAILED, first.tests[0]
    zygotes = {first.tests[0].detail.split("returned ")[1].split(", expected")[0]}
    for _ in range(4):
        again = await sandbox.run(spec(look), [check("t", "assert f(1) == 0")])
        detail = again.tests[0].detail
        assert detail.endswith(", [], 7), expected 0"), again.tests[0]
        zygotes.add(detail.split("returned (")[1].split(",")[0])
    # One worker: its zygote and the spare the pool keeps take turns; a zygote found unclean
    # would be replaced, and each candidate would have one of its own.
    assert len(zygotes) <= 2, zygotes
    assert os.listdir(tmp_path) == ["deep"]  # nothing of it reached the host


async def test_a_candidate_cannot_take_its_zygote_down(make_sandbox: SandboxFactory) -> None:
    # The zygote is the pid namespace's init: its children's signals never reach it.
    sandbox = make_sandbox(workers=1)
    code = textwrap.dedent(
        """
        import ctypes, os, signal
        libc = ctypes.CDLL(None)

        def f(x):
            for number in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP):
                libc.kill(os.getppid(), number)
            return os.getppid()
        """
    )
    tests = [check("attack", "assert f(1) == 1"), check("after", "assert 2 == 2")]
    report = await sandbox.run(module(code), tests)
    assert [t.status for t in report.tests] == [TestStatus.PASSED, TestStatus.PASSED]
    again = await sandbox.run(module("def f(x):\n    return x\n"), [check("t", "assert f(3) == 3")])
    assert again.tests[0].status is TestStatus.PASSED


async def test_verdict_batches_keep_order_and_details(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return x * 2\n"
    tests = [given(f"t{i}", (i,), i * 2 if i != 700 else -1) for i in range(1000)]
    report = await sandbox.run(module(code), tests, measure=False)
    failed = [t for t in report.tests if t.status is not TestStatus.PASSED]
    assert [t.id for t in failed] == ["t700"]
    assert failed[0].detail == "f(*[700]) returned 1400, expected -1"
    assert all(t.wall_ns is not None for t in report.tests if t.status is TestStatus.PASSED)


async def test_a_hang_inside_a_batch_is_blamed_on_the_test_that_hung(
    make_sandbox: SandboxFactory,
) -> None:
    # The results before the hang still wait in the child's batch when the deadline expires;
    # the progress page names the test that hung and the others run again.
    sandbox = make_sandbox(Limits(test_timeout_s=0.5, total_timeout_s=20.0, memory_mb=512))
    code = "def f(x):\n    while x == 37:\n        pass\n    return x\n"
    tests = [given(f"t{i}", (i,), i) for i in range(60)]
    report = await sandbox.run(module(code), tests, measure=False)
    status = {t.id: t.status for t in report.tests}
    assert status.pop("t37") is TestStatus.TIMEOUT
    assert set(status.values()) == {TestStatus.PASSED}
    fast = await sandbox.run(module(code), tests, measure=False, fail_fast=True)
    by_id = {t.id: t for t in fast.tests}
    assert by_id["t37"].status is TestStatus.TIMEOUT
    assert all(by_id[f"t{i}"].status is TestStatus.NOT_RUN for i in range(38, 60))


async def test_large_values_travel_in_pieces_or_as_digests(sandbox: Sandbox) -> None:
    # More than one record can carry: a 3 MB string goes as its digest, a list of 200,000
    # numbers in pieces; the parent judges both all the same.
    code = "def f(n, kind):\n    return 'x' * n if kind == 's' else list(range(n))\n"
    size = 3_000_000
    tests = [
        given("text-same", (size, "s"), "x" * size),
        given("text-short", (size, "s"), "x" * (size - 1)),
        given("list-same", (200_000, "l"), list(range(200_000))),
        given("list-short", (200_000, "l"), list(range(199_999))),
        given("list-not-text", (200_000, "l"), "x" * size),
    ]
    for measure in (False, True):
        report = await sandbox.run(module(code), tests, measure=measure)
        status = [t.status for t in report.tests]
        passed, failed = TestStatus.PASSED, TestStatus.FAILED
        assert status == [passed, failed, passed, failed, failed], report.tests
        assert report.status is ExecutionStatus.COMPLETED, report.detail
        assert report.tests[1].detail.startswith("f(*[3000000, 's']) returned 'xxx")


async def test_a_large_str_is_judged_by_its_text_whatever_it_holds(sandbox: Sandbox) -> None:
    # A str too large for one record is offered by the digest of its JSON text, made without
    # that text where JSON writes the str as it is between quotes; a str with anything JSON
    # escapes takes its text. Each passes against itself and fails against a neighbour; the
    # value that quoting bare would confuse with the expected text fails, and so does a
    # candidate's own subclass of str (not plain data, whatever its size).
    code = textwrap.dedent(
        """
        class Text(str):
            pass

        def f(head, tail, n, subclass=False):
            value = head * n + tail
            return Text(value) if subclass else value
        """
    )
    n = 300_000
    tails = ["", " ~", '"', "\\", "\x01", "\n", "\x7f", "é", "\ud800"]
    tests = []
    for number, tail in enumerate(tails):
        tests.append(given(f"same-{number}", ("x", tail, n), "x" * n + tail))
        tests.append(given(f"other-{number}", ("x", tail, n), "x" * (n - 1) + tail))
    tests.append(given("subclass", ("x", "", n, True), "x" * n))
    # Quoted bare, x…x and a backslash and an n would read as the JSON of x…x and a newline;
    # x…x and a backslash and a quote as the JSON of x…x and a quote.
    tests.append(given("bare-quoting-newline", ("x", "\\n", n), "x" * n + "\n"))
    tests.append(given("bare-quoting-quote", ("x", '\\"', n), "x" * n + '"'))
    expected = [TestStatus.PASSED if t.id.startswith("same") else TestStatus.FAILED for t in tests]
    for measure in (False, True):
        report = await sandbox.run(module(code), tests, measure=measure)
        assert [t.status for t in report.tests] == expected, report.tests
        assert report.status is ExecutionStatus.COMPLETED, report.detail
        assert report.tests[1].detail.startswith("f(*['x', '', 300000]) returned 'xxx")


def test_a_str_digest_made_without_its_text_is_the_digest_of_its_text() -> None:
    samples = ["", "x" * 1000, " ~!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}", '"', "\\", "a\x00", "\x1f"]
    samples += ["\x7f", "\x80", "é", "\u2028", "\ud800", "\U0001f600", "\\n", "tab\there"]
    made = 0
    for text in samples:
        json_text = json.dumps(text)
        found = str_text_digest(text)
        if found is not None:
            made += 1
            assert found == (hashlib.sha256(json_text.encode()).hexdigest(), len(json_text))
            assert json_text == f'"{text}"'
        else:
            assert json_text != f'"{text}"' or not text.isascii()
    assert made == 3  # only the printable ASCII without quote or backslash is hashed as it is


async def test_the_expected_value_never_reaches_the_candidate(sandbox: Sandbox) -> None:
    # The parent keeps a literal expected side to itself: no search of the candidate's own
    # memory finds it, so there is nothing to copy.
    code = textwrap.dedent(
        """
        import gc

        PREFIX = 'expected' + '-secret-'

        def f(x):
            for obj in gc.get_objects():
                for text in (obj if isinstance(obj, (list, tuple, dict)) else [obj]):
                    if isinstance(text, str) and text.startswith(PREFIX) and text != PREFIX:
                        return text
            return 'not found'
        """
    )
    secret = "expected-secret-5f3a"
    tests = [check("split", f"assert f(1) == {secret!r}"), given("given", (1,), secret)]
    report = await sandbox.run(module(code), tests)
    for result in report.tests:
        assert result.status is TestStatus.FAILED, result
        assert "returned 'not found'" in result.detail


async def test_a_pass_without_the_value_the_parent_judges_is_not_believed(
    sandbox: Sandbox,
) -> None:
    # The candidate makes the harness skip the value and report a pass: nothing to judge.
    code = textwrap.dedent(
        """
        import sys

        def f(x):
            judge = sys.modules['_orps_judge']
            judge.Runner._deferred = staticmethod(lambda prepared, left: judge.Outcome('passed'))
            return x
        """
    )
    tests = [given("first", (1,), 2), given("second", (1,), 2)]
    report = await sandbox.run(module(code), tests, measure=False)
    assert report.status is ExecutionStatus.PROTOCOL_VIOLATION, report
    assert all(t.status is TestStatus.ERROR for t in report.tests)


async def test_tolerances_are_judged_by_the_parent(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return [x / 3, x]\n"
    tests = [
        given("close", (1,), [0.333333, 1], atol=1e-6),
        given("far", (1,), [0.3333, 1], atol=1e-6),
        given("exact", (1,), [1 / 3, 1.0]),
    ]
    report = await sandbox.run(module(code), tests, measure=False)
    status = {t.id: t.status for t in report.tests}
    assert status == {
        "close": TestStatus.PASSED,
        "far": TestStatus.FAILED,
        "exact": TestStatus.PASSED,
    }


async def test_not_plain_data_fails_against_a_literal(sandbox: Sandbox) -> None:
    code = textwrap.dedent(
        """
        class Anything:
            def __eq__(self, other):
                return True
            def __repr__(self):
                return '2'

        def f(x):
            return Anything()
        """
    )
    report = await sandbox.run(
        module(code),
        [given("eq", (1,), 2), check("ne", "assert f(1) != 2")],
        measure=False,
    )
    by_id = {t.id: t for t in report.tests}
    assert by_id["eq"].status is TestStatus.FAILED
    assert "not plain data" in by_id["eq"].detail and "expected 2" in by_id["eq"].detail
    assert by_id["ne"].status is TestStatus.PASSED


async def test_rlimits_zygotes_serve_one_candidate_each(make_sandbox: SandboxFactory) -> None:
    # Without a pid namespace nothing proves a zygote clean: a fresh one for every candidate.
    sandbox = make_sandbox(FAST_LIMITS, isolation="none", workers=1)
    code = "STATE = []\n\ndef f(x):\n    STATE.append(x)\n    return STATE\n"
    for _ in range(3):
        report = await sandbox.run(module(code), [check("t", "assert f(1) == [1]")])
        assert report.tests[0].status is TestStatus.PASSED, report.tests[0]


SCALARS: list[object] = [
    0,
    -1,
    2**64,
    -(2**64),
    (1 << 13_000) - 1,  # the largest int the harness writes as its digits
    1 << 13_000,  # ... and the smallest it sends tagged, as hex
    True,
    False,
    None,
    "",
    'quote " backslash \\ newline \n nul \x00 accent é emoji 😀',
    "x" * 4096,  # the longest str the harness writes without the encoder
    "y" * 4097,
    1.5,
    -0.0,
    1e-320,
    1e308,
    [1, "a"],
]


async def test_every_scalar_is_judged_like_any_value(sandbox: Sandbox) -> None:
    # The harness writes ints, floats, short strs, bools and None without the JSON encoder;
    # each must still equal its expected value, and differ from a neighbour.
    code = f"VALUES = {dict(enumerate(SCALARS))!r}\n\ndef f(i):\n    return VALUES[i]\n"
    true = next(i for i, value in enumerate(SCALARS) if value is True)
    tests = [given(f"same{i}", (i,), value) for i, value in enumerate(SCALARS)]
    tests += [given(f"other{i}", (i,), [value]) for i, value in enumerate(SCALARS)]
    tests += [
        given("int-for-bool", (true,), 1),  # True: equal by value, as the harness compares
        given("float-for-int", (0,), 0.0),
        given("str-for-int", (1,), "-1"),
    ]
    for measure in (False, True):
        report = await sandbox.run(module(code), tests, measure=measure)
        status = {t.id: t.status for t in report.tests}
        assert report.status is ExecutionStatus.COMPLETED, report.detail
        for i in range(len(SCALARS)):
            assert status[f"same{i}"] is TestStatus.PASSED, (SCALARS[i], report.tests[i])
            assert status[f"other{i}"] is TestStatus.FAILED, SCALARS[i]
        assert status["int-for-bool"] is TestStatus.PASSED
        assert status["float-for-int"] is TestStatus.PASSED
        assert status["str-for-int"] is TestStatus.FAILED
        by_id = {t.id: t for t in report.tests}
        assert by_id["str-for-int"].detail == "f(*[1]) returned -1, expected '-1'"


def test_the_harness_bytecode_is_written_once_and_is_what_the_interpreter_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandboxed interpreter writes no bytecode, so the engine writes the harness's where the
    # interpreter looks for it, unless bytecode writing is off. The proof that the interpreter
    # takes it: a module whose source is garbled (same size, same mtime) still imports.
    harness = tmp_path / "_orps_harness"
    shutil.copytree(filesystem.HARNESS, harness, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(filesystem, "HARNESS", harness)
    cache = filesystem.cache_harness_bytecode.__wrapped__
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert cache() == 0 and not (harness / "__pycache__").exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    modules = sorted(harness.glob("*.py"))
    assert cache() == len(modules) > 5
    assert cache() == 0  # current already

    source = harness / "_orps_values.py"
    original = source.read_bytes()

    def garble_and_import() -> subprocess.CompletedProcess[str]:
        stat = source.stat()
        source.write_bytes(b"(" * stat.st_size)
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        code = "import sys; sys.path.insert(0, sys.argv[1]); import _orps_values as v; print(v.MAX_DEPTH)"
        return subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", code, str(harness)],
            capture_output=True,
            text=True,
            check=False,
        )

    loaded = garble_and_import()
    assert loaded.returncode == 0 and loaded.stdout.strip() == "200", loaded.stderr
    stat = source.stat()
    source.write_bytes(original)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # an edit: newer source
    assert cache() == 1
    assert garble_and_import().returncode == 0
    (harness / "__pycache__" / f"_orps_values.{sys.implementation.cache_tag}.pyc").unlink()
    compiled = garble_and_import()
    assert compiled.returncode != 0 and "SyntaxError" in compiled.stderr
