"""The child's end of the results channel: length-prefixed JSON records over an inherited socket.

The parent believes only records that arrive on this socket (fd 3 unless the configuration says
otherwise), never anything printed on stdout, so a candidate that prints a fake result line and
exits forges nothing. ``Channel`` captures the functions it uses (``sendall``, ``recv``,
``json.dumps``/``loads``, ``struct.pack``/``unpack``) when it is created, before any candidate
code runs, so patching those functions later does not change what the harness sends. Like every
module of the harness, it runs inside the sandbox and uses the standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

CHANNEL_FD = 3

Message = dict[str, Any]


class Channel:
    """Framed JSON records over the inherited socket; references captured before candidate code."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sendall = self._sock.sendall
        self._recv = self._sock.recv
        self._dumps = json.dumps
        self._loads = json.loads
        self._pack = struct.pack
        self._unpack = struct.unpack

    def send(self, message: Message) -> None:
        data = self._dumps(message).encode()
        self._sendall(self._pack("!I", len(data)) + data)

    def receive(self) -> Message:
        header = self._read_exact(4)
        (size,) = self._unpack("!I", header)
        value = self._loads(self._read_exact(size).decode())
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
