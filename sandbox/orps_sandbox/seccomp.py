"""The seccomp filter a bubblewrap worker runs under: the kernel calls a candidate never needs.

The filter is built with libseccomp (through the ``pyseccomp`` binding), exported as a BPF
program once per engine, and handed to bubblewrap with ``--seccomp FD``; bubblewrap installs it
just before it executes the interpreter, so its own set-up is unaffected. The default action is
to allow; the listed calls fail with ``EPERM`` (``clone3`` with ``ENOSYS``, so that the C library
falls back to ``clone``, whose namespace flags are then checked), and sockets of families other
than Unix, IPv4 and IPv6 fail with ``EAFNOSUPPORT``. When libseccomp cannot be loaded, there is
no filter and ``seccomp_problem`` says why.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from typing import Any

DENIED_SYSCALLS = (
    # debugging and reading other processes' memory (pid 1 of the namespace included)
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    # namespaces and mounts: no nested sandboxes, no new view of the filesystem
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    # kernel keyrings, BPF, performance counters, io_uring, userfaultfd: large attack surface
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    # administration
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "vhangup",
)
"""Calls that fail with EPERM inside the sandbox."""

CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
ALLOWED_SOCKET_FAMILIES = (1, 2, 10)
"""AF_UNIX (socketpair, asyncio), AF_INET and AF_INET6 (the network namespace is empty)."""
TERMINAL_INJECTION_IOCTLS = (0x5412, 0x541C)
"""TIOCSTI and TIOCLINUX: typing into a terminal the sandbox might share."""
MAX_FAMILY = 64


def _build_filter() -> Any:
    import pyseccomp as seccomp

    denied = seccomp.ERRNO(errno.EPERM)
    rules: list[tuple[int, str, tuple[Any, ...]]] = [(denied, name, ()) for name in DENIED_SYSCALLS]
    rules.append((seccomp.ERRNO(errno.ENOSYS), "clone3", ()))
    rules += [
        (denied, "clone", (seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag),))
        for flag in CLONE_NAMESPACE_FLAGS
    ]
    rules += [
        (denied, "ioctl", (seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request),))
        for request in TERMINAL_INJECTION_IOCTLS
    ]
    no_family = seccomp.ERRNO(errno.EAFNOSUPPORT)
    rules += [
        (no_family, "socket", (seccomp.Arg(0, seccomp.EQ, family),))
        for family in range(MAX_FAMILY)
        if family not in ALLOWED_SOCKET_FAMILIES
    ]
    rules.append((no_family, "socket", (seccomp.Arg(0, seccomp.GE, MAX_FAMILY),)))
    syscall_filter = seccomp.SyscallFilter(seccomp.ALLOW)
    for action, name, args in rules:
        try:
            syscall_filter.add_rule(action, name, *args)
        except (OSError, ValueError, RuntimeError) as exc:
            if not args:
                continue  # a call this architecture's libseccomp does not know cannot be made
            raise RuntimeError(f"cannot add the seccomp rule for {name}: {exc}") from exc
    return syscall_filter


@functools.cache
def _program() -> tuple[bytes | None, str]:
    """The exported BPF program, or None and the reason there is none."""
    try:
        syscall_filter = _build_filter()
        with tempfile.TemporaryFile() as handle:
            syscall_filter.export_bpf(handle)
            handle.seek(0)
            program = handle.read()
    except ImportError as exc:
        return None, f"no seccomp filter: libseccomp is not available ({exc})"
    except (OSError, RuntimeError, ValueError) as exc:
        return None, f"no seccomp filter: {exc}"
    if not program:
        return None, "no seccomp filter: libseccomp exported an empty program"
    return program, ""


def seccomp_problem() -> str:
    """Empty when the filter is available, else why it is not."""
    return _program()[1]


def open_seccomp_program() -> int | None:
    """A fresh, inheritable file descriptor holding the BPF program (the caller closes it)."""
    program, _ = _program()
    if program is None:
        return None
    fd = os.memfd_create("orps-seccomp")  # close-on-exec: only pass_fds hands it on
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd
