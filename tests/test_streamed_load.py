"""A big table's first open streams: its rows go into the document and into the record of
written rows a chunk at a time, never all held at once, and none is missed; the log holds the
document as those chunks, each whole with the ones before it and committed before the next is
built, and a fresh client is sent them, then what the document holds beyond them, encoded once
until it changes."""

import sqlalchemy as sa
from pycrdt import Map
from tables import create_items_table

from persistence import document
from persistence.database import create_engine
from persistence.document import new_doc, order_keys, read_meta, read_rows
from persistence.store import sheet_store, table_record
from persistence.store.migrate import prepare
from persistence.store.sheet_store import SheetStore
from persistence.store.table_record import RecordedRow, RecordLookup
from persistence.store.tables import record_rows, updates
from persistence.store.update_log import BUILDING, UpdateLog
from persistence.table import rows as table_rows
from persistence.table.schema import reflect_table
from server.sheets.sheet_document import SheetDocument

CHUNK = 100
COLUMNS = 6  # of the items table
ROWS = 2 * CHUNK + 7  # more than two chunks, and a last one that is not full


async def no_record(keys: set[str]) -> RecordLookup:
    return RecordLookup()


def test_a_table_of_several_chunks_streams_into_the_document_and_the_record(
    database_url, monkeypatch
):
    create_items_table(database_url, rows=ROWS)
    engine = create_engine(database_url)
    prepare(engine)
    monkeypatch.setattr(table_rows, "FETCH_BATCH", CHUNK)
    monkeypatch.setattr(document, "CHUNK_CELLS", CHUNK * COLUMNS)
    fetched = 0
    fetch = sheet_store.fetch_rows

    def counting_fetch(*args):
        nonlocal fetched
        for row in fetch(*args):
            fetched += 1
            yield row

    recorded_at: list[tuple[int, int]] = []  # (rows fetched so far, rows recorded) per write
    write = table_record.write_read

    def noting_write(conn, sheet, pk, rows):
        recorded_at.append((fetched, len(rows)))
        write(conn, sheet, pk, rows)

    committed_at: list[tuple[int, int, int]] = []  # (chunks handed on, logged, sheet's own)

    def handed_on(chunk: bytes) -> None:
        with engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(updates)
            building = conn.execute(count.where(updates.c.sheet == BUILDING + "items")).scalar()
            own = conn.execute(count.where(updates.c.sheet == "items")).scalar()
        committed_at.append((len(committed_at) + 1, building, own))

    monkeypatch.setattr(sheet_store, "fetch_rows", counting_fetch)
    monkeypatch.setattr(table_record, "write_read", noting_write)
    try:
        opened = SheetStore(engine, UpdateLog(engine)).open("items", "items", built=handed_on)
        logged = UpdateLog(engine).load("items")
        with engine.connect() as conn:
            recorded = conn.execute(sa.select(sa.func.count()).select_from(record_rows)).scalar()
            record = table_record.read(conn, "items")
            by_pk = table_record.read_by_pk(conn, "items", [ROWS, 1])
        table = list(fetch(engine, reflect_table(engine, "items")))
    finally:
        engine.dispose()

    assert recorded_at == [(CHUNK, CHUNK), (2 * CHUNK, CHUNK), (ROWS, 7)]
    # each chunk committed before it is handed on, under a name no one loads until the last
    assert committed_at == [(1, 1, 0), (2, 2, 0), (3, 3, 0)]
    assert recorded == ROWS
    doc = opened.doc
    rows = read_rows(doc)
    # recorded through each database's bulk path as `write` records them: found by key and pk
    assert record == {str(row["id"]): RecordedRow(row["id"], row) for row in table}
    assert by_pk == {key: record[key] for key in ("1", str(ROWS))}
    assert [row["id"] for row in rows] == list(range(1, ROWS + 1))
    assert rows[-1] == {"id": ROWS, "name": f"item {ROWS}", "qty": ROWS, "price": ROWS * 1.5,
                        "done": False, "notes": None}  # fmt: skip
    assert order_keys(doc) == [str(n) for n in range(1, ROWS + 1)]
    # logged as chunks of rows, each a whole sheet with the chunks before it: rows, their
    # places in `order`, the columns from the first on
    assert opened.log_rows == len(opened.logged) == 3
    assert list(logged.updates) == list(opened.logged)
    client = new_doc()
    for count, chunk in zip((CHUNK, 2 * CHUNK, ROWS), opened.logged, strict=True):
        client.apply_update(chunk)
        assert [row["id"] for row in read_rows(client)] == list(range(1, count + 1))
        assert read_meta(client) == read_meta(doc)


def test_a_fresh_client_is_sent_the_chunks_then_the_rest_encoded_once_until_it_changes(
    sqlite_url, monkeypatch
):
    create_items_table(sqlite_url, rows=5)
    monkeypatch.setattr(document, "CHUNK_CELLS", 2 * COLUMNS)
    engine = create_engine(sqlite_url)
    prepare(engine)
    try:
        opened = SheetStore(engine, UpdateLog(engine)).open("items", "items")
        schema = reflect_table(engine, "items")
    finally:
        engine.dispose()
    sheet = SheetDocument(
        "items", opened.doc, schema, no_record, opened.logged, opened.logged_state
    )
    first = sheet.missing_for(b"\x00")
    assert first[:-1] == list(opened.logged) and len(first) == 4  # three chunks, the rest
    assert sheet.missing_for(b"\x00")[-1] is first[-1]
    with sheet.edit(None) as doc:
        doc.get("rows", type=Map).get("1")["name"] = "changed"
    after = new_doc()
    for update in sheet.missing_for(b"\x00"):
        after.apply_update(update)
    assert read_rows(after) == read_rows(opened.doc)
    assert read_rows(after)[0]["name"] == "changed"
