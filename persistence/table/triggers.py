"""Triggers that tell Cellsync which rows of a table other programs changed.

On PostgreSQL a row trigger sends `NOTIFY cellsync_changes, 'table<TAB>pk'` (the table as the
sheet names it, schema included); on SQLite, which
has no NOTIFY, it appends (table, pk) to `cellsync_changes`, which the server polls by id. The
worker's own writes fire the triggers too: it tells them apart by comparing the table with
what it last wrote, so nothing echoes back. Identifiers come from reflection and are quoted
by the dialect; no user text reaches SQL.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from persistence.store.tables import changes
from persistence.table.schema import TableSchema

CHANNEL = "cellsync_changes"
TRIGGER = "cellsync_watch"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION cellsync_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('{CHANNEL}', COALESCE(TG_ARGV[1], TG_TABLE_NAME) || E'\\t'
      || (row_to_json(OLD) ->> TG_ARGV[0]));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM pg_notify('{CHANNEL}', COALESCE(TG_ARGV[1], TG_TABLE_NAME) || E'\\t'
      || (row_to_json(NEW) ->> TG_ARGV[0]));
  END IF;
  RETURN NULL;
END $$
"""


def watch(engine: Engine, schema: TableSchema) -> None:
    """Installs the triggers on the sheet's table (again, if they are there)."""
    unwatch(engine, schema)
    table, pk = _quoted(engine, schema)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(_PG_FUNCTION))
            conn.execute(
                sa.text(
                    f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION "
                    f"cellsync_notify_change({_literal(schema.pk)}, {_literal(schema.table)})"
                )
            )
            return
        name = _literal(schema.table)
        for event, rows in (("INSERT", ["NEW"]), ("UPDATE", ["OLD", "NEW"]), ("DELETE", ["OLD"])):
            values = ", ".join(f"({name}, CAST({row}.{pk} AS TEXT))" for row in rows)
            conn.execute(
                sa.text(
                    f"CREATE TRIGGER {_sqlite_trigger(engine, schema, event)} AFTER {event} "
                    f"ON {table} BEGIN INSERT INTO cellsync_changes (tbl, pk) VALUES {values}; END"
                )
            )


def unwatch(engine: Engine, schema: TableSchema) -> None:
    table, _ = _quoted(engine, schema)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}"))
            return
        for event in ("INSERT", "UPDATE", "DELETE"):
            conn.execute(
                sa.text(f"DROP TRIGGER IF EXISTS {_sqlite_trigger(engine, schema, event)}")
            )


def is_watched(engine: Engine, schema: TableSchema) -> bool:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = (
                "SELECT count(*) FROM pg_trigger WHERE tgname = :n AND tgrelid = to_regclass(:t)"
            )
            table, _ = _quoted(engine, schema)
            return bool(conn.execute(sa.text(query), {"n": TRIGGER, "t": table}).scalar_one())
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :n"
        name = f"{TRIGGER}_{schema.table}_insert"
        return bool(conn.execute(sa.text(query), {"n": name}).scalar_one())


def changed_since(conn: Connection, after: int) -> tuple[int, dict[str, set[str]]]:
    """SQLite: the rows changed since change `after`, by table, and the newest change id.
    Changes read are deleted: one server process serves a SQLite database."""
    rows = conn.execute(
        sa.select(changes.c.id, changes.c.tbl, changes.c.pk).where(changes.c.id > after)
    ).all()
    by_table: dict[str, set[str]] = {}
    for row in rows:
        by_table.setdefault(row.tbl, set()).add(row.pk)
    newest = max((row.id for row in rows), default=after)
    if rows:
        conn.execute(changes.delete().where(changes.c.id <= newest))
    return newest, by_table


def _quoted(engine: Engine, schema: TableSchema) -> tuple[str, str]:
    """The table (schema-qualified when the sheet names a schema) and its key, quoted."""
    preparer = engine.dialect.identifier_preparer
    return preparer.format_table(schema.name.clause()), preparer.quote(schema.pk)


def _sqlite_trigger(engine: Engine, schema: TableSchema, event: str) -> str:
    return engine.dialect.identifier_preparer.quote(f"{TRIGGER}_{schema.table}_{event.lower()}")


def _literal(text: str) -> str:
    """A SQL string literal of a reflected name."""
    return "'" + text.replace("'", "''") + "'"
