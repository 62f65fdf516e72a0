"""After a restart the document is compared with the record a page of the record at a time
(the event loop reads a page of rows between its other work): changed rows in any page, rows
the document deleted and rows the record lacks are all found, on both databases."""

import pytest
from pycrdt import Map
from tables import create_items_table

from persistence.database import create_engine
from persistence.document import ROWS
from persistence.store import table_record
from persistence.store.migrate import prepare
from persistence.store.sheet_store import SheetStore
from persistence.store.update_log import UpdateLog
from persistence.table.dirty_rows import DirtyRows


@pytest.fixture
def rows(database_url: str):
    create_items_table(database_url, rows=10)
    engine = create_engine(database_url)
    prepare(engine)
    opened = SheetStore(engine, UpdateLog(engine)).open("items", "items")  # records every row
    rows = DirtyRows(opened.doc, opened.schema.pk)
    yield engine, rows
    rows.close()
    engine.dispose()


def test_rows_that_differ_are_found_in_every_page(rows, monkeypatch):
    engine, tracked = rows
    monkeypatch.setattr(table_record, "PAGE", 3)  # 10 rows: four pages
    doc_rows = tracked.doc.get(ROWS, type=Map)
    with tracked.doc.transaction():
        doc_rows["1"]["name"] = "first page"
        doc_rows["9"]["qty"] = 99  # "9" is the last key in the record's order
        del doc_rows["2"]
        doc_rows["new-row"] = Map({"name": "not in the record"})
    tracked.dirty.clear()  # only what the comparison finds

    tracked.reconcile(engine, "items")

    assert tracked.dirty == {"1", "9", "2", "new-row"}


def test_a_document_that_matches_its_record_has_no_dirty_row(rows, monkeypatch):
    engine, tracked = rows
    monkeypatch.setattr(table_record, "PAGE", 4)

    tracked.reconcile(engine, "items")

    assert tracked.dirty == set()
