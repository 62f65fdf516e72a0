"""Fresh databases for the table scenarios: a SQLite file, or a PostgreSQL database of its own.

Every run gets a database that nobody else uses, with the same `bench(id, c1..c9)` table as the
room scenarios; a PostgreSQL database is dropped afterwards (WITH (FORCE): a server that died
may still hold connections).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

DATABASES = ("sqlite", "postgresql")
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLE = "bench"
TEXT_COLUMNS = 9  # c1..c9, after the integer primary key `id`
INSERT_BATCH = 2000

_counter = itertools.count(1)


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgresql"
    url: str


def postgresql_unavailable() -> str | None:
    """None when the local PostgreSQL answers; else why not."""
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh(
    kind: str, work: Path, rows: int, create: Callable[[str, int], None] | None = None
) -> Iterator[Database]:
    """A new database holding `bench` with `rows` rows, made by `create(url, rows)` (default
    `create_bench_table`); removed when the block ends."""
    create = create or create_bench_table
    name = f"cellsync_bench_{os.getpid()}_{next(_counter)}"
    if kind == "sqlite":
        path = work / f"{name}.db"
        database = Database(kind, f"sqlite:///{path}")
        try:
            create(database.url, rows)
            yield database
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if kind != "postgresql":
        raise ValueError(kind)
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        database = Database(kind, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        try:
            create(database.url, rows)
            yield database
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def bench_table(metadata: sa.MetaData) -> sa.Table:
    columns = [sa.Column(f"c{i}", sa.Text, nullable=True) for i in range(1, TEXT_COLUMNS + 1)]
    return sa.Table(TABLE, metadata, sa.Column("id", sa.Integer, primary_key=True), *columns)


def create_bench_table(url: str, rows: int) -> None:
    """`bench(id, c1..c9)` with ids 1..rows; the values are those of the room scenarios."""
    from persistence.database import create_engine

    engine = create_engine(url)
    try:
        metadata = sa.MetaData()
        table = bench_table(metadata)
        metadata.create_all(engine)
        values = [
            {
                "id": r,
                **{f"c{i}": f"row {r} col {i} {r * i % 997:03d}" for i in range(1, 10)},
            }
            for r in range(1, rows + 1)
        ]
        with engine.begin() as conn:
            for start in range(0, len(values), INSERT_BATCH):
                conn.execute(table.insert(), values[start : start + INSERT_BATCH])
    finally:
        engine.dispose()


def install_watch(url: str) -> None:
    """`cellsync watch` on the bench table: triggers (NOTIFY on PostgreSQL, a change table on
    SQLite), before the server opens the sheet."""
    from persistence.database import create_engine
    from persistence.store.migrate import prepare
    from persistence.table.schema import reflect_table
    from persistence.table.triggers import watch

    engine = create_engine(url)
    try:
        prepare(engine)  # as `cellsync watch` does: SQLite's triggers write cellsync_changes
        watch(engine, reflect_table(engine, TABLE))
    finally:
        engine.dispose()
