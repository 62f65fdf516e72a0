"""A row the table sync deleted, sent again under its key (a client's undo), goes back into the
table with its own primary key where the table takes one given to it; where it does not
(`GENERATED ALWAYS AS IDENTITY`), it comes back with a new key and the sheet says so. The
record keeps a tombstone per deleted row for that, and drops it after `TOMBSTONE_AGE`."""

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from pycrdt import Array, Map
from test_worker import execute, table_rows
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine
from persistence.document import ORDER, ROWS
from persistence.store import table_record
from persistence.store.migrate import prepare
from persistence.store.table_record import TOMBSTONE_AGE, RecordedRow
from persistence.store.tables import record_rows
from persistence.table.schema import reflect_table
from persistence.table.write_result import RowState
from persistence.table.writer import TableWriter


def bring_back(sheet: Sheet, key: str, cells: dict[str, Any]) -> None:
    """What a client's undo of a row's deletion sends: the row under its key, with its cells
    (its primary key too), and the key in `order`."""
    with sheet.edit() as doc:
        doc.get(ROWS, type=Map)[key] = Map(cells)
        doc.get(ORDER, type=Array).append(key)


async def delete_and_bring_back(sheet: Sheet, url: str, table: str, key: str) -> dict[str, Any]:
    """Deletes the row, waits until the table no longer has it, sends it again; returns its
    cells as they were."""
    await sheet.wait_for(lambda s: key in s.doc.get(ROWS, type=Map))
    cells = sheet.row(key)
    sheet.delete_row(key)
    await eventually(lambda: key not in table_rows(url, table), what="the row deleted")
    bring_back(sheet, key, cells)
    return cells


SHAPES = {  # the table, its key column, the row deleted and brought back
    # a key the database generates (SQLite's INTEGER PRIMARY KEY, PostgreSQL's SERIAL)
    "serial": (
        "CREATE TABLE t (id {serial} PRIMARY KEY, name TEXT)",
        "INSERT INTO t (name) VALUES ('row 1'), ('row 2'), ('row 3')",
        {"id": 2, "name": "row 2"},
    ),
    "text": (
        "CREATE TABLE t (code VARCHAR(20) PRIMARY KEY, name TEXT)",
        "INSERT INTO t VALUES ('ab-1', 'row 1'), ('ab-2', 'row 2'), ('ab-3', 'row 3')",
        {"code": "ab-2", "name": "row 2"},
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_deleted_row_sent_again_comes_back_with_its_own_key(
    server_factory, database_url, shape
):
    create, insert, row = SHAPES[shape]
    execute(database_url, create, insert)
    server = await server_factory(sheets={"t": "t"})
    key = str(next(iter(row.values())))
    async with open_sheet(server.url, "t") as sheet:
        cells = await delete_and_bring_back(sheet, database_url, "t", key)
        assert cells == row
        await eventually(lambda: key in table_rows(database_url, "t"), what="the row back")
        assert table_rows(database_url, "t")[key] == row
        assert sheet.row(key) == row
        assert sheet.refusals() == {}


async def test_the_rows_of_a_sheet_come_back_in_its_own_table(server, database_url):
    """Rows of the items sheet, one in the middle and the last one, with all their cells."""
    async with open_sheet(server.url, "items") as sheet:
        kept = {key: await delete_and_bring_back(sheet, database_url, "items", key)
                for key in ("3", "10")}  # fmt: skip
        await eventually(lambda: {"3", "10"} <= set(table_rows(database_url, "items")))
        table = table_rows(database_url, "items")
        for key, cells in kept.items():
            assert table[key] == cells | {"price": pytest.approx(cells["price"])}
            assert sheet.row(key)["id"] == int(key)
        assert len(table) == 10 and sheet.refusals() == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_identity_always_key_is_given_anew_and_said_so(server_factory, database_url):
    execute(
        database_url,
        "CREATE TABLE tickets (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title TEXT)",
        "INSERT INTO tickets (title) VALUES ('first'), ('second')",
    )
    server = await server_factory(sheets={"tickets": "tickets"})
    async with open_sheet(server.url, "tickets") as sheet:
        await delete_and_bring_back(sheet, database_url, "tickets", "1")
        await sheet.wait_for(lambda s: s.row("1").get("id") not in (None, 1))
        assert sheet.row("1") == {"id": 3, "title": "first"}
        reason = sheet.refusals()[("1", "id")]
        assert "comes back as a new row" in reason
    await eventually(lambda: set(table_rows(database_url, "tickets")) == {"2", "3"})
    assert table_rows(database_url, "tickets")["3"]["title"] == "first"


async def test_tombstones_go_when_their_key_is_taken_again_or_past_their_age(engine):
    prepare(engine)
    with engine.begin() as conn:
        rows = {key: RecordedRow(pk, {"id": pk}) for key, pk in (("1", 1), ("2", 2), ("a", 3))}
        table_record.write(conn, "s", rows, new=set(rows))
        table_record.bury(conn, "s", ["1", "2", "a"])
        assert table_record.read(conn, "s") == {}
        assert table_record.deleted(conn, "s", ["1", "2", "a"]) == {"1": 1, "2": 2, "a": 3}

        # another program inserts a row with key 2 again; a new row is given pk 3
        table_record.write(
            conn, "s", {"2": RecordedRow(2, {}), "b": RecordedRow(3, {})}, {"2", "b"}
        )
        assert table_record.deleted(conn, "s", ["1", "2", "a"]) == {"1": 1}
        assert set(table_record.read(conn, "s")) == {"2", "b"}

        long_ago = datetime.now(UTC) - TOMBSTONE_AGE - TOMBSTONE_AGE / 10
        conn.execute(
            sa.update(record_rows).where(record_rows.c.row_key == "1").values(deleted_at=long_ago)
        )
        table_record.bury(conn, "s", ["b"])  # the next deletion drops what is past its age
        assert table_record.deleted(conn, "s", ["1", "2", "a", "b"]) == {"b": 3}


def test_a_generated_key_taken_since_is_given_anew_and_said_so(database_url):
    """The tombstone's key was taken between the guard's check and the write: the row is
    inserted without it, with a new key, and the key cell's refusal says why."""
    execute(database_url, "CREATE TABLE notes (id {serial} PRIMARY KEY, body TEXT)")
    execute(database_url, "INSERT INTO notes (body) VALUES ('taken')")
    engine = create_engine(database_url)
    prepare(engine)
    writer = TableWriter(engine, "notes", reflect_table(engine, "notes"))
    result = writer.write([RowState("1", {"id": 1, "body": "brought back"})])
    assert result.inserted == 1 and result.pks == {"1": 2}
    [refusal] = result.refusals
    assert (refusal.key, refusal.columns, refusal.values) == ("1", ("id",), {"id": 1})
    assert table_rows(database_url, "notes") == {
        "1": {"id": 1, "body": "taken"},
        "2": {"id": 2, "body": "brought back"},
    }
    engine.dispose()
