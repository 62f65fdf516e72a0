"""The connections editing one sheet, and the broadcast of its document's changes to them.

A client's frame goes to `receive`; its update goes into the `SheetDocument`, which hands
every change back through the `broadcast` hook. The broadcast sends at once in a quiet room;
under load it paces its sends, so what arrives meanwhile is merged, encoded once, and written as
the same frame to every client that lacks it.
Nothing here waits on a client, so one slow or broken client cannot hold up the others.
Presence goes to the room's clients and to `share_presence` (other processes), and comes
back from other processes through `presence_from`.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pycrdt import YSyncMessageType

from persistence.origins import Client, Origin
from persistence.store.update_log import merge
from server.sheets.presence import Presence
from server.sheets.sheet_document import SheetDocument
from server.websocket.connection import Connection
from server.websocket.protocol import (
    AwarenessEntry,
    MessageKind,
    ProtocolError,
    encode_awareness,
    parse_awareness,
    parse_message,
    sync_message,
)
from server.websocket.transport import encode_frame

log = logging.getLogger(__name__)

Item = TypeVar("Item")

# After a send that took t seconds of CPU, the next waits t: writing frames takes at most half
# a core, the rest is left for reading, checking and logging the updates. CPU time, not wall
# time: a machine busy with other work does not make the room wait longer. At 3t (a quarter of
# a core), 500 clients sent 50 edits a second (5 ms a send) were paced right at the edits'
# spacing: each edit waited for the one before, the median latency tripled, and only 9% of the
# edits shared a frame.
PACE = 1.0


@dataclass
class Traffic:
    """What a sheet's room received and sent; plain counters, read when metrics are scraped."""

    updates_in: int = 0
    bytes_in: int = 0
    updates_out: int = 0  # update frames, one per client reached
    bytes_out: int = 0

    def sent(self, frame: bytes, clients: int, update: bool = True) -> None:
        """One frame written to `clients` clients."""
        if update:
            self.updates_out += clients
        self.bytes_out += len(frame) * clients


class Room:
    def __init__(
        self,
        document: SheetDocument,
        merge_window: float,
        traffic: Traffic | None = None,
    ) -> None:
        self.document = document
        self.name = document.name
        self.connections: set[Connection] = set()
        self._by_origin: dict[Client, Connection] = {}  # who made an update, to skip it
        self._merge_window = merge_window
        self.traffic = traffic or Traffic()
        self._presence = Presence(document.is_cell)
        self.share_presence: Callable[[list[AwarenessEntry]], None] = _nowhere
        self._updates: list[tuple[Origin, bytes]] = []
        self._awareness: list[tuple[Origin | None, AwarenessEntry]] = []
        self._send_handle: asyncio.Handle | None = None
        self._next_send = 0.0  # loop time before which a send waits

    def join(self, connection: Connection) -> None:
        """Starts the sync handshake (a client sent the log while the room loaded is answered
        with what was added since) and shows the newcomer who is here."""
        self.connections.add(connection)
        self._by_origin[connection.origin] = connection
        step1 = sync_message(YSyncMessageType.SYNC_STEP1, self.document.state_vector())
        self._send([connection], encode_frame(step1), update=False)
        if connection.sent_log:  # its state vector was read: it has the log, the rest is due
            self._answer(connection, [self.document.beyond_log()])
        present = self._presence.live()
        if present:
            self._send([connection], encode_frame(encode_awareness(present)), update=False)

    def leave(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self._by_origin.pop(connection.origin, None)
        removals = self._presence.leave(connection)
        self._awareness.extend((None, entry) for entry in removals)
        if removals:
            self.share_presence(removals)
            self._schedule()

    async def receive(self, connection: Connection, data: bytes) -> None:
        """Handles one frame from a client; raises ProtocolError for a malformed one."""
        connection.count_message()
        message = parse_message(data)
        self.traffic.bytes_in += len(data)
        if message.kind is MessageKind.SYNC_STEP1:
            self._answer(
                connection,
                _client_input(self.document.missing_for, message.payload, "state vector"),
            )
        elif message.kind in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE):
            self.traffic.updates_in += 1
            if connection.can_write:
                await self._apply(connection.origin, message.payload)
            else:
                connection.drop_write()
        elif message.kind is MessageKind.AWARENESS:
            news = self._presence.apply(connection, parse_awareness(message.payload))
            if news:
                self._awareness.extend((connection.origin, entry) for entry in news)
                self.share_presence(news)
                self._schedule()
        else:
            self._send([connection], encode_frame(encode_awareness(self._presence.live())), False)

    def broadcast(self, update: bytes, origin: Origin) -> None:
        """The document's hook: every client but the one that made it gets the update."""
        self._updates.append((origin, update))
        self._schedule()

    def presence_from(self, process: str, entries: list[AwarenessEntry]) -> None:
        """Presence of another process's clients: to every client here."""
        news = self._presence.apply_remote(process, entries)
        if news:
            self._awareness.extend((None, entry) for entry in news)
            self._schedule()

    def processes_present(self) -> set[str]:
        """The other processes whose clients' presence this room shows."""
        return self._presence.processes()

    def process_gone(self, process: str) -> None:
        """Another process died: its clients' presence leaves this room's clients."""
        removals = self._presence.leave(process)
        if removals:
            self._awareness.extend((None, entry) for entry in removals)
            self._schedule()

    def close(self) -> None:
        if self._send_handle is not None:
            self._send_handle.cancel()
        self.document.close()

    async def _apply(self, origin: Client, update: bytes) -> None:
        try:
            violations = await self.document.receive(update, origin)
        except BaseException as exc:
            if not _client_fault(exc):
                raise
            raise ProtocolError(f"invalid update: {str(exc)[:80]}") from exc
        for violation in violations:
            log.info("%s on %s: put back %s/%s: %s", origin.peer, self.name, violation.row,
                     violation.column, violation.reason)  # fmt: skip

    def _schedule(self) -> None:
        """Sends at once unless the room is paced by its last send (see `_send_pending`)."""
        if self._send_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._next_send - loop.time()
        if delay > 0:
            self._send_handle = loop.call_later(delay, self._send_pending)
        else:
            self._send_handle = loop.call_soon(self._send_pending)

    def _send_pending(self) -> None:
        """Sends what is queued, then paces the next send by what this one cost: a quiet room
        or a cheap send leaves no wait, so each update goes out at once; under load (many
        clients and many updates) updates wait, never over `merge_window`, and share one
        frame."""
        self._send_handle = None
        started = time.thread_time()
        updates, self._updates = self._updates, []
        awareness, self._awareness = self._awareness, []
        if updates:
            self._send_each(
                updates,
                lambda batch: sync_message(YSyncMessageType.SYNC_UPDATE, merge(batch)),
                update=True,
            )
        if awareness:
            self._send_each(awareness, encode_awareness, update=False)
        spent = time.thread_time() - started
        self._next_send = asyncio.get_running_loop().time() + min(self._merge_window, spent * PACE)

    def _send_each(
        self,
        items: Sequence[tuple[Origin | None, Item]],
        encode: Callable[[list[Item]], bytes],
        update: bool,
    ) -> None:
        """Sends each client every item but its own, encoding each distinct set once."""
        makers: set[Connection] = set()
        for maker in {origin for origin, _ in items}:
            connection = self._by_origin.get(maker) if isinstance(maker, Client) else None
            if connection is None:
                continue
            makers.add(connection)
            others = [item for origin, item in items if origin is not maker]
            if others:
                self._send([connection], encode_frame(encode(others)), update)
        receivers = self.connections - makers  # a set difference: no Python loop over the room
        if receivers:
            self._send(receivers, encode_frame(encode([item for _, item in items])), update)

    def _answer(self, connection: Connection, missing: list[bytes]) -> None:
        """Sends a client what its state vector lacks: updates, the last as the answer (sync
        step 2), after which it counts itself synced."""
        last = len(missing) - 1
        for n, update in enumerate(missing):
            kind = YSyncMessageType.SYNC_STEP2 if n == last else YSyncMessageType.SYNC_UPDATE
            frame = encode_frame(sync_message(kind, update))
            connection.send_sync(frame)
            self.traffic.sent(frame, 1)

    def _send(self, connections: Collection[Connection], frame: bytes, update: bool) -> None:
        for connection in connections:
            connection.send(frame)
        self.traffic.sent(frame, len(connections), update)


def _nowhere(entries: list[AwarenessEntry]) -> None:
    return None


def _client_input(read: Callable[[bytes], list[bytes]], payload: bytes, what: str) -> list[bytes]:
    try:
        return read(payload)
    except BaseException as exc:
        if not _client_fault(exc):
            raise
        raise ProtocolError(f"invalid {what}: {str(exc)[:80]}") from exc


def _client_fault(exc: BaseException) -> bool:
    """yrs refuses bad input with ValueError, or panics (pyo3's PanicException, which is not
    an Exception): both are the client's fault. Anything else is not."""
    return isinstance(exc, ValueError) or type(exc).__name__ == "PanicException"
