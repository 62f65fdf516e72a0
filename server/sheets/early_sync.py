"""A fresh client's first sync of a loading sheet, sent as the load reads or builds its log.

Loading a big sheet is mostly building its document from the table (~5 s at 200,000 rows) or,
after a restart, applying its log rows (~2 s, holding the GIL), and a fresh client then
applies the whole document for seconds more. Sent each log row as soon as it is read, or each
chunk of a first open as soon as it is committed, the client applies them while the server
goes on, and shows the first rows at once. A client that comes while the sheet loads is sent
what was sent before it. The answer to its state vector (sync step 2, after which a client
counts itself synced) comes from the room when it joins: what loading and others added since
(`Room.join`). Only fresh clients (their first frame asks for everything) are sent the log: a
client with a document of its own waits for the room, which sends it only what it lacks.
"""

import asyncio
import logging
from collections.abc import Mapping

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
    def __init__(self, traffic: Mapping[str, Traffic]) -> None:
        self._traffic = traffic  # each sheet's counters
        self._waiting: dict[str, set[Connection]] = {}  # sheet -> fresh clients
        self._sent: dict[str, list[bytes]] = {}  # sheet -> its log rows sent while it loads

    def wait(self, name: str, connection: Connection) -> None:
        """The fresh client is to be sent the sheet's log, if its load reads or builds one
        (`connection.sent_log` says when it was), starting with what was sent already."""
        self._waiting.setdefault(name, set()).add(connection)
        for update in self._sent.get(name, ()):
            self._send(name, update, {connection})

    def forget(self, name: str, connection: Connection) -> None:
        """The client's wait is over: its room is loaded, or could not be."""
        waiting = self._waiting.get(name, set())
        waiting.discard(connection)
        if not waiting:
            self._waiting.pop(name, None)

    def row(self, name: str, update: bytes) -> None:
        """One row of the log, as the load read or committed it: to the waiting clients."""
        self._sent.setdefault(name, []).append(update)
        self._send(name, update, self._waiting.get(name, set()))

    async def send(self, name: str, logged: LoggedDocument) -> None:
        """Sends the log rows read; if one is big, waits for the waiting clients to receive
        them, up to `PATIENCE` seconds."""
        for update in logged.updates:
            self.row(name, update)
        waiting = self._waiting.get(name)
        if not waiting or max(len(update) for update in logged.updates) <= BIG_ROW:
            return
        drains = [asyncio.ensure_future(connection.drained()) for connection in waiting]
        _, late = await asyncio.wait(drains, timeout=PATIENCE)
        for drain in late:
            drain.cancel()

    def loaded(self, name: str) -> None:
        """The load is over: what it sent is let go, and the clients that came since wait for
        the room."""
        rows = len(self._sent.pop(name, ()))
        reached = sum(connection.sent_log for connection in self._waiting.get(name, ()))
        if reached:
            log.info("sheet %s: %d log rows sent to %d clients while it loaded",
                     name, rows, reached)  # fmt: skip

    def _send(self, name: str, update: bytes, connections: set[Connection]) -> None:
        if not connections:
            return
        frame = encode_frame(sync_message(YSyncMessageType.SYNC_UPDATE, update))
        for connection in connections:
            connection.send_sync(frame)
            connection.sent_log = True
        self._traffic[name].sent(frame, len(connections))
