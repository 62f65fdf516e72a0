"""When a sheet loads from its log, the real `cellsync serve` repairs it: `order` lists every
row once, its edits carry 32-bit client ids as Yjs's do, and its rows follow the table's
columns and the table the sheet names."""

from pycrdt import Array, Doc, Map
from tables import create_items_table
from test_worker import document_rows, equal, execute, table_follows, table_rows

from client.sheet import open_sheet
from persistence.database import create_engine
from persistence.document import (
    new_doc,
    order_keys,
    populate,
    publish_meta,
    read_rows,
    refusal_key,
)
from persistence.store.update_log import UpdateLog
from persistence.table import load_repair
from persistence.table.schema import Column, TableSchema


def client_ids(doc: Doc) -> set[int]:
    """The client ids of every edit in the document, from its encoded state vector."""
    data, position = doc.get_state(), 0

    def varuint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    clients = set()
    for _ in range(varuint()):
        clients.add(varuint())
        varuint()  # the client's clock
    return clients


def _log_edit(url: str, sheet: str, edit) -> None:
    """Makes `edit(doc)` on the sheet's logged document and appends it to the log, as a client
    the server never saw would."""
    engine = create_engine(url)
    log = UpdateLog(engine)
    doc = Doc(client_id=7)
    doc.apply_update(log.load(sheet).update)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    with doc.transaction():
        edit(doc)
    log.append({sheet: updates[0]})
    engine.dispose()


def _corrupt_order(doc: Doc) -> None:
    order = doc.get("order", type=Array)
    keys = order_keys(doc)
    del order[keys.index("3")]
    order.extend(["1", "1", "ghost", "5"])


async def test_order_is_repaired_on_load_and_server_edits_carry_32_bit_client_ids(
    server_factory, database_url
):
    server = await server_factory()
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("2", "name", "edited")
        await table_follows(database_url, sheet)
    await server.stop()
    _log_edit(database_url, "items", _corrupt_order)
    await server.start()
    async with open_sheet(server.url, "items") as fresh:
        assert all(client < 2**32 for client in client_ids(fresh.doc)), client_ids(fresh.doc)
        keys = order_keys(fresh.doc)
        assert sorted(keys) == sorted(str(i) for i in range(1, 11)), keys
        assert len(fresh.rows()) == 10
    assert "5 order entries repaired" in server.log()


def _columns_match(url: str, table: str, sheet) -> bool:
    """Every row of the sheet has exactly the table's columns, with the table's values."""
    stored = table_rows(url, table)
    columns = set(next(iter(stored.values())))
    rows = document_rows(sheet)
    return all(set(row) - {"_key"} == columns for row in rows.values()) and equal(stored, rows)


async def test_renamed_added_and_dropped_columns_are_followed(server_factory, database_url):
    server = await server_factory()
    async with open_sheet(server.url, "items") as sheet:
        sheet.update("2", {"name": "edited", "notes": "a note"})
        await table_follows(database_url, sheet)
    await server.stop()
    execute(
        database_url,
        "ALTER TABLE items RENAME COLUMN name TO title",
        "ALTER TABLE items ADD COLUMN color VARCHAR(20) DEFAULT 'red'",
        "ALTER TABLE items DROP COLUMN notes",
        "UPDATE items SET color = 'blue' WHERE id = 3",
    )
    await server.start()
    async with open_sheet(server.url, "items") as fresh:
        assert _columns_match(database_url, "items", fresh)
        assert fresh.row("2")["title"] == "edited"
        assert fresh.row("3")["color"] == "blue"
        fresh.set("4", "color", "green")
        await table_follows(database_url, fresh)
    assert table_rows(database_url, "items")["4"]["color"] == "green"
    assert "cells of dropped columns name, notes removed" in server.log()


async def test_a_sheet_pointed_at_another_table_shows_its_rows(server_factory, database_url):
    create_items_table(database_url, rows=3, name="others")
    execute(database_url, "UPDATE others SET name = 'other ' || name")
    server = await server_factory()
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("2", "name", "edited")
        await table_follows(database_url, sheet)
    await server.stop()
    moved = await server_factory({"items": "others"})
    async with open_sheet(moved.url, "items") as fresh:
        assert _columns_match(database_url, "others", fresh)
        assert fresh.meta["table"] == "others"
        assert fresh.row("1")["name"] == "other item 1"
        fresh.set("3", "qty", 33)
        await table_follows(database_url, fresh, "others")
    assert table_rows(database_url, "others")["3"]["qty"] == 33
    assert table_rows(database_url, "items")["3"]["qty"] == 3


def test_stale_cells_are_removed_even_where_meta_already_changed():
    """Before this repair the server updated `meta` on load but left the cells of a renamed
    column in every row: such documents are repaired too."""
    columns = (Column("id", "integer", False, True), Column("title", "text", True, False))
    schema = TableSchema("items", "id", columns, autoincrement=True)
    old = TableSchema("items", "id", (*columns[:1], Column("name", "text", True, False)), True)
    doc = new_doc()
    populate(doc, old, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    publish_meta(doc, schema)
    repair = load_repair.repair(doc, schema, lambda: {"1": {"id": 1, "title": "A"}})
    assert (repair.dropped, repair.filled) == ({"name"}, {"1": {"title": "A"}})
    assert read_rows(doc) == [{"id": 1, "title": "A"}, {"id": 2}]


def test_refusals_of_rows_no_longer_in_the_document_are_removed_on_load():
    """Earlier versions kept them, for every client to list, after the row was deleted."""
    schema = TableSchema("items", "id", (Column("id", "integer", False, True),), True)
    doc = new_doc()
    populate(doc, schema, [{"id": 1}])
    refusals = doc.get("refusals", type=Map)
    for row in ("1", "gone"):
        refusals[refusal_key(row, "id")] = {"reason": "r", "value": None, "at": 0, "user": None}
    repair = load_repair.repair(doc, schema, dict)
    assert list(refusals) == [refusal_key("1", "id")]
    assert repair.refusals_dropped == 1 and "1 refusals of deleted rows" in repair.summary()
