"""Makes deferred constraints fail at the statement that breaks them, not at COMMIT.

A constraint checked only at COMMIT (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED)
would fail the whole flush, for ever, and no savepoint could tell which row broke it. On
PostgreSQL, `SET CONSTRAINTS ALL IMMEDIATE` makes the statement itself fail. SQLite has no such
switch: after each write, `PRAGMA foreign_key_check` on the tables whose deferred foreign keys
the write can break finds violations that were not there when the flush began.
"""

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

_DEFERRED = re.compile(r"INITIALLY\s+DEFERRED", re.IGNORECASE)


class ConstraintViolation(Exception):
    """A write broke a deferred constraint; the message is the database's kind of reason."""


class DeferredChecks:
    def __init__(self, engine: Engine, table: sa.Table) -> None:
        self.dialect = engine.dialect.name
        self.tables = _sqlite_deferred(engine, table.name) if self.dialect == "sqlite" else []
        self._before: set[tuple] = set()

    def start(self, conn: Connection) -> None:
        """At the start of a flush's transaction."""
        if self.dialect == "postgresql":
            conn.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
        elif self.tables:
            self._before = self._violations(conn)

    def check(self, conn: Connection) -> None:
        """After a write, in its savepoint: raises ConstraintViolation for what it broke."""
        if not self.tables:
            return
        new = self._violations(conn) - self._before
        if new:
            parents = ", ".join(sorted({f'"{parent}"' for _, _, parent, _ in new}))
            raise ConstraintViolation(f"FOREIGN KEY constraint failed (no such row in {parents})")

    def _violations(self, conn: Connection) -> set[tuple]:
        quote = conn.dialect.identifier_preparer.quote
        found: set[tuple] = set()
        for name in self.tables:
            found.update(
                map(tuple, conn.exec_driver_sql(f"PRAGMA foreign_key_check({quote(name)})"))
            )
        return found


def _sqlite_deferred(engine: Engine, table: str) -> list[str]:
    """The table itself if it has deferred foreign keys, and the tables whose deferred
    foreign keys point at it (deleting or re-keying its rows can break those). SQLAlchemy does
    not reflect DEFERRABLE written on a column, as Django writes it: the DDL tells."""
    found = []
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        tables = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        for name, ddl in tables.all():
            if not _DEFERRED.search(ddl or ""):
                continue
            keys = conn.exec_driver_sql(f"PRAGMA foreign_key_list({quote(name)})").all()
            parents = {key[2].lower() for key in keys}  # (id, seq, table, from, to, ...)
            if keys and (name.lower() == table.lower() or table.lower() in parents):
                found.append(name)
    return found
