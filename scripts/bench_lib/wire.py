"""A bare y-websocket peer over an asyncio Protocol: cheap enough to run hundreds per process.

It does the HTTP upgrade by hand, parses server frames in place (servers never mask), masks
what it sends, answers pings and the server's sync step 1, and hands every binary message to a
callback together with the arrival time (`time.monotonic_ns()`, one reading per socket read).
No per-message objects, no per-frame tasks: the load generator must not be the bottleneck.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import time
from collections.abc import Callable
from typing import cast

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C extension ships with websockets wheels

    def apply_mask(data: bytes, mask: bytes) -> bytes:
        whole = (mask * (len(data) // 4 + 1))[: len(data)]
        masked = int.from_bytes(data, "big") ^ int.from_bytes(whole, "big")
        return masked.to_bytes(len(data), "big")


# y-websocket message bytes
SYNC = 0
AWARENESS = 1
STEP1 = 0
STEP2 = 1
UPDATE = 2
EMPTY_STATE_VECTOR = b"\x00"
EMPTY_UPDATE = b"\x00\x00"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

OnMessage = Callable[["YClient", bytes, int], None]


def var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def sync_message(kind: int, payload: bytes) -> bytes:
    return bytes((SYNC, kind)) + var_uint(len(payload)) + payload


def read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def sync_payload(message: bytes) -> bytes:
    """The update or state vector inside a sync message."""
    _, pos = read_var_uint(message, 2)
    return message[pos:]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final client frame."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = random.getrandbits(32).to_bytes(4, "big")
    return header + mask + apply_mask(payload, mask)


class HandshakeError(ConnectionError):
    pass


class YClient(asyncio.Protocol):
    """One WebSocket to a y-websocket room; `on_message(client, message, arrived_ns)`."""

    def __init__(self, host: str, path: str, on_message: OnMessage, *, answer_step1: bool) -> None:
        self.host = host
        self.path = path
        self.on_message = on_message
        self.answer_step1 = answer_step1
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bytes_received = 0
        self._handshaking = True
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._binary = True

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, on_message: OnMessage, *, answer_step1: bool = True
    ) -> YClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: cls(f"{host}:{port}", path, on_message, answer_step1=answer_step1), host, port
        )
        await client.opened
        return client

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.bytes_received += len(data)
        buffer = self._buffer
        buffer += data
        if self._handshaking:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                self._fail(HandshakeError(status.decode(errors="replace")))
                return
            del buffer[: end + 4]
            self._handshaking = False
            self.opened.set_result(None)
        self._parse(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    # sending

    def send(self, message: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(OP_BINARY, message))

    def send_sync(self, kind: int, payload: bytes) -> None:
        self.send(sync_message(kind, payload))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()

    # frames

    def _parse(self, now: int) -> None:
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            if second & 0x80:
                self._fail(ConnectionError("the server sent a masked frame"))
                return
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buffer[pos + header : end])
            pos = end
            self._frame(first & 0x0F, bool(first & 0x80), payload, now)
        if pos:
            del buffer[:pos]

    def _frame(self, opcode: int, final: bool, payload: bytes, now: int) -> None:
        if opcode in (OP_BINARY, OP_TEXT, OP_CONT):
            if opcode != OP_CONT:
                self._fragments = [payload]
                self._binary = opcode == OP_BINARY
            else:
                self._fragments.append(payload)
            if not final:
                return
            message = b"".join(self._fragments) if len(self._fragments) > 1 else payload
            self._fragments = []
            if self._binary and message:
                if self.answer_step1 and message[0] == SYNC and message[1] == STEP1:
                    self.send_sync(STEP2, EMPTY_UPDATE)
                self.on_message(self, message, now)
        elif opcode == OP_PING:
            assert self.transport is not None
            self.transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close()

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()
