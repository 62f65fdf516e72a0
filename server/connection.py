"""One client's WebSocket in a room."""

import logging

from starlette.websockets import WebSocket

from server.websocket_transport import FRAME_WRITER, FrameWriter

log = logging.getLogger(__name__)


class MissingFrameWriter(RuntimeError):
    """The app runs under a server without Cellsync's WebSocket protocol."""


class Connection:
    """Sends frames without awaiting and drops the client when it falls too far behind.

    The socket's own write buffer is the queue: a client whose backlog passes `max_backlog`
    bytes is disconnected (it resyncs when it reconnects) instead of stalling the room or
    growing memory without bound.
    """

    def __init__(self, websocket: WebSocket, max_backlog: int) -> None:
        writer = websocket.scope["extensions"].get(FRAME_WRITER)
        if writer is None:
            raise MissingFrameWriter(
                "the WebSocket endpoint needs uvicorn with ws=CellsyncWebSocketProtocol "
                "(`cellsync serve` sets it up)"
            )
        self.websocket = websocket
        self._writer: FrameWriter = writer
        self._max_backlog = max_backlog
        self.dropped = False
        client = websocket.client
        self.peer = f"{client.host}:{client.port}" if client else "unknown peer"

    def send(self, frame: bytes) -> None:
        if self.dropped:
            return
        backlog = self._writer.write(frame)
        if backlog > self._max_backlog:
            self.drop(f"too slow: {backlog} bytes not yet received")

    def drop(self, reason: str) -> None:
        """Cuts the connection now; the handler sees the disconnect and leaves the room."""
        log.warning("dropping %s: %s", self.peer, reason)
        self.dropped = True
        self._writer.abort()
