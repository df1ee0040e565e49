"""The child's end of the results channel: authenticated, length-prefixed records.

The parent believes only records that arrive on this socket (fd 3 unless the configuration says
otherwise), never anything printed on stdout. Before any candidate code runs, the parent sends a
fresh random key as the first command; every record the child sends then carries a sequence number
and a keyed BLAKE2b tag over its bytes, so bytes a candidate writes to the descriptor itself (or
replays) fail authentication in the parent. Records are JSON (the parent parses them as untrusted
data); commands from the parent are ``marshal`` data, which only the parent writes and which is
many times faster to read than JSON for a suite of a thousand tests. ``Channel`` captures the
functions it uses (``sendall``, ``recv``, ``json.dumps``, ``marshal.loads``, ``struct``,
``blake2b``) when it is created, and ``HarnessLoop`` keeps its bound ``send``, so patching those
functions or wrapping ``Channel.send`` later does not change what the harness sends. The key lives
only in this object: reaching it needs frame walks or ``gc``, which the tampering screen flags.
The zygote's control channel also receives descriptors with a command (``receive_with_fds``).
Like every module of the harness, it runs inside the sandbox and uses the standard library only.
"""

from __future__ import annotations

import array
import hashlib
import json
import marshal
import os
import socket
import struct
from typing import Any

CHANNEL_FD = 3
PROGRESS_BYTES = 4096
"""The page a candidate's process notes the test it is starting on, shared with the parent."""
TAG_BYTES = 16

Message = dict[str, Any]


class Channel:
    """Framed records over an inherited socket; references captured before candidate code."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sendall = self._sock.sendall
        self._recv = self._sock.recv
        self._recvmsg = self._sock.recvmsg
        self._dumps = json.dumps
        self._loads = marshal.loads
        self._pack = struct.pack
        self._unpack = struct.unpack
        self._blake2b = hashlib.blake2b
        self._seq = 0
        self._key = bytes.fromhex(str(self.receive().get("key", "")))

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def send(self, message: Message) -> None:
        message["seq"] = self._seq
        self._seq += 1
        data = self._dumps(message).encode()
        tag = self._blake2b(data, key=self._key, digest_size=TAG_BYTES).digest()
        self._sendall(self._pack("!I", len(data) + TAG_BYTES) + tag + data)

    def receive(self) -> Message:
        header = self._read_exact(4)
        return self._command(header)

    def receive_with_fds(self, most: int = 4) -> tuple[Message, list[int]]:
        """A command and the descriptors sent with its first bytes (the zygote's ``fork``)."""
        fds = array.array("i")
        header, ancillary, _flags, _address = self._recvmsg(
            4, socket.CMSG_SPACE(most * fds.itemsize)
        )
        if not header:
            os._exit(0)  # the parent closed the channel
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        if len(header) < 4:
            header += self._read_exact(4 - len(header))
        return self._command(header), list(fds)

    def _command(self, header: bytes) -> Message:
        (size,) = self._unpack("!I", header)
        value = self._loads(self._read_exact(size))
        if not isinstance(value, dict):
            raise ValueError("malformed command")
        return value

    def _read_exact(self, size: int) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self._recv(min(remaining, 1 << 20))
            if not chunk:
                os._exit(0)  # parent closed the channel: nothing left to do
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
