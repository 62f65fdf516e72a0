"""A fresh client's first sync of a sheet loading from its log, sent as soon as the log is read.

After a restart, loading a big sheet is mostly applying its log rows (~2 s at 200,000 rows,
holding the GIL), and a fresh client then applies the whole document for as long again. Sent
the log rows as they were read, the client applies them while the server does. The answer to
its state vector (sync step 2, after which a client counts itself synced) comes from the room
when it joins: what loading and others added since (`Room.join`). Only fresh clients (their
first frame asks for everything) are sent the log: a client with a document of its own waits
for the room, which sends it only what it lacks.
"""

import asyncio
import logging

from pycrdt import YSyncMessageType

from persistence.store.update_log import LoggedDocument
from server.sheets.room import Traffic
from server.websocket.connection import Connection
from server.websocket.protocol import sync_message
from server.websocket.transport import encode_frame

log = logging.getLogger(__name__)

# How long a load waits for the log to reach the waiting clients' sockets before it applies
# the log itself, when a row is big (`BIG_ROW`): applying a row holds the GIL, ~0.05 s per MB,
# so the event loop could not send meanwhile. Between smaller rows (the chunks a sheet was
# built in) the loop sends while the load goes on, and the clients apply them meanwhile.
PATIENCE = 5.0
BIG_ROW = 8 * 2**20


class EarlySync:
    def __init__(self) -> None:
        self._waiting: dict[str, set[Connection]] = {}  # sheet -> fresh clients

    def wait(self, name: str, connection: Connection) -> None:
        """The fresh client is to be sent the sheet's log, if its load reads one
        (`connection.sent_log` says when it was)."""
        self._waiting.setdefault(name, set()).add(connection)

    def forget(self, name: str, connection: Connection) -> None:
        """The client's wait is over: its room is loaded, or could not be."""
        waiting = self._waiting.get(name, set())
        waiting.discard(connection)
        if not waiting:
            self._waiting.pop(name, None)

    async def send(self, name: str, logged: LoggedDocument, traffic: Traffic) -> None:
        """Sends the log rows, as updates, to the fresh clients waiting for the sheet; if one
        is big, waits for them to reach their sockets, up to `PATIENCE` seconds."""
        waiting = self._waiting.pop(name, set())
        if not waiting:
            return
        update = YSyncMessageType.SYNC_UPDATE  # not the answer yet: the room sends that
        frames = [encode_frame(sync_message(update, row)) for row in logged.updates]
        for frame in frames:
            for connection in waiting:
                connection.send_sync(frame)
            traffic.sent(frame, len(waiting))
        for connection in waiting:
            connection.sent_log = True
        log.info("sheet %s: its log sent to %d clients while it loads", name, len(waiting))
        if max(len(row) for row in logged.updates) <= BIG_ROW:
            return
        drains = [asyncio.ensure_future(connection.drained()) for connection in waiting]
        _, late = await asyncio.wait(drains, timeout=PATIENCE)
        for drain in late:
            drain.cancel()
