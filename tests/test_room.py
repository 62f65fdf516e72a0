"""The room's broadcast rules, observed on the frames it hands to each connection."""

from pycrdt import Doc, Map, YSyncMessageType
from recording import RecordingConnection
from waiting import eventually

from server.protocol import MessageKind, parse_message, sync_message
from server.room import Room


def client_update(key: str, value: int) -> bytes:
    doc = Doc()
    doc["rows"] = rows = Map()
    rows[key] = value
    return doc.get_update()


async def test_each_update_is_encoded_once_and_not_echoed():
    logged: list[bytes] = []
    room = Room(
        "s", Doc(), lambda _sheet, update, _by_client: logged.append(update), merge_window=0.005
    )
    clients = [RecordingConnection(f"c{i}") for i in range(5)]
    for client in clients:
        room.join(client)
        client.frames.clear()

    room.receive(clients[0], sync_message(YSyncMessageType.SYNC_UPDATE, client_update("a", 1)))
    await eventually(lambda: all(c.frames for c in clients[1:]))

    assert clients[0].frames == []
    first = clients[1].frames[0]
    assert all(c.frames[0] is first for c in clients[1:])
    assert parse_message(first[2:]).kind is MessageKind.SYNC_UPDATE
    assert len(logged) == 1


async def test_updates_within_the_window_share_one_frame_per_client():
    room = Room("s", Doc(), lambda *_: None, merge_window=0.05)
    sender, other = RecordingConnection("sender"), RecordingConnection("other")
    for client in (sender, other):
        room.join(client)
        client.frames.clear()
    room.receive(sender, sync_message(YSyncMessageType.SYNC_UPDATE, client_update("first", 1)))
    await eventually(lambda: len(other.frames) == 1)
    for i in range(20):
        room.receive(sender, sync_message(YSyncMessageType.SYNC_UPDATE, client_update(f"k{i}", i)))
    await eventually(lambda: len(other.frames) >= 2)
    assert len(other.frames) == 2
    assert sender.frames == []
