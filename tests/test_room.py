"""The room's broadcast rules, observed on the frames it hands to each connection."""

import asyncio
import time

from pycrdt import Doc, Map, YSyncMessageType
from recording import RecordingConnection
from waiting import eventually

from persistence.document import new_doc
from persistence.origins import Origin
from persistence.store.table_record import RecordLookup
from persistence.table.schema import Column, TableSchema
from server.sheets.room import Room
from server.sheets.sheet_document import Hooks, SheetDocument
from server.websocket.protocol import MessageKind, parse_message, sync_message

SCHEMA = TableSchema(
    table="s",
    pk="id",
    columns=(
        Column("id", "integer", nullable=False, readonly=True),
        Column("n", "integer", nullable=True, readonly=False),
    ),
    autoincrement=True,
)


async def no_record(keys: set[str]) -> RecordLookup:
    return RecordLookup()


def new_room(merge_window: float, log: list[bytes] | None = None) -> Room:
    """A room over an empty sheet; `log` collects what reaches the update log hook."""
    document = SheetDocument("s", new_doc(), SCHEMA, no_record)
    room = Room(document, merge_window)

    def logged(update: bytes, origin: Origin) -> None:
        if log is not None:
            log.append(update)

    document.hooks = Hooks(broadcast=room.broadcast, log=logged)
    return room


def update_frame(key: str, value: int) -> bytes:
    """A client's update adding one row, as a sync frame."""
    doc = Doc()
    doc["rows"] = rows = Map()
    rows[key] = Map({"n": value})
    return sync_message(YSyncMessageType.SYNC_UPDATE, doc.get_update())


async def test_each_update_is_encoded_once_and_not_echoed():
    logged: list[bytes] = []
    room = new_room(merge_window=0.005, log=logged)
    clients = [RecordingConnection(f"c{i}") for i in range(5)]
    joined(room, *clients)

    await room.receive(clients[0], update_frame("a", 1))
    await eventually(lambda: all(c.frames for c in clients[1:]))

    assert clients[0].frames == []
    first = clients[1].frames[0]
    assert all(c.frames[0] is first for c in clients[1:])
    assert parse_message(first[2:]).kind is MessageKind.SYNC_UPDATE
    assert len(logged) == 1


class CostlyConnection(RecordingConnection):
    """A client whose every write costs `seconds` of CPU, as a write to hundreds does."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(name)
        self.seconds = seconds

    def send(self, frame: bytes) -> None:
        spent = time.thread_time() + self.seconds
        while time.thread_time() < spent:  # the CPU the room paces itself by
            pass
        super().send(frame)


def joined(room: Room, *clients: RecordingConnection) -> None:
    for client in clients:
        room.join(client)
        client.frames.clear()


def rows_in(frame: bytes) -> set[str]:
    """The row keys an update frame adds (a server's frame: unmasked, its length 7 or 16 bits)."""
    header = 4 if frame[1] == 126 else 2
    doc = Doc()
    doc.apply_update(parse_message(frame[header:]).payload)
    return set(doc.get("rows", type=Map).keys())


async def test_a_quiet_room_sends_each_update_at_once():
    room = new_room(merge_window=60)
    sender, other = RecordingConnection("sender"), RecordingConnection("other")
    joined(room, sender, other)
    for sent in range(1, 4):
        await room.receive(sender, update_frame(f"k{sent}", sent))
        await eventually(lambda n=sent: len(other.frames) == n, timeout=5, what=f"update {sent}")
    assert [rows_in(frame) for frame in other.frames] == [{"k1"}, {"k2"}, {"k3"}]


async def test_under_load_updates_wait_and_share_one_frame_per_client():
    room = new_room(merge_window=60)
    sender, other = RecordingConnection("sender"), CostlyConnection("other", 0.05)
    joined(room, sender, other)
    await room.receive(sender, update_frame("first", 1))
    await eventually(lambda: len(other.frames) == 1)
    for i in range(10):
        await room.receive(sender, update_frame(f"k{i}", i))
        await asyncio.sleep(0)  # the room could send between two updates: it waits instead
    await eventually(lambda: len(other.frames) == 2)
    assert rows_in(other.frames[1]) == {f"k{i}" for i in range(10)}
    assert sender.frames == []


async def test_the_wait_never_exceeds_the_merge_window():
    room = new_room(merge_window=0)
    sender, other = RecordingConnection("sender"), CostlyConnection("other", 0.05)
    joined(room, sender, other)
    for i in range(3):
        await room.receive(sender, update_frame(f"k{i}", i))
        await asyncio.sleep(0)
    await eventually(lambda: len(other.frames) == 3)
