"""uvicorn's WebSocket protocol, plus a way to write one encoded frame to many sockets.

Through ASGI every send re-encodes the frame and passes three layers (~30 µs); a room that
sends one edit to 500 clients cannot afford that. `FrameWriter` writes a frame encoded once
straight to the socket's transport and reports the backlog, which bounds a slow client's memory.
"""

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request

FRAME_WRITER = "cellsync.frame_writer"
CLOSE_TOO_LARGE = 4413


def encode_frame(message: bytes) -> bytes:
    """A complete, unmasked binary WebSocket frame, as a server sends it."""
    return Frame(Opcode.BINARY, message).serialize(mask=False)


class FrameWriter:
    """Writes pre-encoded frames to one connection's socket without awaiting."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, frame: bytes) -> int:
        """Writes the frame; returns the bytes that were still waiting to reach the client
        before it (one large frame, a big sheet's first sync, is not a slow client)."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return 0
        transport: asyncio.Transport = protocol.transport
        waiting = transport.get_write_buffer_size()
        transport.write(frame)
        return waiting

    async def drained(self) -> None:
        """Returns once the socket's write buffer is down to its low-water mark (or the
        connection is gone): what was written has reached the kernel."""
        await self._protocol.writable.wait()

    def abort(self) -> None:
        """Drops the connection at once, discarding what it has not received."""
        self._protocol.transport.abort()


class CellsyncWebSocketProtocol(WebSocketsSansIOProtocol):
    """Offers a `FrameWriter` to the application through the ASGI scope's extensions, and
    closes a client whose message is over the size limit with 4413, which y-websocket does not
    retry (the standard 1009 would have it send the same message again, forever)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fail = self.conn.fail

        def fail_too_large_with_4413(code: int, reason: str = "") -> None:
            fail(CLOSE_TOO_LARGE if code == CloseCode.MESSAGE_TOO_BIG else code, reason)

        # uvicorn makes the ServerProtocol itself: only its instance can be given another fail
        self.conn.fail = fail_too_large_with_4413  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        """Answers a handshake websockets refused (a request line over 8 kB, say), which
        uvicorn would leave hanging with the socket open."""
        super().data_received(data)
        if self.conn.handshake_exc is not None and not self.handshake_initiated:
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAME_WRITER] = FrameWriter(self)
