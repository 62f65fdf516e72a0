"""The room's broadcast rules, observed on the frames it hands to each connection."""

from pycrdt import Doc, Map, YSyncMessageType
from recording import RecordingConnection
from waiting import eventually

from persistence.origins import Origin
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


async def no_record(keys: set[str]) -> dict:
    return {}


def new_room(merge_window: float, log: list[bytes] | None = None) -> Room:
    """A room over an empty sheet; `log` collects what reaches the update log hook."""
    document = SheetDocument("s", Doc().get_update(), SCHEMA, no_record)
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
    for client in clients:
        room.join(client)
        client.frames.clear()

    await room.receive(clients[0], update_frame("a", 1))
    await eventually(lambda: all(c.frames for c in clients[1:]))

    assert clients[0].frames == []
    first = clients[1].frames[0]
    assert all(c.frames[0] is first for c in clients[1:])
    assert parse_message(first[2:]).kind is MessageKind.SYNC_UPDATE
    assert len(logged) == 1


async def test_updates_within_the_window_share_one_frame_per_client():
    room = new_room(merge_window=0.05)
    sender, other = RecordingConnection("sender"), RecordingConnection("other")
    for client in (sender, other):
        room.join(client)
        client.frames.clear()
    await room.receive(sender, update_frame("first", 1))
    await eventually(lambda: len(other.frames) == 1)
    for i in range(20):
        await room.receive(sender, update_frame(f"k{i}", i))
    await eventually(lambda: len(other.frames) >= 2)
    assert len(other.frames) == 2
    assert sender.frames == []
