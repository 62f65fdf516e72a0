"""Finds what other programs wrote to a sheet's table since the worker last looked.

The table is compared with the shadow record of what the worker last wrote or read: rows whose
cells differ were updated by someone else, rows the record lacks were inserted, rows the table
lacks were deleted. The worker's own writes match the record, so they never come back. The
record is brought up to date in the same transaction. Blocking: run it on the worker thread.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from persistence import shadow
from persistence.document import row_key, to_cell
from persistence.schema import TableSchema, load_table
from persistence.shadow import ShadowRow
from persistence.table_writer import same


@dataclass(frozen=True)
class ExternalChange:
    key: str
    cells: dict[str, Any] | None  # the changed cells (all cells of a new row); None: deleted
    inserted: bool = False


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
            shadow.lock_sheet(conn, self.sheet)
            if pks is None:
                table = self._rows(conn, None)
                known = shadow.read(conn, self.sheet)
            else:
                values = [self._typed(pk) for pk in pks]
                table = self._rows(conn, values)
                known = shadow.read_by_pk(conn, self.sheet, [to_cell(v, self.pk) for v in values])
            changes, rows, new, gone = self._compare(table, known)
            shadow.write(conn, self.sheet, rows, new)
            shadow.forget(conn, self.sheet, gone)
        return changes

    def _compare(self, table: dict[str, dict], known: dict[str, ShadowRow]):
        by_pk = {row_key(row.pk): key for key, row in known.items()}
        changes, rows, new, gone = [], {}, set(), []
        for pk, cells in table.items():
            key = by_pk.get(pk)
            if key is None:
                key = pk
                changes.append(ExternalChange(key, cells, inserted=True))
                rows[key] = ShadowRow(cells[self.schema.pk], cells)
                new.add(key)
                continue
            before = known[key]
            changed = {c: v for c, v in cells.items() if not same(v, before.cells.get(c))}
            if changed:
                changes.append(ExternalChange(key, changed))
                rows[key] = ShadowRow(before.pk, before.cells | changed)
        for pk, key in by_pk.items():
            if pk not in table:
                changes.append(ExternalChange(key, None))
                gone.append(key)
        return changes, rows, new, gone

    def _rows(self, conn, pks: list[Any] | None) -> dict[str, dict[str, Any]]:
        """Table rows as document cells, by row key of their primary key."""
        columns = [self.table.c[c.name] for c in self.schema.columns]
        query = sa.select(*columns)
        if pks is not None:
            query = query.where(self.table.c[self.schema.pk].in_(pks))
        rows = {}
        for row in conn.execute(query):
            cells = {c.name: to_cell(v, c) for c, v in zip(self.schema.columns, row, strict=True)}
            rows[row_key(cells[self.schema.pk])] = cells
        return rows

    def _typed(self, pk: str) -> Any:
        """A primary key from a trigger's text as the column's own type."""
        return int(pk) if self.pk.type == "integer" else pk
