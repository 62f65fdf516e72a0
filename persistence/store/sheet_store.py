"""Opens a sheet's document: from the update log, or from its table the first time.

From the first open on, the log is the document's source and the persistence worker writes
the table. The first open streams the table under the sheet's lock: each chunk of rows goes
into the document and into the record of the worker's last written state, in the same
transaction as the document's first log rows (a chunk of rows each, `populate`), so the whole
table is never held beside it.
Later opens repair the document (its columns and table follow the database, `order` lists
each row once) with server edits logged at once. Blocking: run it in a thread; the `Doc` it
returns is the one the room serves, not a copy: at 200,000 rows a second document would cost
~750 MB and 2.5 s of applying, on the event loop.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import sqlalchemy as sa
from pycrdt import Doc

from persistence.document import Scalar, new_doc, populate, row_key
from persistence.store import table_record
from persistence.store.table_record import RecordedRow, RecordLookup
from persistence.store.update_log import LoggedDocument, UpdateLog, merge
from persistence.table import load_repair
from persistence.table.load_repair import Repair
from persistence.table.rows import fetch_rows
from persistence.table.schema import TableSchema, reflect_table

log = logging.getLogger(__name__)

RECORD_CHUNK = 5000  # rows of the table recorded per INSERT (COPY) at the first open


@dataclass(frozen=True)
class OpenedSheet:
    doc: Doc
    log_rows: int
    schema: TableSchema
    repair: bytes = b""  # what loading changed, logged: for processes that have it open
    # Built from the table just now, in that many seconds (the record written from the same
    # read); None when it came from the log.
    built_in: float | None = None
    # The log rows it was loaded from (or built as), and their state vector: a fresh client's
    # first sync starts with them, as they are, before what the document holds beyond them.
    logged: tuple[bytes, ...] = ()
    logged_state: bytes = b"\x00"


class SheetStore:
    def __init__(self, engine: sa.Engine, update_log: UpdateLog) -> None:
        self.engine = engine
        self.update_log = update_log

    def open(self, sheet: str, table: str, logged: LoggedDocument | None = None) -> OpenedSheet:
        """The sheet's document, from its log rows (`logged`, when the caller read them
        already) or from its table."""
        schema = reflect_table(self.engine, table)
        logged = logged or self.update_log.load(sheet)
        if logged is not None:
            return self._repaired(sheet, schema, logged)
        with self.engine.begin() as conn:
            table_record.lock_sheet(conn, sheet)
            logged = self.update_log.load(sheet, conn)  # another process may have been first
            if logged is not None:
                doc = logged.document()
                state = doc.get_state()
                return OpenedSheet(
                    doc, logged.rows, schema, logged=logged.updates, logged_state=state
                )
            started = time.monotonic()
            doc = new_doc()
            rows = _recording(fetch_rows(self.engine, schema), schema.pk, conn, sheet)
            chunks = tuple(populate(doc, schema, rows))
            self.update_log.append_rows([(sheet, chunk) for chunk in chunks], conn)
        built_in = time.monotonic() - started
        state = doc.get_state()
        return OpenedSheet(
            doc, len(chunks), schema, built_in=built_in, logged=chunks, logged_state=state
        )

    def _repaired(self, sheet: str, schema: TableSchema, logged: LoggedDocument) -> OpenedSheet:
        """The logged document after `load_repair`, whose edits are logged before anyone
        sees them; the record of written rows follows the same columns and table."""
        doc = logged.document()
        state = doc.get_state()
        edits: list[bytes] = []
        subscription = doc.observe(lambda event: edits.append(event.update))
        try:
            repair = load_repair.repair(doc, schema, lambda: _table_rows(self.engine, schema))
        finally:
            doc.unobserve(subscription)
        if not edits:
            return OpenedSheet(doc, logged.rows, schema, logged=logged.updates, logged_state=state)
        with self.engine.begin() as conn:
            table_record.lock_sheet(conn, sheet)
            repaired = merge(edits)
            self.update_log.append({sheet: repaired}, conn)
            if repair.rows_changed:
                _follow_record(conn, sheet, schema, repair)
        log.info("sheet %s: on load, %s", sheet, repair.summary())
        return OpenedSheet(
            doc, logged.rows + 1, schema, repaired, logged=logged.updates, logged_state=state
        )

    def recorded_rows(self, sheet: str, keys: set[str]) -> RecordLookup:
        """Rows as the table last held them (written to it or read from it), and the keys of
        rows deleted from it lately."""
        with self.engine.connect() as conn:
            return table_record.lookup(conn, sheet, keys)

    def peek(self, sheet: str, table: str) -> bytes:
        """The document `open` would return, writing nothing: readers (the HTTP API, export)
        must not make a sheet's first log row."""
        logged = self.update_log.load(sheet)
        if logged is not None:
            return logged.update
        schema = reflect_table(self.engine, table)
        doc = new_doc()
        populate(doc, schema, fetch_rows(self.engine, schema))
        return doc.get_update()


def _table_rows(engine: sa.Engine, schema: TableSchema) -> load_repair.TableRows:
    return {row_key(row[schema.pk]): row for row in fetch_rows(engine, schema)}


def _follow_record(conn: sa.Connection, sheet: str, schema: TableSchema, repair: Repair) -> None:
    """The record of written rows after a repair: another table's rows, or the same rows
    without dropped columns and with the new ones as the table holds them."""
    if repair.new_table is not None:  # tombstones go too: their keys were the other table's
        table_record.forget(conn, sheet)
        rows = {
            key: RecordedRow(cells[schema.pk], cells) for key, cells in repair.new_table.items()
        }
        table_record.write(conn, sheet, rows, new=set(rows))
        return
    written = table_record.read(conn, sheet)
    names = {column.name for column in schema.columns}
    changed = {}
    for key, row in written.items():
        cells = {c: v for c, v in row.cells.items() if c in names} | repair.filled.get(key, {})
        if cells != row.cells:
            changed[key] = RecordedRow(row.pk, cells)
    table_record.write(conn, sheet, changed, new=set())


def _recording(
    rows: Iterator[dict[str, Scalar]], pk: str, conn: sa.Connection, sheet: str
) -> Iterator[dict[str, Scalar]]:
    """The rows as they stream by, recorded as written a chunk at a time: the whole table is
    never held beside the document."""
    while chunk := list(islice(rows, RECORD_CHUNK)):
        table_record.write_read(conn, sheet, pk, chunk)
        yield from chunk
