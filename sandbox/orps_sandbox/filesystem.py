"""What a bubblewrap worker sees of the filesystem: bound in by need, never the host's root.

The sandbox's root is an empty tmpfs, made read-only once everything is mounted. Read-only binds
bring in what a candidate needs and nothing else: the system's program and library folders, an
allow-list of ``/etc`` files (no ``shadow``, no ``ssh``, no tool configuration that may hold
tokens), the interpreter with its prefix and site-packages, the harness, and the module's and
tests' folders. The engine user's home is never bound whole (a bound folder inside it is, alone).
Inside every bound folder of the project, names that usually hold secrets (``.env``,
``.netrc``, ``.git``, credential folders, shell history) are masked. ``/tmp``, ``/dev/shm`` and
the scratch directory are size-limited tmpfs mounts; ``/run`` is an empty, read-only tmpfs. The
harness's bytecode is written beside it by the engine, never from inside a sandbox.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import os
import py_compile
import site
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

HARNESS = Path(__file__).with_name("_orps_harness")
"""The child-side program: a directory run by the interpreter (its ``__main__.py``), stdlib only."""


@functools.cache
def cache_harness_bytecode() -> int:
    """Write the harness's bytecode where the interpreter looks for it (``__pycache__`` beside
    each module), once per engine process, and return how many files were written. The sandboxed
    interpreter writes no bytecode and most harness modules are imported nowhere else, so
    without this every worker compiles them as it starts. Nothing is written when bytecode
    writing is off here (``PYTHONDONTWRITEBYTECODE``, ``-B``), or where it cannot be."""
    if sys.dont_write_bytecode or sys.implementation.cache_tag is None:
        return 0
    written = 0
    for source, cached in _harness_bytecode():
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            if not _bytecode_current(source, cached):
                py_compile.compile(
                    str(source),
                    cfile=str(cached),
                    doraise=True,
                    optimize=0,  # the harness runs without -O, whatever the engine does
                    invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
                )
                written += 1
    return written


def harness_bytecode_current() -> bool:
    """Whether every harness module has the bytecode its interpreter would accept."""
    return all(_bytecode_current(source, cached) for source, cached in _harness_bytecode())


def _harness_bytecode() -> list[tuple[Path, Path]]:
    """Each harness module, and where the interpreter looks for its bytecode."""
    tag = sys.implementation.cache_tag
    return [
        (source, HARNESS / "__pycache__" / f"{source.stem}.{tag}.pyc")
        for source in sorted(HARNESS.glob("*.py"))
    ]


def _bytecode_current(source: Path, cached: Path) -> bool:
    """Whether ``cached`` is the bytecode the interpreter would accept for ``source``: this
    interpreter's magic number, timestamp-checked, the source's own mtime and size."""
    try:
        with cached.open("rb") as handle:
            header = handle.read(16)
        stat = source.stat()
    except OSError:
        return False
    expected = (
        importlib.util.MAGIC_NUMBER
        + (0).to_bytes(4, "little")
        + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    )
    return header == expected


SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Program and library folders, bound read-only (or re-created as symlinks on merged-/usr)."""

ETC_ALLOWED = (
    "passwd",
    "group",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "localtime",
    "timezone",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "mime.types",
    "os-release",
    "protocols",
    "services",
    "alternatives",
    "ssl/openssl.cnf",
    "python3*",
)
"""The ``/etc`` entries a Python program may read (globs allowed); everything else is absent."""

SECRET_NAMES = (
    ".env",
    ".env.*",
    ".envrc",
    ".netrc",
    ".git",
    ".git-credentials",
    ".gitconfig",
    ".pypirc",
    ".npmrc",
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".docker",
    ".kube",
    ".config",
    ".local",
    ".password-store",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
)
"""Names masked at the top of every bound project folder (a file by ``/dev/null``, a folder by
an empty read-only tmpfs): they hold credentials often, and failure text reaches the model."""

NEVER_BOUND = ("/", "/etc", "/proc", "/sys", "/dev", "/run", "/var", "/tmp", "/root", "/home")
"""Folders a job may not bring in whole (a folder below them is fine)."""

EMPTY_TMPFS_BYTES = 64 * 1024


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _spellings(raw: str) -> list[str]:
    """A folder's real path, and the path as given when a symlink leads to it: the sandbox
    binds the real folder at both, so paths handed to the harness resolve inside as outside."""
    real, given = os.path.realpath(raw), os.path.abspath(raw)
    return [real] if real == given else [real, given]


def _collapse(paths: Iterable[str]) -> list[str]:
    """Sorted, without any path already covered by another one."""
    unique = set(paths)
    return sorted(p for p in unique if not any(p != o and _under(p, o) for o in unique))


@functools.cache
def interpreter_roots() -> tuple[str, ...]:
    """The interpreter's prefixes, site-packages and executable's folder, as real paths."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.append(os.path.dirname(os.path.realpath(sys.executable)))
    paths += [p for p in site.getsitepackages() if os.path.isdir(p)]
    spelled = [spelling for p in paths if p for spelling in _spellings(p)]
    return tuple(_collapse(p for p in spelled if not any(p == s for s in SYSTEM_DIRS)))


@functools.cache
def site_paths() -> tuple[str, ...]:
    """The import path entries a worker adds itself, in the engine's order.

    Workers start with ``-S`` (no ``site``): processing the virtual environment's ``.pth`` files
    costs every worker tens of milliseconds of CPU (an editable install's import-hook finder
    alone imports ``pathlib``, ``urllib`` and ``ipaddress``). The harness instead appends these:
    the site-packages folders and the entries ``.pth`` files added inside them. What an import
    hook of a ``.pth`` file provides is not available, and was not before for anything outside
    the bound folders.
    """
    packages = [os.path.realpath(p) for p in site.getsitepackages() if os.path.isdir(p)]
    entries = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.isdir(real) and any(_under(real, p) for p in packages):
            entries.append(entry)
    return tuple(dict.fromkeys(entries + [p for p in site.getsitepackages() if os.path.isdir(p)]))


def job_binds(paths: Sequence[str]) -> tuple[str, ...]:
    """The existing folders among ``paths`` (real paths, nested ones dropped) a job binds; never
    a system folder whole, nor the engine user's home (a module directly in it loads from its
    source all the same, only its siblings are not importable)."""
    never = {*NEVER_BOUND, os.path.realpath(os.path.expanduser("~"))}
    folders = []
    for raw in paths:
        if os.path.isdir(raw) and os.path.realpath(raw) not in never:
            folders += [path for path in _spellings(raw) if path not in never]
    return tuple(_collapse(folders))


def _symlink_or_bind(path: str) -> list[str]:
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    if os.path.isdir(path):
        return ["--ro-bind", path, path]
    return []


@functools.cache
def _system_arguments() -> tuple[str, ...]:
    argv: list[str] = []
    for path in SYSTEM_DIRS:
        argv += _symlink_or_bind(path)
    etc: set[str] = set()
    for pattern in ETC_ALLOWED:
        etc.update(glob.glob(os.path.join("/etc", pattern)))
    for path in sorted(etc):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            argv += ["--ro-bind", path, path]
    return tuple(argv)


def system_arguments() -> list[str]:
    """Binds for the system folders and the allowed part of ``/etc`` (computed once)."""
    return list(_system_arguments())


def _masks(folder: str) -> list[str]:
    argv: list[str] = []
    found: set[str] = set()
    for pattern in SECRET_NAMES:
        found.update(glob.glob(os.path.join(glob.escape(folder), pattern), include_hidden=True))
    for path in sorted(found):
        if os.path.islink(path) or os.path.isfile(path):
            argv += ["--ro-bind", "/dev/null", path]
        elif os.path.isdir(path):
            argv += ["--size", str(EMPTY_TMPFS_BYTES), "--tmpfs", path, "--remount-ro", path]
    return argv


def bind_arguments(binds: Sequence[str]) -> list[str]:
    """Read-only binds for the interpreter, the harness and the job's folders, secrets masked."""
    roots = _collapse([*interpreter_roots(), *_spellings(str(HARNESS)), *binds])
    argv: list[str] = []
    for path in roots:
        if any(_under(path, s) for s in SYSTEM_DIRS) or not os.path.exists(path):
            continue
        argv += ["--ro-bind", os.path.realpath(path), path]
    for path in roots:
        if path in binds:
            argv += _masks(path)
    return argv


def tmpfs_arguments(size_bytes: int) -> list[str]:
    """Size-limited ``/tmp``, ``/dev`` with a size-limited ``/dev/shm``, ``/proc``, empty ``/run``."""
    size = str(size_bytes)
    return [
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        size,
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        size,
        "--tmpfs",
        "/tmp",
        "--size",
        str(EMPTY_TMPFS_BYTES),
        "--tmpfs",
        "/run",
        "--remount-ro",
        "/run",
        "--symlink",
        "../run",
        "/var/run",
    ]


def scratch_arguments(scratch: str, size_bytes: int) -> list[str]:
    """The worker's writable scratch directory: its own size-limited tmpfs, and the cwd."""
    return [
        "--perms",
        "0700",
        "--size",
        str(size_bytes),
        "--tmpfs",
        scratch,
        "--chdir",
        scratch,
    ]
