"""Finds what other programs wrote to a sheet's table since the worker last looked.

The table is compared with the record of what the worker last wrote or read: rows whose
cells differ were updated by someone else, rows the record lacks were inserted, rows the table
lacks were deleted. The worker's own writes match the record, so they never come back. The
record is brought up to date in the same transaction. Blocking: run it on the worker thread.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pycrdt import Doc, Map
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from persistence.document import ROWS, from_cell, row_key, same, to_cell
from persistence.row_edits import RowEdits
from persistence.store import table_record
from persistence.store.table_record import RecordedRow
from persistence.table.schema import TableSchema, load_table

_INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True)
class ExternalChange:
    key: str
    cells: dict[str, Any] | None  # the changed cells (all cells of a new row); None: deleted
    inserted: bool = False


def as_edits(doc: Doc, changes: Iterable[ExternalChange]) -> RowEdits:
    """The changes as edits of the document as it is now, each a server edit of exactly the
    changed cells; a row the document deleted meanwhile stays deleted (its DELETE is on its
    way to the table)."""
    rows = doc.get(ROWS, type=Map)
    edits = RowEdits()
    for change in changes:
        present = isinstance(rows.get(change.key), Map)
        if change.cells is None:
            if present:
                edits.deleted.add(change.key)
        elif present:
            edits.cells[change.key] = change.cells
        elif change.inserted:
            edits.added[change.key] = change.cells
    return edits


class ExternalReader:
    def __init__(self, engine: Engine, sheet: str, schema: TableSchema) -> None:
        self.engine = engine
        self.sheet = sheet
        self.schema = schema
        self.table = load_table(engine, schema.table)
        self.pk = self.schema.column(schema.pk)

    def collect(self, pks: Iterable[str] | None = None) -> list[ExternalChange]:
        """Changes to the rows with these primary keys (as text), or to the whole table."""
        with self.engine.begin() as conn:
            table_record.lock_sheet(conn, self.sheet)
            if pks is None:
                return self._whole_table(conn)
            values = [self._typed(pk) for pk in pks]
            known = table_record.read_by_pk(conn, self.sheet, [to_cell(v, self.pk) for v in values])
            return self._settle(conn, self.rows(conn, values), known)

    def _whole_table(self, conn: Connection) -> list[ExternalChange]:
        """The whole table against the record, a batch of rows at a time: neither is held
        whole (at 200,000 rows, ~400 MB of Python objects beside the document). Rows of the
        record whose primary key no batch had were deleted."""
        changes: list[ExternalChange] = []
        seen: set[str] = set()  # row keys of the table's primary keys
        batches = {"yield_per": table_record.STREAM_BATCH}  # this query's, not the connection's
        result = conn.execute(sa.select(*self.columns), execution_options=batches)
        for batch in result.partitions():
            table = {row_key(cells[self.schema.pk]): cells for cells in map(self.cells, batch)}
            seen.update(table)
            known, unchanged = table_record.read_changed(conn, self.sheet, table, self.schema.pk)
            for key in unchanged:
                del table[key]
            changes += self._settle(conn, table, known)
        gone = [
            key
            for key, pk in table_record.primary_keys(conn, self.sheet)
            if row_key(pk) not in seen
        ]
        table_record.forget(conn, self.sheet, gone)
        return changes + [ExternalChange(key, None) for key in gone]

    def since_written(
        self, conn: Connection, known: dict[str, RecordedRow]
    ) -> list[ExternalChange]:
        """In a flush's transaction, before it writes: what others changed in these rows since
        the worker wrote them, so the flush does not overwrite it. The rows stay locked until
        commit (PostgreSQL); `known` and the record are brought up to date."""
        pks = [from_cell(row.pk, self.pk) for row in known.values()]
        return self._settle(conn, self._locked_rows(conn, pks), known)

    def _locked_rows(self, conn: Connection, pks: list[Any]) -> dict[str, dict[str, Any]]:
        """The rows, locked where the role may: locking needs the UPDATE privilege, and a role
        without it must still write what it may (INSERTs) and see its UPDATEs refused."""
        if conn.dialect.name != "postgresql" or not pks:
            return self.rows(conn, pks)
        try:
            with conn.begin_nested():
                return self.rows(conn, pks, lock=True)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                raise
        return self.rows(conn, pks)

    def _settle(
        self, conn: Connection, table: dict[str, dict], known: dict[str, RecordedRow]
    ) -> list[ExternalChange]:
        """The differences between table and record; the record, and `known`, are made to
        match the table."""
        changes, rows, new, gone = self._compare(table, known)
        table_record.write(conn, self.sheet, rows, new)
        table_record.forget(conn, self.sheet, gone)
        known.update(rows)
        for key in gone:
            del known[key]
        return changes

    def _compare(self, table: dict[str, dict], known: dict[str, RecordedRow]):
        by_pk = {row_key(row.pk): key for key, row in known.items()}
        changes, rows, new, gone = [], {}, set(), []
        for pk, cells in table.items():
            key = by_pk.get(pk)
            if key is None:
                key = pk
                changes.append(ExternalChange(key, cells, inserted=True))
                rows[key] = RecordedRow(cells[self.schema.pk], cells)
                new.add(key)
                continue
            before = known[key]
            changed = {c: v for c, v in cells.items() if not same(v, before.cells.get(c))}
            if changed:
                changes.append(ExternalChange(key, changed))
                sent = {c: v for c, v in before.sent.items() if c not in changed}
                rows[key] = RecordedRow(before.pk, before.cells | changed, sent)
        for pk, key in by_pk.items():
            if pk not in table:
                changes.append(ExternalChange(key, None))
                gone.append(key)
        return changes, rows, new, gone

    def rows(
        self, conn: Connection, pks: list[Any], lock: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Table rows as document cells, by row key of their primary key. Locked rows are
        locked in primary-key order, so that a program updating them in that order waits
        instead of deadlocking."""
        pk = self.table.c[self.schema.pk]
        ordered = sorted(pks)
        chunks = [ordered[i : i + 1000] for i in range(0, len(ordered), 1000)]
        queries = [sa.select(*self.columns).where(pk.in_(chunk)).order_by(pk) for chunk in chunks]
        if lock and conn.dialect.name == "postgresql":
            queries = [query.with_for_update() for query in queries]
        rows = {}
        for query in queries:
            for row in conn.execute(query):
                cells = self.cells(row)
                rows[row_key(cells[self.schema.pk])] = cells
        return rows

    @property
    def columns(self) -> list[sa.Column]:
        """The sheet's columns of the table, in the order `cells` reads them."""
        return [self.table.c[c.name] for c in self.schema.columns]

    def cells(self, row: sa.Row) -> dict[str, Any]:
        """A row selected (or returned) as `columns`, as document cells."""
        return {c.name: to_cell(v, c) for c, v in zip(self.schema.columns, row, strict=True)}

    def _typed(self, pk: str) -> Any:
        """A primary key from a trigger's text as the column's own type."""
        return from_cell(int(pk) if self.pk.type == "integer" else pk, self.pk)
