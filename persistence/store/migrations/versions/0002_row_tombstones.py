"""Tombstones in the record: a row the table sync deleted keeps its record, marked with when.

A client's undo (or an offline client) may send the row again under its old key; the record's
tombstone says which primary key that key had, so the guard accepts the key and the row goes
back into the table with it. Tombstones older than `table_record.TOMBSTONE_AGE` are dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELETED = sa.text("deleted_at IS NOT NULL")


def upgrade() -> None:
    op.add_column("cellsync_rows", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.create_index(
        "cellsync_rows_deleted",
        "cellsync_rows",
        ["sheet", "deleted_at"],
        postgresql_where=DELETED,
        sqlite_where=DELETED,
    )


def downgrade() -> None:
    # Before 0002 every record row is a row the table holds.
    op.execute("DELETE FROM cellsync_rows WHERE deleted_at IS NOT NULL")
    op.drop_index("cellsync_rows_deleted", "cellsync_rows")
    with op.batch_alter_table("cellsync_rows") as batch:
        batch.drop_column("deleted_at")
