"""A live sheet: one pycrdt document and the connections editing it.

An edit's path through the room: `receive` applies the client's update to the document in a
transaction whose origin is that client; the document's observer queues the update for the
log, the fan-out and the broadcast; `_flush` merges what arrived within `merge_window`, encodes
it once, and writes the same frame to every other client. Nothing here awaits, so one slow or
broken client cannot hold up the others.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TypeVar

from pycrdt import Doc, Map, TransactionEvent, YSyncMessageType

from persistence.document import ROWS, read_meta
from persistence.update_log import merge
from server.connection import Connection
from server.presence import Presence
from server.protocol import (
    AwarenessEntry,
    MessageKind,
    ProtocolError,
    encode_awareness,
    parse_awareness,
    parse_message,
    sync_message,
)
from server.validation import DocumentGuard
from server.websocket_transport import encode_frame

log = logging.getLogger(__name__)

Item = TypeVar("Item")
EMPTY_STATE = b"\x00"


@dataclass
class Traffic:
    """What a sheet's room received and sent; plain counters, read when metrics are scraped."""

    updates_in: int = 0
    bytes_in: int = 0
    updates_out: int = 0  # update frames, one per client reached
    bytes_out: int = 0


class Room:
    def __init__(
        self,
        name: str,
        doc: Doc,
        on_update: Callable[[str, bytes, bool], None],  # (sheet, update, made by a client)
        merge_window: float,
        guard: DocumentGuard | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        self.name = name
        self.doc = doc
        self.connections: set[Connection] = set()
        self._on_update = on_update
        self._merge_window = merge_window
        self._guard = guard
        self.traffic = traffic or Traffic()
        self._presence = Presence(self._is_cell)
        self._updates: list[tuple[Connection | None, bytes]] = []
        self._awareness: list[tuple[Connection | None, AwarenessEntry]] = []
        self._origin: Connection | None = None
        self._full_update: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0
        self._subscription = doc.observe(self._on_transaction)

    def join(self, connection: Connection) -> None:
        """Starts the sync handshake and shows the newcomer who is here."""
        self.connections.add(connection)
        step1 = sync_message(YSyncMessageType.SYNC_STEP1, self.doc.get_state())
        self._send([connection], encode_frame(step1), update=False)
        present = self._presence.live()
        if present:
            self._send([connection], encode_frame(encode_awareness(present)), update=False)

    def leave(self, connection: Connection) -> None:
        self.connections.discard(connection)
        removals = self._presence.leave(connection)
        self._awareness.extend((None, entry) for entry in removals)
        if removals:
            self._schedule_flush()

    def receive(self, connection: Connection, data: bytes) -> None:
        """Handles one frame from a client; raises ProtocolError for a malformed one."""
        connection.count_message()
        message = parse_message(data)
        self.traffic.bytes_in += len(data)
        if message.kind is MessageKind.SYNC_STEP1:
            reply = sync_message(YSyncMessageType.SYNC_STEP2, self._missing_for(message.payload))
            self._send([connection], encode_frame(reply), update=True)
        elif message.kind in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE):
            self.traffic.updates_in += 1
            if connection.can_write:
                self.apply(message.payload, origin=connection)
            else:
                connection.drop_write()
        elif message.kind is MessageKind.AWARENESS:
            news = self._presence.apply(connection, parse_awareness(message.payload))
            if news:
                self._awareness.extend((connection, entry) for entry in news)
                self._schedule_flush()
        else:
            self._send([connection], encode_frame(encode_awareness(self._presence.live())), False)

    def apply(self, update: bytes, origin: Connection | None = None) -> None:
        """Applies an update; what is new in it reaches everyone but `origin`. A client's
        update is checked, and what it broke is put back before anyone else sees it."""
        guard = self._guard if origin is not None else None
        self._origin = origin
        try:
            with guard.checking() if guard is not None else nullcontext(), self.doc.transaction():
                self.doc.apply_update(update)
        except BaseException as exc:
            if not _client_fault(exc):
                raise
            raise ProtocolError(f"invalid update: {str(exc)[:80]}") from exc
        finally:
            self._origin = None
        if guard is not None and origin is not None:
            for violation in guard.repair(origin.user):
                log.info("%s on %s: put back %s/%s: %s", origin.peer, self.name, violation.row,
                         violation.column, violation.reason)  # fmt: skip

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._guard is not None:
            self._guard.close()
        self.doc.unobserve(self._subscription)

    def _is_cell(self, row: str, column: str) -> bool:
        """Whether a presence state's cell is one of this sheet's."""
        columns = read_meta(self.doc).get("columns", [])
        return row in self.doc.get(ROWS, type=Map) and any(c["name"] == column for c in columns)

    def _missing_for(self, state: bytes) -> bytes:
        """What a client with this state vector lacks; a fresh client's answer is cached."""
        if state != EMPTY_STATE:
            try:
                return self.doc.get_update(state)
            except BaseException as exc:
                if not _client_fault(exc):
                    raise
                raise ProtocolError(f"invalid state vector: {str(exc)[:80]}") from exc
        if self._full_update is None:
            self._full_update = self.doc.get_update()
        return self._full_update

    def _on_transaction(self, event: TransactionEvent) -> None:
        update = event.update
        self._full_update = None
        self._updates.append((self._origin, update))
        self._on_update(self.name, update, self._origin is not None)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Flushes at once after a quiet spell, else at most once per merge window. A flush
        costs a write per client, so the window widens with the room: one more `merge_window`
        per 50 clients, up to ten."""
        if self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        window = self._merge_window * min(10.0, max(1.0, len(self.connections) / 50))
        delay = self._last_flush + window - loop.time()
        if delay > 0:
            self._flush_handle = loop.call_later(delay, self._flush)
        else:
            self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._last_flush = asyncio.get_running_loop().time()
        updates, self._updates = self._updates, []
        awareness, self._awareness = self._awareness, []
        if updates:
            self._fan_out(
                updates,
                lambda batch: sync_message(YSyncMessageType.SYNC_UPDATE, merge(batch)),
                update=True,
            )
        if awareness:
            self._fan_out(awareness, encode_awareness, update=False)

    def _fan_out(
        self,
        items: list[tuple[Connection | None, Item]],
        encode: Callable[[list[Item]], bytes],
        update: bool,
    ) -> None:
        """Sends each client every item but its own, encoding each distinct set once."""
        senders = {sender for sender, _ in items}
        for sender in senders:
            others = [item for origin, item in items if origin is not sender]
            if sender in self.connections and others:
                self._send([sender], encode_frame(encode(others)), update)
        receivers = [c for c in self.connections if c not in senders]
        if receivers:
            self._send(receivers, encode_frame(encode([item for _, item in items])), update)

    def _send(self, connections: list[Connection], frame: bytes, update: bool) -> None:
        for connection in connections:
            connection.send(frame)
        if update:
            self.traffic.updates_out += len(connections)
        self.traffic.bytes_out += len(frame) * len(connections)


def _client_fault(exc: BaseException) -> bool:
    """yrs refuses bad input with ValueError, or panics (pyo3's PanicException, which is not
    an Exception): both are the client's fault. Anything else is not."""
    return isinstance(exc, ValueError) or type(exc).__name__ == "PanicException"
