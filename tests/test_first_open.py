"""The first open ever builds the sheet and its record from one read of the table: the table
writer starts without comparing them again; a restart still does."""

import asyncio

import pytest
import sqlalchemy as sa
from test_two_way import watch_items
from test_worker import execute, table_follows
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine

BUILT = "built from its table just now, not compared with it"


async def test_the_first_open_is_compared_once_and_a_restart_again(server_factory, database_url):
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", "edited after the first open")
        sheet.add_row({"name": "added after the first open", "qty": 3})
        await table_follows(database_url, sheet)  # unreconciled, its dirty rows are still tracked
    assert server.log().count(BUILT) == 1
    await server.stop()
    execute(
        database_url,
        "UPDATE items SET name = 'changed while closed' WHERE id = 3",
        "INSERT INTO items (id, name, qty) VALUES (600, 'inserted while closed', 6)",
        "DELETE FROM items WHERE id = 4",
    )
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        await sheet.wait_for(
            lambda s: (
                s.row("3")["name"] == "changed while closed"
                and any(r["_key"] == "600" for r in s.rows())
                and all(r["_key"] != "4" for r in s.rows())
            )
        )
        assert sheet.row("1")["name"] == "edited after the first open"
        await table_follows(database_url, sheet)
    assert server.log().count(BUILT) == 1, "a restart must compare the sheet with its table"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_change_reported_while_the_first_open_reads_is_followed(
    server_factory, database_url
):
    """The table is not compared again after a first open: a change the watcher reports while
    the table is being read must still reach the sheet."""
    execute(
        database_url,
        "INSERT INTO items (id, name, qty)"
        " SELECT g, 'item ' || g, g FROM generate_series(11, 40000) g",
    )
    watch_items(database_url)
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0")

    async def sees_the_change() -> None:
        async with open_sheet(server.url, "items", timeout=60) as sheet:
            await sheet.wait_for(lambda s: s.row("1")["name"] == "changed while read", timeout=15)

    opening = asyncio.ensure_future(sees_the_change())
    try:
        await eventually(lambda: reading_items(database_url), timeout=30, what="the first open")
        execute(database_url, "UPDATE items SET name = 'changed while read' WHERE id = 1")
        await opening
    finally:
        opening.cancel()
    assert BUILT in server.log()


def reading_items(url: str) -> bool:
    """The server's cursor over `items` is open: the first open is reading the table."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND state <> 'idle'"
                        " AND (query ILIKE '%items%' OR query ILIKE 'FETCH%')"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()
