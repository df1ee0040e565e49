"""The tampering screen on its own: every construct the issue lists is flagged, ordinary code is
not. Pure AST work: no process is started."""

from __future__ import annotations

import pytest

from orps_sandbox import screen

FLAGGED = {
    "frame walk": "import sys\ndef f():\n    return sys._getframe(1).f_locals\n",
    "inspect": "import inspect\ndef f():\n    return inspect.currentframe()\n",
    "f_back": "def f(frame):\n    return frame.f_back\n",
    "gc objects": "import gc\ndef f():\n    return gc.get_objects()\n",
    "gc referrers": "from gc import get_referrers\ndef f(x):\n    return get_referrers(x)\n",
    "main module": "import sys\ndef f():\n    return sys.modules['__main__']\n",
    "time patch": "import time\ndef f():\n    time.perf_counter_ns = lambda: 0\n",
    "aliased time": "import time as t\ndef f():\n    t.perf_counter = lambda: 0.0\n",
    "builtins patch": "import builtins\ndef f():\n    builtins.len = lambda x: 0\n",
    "setattr sys": "import sys\ndef f():\n    setattr(sys, 'exit', None)\n",
    "os patch": "import os\ndef f():\n    os.write = print\n",
    "pytest patch": "import pytest\ndef f():\n    pytest.approx = lambda x: x\n",
    "pytest hook": "def pytest_runtest_makereport(item, call):\n    pass\n",
    "hookimpl": "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef g():\n    yield\n",
    "plugin manager": "def f(config, plugin):\n    config.pluginmanager.register(plugin)\n",
    "ctypes": "import ctypes\ndef f():\n    return ctypes.CDLL(None)\n",
    "ctypes dynamic": "def f():\n    return __import__('ctypes')\n",
    "raw write": "import os\ndef f():\n    os.write(3, b'x')\n",
    "dup2": "import os\ndef f():\n    os.dup2(1, 3)\n",
    "socket on fd": "import socket\ndef f():\n    return socket.socket(fileno=3)\n",
    "signal": "import signal\ndef f():\n    signal.signal(signal.SIGALRM, print)\n",
    "exit": "import os\ndef f():\n    os._exit(0)\n",
    "harness": "import _orps_judge\ndef f():\n    pass\n",
    "code swap": "def f(g, h):\n    g.__code__ = h.__code__\n",
}

CLEAN = [
    "def f(xs):\n    return sorted(set(xs))\n",
    "import math\ndef f(x):\n    return math.sqrt(x)\n",
    "import time\ndef f():\n    return time.perf_counter_ns()\n",
    "import os\ndef f(p):\n    return os.path.join(p, 'x')\n",
    "from collections import Counter\ndef f(s):\n    return Counter(s).most_common(1)\n",
    "def f(obj):\n    obj.value = 1\n    return obj\n",
]


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_tampering_constructs_are_flagged(name: str) -> None:
    result = screen(FLAGGED[name])
    assert result.flagged, name
    assert all(reason.startswith("line ") for reason in result.reasons)


@pytest.mark.parametrize("code", CLEAN)
def test_ordinary_code_is_not_flagged(code: str) -> None:
    assert screen(code).reasons == []


def test_unparseable_code_is_not_flagged() -> None:
    assert not screen("def f(:\n").flagged
