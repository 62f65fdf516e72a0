"""Log compaction: one row the size of the live document, which every client's state still
merges with, and which keeps what waits on updates not logged yet; the chunks a sheet was built
in stay, as they are, while they are most of it."""

import asyncio

import sqlalchemy as sa
from nodeclient import NodeClient
from pycrdt import Doc, Map
from test_sync import row_absent, row_is
from waiting import eventually

from client.sheet import open_sheet
from persistence import document
from persistence.document import new_doc, populate, read_rows
from persistence.store import migrate
from persistence.store.tables import updates
from persistence.store.update_log import UpdateLog
from persistence.table.schema import Column, TableSchema


def edits(doc: Doc) -> list[bytes]:
    """The updates `doc` makes from now on, one per transaction."""
    made: list[bytes] = []
    doc.observe(lambda event: made.append(event.update))
    return made


def loaded(log: UpdateLog) -> dict:
    logged = log.load("s")
    assert logged is not None
    doc = Doc()
    doc.apply_update(logged.update)
    return doc.get("rows", type=Map).to_py()


def log_rows(log: UpdateLog) -> list[bytes]:
    with log.engine.connect() as conn:
        return [bytes(d) for d in conn.execute(sa.select(updates.c.data)).scalars()]


def test_a_compacted_row_is_the_size_of_the_live_data(engine):
    migrate.prepare(engine)
    log = UpdateLog(engine)
    doc = Doc(client_id=1)
    rows = doc.get("rows", type=Map)
    made = edits(doc)
    for i in range(200):  # one 4 KB cell overwritten 200 times
        rows["note"] = f"{i:04d}" + "x" * 4092
    rows["kept"] = "y"
    for update in made:
        log.append({"s": update})
    assert log.compact("s") == 201
    [row] = log_rows(log)
    assert len(row) < 4096 + 200, f"the compacted row holds overwritten values: {len(row)} bytes"
    assert loaded(log) == {"note": "0199" + "x" * 4092, "kept": "y"}


def test_compaction_keeps_what_waits_on_unlogged_updates(engine):
    """Process A's update is not logged yet when B's edits on top of it are compacted: B's
    delete of A's cell and B's cell in A's row must survive until A's update arrives."""
    migrate.prepare(engine)
    log = UpdateLog(engine)
    a, b = Doc(client_id=1), Doc(client_id=2)
    from_a = edits(a)
    with a.transaction():
        a.get("rows", type=Map)["1"] = Map({"name": "from a", "qty": 1})
        a.get("rows", type=Map)["gone"] = "deleted by b"
    b.apply_update(a.get_update())
    from_b = edits(b)
    b_rows = b.get("rows", type=Map)
    del b_rows["gone"]
    b_rows["1"]["qty"] = 2
    b_rows["2"] = Map({"name": "from b"})
    for update in from_b:
        log.append({"s": update})
    log.compact("s")
    log.append({"s": from_a[0]})  # A's update, logged late
    assert loaded(log) == {"1": {"name": "from a", "qty": 2.0}, "2": {"name": "from b"}}


def test_compaction_keeps_the_chunks_a_sheet_was_built_in_while_they_are_most_of_it(
    engine, monkeypatch
):
    migrate.prepare(engine)
    log = UpdateLog(engine)
    monkeypatch.setattr(document, "CHUNK_CELLS", 4)  # 2 rows of 2 columns
    schema = TableSchema(
        table="things",
        pk="id",
        columns=(Column("id", "integer", False, True), Column("name", "text", True, False)),
        autoincrement=True,
    )
    built = new_doc()
    chunks = populate(built, schema, [{"id": n, "name": f"row {n}"} for n in range(1, 7)])
    assert len(chunks) == 3
    log.append_rows([("s", chunk) for chunk in chunks])
    client = new_doc()
    client.apply_update(built.get_update())
    made = edits(client)
    rows = client.get("rows", type=Map)
    for i in range(300):
        rows["1"]["name"] = f"edit {i}"
    for update in made:
        log.append({"s": update})

    assert log.compact("s") == 300
    assert log_rows(log)[:3] == chunks and len(log_rows(log)) == 4
    assert loaded_rows(log) == read_rows(client)
    assert log.compact("s") == 1  # the row after the chunks, again

    for key in ("2", "3", "4", "5", "6"):  # the chunks become mostly what was deleted
        del rows[key]
    for update in made[300:]:
        log.append({"s": update})
    log.compact("s")
    assert len(log_rows(log)) == 1
    assert loaded_rows(log) == read_rows(client) == [{"id": 1, "name": "edit 299"}]


def loaded_rows(log: UpdateLog) -> list[dict]:
    logged = log.load("s")
    assert logged is not None
    return read_rows(logged.document())


async def test_an_offline_client_merges_across_compactions(server_factory, database_url):
    """A client offline while the log is compacted many times reconnects with its old state
    vector: its edits and everyone else's survive, also through a restart."""
    server = await server_factory(CELLSYNC_COMPACT_AFTER="3", CELLSYNC_LOG_INTERVAL="0.01")
    url = f"{server.url}/ws/sheet"
    a, b = await asyncio.gather(NodeClient.start(url, "items"), NodeClient.start(url, "items"))
    async with a, b:
        await asyncio.gather(a.wait_synced(), b.wait_synced())
        await a.disconnect()
        await a.set_cell("1", "name", "a offline")
        await a.set_cell("2", "qty", 222)
        await a.add_row("from-a", {"name": "added offline", "qty": 7})
        await a.delete_row("3")
        for i in range(30):  # b overwrites cells a saw, deletes a row a edits, over compactions
            await b.set_cell("2", "notes", f"b {i} " + "x" * 2000)
            await b.set_cell("4", "qty", 400 + i)
            await asyncio.sleep(0.02)
        await b.delete_row("5")
        await eventually(lambda: compacted_since(database_url), timeout=10)
        await a.set_cell("5", "name", "edited in a row b deleted")
        await a.connect()
        expected = {
            "1": {"name": "a offline"},
            "2": {"notes": "b 29 " + "x" * 2000, "qty": 222},
            "4": {"qty": 429},
            "from-a": {"name": "added offline", "qty": 7},
        }
        for client in (a, b):
            for key, values in expected.items():
                await eventually(lambda c=client, k=key, v=values: row_is(c, k, **v))
            await eventually(lambda c=client: row_absent(c, "3"))
            await eventually(lambda c=client: row_absent(c, "5"))
    await server.stop()
    await server.start()
    async with open_sheet(server.url, "items") as sheet:
        rows = {row["_key"]: row for row in sheet.rows()}
    for key, values in expected.items():
        assert {c: rows[key][c] for c in values} == values
    assert "3" not in rows and "5" not in rows


def compacted_since(database_url: str) -> bool:
    """The log holds few rows though b made dozens of edits: it was compacted."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(updates)).scalar_one() <= 4
    finally:
        engine.dispose()
