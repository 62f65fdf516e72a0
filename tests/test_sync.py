"""Live sync against a real server process: Node (yjs + y-websocket) and Python clients."""

import asyncio
import subprocess
import sys

import pytest
import sqlalchemy as sa
from nodeclient import NodeClient
from serverprocess import ROOT
from waiting import eventually

from client.sheet import SheetClosed, open_sheet
from persistence.store.tables import updates


async def test_node_and_python_clients_see_each_other(server):
    async with (
        open_sheet(server.url, "items") as sheet,
        await NodeClient.start(f"{server.url}/ws/sheet", "items") as node,
    ):
        await node.wait_synced()
        key = sheet.add_row({"name": "from python", "qty": 1})
        await eventually(lambda: node_has(node, key, "name", "from python"))
        await node.set_cell(key, "qty", 42)
        await sheet.wait_for(lambda s: s.row(key).get("qty") == 42)
        first = sheet.rows()[0]
        assert first["_key"] == "1" and first["name"] == "item 1"


async def test_concurrent_edits_to_one_row_both_survive(server):
    async with await node_pair(server) as (a, b):
        await a.disconnect()
        await b.disconnect()
        await a.set_cell("2", "name", "renamed by a")
        await b.set_cell("2", "qty", 99)
        await a.connect()
        await b.connect()
        for client in (a, b):
            await eventually(lambda c=client: row_is(c, "2", name="renamed by a", qty=99))


async def test_concurrent_edits_to_one_cell_converge(server):
    async with await node_pair(server) as (a, b):
        await a.disconnect()
        await b.disconnect()
        await a.set_cell("3", "name", "a wins?")
        await b.set_cell("3", "name", "b wins?")
        await a.connect()
        await b.connect()

        async def same_value() -> bool:
            values = {await c.get_cell("3", "name") for c in (a, b)}
            return len(values) == 1 and values <= {"a wins?", "b wins?"}

        await eventually(same_value)


async def test_offline_edits_merge_on_reconnect(server):
    async with await node_pair(server) as (a, b):
        await a.disconnect()
        await a.add_row("offline-row", {"name": "made offline", "qty": 7})
        await a.delete_row("4")
        await b.set_cell("5", "qty", 555)
        await a.connect()
        for client in (a, b):
            await eventually(lambda c=client: row_is(c, "offline-row", name="made offline"))
            await eventually(lambda c=client: row_is(c, "5", qty=555))
            await eventually(lambda c=client: row_absent(c, "4"))


async def test_unknown_sheet_is_closed_with_4404(server):
    with pytest.raises(SheetClosed) as closed:
        async with open_sheet(server.url, "no-such-sheet"):
            pass
    assert closed.value.code == 4404
    async with await NodeClient.start(f"{server.url}/ws/sheet", "no-such-sheet") as node:
        event = await node.wait_event(lambda e: e.get("event") == "closed", timeout=10)
        assert event["code"] == 4404


async def test_every_cell_survives_a_restart(server, database_url):
    async with open_sheet(server.url, "items") as sheet:
        key = sheet.add_row({"name": "kept", "qty": 5})
        sheet.set("1", "name", "renamed")
        sheet.delete_row("2")
    await server.stop()
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        rows = {row["_key"]: row for row in sheet.rows()}
        assert rows[key]["name"] == "kept" and rows[key]["qty"] == 5
        assert rows["1"]["name"] == "renamed"
        assert "2" not in rows
        assert len(rows) == 10


async def test_compaction_keeps_every_cell(server_factory, database_url):
    server = await server_factory(CELLSYNC_COMPACT_AFTER="3", CELLSYNC_LOG_INTERVAL="0.01")
    async with open_sheet(server.url, "items") as sheet:
        for i in range(40):
            sheet.set(str(i % 10 + 1), "qty", 1000 + i)
            await asyncio.sleep(0.02)  # spread edits over many log batches
        expected = {row["_key"]: row for row in sheet.rows()}
    await server.stop()
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(updates)).scalar_one()
    engine.dispose()
    assert count <= 4, f"log not compacted: {count} rows"
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        assert {row["_key"]: row for row in sheet.rows()} == expected


async def test_a_large_sheet_opens_and_syncs(large_server):
    async with await NodeClient.start(f"{large_server.url}/ws/sheet", "big") as node:
        await node.wait_synced(timeout=60)
        rows = await node.rows()
        assert len(rows) == 10_000
        assert rows[-1]["values"]["c9"] == "r10000c9"
    async with open_sheet(large_server.url, "big", timeout=60) as sheet:
        assert len(sheet.rows()) == 10_000


# helpers


async def node_pair(server):
    url = f"{server.url}/ws/sheet"
    a, b = await asyncio.gather(NodeClient.start(url, "items"), NodeClient.start(url, "items"))
    await asyncio.gather(a.wait_synced(), b.wait_synced())
    return Pair(a, b)


class Pair:
    def __init__(self, a: NodeClient, b: NodeClient) -> None:
        self.clients = (a, b)

    async def __aenter__(self):
        return self.clients

    async def __aexit__(self, *exc):
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


async def node_has(node: NodeClient, key: str, column: str, value) -> bool:
    return await node.get_cell(key, column) == value


async def row_is(node: NodeClient, key: str, **values) -> bool:
    rows = {row["key"]: row["values"] for row in await node.rows()}
    return key in rows and all(rows[key].get(c) == v for c, v in values.items())


async def row_absent(node: NodeClient, key: str) -> bool:
    return key not in {row["key"] for row in await node.rows()}


def test_the_python_client_imports_without_sqlalchemy():
    """A program that only edits sheets needs pycrdt and websockets, not the database layer."""
    code = "import sys; sys.modules['sqlalchemy'] = None; import client.sheet"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
