"""Writes a whole sheet document into its table at once, outside the server (`cellsync snapshot`).

The same pieces as the persistence worker, in one go: the document built from the update, its
rows reconciled against what was last written (so only cells the document changed are written,
and rows a crash left half-written are finished, never inserted twice), one TableWriter
transaction under the sheet's lock (so a running server never writes the same sheet at the same
moment), and the outcome (new keys, refused cells, cells the table changed meanwhile, which it
keeps) as an update for the document. Blocking.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from persistence.table.dirty_rows import DirtyRows
from persistence.table.schema import TableSchema
from persistence.table.write_result import WriteResult
from persistence.table.writer import TableWriter


@dataclass(frozen=True)
class TableFlush:
    result: WriteResult
    write_back: bytes | None  # the outcome as a document update, for every client to see


def write_document(engine: sa.Engine, sheet: str, schema: TableSchema, update: bytes) -> TableFlush:
    """Writes whatever the document `update` holds and the table lacks."""
    rows = DirtyRows.of_update(update, schema.pk)
    try:
        rows.reconcile(engine, sheet)
        taken = rows.states(rows.take())
        result = TableWriter(engine, sheet, schema).write(taken)
        return TableFlush(result, rows.write_back(result, taken))
    finally:
        rows.close()  # else its observer keeps the document it built alive
