"""Opens a sheet's document: from the update log, or from its table the first time.

From the first open on, the log is the document's source and the table is written back to by
the persistence worker. Blocking: run it in a thread.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from pycrdt import Doc

from persistence.document import populate
from persistence.schema import TableSchema, reflect_table
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
        doc = Doc()
        populate(doc, schema, fetch_rows(self.engine, schema))
        update = doc.get_update()
        self.update_log.append({sheet: update})
        return OpenedSheet(update, 1, schema)
