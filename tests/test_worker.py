"""The persistence worker: the user's table follows the live document, whatever happens."""

import asyncio
import contextlib
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nodeclient import NodeClient, NodeClientError
from pycrdt import Doc, Map
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine
from persistence.document import populate, row_key, same
from persistence.store.migrate import prepare as prepare_store
from persistence.table.dirty_rows import DirtyRows
from persistence.table.rows import fetch_rows
from persistence.table.schema import reflect_table
from persistence.table.writer import TableWriter

CONSTRAINED = [
    "CREATE TABLE parents (id INTEGER PRIMARY KEY, label VARCHAR(20))",
    "INSERT INTO parents (id, label) VALUES (1, 'one'), (2, 'two')",
    """CREATE TABLE children (
        id {serial} PRIMARY KEY,
        code VARCHAR(10) NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES parents(id),
        qty INTEGER CHECK (qty >= 0),
        price NUMERIC(4, 2)
    )""",
    "INSERT INTO children (code, parent_id, qty, price) VALUES "  # ids 1 to 3, from the sequence
    "('c1', 1, 1, 1.50), ('c2', 1, 2, 2.50), ('c3', 2, 3, 3.50)",
]


def execute(url: str, *statements: str) -> None:
    """Runs SQL; `{serial}` is an integer key the database generates."""
    engine = create_engine(url)
    serial = "INTEGER" if engine.dialect.name == "sqlite" else "SERIAL"
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement.replace("{serial}", serial)))
    engine.dispose()


def table_rows(url: str, table: str) -> dict[str, dict[str, Any]]:
    """The table as document cells, keyed like the document's rows."""
    engine = create_engine(url)
    try:
        schema = reflect_table(engine, table)
        return {row_key(row[schema.pk]): row for row in fetch_rows(engine, schema)}
    finally:
        engine.dispose()


def document_rows(sheet: Sheet, pk: str = "id") -> dict[str, dict[str, Any]]:
    """The document's rows keyed by their primary key, as the table keys them."""
    return {row_key(row[pk]): row for row in sheet.rows() if row.get(pk) is not None}


def equal(table: dict[str, dict], document: dict[str, dict]) -> bool:
    if table.keys() != document.keys():
        return False
    return all(
        same(value, document[key].get(column))
        for key, row in table.items()
        for column, value in row.items()
    )


async def table_follows(url: str, sheet: Sheet, table: str = "items", timeout: float = 15):
    await eventually(
        lambda: equal(table_rows(url, table), document_rows(sheet)),
        timeout=timeout,
        what=f"table {table} equal to the document",
    )


async def test_edits_inserts_and_deletes_reach_the_table(server, database_url):
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", "renamed")
        sheet.update("2", {"qty": 20, "price": 2.25, "done": True})
        sheet.delete_row("3")
        key = sheet.add_row({"name": "new row", "qty": 7})
        await sheet.wait_for(lambda s: s.row(key).get("id") is not None)
        new_id = row_key(sheet.row(key)["id"])
        await table_follows(database_url, sheet)
    table = table_rows(database_url, "items")
    assert table["1"]["name"] == "renamed"
    assert table["2"]["qty"] == 20 and table["2"]["price"] == 2.25 and table["2"]["done"] is True
    assert "3" not in table
    assert table[new_id]["name"] == "new row"


async def test_a_client_chosen_key_is_kept(server_factory, database_url):
    execute(database_url, "CREATE TABLE tags (code VARCHAR(20) PRIMARY KEY, label TEXT)")
    server = await server_factory(sheets={"tags": "tags"})
    async with open_sheet(server.url, "tags") as sheet:
        sheet.add_row({"code": "urgent", "label": "Urgent"})
        await eventually(lambda: "urgent" in table_rows(database_url, "tags"))
        assert table_rows(database_url, "tags")["urgent"]["label"] == "Urgent"


async def test_cells_written_by_others_are_not_overwritten(server, database_url):
    async with open_sheet(server.url, "items") as sheet:
        execute(database_url, "UPDATE items SET name = 'set by another program' WHERE id = 4")
        sheet.set("4", "qty", 444)
        await eventually(lambda: table_rows(database_url, "items")["4"]["qty"] == 444)
    row = table_rows(database_url, "items")["4"]
    assert row["name"] == "set by another program"


REFUSED_EDITS = {
    "unique": ("1", "code", "c2"),
    "foreign key": ("1", "parent_id", 999),
    "check": ("1", "qty", -5),
    "not null": ("1", "code", None),
    "too long": ("1", "code", "much too long for ten"),
    "cannot store": ("1", "price", 12345.5),  # NUMERIC(4, 2) holds at most 99.99
}


@pytest.mark.parametrize(("row", "column", "value"), REFUSED_EDITS.values(), ids=REFUSED_EDITS)
async def test_a_refused_write_affects_its_row_alone(
    server_factory, database_url, row, column, value
):
    if database_url.startswith("sqlite") and column == "price":
        value = "not a number"  # SQLite stores any number; the column type refuses text
    execute(database_url, *CONSTRAINED)
    server = await server_factory(sheets={"children": "children"})
    before = table_rows(database_url, "children")
    async with open_sheet(server.url, "children") as a, open_sheet(server.url, "children") as b:
        a.update(row, {column: value, "qty" if column != "qty" else "price": 9})
        a.set("2", "qty", 22)  # in the same flush: written
        await eventually(lambda: table_rows(database_url, "children")["2"]["qty"] == 22)
        for client in (a, b):
            await client.wait_for(lambda s: same(s.row(row)[column], before[row][column]))
            await client.wait_for(lambda s: (row, column) in s.refusals())
        assert table_rows(database_url, "children")[row][column] == before[row][column]
        print(column, "refused:", a.refusals()[(row, column)])


async def test_a_refused_new_row_waits_for_a_fix_and_is_not_retried(server_factory, database_url):
    execute(database_url, *CONSTRAINED)
    server = await server_factory(sheets={"children": "children"})
    async with open_sheet(server.url, "children") as sheet:
        key = sheet.add_row({"code": "c1", "parent_id": 1, "qty": 1})  # duplicate code
        await sheet.wait_for(lambda s: (key, "code") in s.refusals() or (key, "id") in s.refusals())
        refusals_logged = server.log().count("refused")
        for i in range(3):
            sheet.set("3", "qty", 30 + i)
            await eventually(lambda i=i: table_rows(database_url, "children")["3"]["qty"] == 30 + i)
        assert server.log().count("refused") == refusals_logged
        sheet.set(key, "code", "c9")
        await sheet.wait_for(lambda s: s.row(key).get("id") is not None)
        assert (key, "code") not in sheet.refusals()
        codes = [r["code"] for r in table_rows(database_url, "children").values()]
        assert sorted(codes) == ["c1", "c2", "c3", "c9"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a table lock
async def test_a_new_row_fixed_while_its_refused_write_runs_is_tried_again(
    server_factory, database_url
):
    """The refused row is held back as it was written, not as the document holds it once the
    write is over: the fix made meanwhile is written by the next write."""
    execute(database_url, *CONSTRAINED)
    server = await server_factory(sheets={"children": "children"})
    engine = create_engine(database_url)
    async with (
        open_sheet(server.url, "children") as user,
        open_sheet(server.url, "children") as seer,
    ):
        user.set("3", "qty", 30)  # the writes before this one are over
        await eventually(lambda: table_rows(database_url, "children")["3"]["qty"] == 30)
        with engine.connect() as blocker:
            blocker.execute(sa.text("LOCK TABLE children IN EXCLUSIVE MODE"))
            key = user.add_row({"code": "c1", "parent_id": 1, "qty": 1})  # a duplicate code
            await eventually(
                lambda: waiting_for_table(engine, "children") > 0, what="the write to wait"
            )
            user.set(key, "code", "c9")
            await seer.wait_for(lambda s: s.row(key).get("code") == "c9")
            blocker.rollback()  # the write goes on, with "c1", and is refused
        await user.wait_for(lambda s: s.row(key).get("id") is not None)
        codes = [r["code"] for r in table_rows(database_url, "children").values()]
        assert sorted(codes) == ["c1", "c2", "c3", "c9"]
    assert "the database refused a row" in server.log()  # the first write took "c1"
    engine.dispose()


def waiting_for_table(engine: sa.Engine, table: str) -> int:
    """Sessions of this database waiting for a lock on `table`."""
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = :t ::regclass"
        return conn.execute(sa.text(query), {"t": table}).scalar_one()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # row locks
async def test_a_put_back_never_undoes_a_later_edit(server_factory, database_url):
    """A flush that the database refuses is held up while the users fix their cells: the
    put-back of the refused values must leave the fixes alone (one client a row, so that Yjs'
    order between put-back and fix differs from row to row)."""
    url = database_url
    execute(url, *CONSTRAINED)
    server = await server_factory(sheets={"children": "children"})
    engine = create_engine(url)
    rows = ["1", "2", "3"]
    async with AsyncExitStack() as stack:
        users = [await stack.enter_async_context(open_sheet(server.url, "children")) for _ in rows]
        seer = await stack.enter_async_context(open_sheet(server.url, "children"))
        with engine.connect() as blocker:
            blocker.execute(sa.text("SELECT * FROM children FOR UPDATE"))  # flushes must wait
            for user, row in zip(users, rows, strict=True):
                user.set(row, "qty", -5)  # refused by CHECK (qty >= 0)
            await seer.wait_for(lambda s: all(s.row(row)["qty"] == -5 for row in rows))
            await eventually(lambda: waiting_for_locks(engine) > 0, what="the flush to wait")
            for user, row in zip(users, rows, strict=True):
                user.set(row, "qty", 10 + int(row))
            await seer.wait_for(lambda s: all(s.row(r)["qty"] == 10 + int(r) for r in rows))
            blocker.rollback()
        await eventually(
            lambda: all(table_rows(url, "children")[r]["qty"] == 10 + int(r) for r in rows)
        )
        for client in (*users, seer):  # each settles on the fixes (a busy machine may lag)
            await client.wait_for(lambda s: [s.row(r)["qty"] for r in rows] == [11, 12, 13])
    engine.dispose()


def waiting_for_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()


async def test_kill_9_mid_stream_loses_and_duplicates_nothing(server, database_url):
    url = f"{server.url}/ws/sheet"
    a, b = await asyncio.gather(NodeClient.start(url, "items"), NodeClient.start(url, "items"))
    try:
        await asyncio.gather(a.wait_synced(), b.wait_synced())

        async def stream(client: NodeClient, name: str) -> None:
            for i in range(60):
                await client.set_cell(str(i % 10 + 1), "qty", i)
                if i % 10 == 0:
                    await client.add_row(f"{name}-{i}", {"name": f"{name}-{i}", "qty": i})
                if name == "a" and i == 30:
                    server.kill()
                    await server.start()
                await asyncio.sleep(0.01)  # pace the stream across the crash

        await asyncio.gather(stream(a, "a"), stream(b, "b"))
        await asyncio.gather(a.wait_synced(30), b.wait_synced(30))
        async with open_sheet(server.url, "items") as sheet:
            await sheet.wait_for(lambda s: len(s.rows()) == 22, timeout=30)
            await sheet.wait_for(
                lambda s: all(r.get("id") is not None for r in s.rows()), timeout=30
            )
            await table_follows(database_url, sheet, timeout=30)
            names = [r["name"] for r in table_rows(database_url, "items").values()]
            assert len(names) == len(set(names)) == 22
            last_writes = {str(k): 49 + k for k in range(1, 11)}
            assert {k: sheet.row(k)["qty"] for k in last_writes} == last_writes
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_an_edit_the_table_holds_survives_kill_9_before_the_log_interval(
    server_factory, database_url
):
    """The tab that made the edit is closed, the table holds it, then the server dies long
    before its next timed log append: the restarted server must not write the old value
    back over it, since the table is only ever written after the log."""
    server = await server_factory(CELLSYNC_LOG_INTERVAL="60", CELLSYNC_IDLE_SECONDS="60")
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("3", "name", "saved before the crash")
    await eventually(
        lambda: table_rows(database_url, "items")["3"]["name"] == "saved before the crash"
    )
    server.kill()
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        assert sheet.row("3")["name"] == "saved before the crash"
        await table_follows(database_url, sheet)
    assert table_rows(database_url, "items")["3"]["name"] == "saved before the crash"


def test_a_row_inserted_before_a_crash_is_not_inserted_again(database_url):
    """The server dies between the INSERT and the write-back of the new key: after restart
    the worker finds the row it wrote and writes back its key instead of inserting it again."""
    execute(database_url, "CREATE TABLE notes (id {serial} PRIMARY KEY, body TEXT)")
    engine = create_engine(database_url)
    schema = reflect_table(engine, "notes")
    doc = Doc()
    populate(doc, schema, [])
    prepare_store(engine)  # Cellsync's tables
    rows = DirtyRows(doc, "id")
    with doc.transaction():
        rows.rows["client-row"] = Map({"id": None, "body": "hello"})
    crashed_state = doc.get_update()
    writer = TableWriter(engine, "notes", schema)
    first = writer.write(rows.states(rows.take()))
    assert first.inserted == 1  # ... and the write-back never happened

    restarted = DirtyRows.of_update(crashed_state, "id")
    restarted.reconcile(engine, "notes")
    taken = restarted.states(restarted.take())
    second = writer.write(taken)
    assert second.inserted == 0 and second.pks == first.pks
    restarted.write_back(second, taken)
    assert restarted.rows["client-row"]["id"] == first.pks["client-row"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM notes")).scalar_one() == 1
    engine.dispose()


edits = st.lists(
    st.tuples(
        st.integers(0, 2),  # which client
        st.sampled_from(["set", "set", "add", "delete", "offline", "online"]),
        st.integers(0, 30),  # which row, by position
        st.integers(-1000, 1000),
    ),
    min_size=5,
    max_size=25,
)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=edits)
async def test_after_random_edits_settle_the_table_equals_the_document(server, database_url, ops):
    url = f"{server.url}/ws/sheet"
    clients = await asyncio.gather(*(NodeClient.start(url, "items") for _ in range(3)))
    try:
        await asyncio.gather(*(c.wait_synced() for c in clients))
        offline: set[int] = set()
        for n, (who, op, position, value) in enumerate(ops):
            client = clients[who]
            rows = await client.rows()
            target = rows[position % len(rows)]["key"] if rows else None
            if op == "set" and target:
                with contextlib.suppress(NodeClientError):  # deleted by another meanwhile
                    await client.set_cell(target, "qty", value)
            elif op == "add":
                await client.add_row(f"r{n}-{value}", {"name": f"added {n}", "qty": value})
            elif op == "delete" and target and len(rows) > 1:
                await client.delete_row(target)
            elif op == "offline" and who not in offline:
                offline.add(who)
                await client.disconnect()
            elif op == "online" and who in offline:
                offline.discard(who)
                await client.connect()
        for who in offline:
            await clients[who].connect()
        await asyncio.gather(*(c.wait_synced(30) for c in clients))

        async def converged() -> bool:
            views = [await c.rows() for c in clients]
            return all(view == views[0] for view in views)

        await eventually(converged, timeout=30, what="the clients converged")
        async with open_sheet(server.url, "items") as sheet:
            expected = len(await clients[0].rows())
            await sheet.wait_for(lambda s: len(s.rows()) == expected, timeout=30)
            await sheet.wait_for(
                lambda s: all(r.get("id") is not None for r in s.rows()), timeout=30
            )
            await table_follows(database_url, sheet, timeout=30)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
