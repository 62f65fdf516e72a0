"""Read a user's table into document cells."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy
from sqlalchemy.engine import Engine

from persistence.document import Scalar, cell_reader, from_cell
from persistence.table.schema import TableSchema, load_table

FETCH_BATCH = 5000


def fetch_rows(
    engine: Engine, schema: TableSchema, after: Scalar = None
) -> Iterator[dict[str, Scalar]]:
    """Every row ordered by primary key (those past the primary key `after`, a cell, when
    given), as cells; streamed (a server-side cursor where the driver has one, FETCH_BATCH rows
    at a time) so that a large table is never held whole beside the document it becomes."""
    table = load_table(engine, schema.table)
    names = [column.name for column in schema.columns]
    readers = [cell_reader(column) for column in schema.columns]
    pk = table.c[schema.pk]
    query = sqlalchemy.select(*(table.c[column.name] for column in schema.columns))
    if after is not None:
        query = query.where(pk > from_cell(after, schema.column(schema.pk)))
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=FETCH_BATCH).execute(query.order_by(pk))
        for row in result:
            yield {name: read(value) for name, read, value in zip(names, readers, row, strict=True)}


def count_rows(engine: Engine, table_name: str) -> int:
    """How many rows the table holds: the size of a sheet not open, for the sheet list."""
    table = load_table(engine, table_name)
    query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()
