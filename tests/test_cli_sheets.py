"""The sheet commands (snapshot, snapshots, restore, import, export), run as a user runs them,
with and without a server running."""

import asyncio
import csv
import json
import os

import httpx
import pytest
import sqlalchemy as sa
from serverprocess import free_port
from tables import create_items_table
from test_cli import cellsync
from test_worker import execute
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine

SHEET_COMMANDS = ["snapshot", "snapshots", "restore", "import", "export"]
UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:1/none"


def settings(database_url: str, sheets: str = "items") -> dict[str, str]:
    return {**os.environ, "CELLSYNC_DATABASE_URL": database_url, "CELLSYNC_SHEETS": sheets}


def offline(database_url: str, *args: str):
    """The command with no server answering: it works on the update log."""
    no_server = f"ws://127.0.0.1:{free_port()}"
    return cellsync(*args, "--server", no_server, env=settings(database_url))


async def online(server, database_url: str, *args: str, sheets: str = "items"):
    """The command through a running server, off the event loop so open clients keep syncing."""
    env = settings(database_url, sheets)
    return await asyncio.to_thread(cellsync, *args, "--server", server.url, env=env)


def table_rows(database_url: str, table: str = "items") -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = sa.text(f"SELECT id, name, qty, price, done FROM {table} ORDER BY id")
            return [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()


def assert_one_line_error(result, *fragments: str) -> None:
    message = result.stderr.strip()
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def items(database_url: str) -> str:
    create_items_table(database_url)
    return database_url


@pytest.mark.parametrize("command", SHEET_COMMANDS)
def test_every_sheet_command_has_help(command):
    result = cellsync(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_import_then_snapshot_without_a_server(items, tmp_path):
    csv_file = tmp_path / "new.csv"
    csv_file.write_text("name,qty,price,done\nfirst,5,2.50,yes\nsecond,,1,0\n")
    imported = offline(items, "import", "items", str(csv_file))
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 rows into items into the update log" in imported.stdout
    assert len(table_rows(items)) == 10  # the document has them; the table not yet

    done = offline(items, "snapshot", "items", "--label", "after import")
    assert done.returncode == 0, done.stderr
    assert "items: version 1; 2 rows inserted" in done.stdout
    rows = table_rows(items)
    assert len(rows) == 12
    assert {(r["name"], r["qty"], float(r["price"]), bool(r["done"])) for r in rows[10:]} == {
        ("first", 5, 2.5, True),
        ("second", None, 1.0, False),
    }
    again = offline(items, "snapshot", "items")
    assert "version 2; 0 rows inserted, 0 updated, 0 deleted" in again.stdout
    assert len(table_rows(items)) == 12  # nothing inserted twice

    listed = cellsync("snapshots", "items", env=settings(items))
    assert listed.returncode == 0
    assert "after import" in listed.stdout and " 12 " in listed.stdout


def test_snapshot_all_covers_every_sheet(items):
    result = cellsync(
        "snapshot", "--all", "--server", f"ws://127.0.0.1:{free_port()}",
        env=settings(items, "items=items,again=items"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "again: version 1" in result.stdout and "items: version 1" in result.stdout


async def test_snapshot_through_a_running_server(server_factory, database_url):
    server = await server_factory(CELLSYNC_FLUSH_DEBOUNCE="60", CELLSYNC_FLUSH_MAX_DELAY="120")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", "edited live")
        sheet.add_row({"name": "added live", "qty": 1, "done": False})
        await eventually(lambda: api_shows(server, "added live"), what="edits reach the server")
        done = await online(server, database_url, "snapshot", "items")
        assert done.returncode == 0, done.stderr
        assert "1 rows inserted, 1 updated" in done.stdout
        # The worker has not flushed (debounce 60 s): the snapshot wrote the table.
        names = [row["name"] for row in table_rows(database_url)]
        assert names[0] == "edited live" and names[-1] == "added live"
    await server.stop()  # the worker flushes what it holds: nothing twice
    rows = table_rows(database_url)
    assert len(rows) == 11 and rows[-1]["name"] == "added live"


async def test_restore_is_seen_live_and_undone_by_restoring_again(server, database_url):
    first = await online(server, database_url, "snapshot", "items")
    assert "version 1" in first.stdout, first.stderr
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", "changed")
        sheet.delete_row("2")
        added = sheet.add_row({"name": "extra", "qty": 3})
        await eventually(lambda: api_shows(server, "extra"), what="edits reach the server")

        restored = await online(server, database_url, "restore", "items", "1")
        assert restored.returncode == 0, restored.stderr
        assert "through the running server: 1 cells set, 1 rows added, 1 deleted" in restored.stdout
        assert "to undo: cellsync restore items 2" in restored.stdout
        await sheet.wait_for(lambda s: [r["name"] for r in s.rows()] == original_names())
        # the deleted row comes back with its own id: the table recorded its deletion
        await sheet.wait_for(lambda s: [r["id"] for r in s.rows()] == list(range(1, 11)))
        await eventually(
            lambda: (
                [(r["id"], r["name"]) for r in table_rows(database_url)]
                == list(enumerate(original_names(), start=1))
            ),
            what="the table as it was",
        )

        undone = await online(server, database_url, "restore", "items", "2")
        assert undone.returncode == 0, undone.stderr
        await sheet.wait_for(lambda s: any(r["_key"] == added for r in s.rows()))
        names = [r["name"] for r in sheet.rows()]
        assert names[0] == "changed" and "item 2" not in names and names[-1] == "extra"


async def test_restore_without_a_server_brings_a_deleted_row_back_with_its_id(
    server_factory, database_url
):
    server = await server_factory()
    assert (await online(server, database_url, "snapshot", "items")).returncode == 0
    async with open_sheet(server.url, "items") as sheet:
        sheet.delete_row("2")
        await eventually(lambda: 2 not in [r["id"] for r in table_rows(database_url)])
    await server.stop()

    restored = offline(database_url, "restore", "items", "1")
    assert restored.returncode == 0, restored.stderr
    assert "1 rows added" in restored.stdout
    server = await server_factory()  # writes what the log holds beyond the table
    async with open_sheet(server.url, "items") as sheet:
        await eventually(
            lambda: (
                [(r["id"], r["name"]) for r in table_rows(database_url)]
                == list(enumerate(original_names(), start=1))
            ),
            what="the table as it was",
        )
        assert sheet.row("2")["id"] == 2 and sheet.refusals() == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_restore_gives_an_identity_always_row_a_new_id(server_factory, database_url):
    """`GENERATED ALWAYS AS IDENTITY` takes no id given to it: the row comes back as a new
    row, without a refusal (the restore never sent the old id)."""
    execute(
        database_url,
        "CREATE TABLE tickets (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title TEXT)",
        "INSERT INTO tickets (title) VALUES ('first'), ('second')",
    )
    server = await server_factory(sheets={"tickets": "tickets"})
    snapshot = await online(server, database_url, "snapshot", "tickets", sheets="tickets")
    assert snapshot.returncode == 0, snapshot.stderr
    async with open_sheet(server.url, "tickets") as sheet:
        sheet.delete_row("1")
        await eventually(lambda: set(tickets(database_url)) == {2}, what="the row deleted")
        restored = await online(server, database_url, "restore", "tickets", "1", sheets="tickets")
        assert restored.returncode == 0, restored.stderr
        await eventually(
            lambda: tickets(database_url) == {2: "second", 3: "first"}, what="a new id"
        )
        assert sheet.refusals() == {}


def tickets(database_url: str) -> dict[int, str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT id, title FROM tickets")).all())
    finally:
        engine.dispose()


def test_export_round_trip(items, tmp_path):
    as_json = offline(items, "export", "items", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    first = {"id": 1, "name": "item 1", "qty": 1, "price": 1.5, "done": False, "notes": None}
    assert rows[0] == first
    assert [row["id"] for row in rows] == list(range(1, 11))

    exported = tmp_path / "items.csv"
    done = offline(items, "export", "items", "--output", str(exported))
    assert done.returncode == 0, done.stderr
    assert exported.read_text().splitlines()[:2] == [
        "id,name,qty,price,done,notes",
        "1,item 1,1,1.5,false,",
    ]

    create_items_table(items, rows=0, name="copy")
    env = settings(items, "copy=copy")
    no_server = ["--server", f"ws://127.0.0.1:{free_port()}"]
    imported = cellsync("import", "copy", str(exported), *no_server, env=env)
    assert "imported 10 rows into copy" in imported.stdout, imported.stderr
    assert "the database gives them keys" in imported.stdout
    assert cellsync("snapshot", "copy", *no_server, env=env).returncode == 0
    copied = json.loads(cellsync("export", "copy", "--format", "json", *no_server, env=env).stdout)
    assert [without_id(row) for row in copied] == [without_id(row) for row in rows]
    in_table = sorted(tuple(without_id(row).values()) for row in table_rows(items, "copy"))
    assert in_table == sorted(tuple(without_id(row).values()) for row in table_rows(items))


def test_a_bad_csv_row_is_reported_and_nothing_is_imported(items, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,qty,price,done\ngood,1,1.0,true\nbad,many,1.0,true\n")
    result = offline(items, "import", "items", str(bad))
    assert_one_line_error(result, "line 3", "column qty", "'many' is not an integer", "nothing")
    unknown_column = tmp_path / "unknown.csv"
    unknown_column.write_text("name,colour\nx,red\n")
    assert_one_line_error(
        offline(items, "import", "items", str(unknown_column)), "line 1", "colour"
    )
    exported = json.loads(offline(items, "export", "items", "--format", "json").stdout)
    assert [row["name"] for row in exported] == original_names()


def test_bad_input_is_a_one_line_error(items, tmp_path):
    assert_one_line_error(offline(items, "snapshot", "nope"), "unknown sheet 'nope'")
    assert_one_line_error(offline(items, "export", "nope"), "unknown sheet 'nope'")
    assert_one_line_error(offline(items, "restore", "items", "7"), "no version 7")
    assert_one_line_error(offline(items, "snapshot"), "NAME or --all")
    assert_one_line_error(offline(items, "import", "items", str(tmp_path / "none.csv")), "none.csv")
    bad_url = cellsync("restore", "items", "1", "--server", "http:/x", env=settings(items))
    assert_one_line_error(bad_url, "bad server URL 'http:/x'")
    down = cellsync("snapshot", "items", env=settings(UNREACHABLE_DB))
    assert_one_line_error(down, "cannot reach database")


async def api_shows(server, text: str) -> bool:
    async with httpx.AsyncClient() as client:
        return text in (await client.get(f"{server.http}/api/sheets/items.csv")).text


def without_id(row: dict) -> dict:
    return {column: value for column, value in row.items() if column != "id"}


def original_names() -> list[str]:
    return [f"item {i}" for i in range(1, 11)]


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "-"]


def test_csv_export_writes_formulas_as_text_unless_raw(items, tmp_path):
    engine = create_engine(items)
    with engine.begin() as conn:
        for id, text in enumerate(FORMULAS, start=1):
            conn.execute(
                sa.text("UPDATE items SET name = :n WHERE id = :id"), {"n": text, "id": id}
            )
    engine.dispose()

    def exported(*options: str) -> list[dict]:
        path = tmp_path / "items.csv"
        done = offline(items, "export", "items", "--output", str(path), *options)
        assert done.returncode == 0, done.stderr
        with path.open(newline="") as file:
            return list(csv.DictReader(file))

    safe, raw = exported(), exported("--raw")
    assert [row["name"] for row in raw[: len(FORMULAS)]] == FORMULAS
    expected = [f"'{text}" if text != "plain" else text for text in FORMULAS]
    assert [row["name"] for row in safe[: len(FORMULAS)]] == expected
    assert [row["qty"] for row in safe[:2]] == ["1", "2"]  # numbers stay numbers


async def test_a_snapshot_through_a_server_has_the_server_write_the_table(
    server_factory, database_url
):
    """The CLI's copy may be older than what the server wrote: it must not write the table."""
    server = await server_factory(CELLSYNC_FLUSH_DEBOUNCE="60", CELLSYNC_FLUSH_MAX_DELAY="120")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("2", "name", "edited live")
        await eventually(lambda: api_shows(server, "edited live"), what="the edit reaches it")
        done = await online(server, database_url, "snapshot", "items")
        assert "0 rows inserted, 1 updated" in done.stdout, done.stderr
        async with httpx.AsyncClient() as client:
            status = (await client.get(f"{server.http}/api/sheets/items/status")).json()
        assert status["rows_written"] == 1 and status["pending_rows"] == 0, status
        assert table_rows(database_url)[1]["name"] == "edited live"


def test_import_without_a_server_skips_the_key_column_where_the_database_gives_keys(
    items, tmp_path
):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("id,name,qty\n1,imported one,5\n2,imported two,6\n")
    imported = offline(items, "import", "items", str(csv_file))
    assert "the database gives them keys" in imported.stdout, imported.stderr
    done = offline(items, "snapshot", "items")
    assert "2 rows inserted, 0 updated, 0 deleted, 0 refused" in done.stdout, done.stderr
    rows = table_rows(items)
    assert [row["name"] for row in rows[:2]] == ["item 1", "item 2"]
    assert sorted(row["id"] for row in rows[10:]) == [11, 12]
    assert sorted(row["name"] for row in rows[10:]) == ["imported one", "imported two"]
