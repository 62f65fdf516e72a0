"""A flush's outcome as edits of a sheet document: new rows' primary keys, the values the table
stored where they differ from what was sent (defaults, rounding), refused cells put back and
explained in `refusals`, and the cells another program changed in the table. Refusals of cells
written, and of rows deleted, are removed.

The server makes them in the room's own document, after every edit it has received, so a
put-back never undoes an edit that came after the refused one; the CLI makes them in its copy.
"""

from pycrdt import Array, Doc, Map

from persistence import row_edits
from persistence.document import ORDER, REFUSALS, ROWS, refusal_key, same
from persistence.refusals import drop_deleted_rows, refuse
from persistence.table.external_changes import as_edits
from persistence.table.write_result import Refusal, WriteResult


def put_outcome(doc: Doc, result: WriteResult, pk: str) -> None:
    """Makes the outcome's edits in one transaction."""
    rows = doc.get(ROWS, type=Map)
    refusals = doc.get(REFUSALS, type=Map)
    with doc.transaction():
        for key, value in result.pks.items():
            row = rows.get(key)
            if isinstance(row, Map) and not same(row.get(pk), value):
                row[pk] = value
        for key, cells in result.stored.items():
            row = rows.get(key)
            for column, (held, value) in cells.items():
                if isinstance(row, Map) and same(row.get(column), held):
                    row[column] = value  # what the table stored, unless edited again since
        for key, columns in result.written.items():
            for column in columns:
                refusals.pop(refusal_key(key, column), None)
        for refusal in result.refusals:
            _refuse(doc, refusal)
        row_edits.apply(doc, as_edits(doc, result.external))
        drop_deleted_rows(refusals, rows)


def _refuse(doc: Doc, refusal: Refusal) -> None:
    """Records why, and puts back what the table still holds, unless the cell changed again."""
    rows = doc.get(ROWS, type=Map)
    for column in refusal.columns or ("",):
        reason, value = refusal.reason, refusal.values.get(column)
        refuse(doc.get(REFUSALS, type=Map), refusal.key, column, reason, value)
    if refusal.restore is None:
        return  # a new row never written: it stays as it is until its user changes it
    if refusal.deleted:
        if refusal.key not in rows:
            rows[refusal.key] = Map(refusal.restore.cells)
            doc.get(ORDER, type=Array).append(refusal.key)
        return
    row = rows.get(refusal.key)
    if not isinstance(row, Map):
        return
    for column in refusal.columns:
        if same(row.get(column), refusal.values.get(column)):
            row[column] = refusal.restore.cells.get(column)
