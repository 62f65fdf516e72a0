"""Which columns a write must read back: those the table may store differently from what it
was sent (a rounding type, padding, a trigger, a computed column). Columns of exact types in a
table with no trigger are known without asking.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from persistence.table.triggers import TRIGGER as WATCH_TRIGGER

_EXACT_TYPES = (sa.Integer, sa.Boolean, sa.String, sa.Double)
_PADDED_TYPES = (sa.CHAR, sa.NCHAR)  # char(n) pads what it stores


def exact_columns(engine: Engine, table: sa.Table) -> set[str]:
    """The columns an UPDATE need not read back: the table stores exactly what it is sent."""
    if _has_triggers(engine, table) or any(c.computed for c in table.c):
        return set()
    return {
        c.name
        for c in table.c
        if isinstance(c.type, _EXACT_TYPES) and not isinstance(c.type, _PADDED_TYPES)
    }


def _has_triggers(engine: Engine, table: sa.Table) -> bool:
    """Whether triggers other than Cellsync's own (which change no row) are on the table."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = (
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:t) "
                "AND NOT tgisinternal AND tgname <> :own"
            )
            name = conn.dialect.identifier_preparer.format_table(table)
        else:
            query = (
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                "AND name NOT LIKE :own || '%'"
            )
            name = table.name
        return bool(conn.execute(sa.text(query), {"t": name, "own": WATCH_TRIGGER}).scalar_one())
