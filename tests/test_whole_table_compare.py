"""The whole-table comparison reads table and record a batch at a time: changes in any batch,
rows inserted and rows deleted are all found, and the record ends up matching the table."""

import pytest
import sqlalchemy as sa
from tables import create_items_table

from persistence.database import create_engine
from persistence.store import table_record
from persistence.store.migrate import prepare
from persistence.store.sheet_store import SheetStore
from persistence.store.table_record import RecordedRow
from persistence.store.update_log import UpdateLog
from persistence.table.external_changes import ExternalReader
from persistence.table.schema import reflect_table


@pytest.fixture
def engine(database_url: str):
    create_items_table(database_url, rows=10)
    engine = create_engine(database_url)
    prepare(engine)
    SheetStore(engine, UpdateLog(engine)).open("items", "items")  # the record of every row
    yield engine
    engine.dispose()


def test_changes_in_every_batch_are_found(engine, monkeypatch):
    monkeypatch.setattr(table_record, "STREAM_BATCH", 3)  # 10 rows: four batches
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE items SET name = 'first batch' WHERE id = 1"))
        conn.execute(sa.text("UPDATE items SET qty = 99 WHERE id = 8"))
        conn.execute(sa.text("INSERT INTO items (id, name) VALUES (600, 'new')"))
        conn.execute(sa.text("DELETE FROM items WHERE id IN (2, 10)"))
    reader = ExternalReader(engine, "items", reflect_table(engine, "items"))

    changes = {change.key: change for change in reader.collect()}

    assert changes["1"].cells == {"name": "first batch"}
    assert changes["8"].cells == {"qty": 99}
    assert changes["600"].inserted and changes["600"].cells["name"] == "new"
    assert changes["2"].cells is None and changes["10"].cells is None
    assert len(changes) == 5
    assert reader.collect() == []  # the record now matches the table
    with engine.connect() as conn:
        recorded = table_record.read(conn, "items")
    assert sorted(recorded, key=int) == ["1", "3", "4", "5", "6", "7", "8", "9", "600"]


def test_a_record_that_reads_the_same_as_the_table_is_no_change(engine):
    """Unchanged rows are found by the record's JSON text; a record whose text differs but
    holds the same cells (another key order, the values the document sent beside) is
    unchanged all the same, and a changed cell under either is still found."""
    with engine.connect() as conn:
        recorded = table_record.read(conn, "items", ["1", "2", "3"])
    reordered = dict(reversed(list(recorded["1"].cells.items())))
    with_sent = RecordedRow(recorded["2"].pk, recorded["2"].cells, sent={"name": "as typed"})
    with engine.begin() as conn:
        table_record.write(conn, "items", {"1": RecordedRow(1, reordered), "2": with_sent}, set())
        conn.execute(sa.text("UPDATE items SET qty = 42 WHERE id IN (2, 3)"))
    reader = ExternalReader(engine, "items", reflect_table(engine, "items"))

    changes = {change.key: change.cells for change in reader.collect()}

    assert changes == {"2": {"qty": 42}, "3": {"qty": 42}}
    assert reader.collect() == []
