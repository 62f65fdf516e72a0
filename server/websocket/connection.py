"""One client's WebSocket in a room."""

import logging
import time
from typing import Any

from starlette.websockets import WebSocket

from persistence.origins import Client
from server.websocket.transport import FRAME_WRITER, FrameWriter

log = logging.getLogger(__name__)


def peer_address(websocket: WebSocket) -> str:
    """host:port of the client, for logs."""
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "unknown peer"


class MissingFrameWriter(RuntimeError):
    """The app runs under a server without Cellsync's WebSocket protocol."""


class LimitExceeded(Exception):
    """The client went past a limit: only its own connection is closed, with this code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


CLOSE_TOO_MANY = 4429


class Connection:
    """Sends frames without awaiting and drops the client when it falls too far behind.

    The socket's own write buffer is the queue: a client whose backlog passes `max_backlog`
    bytes, beyond a sync it is still receiving (`send_sync`), is disconnected (it resyncs when
    it reconnects) instead of stalling the room or growing memory without bound.
    """

    def __init__(
        self,
        websocket: WebSocket,
        max_backlog: int,
        *,
        user: dict[str, Any] | None = None,
        can_write: bool = True,
        expires_at: float | None = None,
        messages_per_second: float = float("inf"),
    ) -> None:
        writer = websocket.scope["extensions"].get(FRAME_WRITER)
        if writer is None:
            raise MissingFrameWriter(
                "the WebSocket endpoint needs uvicorn with ws=CellsyncWebSocketProtocol "
                "(`cellsync serve` sets it up)"
            )
        self.websocket = websocket
        self._writer: FrameWriter = writer
        self._max_backlog = max_backlog
        self._syncing = 0  # bytes of sync frames it may still be receiving, beyond the backlog
        self.dropped = False
        self.user = user  # {"id", "name"} from the token; None when the server runs open
        self.shown_name: str | None = None  # the name its presence shows the others
        self.can_write = can_write
        self.expires_at = expires_at  # when the token runs out (time.time()), if it does
        self._rate = messages_per_second
        self._allowance = 2 * messages_per_second  # a burst of twice the rate is fine
        self._checked_at = time.monotonic()
        self._told_read_only = False
        self.peer = peer_address(websocket)
        self.origin = Client(self.peer, user)  # its edits' origin in the sheet's document
        self.sent_log = False  # sent the sheet's log while its room loaded (`EarlySync`)

    def count_message(self) -> None:
        """Counts one incoming message; raises LimitExceeded past the sustained rate."""
        now = time.monotonic()
        self._allowance = min(
            2 * self._rate, self._allowance + (now - self._checked_at) * self._rate
        )
        self._checked_at = now
        if self._allowance < 1:
            raise LimitExceeded(CLOSE_TOO_MANY, f"more than {self._rate:g} messages a second")
        self._allowance -= 1

    def drop_write(self) -> None:
        """A read-only client sent a document change: dropped, and logged once."""
        if not self._told_read_only:
            self._told_read_only = True
            log.info("%s is read-only: dropping its document changes", self.peer)

    def send(self, frame: bytes) -> None:
        if self.dropped:
            return
        behind = self._writer.write(frame)
        if behind <= self._max_backlog:
            self._syncing = 0  # what it was sent to sync has reached it, or nearly
        elif behind > self._max_backlog + self._syncing:
            self.drop(f"too slow: {behind} bytes not yet received")

    def send_sync(self, frame: bytes) -> None:
        """Sends what the client asked for to sync (a big sheet's document is tens of MB, which
        takes a client on a slow link seconds to receive): until it has, other updates do not
        count it as falling behind."""
        self.send(frame)
        self._syncing += len(frame)

    async def drained(self) -> None:
        """Returns once what was sent has reached the kernel."""
        await self._writer.drained()

    def drop(self, reason: str) -> None:
        """Cuts the connection now; the handler sees the disconnect and leaves the room."""
        log.warning("dropping %s: %s", self.peer, reason)
        self.dropped = True
        self._writer.abort()
