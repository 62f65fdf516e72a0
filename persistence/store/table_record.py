"""What the worker last wrote to (or read from) each sheet's table, row by row.

The worker writes only cells where the document differs from this record, so values other
programs wrote to the table are never overwritten by stale ones. It is updated in the same
transaction as the table, so after any crash the two agree. It also maps a row created in a
client (random key) to the primary key the database gave it: a row is never inserted twice.

A row the worker deleted stays in the record for `TOMBSTONE_AGE` as a tombstone (`deleted_at`
set): when a client sends it again under its key (undo), the guard accepts the key's primary
key and the row goes back into the table with it. Tombstones are not rows of the table: every
reader but `deleted` skips them; recording a row of the table drops those of its key or its
primary key (an INSERT reused it); deleting rows drops those past their age.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from persistence.document import row_key
from persistence.store.tables import record_rows, sheet_locks

# How long a deleted row can come back with its own key: past it, a row sent again under its
# key is a new row (the database gives it a new key where it generates them).
TOMBSTONE_AGE = timedelta(days=7)

STREAM_BATCH = 5000  # rows of the record `primary_keys` reads at a time
PAGE = 2000  # rows of a `page`: on the event loop, reading as many rows of a document takes ~16 ms

_LIVE = record_rows.c.deleted_at.is_(None)
_DEAD = record_rows.c.deleted_at.is_not(None)

# `json.dumps` without its per-call argument handling (the same text: a primary key is looked
# up by it): a first open encodes every row of the table, 35% faster so.
_encode = json.JSONEncoder(check_circular=False).encode

# Kept inside the cells' JSON, so that records written before it existed read the same.
_SENT = "\x00sent"


@dataclass(frozen=True)
class RecordedRow:
    pk: Any
    cells: dict[str, Any]  # what the table stored
    # Cells the table stored differently from what the document sent (column -> the value
    # sent): the document is corrected after the flush, and if a crash loses that correction,
    # the document still holding the value sent is not mistaken for a new edit.
    sent: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return _encode(self.cells | {_SENT: self.sent} if self.sent else self.cells)

    @classmethod
    def from_json(cls, pk: str, cells: str) -> "RecordedRow":
        values = json.loads(cells)
        return cls(json.loads(pk), values, values.pop(_SENT, {}))


@dataclass(frozen=True)
class RecordLookup:
    """What the record says of some row keys, for the guard's checks."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> cells the table holds
    deleted: dict[str, Any] = field(default_factory=dict)  # tombstones: key -> primary key


def lookup(conn: Connection, sheet: str, keys: Iterable[str]) -> RecordLookup:
    keys = list(keys)
    rows = {key: row.cells for key, row in read(conn, sheet, keys).items()}
    return RecordLookup(rows, deleted(conn, sheet, keys))


def lock_sheet(conn: Connection, sheet: str) -> None:
    """Serialises writers of one sheet (server, CLI, other processes) until commit: a row lock
    on PostgreSQL, the write lock on SQLite. The row is made first if missing, without failing
    when another process makes it at once (processes sharing sheets may open a new one together)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(sheet_locks).values(sheet=sheet).on_conflict_do_nothing())
    conn.execute(
        sheet_locks.update().where(sheet_locks.c.sheet == sheet).values(flushed_at=sa.func.now())
    )


def read(conn: Connection, sheet: str, keys: Iterable[str] | None = None) -> dict[str, RecordedRow]:
    """The record of the given rows (all rows when `keys` is None), by row key."""
    return _select(conn, sheet, record_rows.c.row_key, None if keys is None else list(keys))


def read_by_pk(conn: Connection, sheet: str, pks: Iterable[Any]) -> dict[str, RecordedRow]:
    """The record of the rows with these primary-key values, by row key."""
    return _select(conn, sheet, record_rows.c.pk, [_encode(pk) for pk in pks])


def read_changed(
    conn: Connection, sheet: str, rows: dict[str, dict[str, Any]], pk: str
) -> tuple[dict[str, RecordedRow], set[str]]:
    """For `rows` of the table (by row key of their primary key `pk`): the record of those it
    holds otherwise, by row key, and the keys of those it holds exactly so. Those are found by
    the JSON the record keeps, undecoded: a poll of an unchanged table decodes nothing."""
    wanted = {_encode(cells[pk]): key for key, cells in rows.items()}
    differ: dict[str, RecordedRow] = {}
    unchanged: set[str] = set()
    for r in _in_chunks(conn, _live(sheet), record_rows.c.pk, list(wanted)):
        key = wanted[r.pk]
        if r.cells == _encode(rows[key]):
            unchanged.add(key)
        else:
            differ[r.row_key] = RecordedRow.from_json(r.pk, r.cells)
    return differ, unchanged


def deleted(conn: Connection, sheet: str, keys: Iterable[str]) -> dict[str, Any]:
    """The tombstones of the given row keys: key -> the primary key the row had."""
    query = sa.select(record_rows.c.row_key, record_rows.c.pk).where(
        record_rows.c.sheet == sheet, _DEAD
    )
    return {
        r.row_key: json.loads(r.pk)
        for r in _in_chunks(conn, query, record_rows.c.row_key, list(keys))
    }


def primary_keys(conn: Connection, sheet: str) -> Iterator[tuple[str, Any]]:
    """The key and primary key of every row of the record, read a batch at a time: what a
    comparison of the whole sheet needs to find the rows the table lost, without decoding
    (nor holding) their cells."""
    query = sa.select(record_rows.c.row_key, record_rows.c.pk).where(
        record_rows.c.sheet == sheet, _LIVE
    )
    # the query's option, not the connection's: its later statements must not be cursors
    result = conn.execute(query, execution_options={"yield_per": STREAM_BATCH})
    for r in result:
        yield r.row_key, json.loads(r.pk)


def page(conn: Connection, sheet: str, after: str | None) -> list[tuple[str, RecordedRow]]:
    """The next `PAGE` rows of the record by row key, after the key `after` (from the first
    when None): pages read on separate connections, so the reader can let go in between."""
    query = _live(sheet).order_by(record_rows.c.row_key).limit(PAGE)
    if after is not None:
        query = query.where(record_rows.c.row_key > after)
    return [(r.row_key, RecordedRow.from_json(r.pk, r.cells)) for r in conn.execute(query)]


def _live(sheet: str) -> sa.Select:
    return sa.select(record_rows.c.row_key, record_rows.c.pk, record_rows.c.cells).where(
        record_rows.c.sheet == sheet, _LIVE
    )


def _select(
    conn: Connection, sheet: str, column: sa.Column, values: list[str] | None
) -> dict[str, RecordedRow]:
    query = _live(sheet)
    rows = conn.execute(query).all() if values is None else _in_chunks(conn, query, column, values)
    return {r.row_key: RecordedRow.from_json(r.pk, r.cells) for r in rows}


def _in_chunks(conn: Connection, query: sa.Select, column: sa.Column, values: list[str]) -> list:
    rows: list = []
    for chunk in _chunks(values):
        rows += conn.execute(query.where(column.in_(chunk))).all()
    return rows


def _chunks(values: list[str]) -> Iterator[list[str]]:
    """`values` 500 at a time: an `IN (...)` list stays under every database's limit."""
    for start in range(0, len(values), 500):
        yield values[start : start + 500]


def write(conn: Connection, sheet: str, rows: dict[str, RecordedRow], new: set[str]) -> None:
    """Records rows after they were written: `new` ones are inserted (in place of the
    tombstones of their keys and primary keys), the others updated."""
    _insert(
        conn,
        [(sheet, key, _encode(row.pk), row.to_json()) for key, row in rows.items() if key in new],
    )
    updates = [
        {"s": sheet, "k": key, "c": row.to_json()} for key, row in rows.items() if key not in new
    ]
    if updates:
        conn.execute(
            record_rows.update()
            .where(record_rows.c.sheet == sa.bindparam("s"))
            .where(record_rows.c.row_key == sa.bindparam("k"))
            .values(cells=sa.bindparam("c")),
            updates,
        )


def write_read(conn: Connection, sheet: str, pk: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Records rows as just read from the table, new to the record (a first open): `write`
    without a `RecordedRow` per row, a quarter of the encoding's CPU."""
    _insert(conn, [(sheet, row_key(row[pk]), _encode(row[pk]), _encode(row)) for row in rows])


def _insert(conn: Connection, rows: list[tuple[str, str, str, str]]) -> None:
    """Inserts rows of one sheet, (sheet, row key, JSON primary key, JSON cells), through each
    database's fastest path: SQLAlchemy's executemany costs 25 times COPY's CPU on PostgreSQL,
    and twice the driver's own executemany on SQLite (200,000 rows, docs/big-sheets.md)."""
    if not rows:
        return
    _drop_tombstones(conn, rows[0][0], [row[1] for row in rows], [row[2] for row in rows])
    columns = f"{record_rows.name} (sheet, row_key, pk, cells)"
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(f"INSERT INTO {columns} VALUES (?, ?, ?, ?)", rows)
        return
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver Cellsync ships
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {columns} FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def forget(conn: Connection, sheet: str, keys: Iterable[str] | None = None) -> None:
    """Removes the record of these rows (every row and tombstone when `keys` is None): rows
    another program deleted, or a sheet that now shows another table."""
    where = record_rows.c.sheet == sheet
    if keys is None:
        conn.execute(record_rows.delete().where(where))
        return
    for chunk in _chunks(list(keys)):
        conn.execute(record_rows.delete().where(where, record_rows.c.row_key.in_(chunk)))


def bury(conn: Connection, sheet: str, keys: Iterable[str]) -> None:
    """Marks rows the worker deleted from the table as tombstones, and drops tombstones past
    `TOMBSTONE_AGE`: they are made only here, so they never outnumber a week's deletions."""
    now = datetime.now(UTC)
    for chunk in _chunks(list(keys)):
        conn.execute(
            record_rows.update()
            .where(record_rows.c.sheet == sheet, _LIVE, record_rows.c.row_key.in_(chunk))
            .values(deleted_at=now)
        )
    conn.execute(
        record_rows.delete().where(
            record_rows.c.sheet == sheet, record_rows.c.deleted_at < now - TOMBSTONE_AGE
        )
    )


def _drop_tombstones(conn: Connection, sheet: str, keys: list[str], pks: list[str]) -> None:
    """Drops the tombstones of these row keys and JSON primary keys; most sheets have none,
    which one probe of the tombstones' index tells."""
    dead = sa.and_(record_rows.c.sheet == sheet, _DEAD)
    if conn.execute(sa.select(record_rows.c.row_key).where(dead).limit(1)).first() is None:
        return
    for column, values in ((record_rows.c.row_key, keys), (record_rows.c.pk, pks)):
        for chunk in _chunks(values):
            conn.execute(record_rows.delete().where(dead, column.in_(chunk)))
