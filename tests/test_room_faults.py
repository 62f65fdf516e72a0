"""The room holds where pycrdt-websocket's stock room fails: each case against a real server."""

import asyncio

import httpx
import pytest
import sqlalchemy as sa
import websockets
from nodeclient import NodeClient
from pycrdt import Map, YSyncMessageType
from rawclient import RawClient
from tables import create_items_table
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine
from persistence.store.tables import updates
from server.websocket.protocol import AwarenessEntry, MessageKind, encode_awareness, sync_message

BAD_FRAMES = {
    "random bytes": b"\x07\xff\x13\x00garbage",
    "text frame": "hello",
    "truncated message": b"\x00\x02\xff\xff",
    "truncated varint": b"\x00\x02\x80",
    "invalid yjs update": sync_message(YSyncMessageType.SYNC_UPDATE, b"\x01\x02\x03garbage"),
    "unknown sync type": b"\x00\x09\x00",
    "empty frame": b"",
}


def edit(client: RawClient, key: str, column: str, value) -> bytes:
    """Sets a cell in the client's copy and returns the update it made."""
    doc = client.doc
    before = doc.get_state()
    doc.get("rows", type=Map)[key][column] = value
    return doc.get_update(before)


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_a_bad_frame_closes_only_its_sender(server, frame):
    url = f"{server.url}/ws/sheet"
    async with await NodeClient.start(url, "items") as good:
        await good.wait_synced()
        bad = await RawClient.connect(server.url, "items")
        await bad.synced.wait()
        await bad.send(frame)
        await asyncio.wait_for(bad.websocket.wait_closed(), 10)
        assert bad.websocket.close_code == 4400
        peer = f"127.0.0.1:{bad.websocket.local_address[1]}"
        await eventually(lambda: peer in server.log(), what="the error logged with the address")

        async with open_sheet(server.url, "items") as sheet:
            sheet.set("1", "name", "still serving")
        await eventually(lambda: good_sees(good, "1", "still serving"))


async def test_clients_vanishing_mid_broadcast_affect_nobody(server):
    watcher = await RawClient.connect(server.url, "items")
    leavers = [await RawClient.connect(server.url, "items") for _ in range(20)]
    await asyncio.gather(watcher.synced.wait(), *(c.synced.wait() for c in leavers))
    async with open_sheet(server.url, "items") as sheet:
        for i in range(200):
            sheet.set(str(i % 10 + 1), "qty", i)
            if i == 100:
                for leaver in leavers:
                    leaver.websocket.transport.abort()
            await asyncio.sleep(0.001)
    await eventually(lambda: watcher.cell("10", "qty") == 199, what="every edit delivered")
    async with open_sheet(server.url, "items") as fresh:
        assert fresh.row("10")["qty"] == 199
    await watcher.close()


async def test_a_sender_does_not_get_its_own_update_back(server):
    a = await RawClient.connect(server.url, "items")
    b = await RawClient.connect(server.url, "items")
    await asyncio.gather(a.synced.wait(), b.synced.wait())
    await a.send_update(edit(a, "1", "name", "from a"))
    await eventually(lambda: b.cell("1", "name") == "from a")
    await b.send_update(edit(b, "2", "name", "marker from b"))
    await eventually(lambda: a.cell("2", "name") == "marker from b")
    echoed = [u for u in a.updates() if b"from a" in u]
    assert echoed == []
    await asyncio.gather(a.close(), b.close())


async def test_a_burst_of_updates_is_merged_into_fewer_frames(server):
    writer = await RawClient.connect(server.url, "items")
    reader = await RawClient.connect(server.url, "items")
    await asyncio.gather(writer.synced.wait(), reader.synced.wait())
    for i in range(200):
        await writer.send_update(edit(writer, "3", "qty", i))
    await eventually(lambda: reader.cell("3", "qty") == 199)
    frames = reader.kinds().count(MessageKind.SYNC_UPDATE)
    assert frames < 100, f"{frames} frames for 200 updates"
    await asyncio.gather(writer.close(), reader.close())


async def test_a_slow_client_is_dropped_and_the_room_goes_on(server_factory):
    server = await server_factory(CELLSYNC_MAX_BACKLOG=str(256 * 1024))
    slow = await RawClient.connect(server.url, "items", read=False)
    watcher = await RawClient.connect(server.url, "items")
    await watcher.synced.wait()
    async with open_sheet(server.url, "items") as sheet:
        for i in range(300):
            sheet.set("4", "notes", f"{i:04d}" + "x" * 20_000)
            await asyncio.sleep(0.002)
    await eventually(lambda: (watcher.cell("4", "notes") or "").startswith("0299"), timeout=30)
    await eventually(lambda: "too slow" in server.log(), what="the slow client dropped")
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(slow.websocket.recv(), 10)
    await watcher.close()


async def test_presence_reaches_a_late_joiner_at_once_and_goes_when_its_owner_leaves(server):
    url = f"{server.url}/ws/sheet"
    ann = await NodeClient.start(url, "items")
    await ann.wait_synced()
    await ann.set_awareness({"user": {"name": "ann"}, "cursor": {"row": "1", "column": "name"}})
    async with await NodeClient.start(url, "items") as bob:
        await bob.wait_synced()
        await eventually(lambda: has_user(bob, "ann"), timeout=2, what="ann's presence at once")
        await ann.close()
        await eventually(lambda: lacks_user(bob, "ann"), timeout=2, what="ann's presence gone")


async def test_one_awareness_frame_per_client_per_change(server):
    url = f"{server.url}/ws/sheet"
    clients = await asyncio.gather(*(NodeClient.start(url, "items") for _ in range(5)))
    try:
        await asyncio.gather(*(c.wait_synced() for c in clients))
        before = [(await c.frames())["awareness"] for c in clients]
        for i, client in enumerate(clients):
            await client.set_awareness({"user": {"name": f"user{i}"}})
            for other in clients:
                await eventually(lambda o=other, n=f"user{i}": has_user(o, n), timeout=5)
        after = [(await c.frames())["awareness"] for c in clients]
        received = [a - b for a, b in zip(after, before, strict=True)]
        assert all(1 <= n <= len(clients) - 1 for n in received), received
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_clients_joining_a_new_room_together_all_sync(server):
    url = f"{server.url}/ws/sheet"
    clients = await asyncio.gather(*(NodeClient.start(url, "items") for _ in range(6)))
    try:
        await asyncio.gather(*(c.wait_synced() for c in clients))
        for client in clients:
            assert len(await client.rows()) == 10
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_updates_reach_the_log_in_batches(server, database_url):
    before = log_rows(database_url)
    async with open_sheet(server.url, "items") as sheet:
        for i in range(100):
            sheet.set("5", "qty", i)
            await asyncio.sleep(0.002)
    await eventually(lambda: log_rows(database_url) > before, what="the edits logged")
    assert log_rows(database_url) - before <= 20


async def test_a_client_reconnecting_while_the_room_unloads_loses_nothing(server_factory):
    server = await server_factory(CELLSYNC_IDLE_SECONDS="0")
    for i in range(15):
        async with open_sheet(server.url, "items") as sheet:
            sheet.set("6", "qty", i)
        async with open_sheet(server.url, "items") as sheet:
            assert sheet.row("6")["qty"] == i
    async with httpx.AsyncClient() as http:
        await eventually(lambda: no_rooms_loaded(http, server), what="the room unloaded once idle")


async def test_sigterm_writes_everything_pending(server_factory):
    server = await server_factory(CELLSYNC_LOG_INTERVAL="60", CELLSYNC_IDLE_SECONDS="60")
    async with open_sheet(server.url, "items") as writer, open_sheet(server.url, "items") as seer:
        for i in range(20):
            writer.set("7", "qty", 700 + i)
        await seer.wait_for(lambda s: s.row("7")["qty"] == 719)
    await server.stop()
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        assert sheet.row("7")["qty"] == 719


# helpers


async def good_sees(node: NodeClient, key: str, value) -> bool:
    return await node.get_cell(key, "name") == value


async def has_user(node: NodeClient, name: str) -> bool:
    states = (await node.awareness()).values()
    return any(((s or {}).get("user") or {}).get("name") == name for s in states)


async def lacks_user(node: NodeClient, name: str) -> bool:
    return not await has_user(node, name)


def log_rows(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(updates)).scalar_one()
    finally:
        engine.dispose()


async def no_rooms_loaded(http: httpx.AsyncClient, server) -> bool:
    return (await http.get(f"{server.http}/healthz")).json()["rooms"] == 0


async def test_a_client_cannot_change_another_clients_presence(server):
    url = f"{server.url}/ws/sheet"
    async with (
        await NodeClient.start(url, "items") as ann,
        await NodeClient.start(url, "items") as bob,
    ):
        await asyncio.gather(ann.wait_synced(), bob.wait_synced())
        await ann.set_awareness({"user": {"name": "ann"}})
        await eventually(lambda: has_user(bob, "ann"), timeout=5)
        mallory = await RawClient.connect(server.url, "items")
        await mallory.synced.wait()
        forged = AwarenessEntry(ann.client_id, 10_000, '{"user":{"name":"mallory"}}')
        await mallory.send(encode_awareness([forged]))
        await mallory.send(
            encode_awareness([AwarenessEntry(4242, 1, '{"user":{"name":"marker"}}')])
        )
        await eventually(lambda: has_user(bob, "marker"), timeout=5)
        assert await has_user(bob, "ann") and not await has_user(bob, "mallory")
        await mallory.close()


async def test_failed_room_loads_do_not_use_up_the_connection_limit(server_factory, database_url):
    create_items_table(database_url, name="gone")
    server = await server_factory({"gone": "gone"}, CELLSYNC_MAX_CONNECTIONS="2")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE gone"))
    engine.dispose()
    for _ in range(3):
        client = await RawClient.connect(server.url, "gone", read=False)
        await asyncio.wait_for(client.websocket.wait_closed(), 10)
        assert client.websocket.close_code == 1013, client.websocket.close_code
        assert "cannot be loaded yet" in client.websocket.close_reason
    async with open_sheet(server.url, "items") as sheet:
        assert len(sheet.rows()) == 10
    assert "Exception in ASGI application" not in server.log()
