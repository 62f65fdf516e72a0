"""Writes made straight to the table appear in the live sheets, as ordinary edits."""

import asyncio
from itertools import pairwise

import psutil
import pytest
import sqlalchemy as sa
from pycrdt import Array, Doc, Map
from rawclient import RawClient
from tables import create_items_table
from test_api import get
from test_cli import cellsync
from test_worker import document_rows, equal, execute, table_rows
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine
from persistence.table.schema import reflect_table
from persistence.table.triggers import is_watched
from server.storage.table_sync import EDIT_ROWS
from server.websocket.protocol import MessageKind

BULK = 2 * EDIT_ROWS + 500  # three pages of rows


def watch_items(url: str, command: str = "watch") -> None:
    result = cellsync(command, "items", "--database-url", url, "--sheet", "items=items")
    assert result.returncode == 0, result.stderr


def items_watched(url: str) -> bool:
    engine = create_engine(url)
    try:
        return is_watched(engine, reflect_table(engine, "items"))
    finally:
        engine.dispose()


@pytest.fixture
async def watched(server_factory, database_url):
    watch_items(database_url)  # before the server starts: the sheet opens watched
    return await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0")


async def test_update_insert_and_delete_show_up_within_two_seconds(watched, database_url):
    async with open_sheet(watched.url, "items") as sheet:
        execute(
            database_url,
            "UPDATE items SET name = 'changed in SQL', qty = 99 WHERE id = 1",
            "INSERT INTO items (id, name, qty) VALUES (500, 'inserted in SQL', 5)",
            "DELETE FROM items WHERE id = 2",
        )
        await sheet.wait_for(
            lambda s: (
                s.row("1")["name"] == "changed in SQL"
                and s.row("1")["qty"] == 99
                and any(r["_key"] == "500" for r in s.rows())
                and all(r["_key"] != "2" for r in s.rows())
            ),
            timeout=2,
        )
        assert sheet.row("500")["name"] == "inserted in SQL"


async def test_a_document_edit_and_a_table_edit_to_one_row_both_survive(watched, database_url):
    async with open_sheet(watched.url, "items") as sheet:
        sheet.set("3", "qty", 333)
        execute(database_url, "UPDATE items SET name = 'from SQL' WHERE id = 3")
        await sheet.wait_for(lambda s: s.row("3")["name"] == "from SQL")
        await eventually(lambda: table_rows(database_url, "items")["3"]["qty"] == 333)
        assert sheet.row("3")["qty"] == 333
        assert table_rows(database_url, "items")["3"]["name"] == "from SQL"


async def test_on_the_same_cell_the_table_wins(server_factory, database_url):
    watch_items(database_url)
    server = await server_factory(CELLSYNC_FLUSH_DEBOUNCE="2", CELLSYNC_FLUSH_MAX_DELAY="4")
    async with open_sheet(server.url, "items") as sheet, open_sheet(server.url, "items") as seer:
        sheet.set("4", "name", "typed in the grid")  # not yet written: the debounce is 2 s
        await seer.wait_for(lambda s: s.row("4")["name"] == "typed in the grid")  # at the server
        execute(database_url, "UPDATE items SET name = 'written by SQL' WHERE id = 4")
        await sheet.wait_for(lambda s: s.row("4")["name"] == "written by SQL")
        sheet.set("5", "name", "a later edit")
        await eventually(lambda: table_rows(database_url, "items")["5"]["name"] == "a later edit")
        assert table_rows(database_url, "items")["4"]["name"] == "written by SQL"
        assert sheet.row("4")["name"] == "written by SQL"


async def test_a_flush_does_not_overwrite_a_table_change_it_has_not_read(
    server_factory, database_url
):
    """Nothing tells the server of the UPDATE (no `watch`, no polling): the flush that would
    write the grid's value over it finds it, keeps it, and puts it in the document."""
    server = await server_factory(
        CELLSYNC_TABLE_POLL_SECONDS="0", CELLSYNC_FLUSH_DEBOUNCE="1", CELLSYNC_FLUSH_MAX_DELAY="5"
    )
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("4", "name", "typed in the grid")
        sheet.set("4", "qty", 44)  # another cell of the row: written, as it was not touched
        sheet.set("6", "name", "typed in a deleted row")
        execute(
            database_url,
            "UPDATE items SET name = 'written by SQL' WHERE id = 4",
            "DELETE FROM items WHERE id = 6",
        )
        await sheet.wait_for(
            lambda s: (
                s.row("4")["name"] == "written by SQL" and all(r["_key"] != "6" for r in s.rows())
            )
        )
        await eventually(lambda: table_rows(database_url, "items")["4"]["qty"] == 44)
        rows = table_rows(database_url, "items")
        assert rows["4"]["name"] == "written by SQL" and "6" not in rows


async def test_the_workers_own_writes_do_not_come_back(watched, database_url):
    client = await RawClient.connect(watched.url, "items")
    await client.synced.wait()
    before = client.doc.get_state()
    client.doc.get("rows", type=Map)["6"]["name"] = "mine"
    await client.send_update(client.doc.get_update(before))
    await eventually(lambda: table_rows(database_url, "items")["6"]["name"] == "mine")
    execute(database_url, "UPDATE items SET name = 'marker' WHERE id = 7")
    await eventually(lambda: client.cell("7", "name") == "marker")
    kinds = client.kinds()
    after_sync = kinds[kinds.index(MessageKind.SYNC_STEP2) + 1 :]
    assert after_sync.count(MessageKind.SYNC_UPDATE) == 1  # the marker alone
    await client.close()


async def test_a_storm_of_external_updates_converges(watched, database_url):
    async with open_sheet(watched.url, "items") as sheet:
        engine = create_engine(database_url)
        update = sa.text("UPDATE items SET qty = :qty WHERE id = :id")

        def storm() -> None:
            for batch in range(100):
                with engine.begin() as conn:
                    for i in range(10):
                        n = batch * 10 + i
                        conn.execute(update, {"qty": n, "id": n % 10 + 1})

        edits = asyncio.to_thread(storm)
        for i in range(20):
            sheet.set(str(i % 10 + 1), "name", f"grid {i}")
            await asyncio.sleep(0.02)  # interleave grid edits with the storm
        await edits
        engine.dispose()
        await eventually(
            lambda: equal(table_rows(database_url, "items"), document_rows(sheet)), timeout=20
        )
        assert {sheet.row(str(k))["qty"] for k in range(1, 11)} == set(range(990, 1000))


async def test_a_bulk_insert_reaches_the_sheet_in_edits_of_a_page_of_rows(watched, database_url):
    """Thousands of rows another program inserts at once go into the document a page of rows
    per edit, the event loop free in between: in one edit, appending their keys to `order`
    would take seconds, quadratically, and stop every client of the server."""
    client = await RawClient.connect(watched.url, "items")
    try:
        await client.synced.wait()
        engine = create_engine(database_url)
        with engine.begin() as conn:  # one transaction
            conn.execute(
                sa.text("INSERT INTO items (id, name, qty) VALUES (:id, :name, :id)"),
                [{"id": n, "name": f"bulk {n}"} for n in range(11, 11 + BULK)],
            )
        engine.dispose()
        everything = [str(n) for n in range(1, 11 + BULK)]
        await eventually(lambda: _order(client.doc) == everything, timeout=30,
                         what="every inserted row, in order")  # fmt: skip
    finally:
        await client.close()
    replayed, counts = Doc(), []
    for update in client.updates():
        replayed.apply_update(update)
        counts.append(len(replayed.get("rows", type=Map)))
    steps = [after - before for before, after in pairwise([10, *counts]) if after != before]
    assert sum(steps) == BULK
    assert len(steps) >= 3 and max(steps) <= EDIT_ROWS


def _order(doc: Doc) -> list[str]:
    return list(doc.get("order", type=Array))


async def test_a_closed_sheet_picks_up_table_changes_when_it_opens(server_factory, database_url):
    server = await server_factory(CELLSYNC_IDLE_SECONDS="0.2")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("8", "qty", 808)
        await eventually(lambda: table_rows(database_url, "items")["8"]["qty"] == 808)
    execute(
        database_url,
        "UPDATE items SET name = 'while closed' WHERE id = 8",
        "INSERT INTO items (id, name) VALUES (600, 'added while closed')",
        "DELETE FROM items WHERE id = 9",
    )
    await eventually(lambda: "sheet items unloaded" in server.log())
    async with open_sheet(server.url, "items") as sheet:
        await sheet.wait_for(lambda s: s.row("8")["name"] == "while closed", timeout=5)
        assert sheet.row("8")["qty"] == 808
        assert sheet.row("600")["name"] == "added while closed"
        await sheet.wait_for(lambda s: all(r["_key"] != "9" for r in s.rows()), timeout=5)


async def test_an_unwatched_open_table_is_compared_by_polling(server_factory, database_url):
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0.3")
    async with open_sheet(server.url, "items") as sheet:
        execute(database_url, "UPDATE items SET name = 'polled' WHERE id = 10")
        await sheet.wait_for(lambda s: s.row("10")["name"] == "polled", timeout=5)


@pytest.mark.timeout(90)
async def test_a_table_slow_to_compare_is_polled_less_often_and_said_so(
    server_factory, database_url
):
    """Compared back to back, a big unwatched table would keep a core busy; the polls wait
    for 20 times a comparison's length, counting the read that built the sheet as the first
    comparison (it is not read whole again at once), and changes still arrive."""
    create_items_table(database_url, rows=10_000, name="many")
    server = await server_factory({"many": "many"}, CELLSYNC_TABLE_POLL_SECONDS="0.05")
    async with open_sheet(server.url, "many", timeout=60) as sheet:
        await eventually(lambda: "compared every" in server.log(), timeout=20, what="told once")
        built = (await get(server, "/api/sheets/many/status")).json()
        assert built["table_watched"] is False
        assert built["table_comparisons"] == 0, "compared although it was just read whole"
        assert built["last_compared"] is not None  # the read that built it
        assert built["compared_every_s"] > 0.05
        process = psutil.Process(server.process.pid)
        before = process.cpu_times()
        await asyncio.sleep(3)  # a span to measure the idle server's CPU over, not a wait
        after = process.cpu_times()
        busy = after.user + after.system - before.user - before.system
        assert busy < 1.0, f"{busy:.2f} s of CPU in 3 s with nothing to do"
        execute(database_url, "UPDATE many SET name = 'still polled' WHERE id = 7")
        await sheet.wait_for(lambda s: s.row("7")["name"] == "still polled", timeout=40)
        polled = (await get(server, "/api/sheets/many/status")).json()
        assert polled["table_comparisons"] >= 1
        assert polled["last_compared"] > built["last_compared"]
        assert server.log().count("compared every") == 1


async def test_unwatch_removes_the_triggers(server_factory, database_url):
    watch_items(database_url)
    assert items_watched(database_url)
    watch_items(database_url, "unwatch")
    assert not items_watched(database_url)
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0.3")
    async with open_sheet(server.url, "items") as sheet:
        execute(database_url, "UPDATE items SET name = 'found by polling' WHERE id = 2")
        await sheet.wait_for(lambda s: s.row("2")["name"] == "found by polling", timeout=5)


async def test_a_failed_read_of_table_changes_keeps_them_and_retries(watched, database_url):
    async with open_sheet(watched.url, "items") as sheet:
        sheet.set("4", "qty", 44)  # once written, the worker is surely reading the table
        await eventually(lambda: table_rows(database_url, "items")["4"]["qty"] == 44)
        execute(
            database_url,
            "UPDATE items SET name = 'outside' WHERE id = 3",
            "ALTER TABLE items RENAME TO items_away",  # the notified read fails
        )
        await eventually(lambda: "reading table changes failed" in watched.log(), timeout=10)
        execute(database_url, "ALTER TABLE items_away RENAME TO items")
        await sheet.wait_for(lambda s: s.row("3")["name"] == "outside", timeout=10)
