"""Opens a sheet's document: from the update log, or from its table the first time.

From the first open on, the log is the document's source and the persistence worker writes
the table. The first open records the table's rows as the worker's last written state, in the
same transaction as the document's first log row. Blocking: run it in a thread.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from pycrdt import Doc

from persistence import shadow
from persistence.document import Scalar, populate, row_key
from persistence.schema import TableSchema, reflect_table
from persistence.shadow import ShadowRow
from persistence.table_rows import fetch_rows
from persistence.update_log import UpdateLog


@dataclass(frozen=True)
class OpenedSheet:
    update: bytes
    log_rows: int
    schema: TableSchema


class SheetStore:
    def __init__(self, engine: sa.Engine, update_log: UpdateLog) -> None:
        self.engine = engine
        self.update_log = update_log

    def open(self, sheet: str, table: str) -> OpenedSheet:
        schema = reflect_table(self.engine, table)
        logged = self.update_log.load(sheet)
        if logged is not None:
            return OpenedSheet(logged.update, logged.rows, schema)
        update, rows = _from_table(self.engine, schema)
        written = {row_key(row[schema.pk]): ShadowRow(row[schema.pk], row) for row in rows}
        with self.engine.begin() as conn:
            shadow.lock_sheet(conn, sheet)
            logged = self.update_log.load(sheet, conn)  # another process may have been first
            if logged is not None:
                return OpenedSheet(logged.update, logged.rows, schema)
            self.update_log.append({sheet: update}, conn)
            shadow.write(conn, sheet, written, new=set(written))
        return OpenedSheet(update, 1, schema)

    def written_row(self, sheet: str, key: str) -> dict | None:
        """A row as the worker last wrote it to (or read it from) the table."""
        with self.engine.connect() as conn:
            row = shadow.read(conn, sheet, [key]).get(key)
        return row.cells if row is not None else None

    def peek(self, sheet: str, table: str) -> bytes:
        """The document `open` would return, writing nothing: readers (the HTTP API, export)
        must not make a sheet's first log row."""
        logged = self.update_log.load(sheet)
        if logged is not None:
            return logged.update
        return _from_table(self.engine, reflect_table(self.engine, table))[0]


def _from_table(engine: sa.Engine, schema: TableSchema) -> tuple[bytes, list[dict[str, Scalar]]]:
    """The document a sheet starts from (its table's rows), and those rows."""
    rows = list(fetch_rows(engine, schema))
    doc = Doc()
    populate(doc, schema, rows)
    return doc.get_update(), rows
