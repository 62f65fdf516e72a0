"""Opens a sheet's document: from the update log, or from its table the first time.

From the first open on, the log is the document's source and the persistence worker writes
the table. The first open streams the table under the sheet's lock, a chunk of rows at a time
(`built_chunks`): each chunk goes into the document, into the record of the worker's last
written state and into the log, committed before the next is built and handed to the clients
waiting for the sheet, so the whole table is never held beside the document and the first rows
reach a client while the rest are read.
Later opens repair the document (its columns and table follow the database, `order` lists
each row once) with server edits logged at once. Blocking: run it in a thread; the `Doc` it
returns is the one the room serves, not a copy: at 200,000 rows a second document would cost
~750 MB and 2.5 s of applying, on the event loop.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from pycrdt import Doc, Map

from persistence.document import (
    ROWS,
    Scalar,
    built_chunks,
    new_doc,
    order_keys,
    populate,
    row_cells,
    row_key,
)
from persistence.store import table_record
from persistence.store.table_record import RecordedRow, RecordLookup
from persistence.store.tables import updates
from persistence.store.update_log import BUILDING, LoggedDocument, UpdateLog, merge
from persistence.table import load_repair
from persistence.table.load_repair import Repair
from persistence.table.rows import fetch_rows
from persistence.table.schema import TableSchema, reflect_table

log = logging.getLogger(__name__)


def _nothing(update: bytes) -> None:
    return None


class SheetBuiltTwice(Exception):
    """Another program built the sheet while this process did (SQLite only)."""


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

    def open(
        self,
        sheet: str,
        table: str,
        logged: LoggedDocument | None = None,
        built: Callable[[bytes], None] = _nothing,
    ) -> OpenedSheet:
        """The sheet's document, from its log rows (`logged`, when the caller read them
        already) or from its table; `built` is given each chunk of a first open once it is
        committed, for the clients waiting for the sheet."""
        schema = reflect_table(self.engine, table)
        logged = logged or self.update_log.load(sheet)
        if logged is None:
            opened = self._first_open(sheet, schema, built)
            if opened is not None:
                return opened
            logged = self.update_log.load(sheet)  # another process's, or a stopped build's
            assert logged is not None
        return self._repaired(sheet, schema, logged)

    def _first_open(
        self, sheet: str, schema: TableSchema, built: Callable[[bytes], None]
    ) -> OpenedSheet | None:
        """The sheet built from its table, or None when the log holds it now, to be loaded
        like any sheet: another process built it first, or this finished a build that had
        stopped half-way (the table may have changed since it started, its columns too)."""
        with self.engine.connect() as lock:
            with lock.begin():
                # PostgreSQL: another process opening the sheet waits for the whole build
                table_record.lock_sheet(lock, sheet)
                if self.update_log.load(sheet, lock) is not None:  # another process was first
                    return None
                if lock.dialect.name == "postgresql":
                    return self._built(sheet, schema, built, lock)
            # SQLite has one writer at a time: the lock is taken again for the last step
            with lock.begin():
                return self._built(sheet, schema, built, lock)

    def _built(
        self, sheet: str, schema: TableSchema, built: Callable[[bytes], None], lock: sa.Connection
    ) -> OpenedSheet | None:
        """Builds the document from the table a chunk at a time, each chunk's rows recorded and
        its update logged in a transaction of its own, so that a client sent a chunk is sent
        only what is committed. The log rows go under a name no sheet has (`BUILDING`), which
        the last step changes to the sheet's under `lock`: nobody loads a half-built sheet (a
        record without a log loads nothing). A build that stopped half-way (its process died,
        or its database went away) is resumed, its chunks sent first: clients may hold them."""
        started = time.monotonic()
        building = BUILDING + sheet
        stopped = self.update_log.load(building)
        doc = stopped.document() if stopped is not None else new_doc()
        chunks = list(stopped.updates) if stopped is not None else []
        after = None
        if stopped is not None:
            log.warning("sheet %s: its first open stopped after %d chunks; resuming it",
                        sheet, len(chunks))  # fmt: skip
            after = _last_pk(doc, schema)
            for update in chunks:
                built(update)
        rows = fetch_rows(self.engine, schema, after)
        for chunk in built_chunks(doc, schema, rows, resumed=stopped is not None):
            with self.engine.begin() as conn:
                table_record.write_read(conn, sheet, schema.pk, chunk.rows)
                self.update_log.append_rows([(building, chunk.update)], conn)
            chunks.append(chunk.update)
            built(chunk.update)
        if lock.dialect.name != "postgresql":
            table_record.lock_sheet(lock, sheet)
            if self.update_log.load(sheet, lock) is not None:
                raise SheetBuiltTwice(f"sheet {sheet} was built by another program meanwhile")
        _rename(lock, building, sheet)
        if stopped is not None:
            return None
        return OpenedSheet(
            doc, len(chunks), schema, built_in=time.monotonic() - started, logged=tuple(chunks),
            logged_state=doc.get_state(),
        )  # fmt: skip

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


def _last_pk(doc: Doc, schema: TableSchema) -> Scalar:
    """The primary key of the document's last row: a build goes on from the row after it."""
    rows = doc.get(ROWS, type=Map)
    return row_cells(rows[order_keys(doc)[-1]])[schema.pk]


def _rename(conn: sa.Connection, old: str, new: str) -> None:
    """Gives log rows another sheet's name."""
    conn.execute(updates.update().where(updates.c.sheet == old).values(sheet=new))


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
