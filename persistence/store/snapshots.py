"""Named versions of sheet documents, kept so a sheet can be brought back to one of them.

A version is the whole document as one update, numbered 1, 2, ... per sheet. The number is
chosen under the sheet's lock (the one table writers take), so two processes recording at once
never pick the same one.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from persistence.store import table_record
from persistence.store.tables import snapshots


@dataclass(frozen=True)
class Snapshot:
    version: int
    label: str | None
    rows: int
    created_at: datetime | None


def record(engine: sa.Engine, sheet: str, update: bytes, rows: int, label: str | None) -> int:
    """Stores the document `update` as the sheet's next version and returns its number."""
    with engine.begin() as conn:
        table_record.lock_sheet(conn, sheet)
        latest = conn.execute(
            sa.select(sa.func.max(snapshots.c.version)).where(snapshots.c.sheet == sheet)
        ).scalar()
        version = (latest or 0) + 1
        conn.execute(
            snapshots.insert().values(
                sheet=sheet, version=version, label=label, rows=rows, data=update
            )
        )
    return version


def versions(engine: sa.Engine, sheet: str) -> list[Snapshot]:
    """The sheet's versions, oldest first."""
    query = (
        sa.select(snapshots.c.version, snapshots.c.label, snapshots.c.rows, snapshots.c.created_at)
        .where(snapshots.c.sheet == sheet)
        .order_by(snapshots.c.version)
    )
    with engine.connect() as conn:
        return [Snapshot(*row) for row in conn.execute(query)]


def load(engine: sa.Engine, sheet: str, version: int) -> bytes | None:
    """The document of one version, or None if the sheet has no such version."""
    query = sa.select(snapshots.c.data).where(
        snapshots.c.sheet == sheet, snapshots.c.version == version
    )
    with engine.connect() as conn:
        data = conn.execute(query).scalar()
    return bytes(data) if data is not None else None
