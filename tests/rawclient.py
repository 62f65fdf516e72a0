"""A bare y-websocket peer for tests that count, break or withhold frames."""

import asyncio
import contextlib
from dataclasses import dataclass, field

import websockets
from pycrdt import Doc, Map, YSyncMessageType

from server.websocket.protocol import MessageKind, parse_awareness, parse_message, sync_message


@dataclass
class RawClient:
    websocket: websockets.ClientConnection
    doc: Doc = field(default_factory=Doc)
    received: list[bytes] = field(default_factory=list)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        sheet: str,
        *,
        read: bool = True,
        token: str | None = None,
        doc: Doc | None = None,
    ) -> "RawClient":
        """Connected, reading unless told not to, and sent its state vector (of `doc`, if it
        has one) as every y-websocket client does at once."""
        query = f"?token={token}" if token else ""
        websocket = await websockets.connect(f"{url}/ws/sheet/{sheet}{query}", max_size=None)
        client = cls(websocket, doc or Doc())
        if read:
            client._reader = asyncio.create_task(client._read())
        # a server refusing the sheet may close before this arrives: its close says why
        with contextlib.suppress(websockets.ConnectionClosed):
            await client.send(sync_message(YSyncMessageType.SYNC_STEP1, client.doc.get_state()))
        return client

    async def _read(self) -> None:
        async for frame in self.websocket:
            assert isinstance(frame, bytes)
            self.received.append(frame)
            message = parse_message(frame)
            if message.kind in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE):
                self.doc.apply_update(message.payload)
            if message.kind is MessageKind.SYNC_STEP2:  # the answer: updates may come before
                self.synced.set()

    async def send(self, data: bytes | str) -> None:
        await self.websocket.send(data)

    async def send_update(self, update: bytes) -> None:
        await self.send(sync_message(YSyncMessageType.SYNC_UPDATE, update))

    def kinds(self) -> list[MessageKind]:
        return [parse_message(frame).kind for frame in self.received]

    def updates(self) -> list[bytes]:
        return [
            parse_message(f).payload
            for f in self.received
            if parse_message(f).kind is MessageKind.SYNC_UPDATE
        ]

    def awareness_entries(self) -> list:
        return [
            entry
            for f in self.received
            if (m := parse_message(f)).kind is MessageKind.AWARENESS
            for entry in parse_awareness(m.payload)
        ]

    def cell(self, key: str, column: str):
        rows = self.doc.get("rows", type=Map)
        row = rows.get(key)
        return row.get(column) if isinstance(row, Map) else None

    async def close(self) -> None:
        await self.websocket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
