"""The first open ever builds the sheet and its record from one read of the table: the table
writer starts without comparing them again; a restart still does."""

from test_worker import execute, table_follows

from client.sheet import open_sheet

BUILT = "built from its table just now, not compared with it"


async def test_the_first_open_is_compared_once_and_a_restart_again(server_factory, database_url):
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", "edited after the first open")
        sheet.add_row({"name": "added after the first open", "qty": 3})
        await table_follows(database_url, sheet)  # the unreconciled replica still tracks edits
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
