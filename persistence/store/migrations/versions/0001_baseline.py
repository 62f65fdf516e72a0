"""Baseline: the tables Cellsync created before it had migrations.

Databases from before migrations hold some or all of them already (which ones depended on what
the process had imported), so each table is created only where it is missing: running this
revision adopts such a database. `cellsync_changes` is SQLite's only.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cellsync_updates",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sheet", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        if_not_exists=True,
    )
    op.create_index(
        "cellsync_updates_sheet_id", "cellsync_updates", ["sheet", "id"], if_not_exists=True
    )
    op.create_table(
        "cellsync_rows",
        sa.Column("sheet", sa.String(200), primary_key=True),
        sa.Column("row_key", sa.String(200), primary_key=True),
        sa.Column("pk", sa.Text(), nullable=False),
        sa.Column("cells", sa.Text(), nullable=False),
        if_not_exists=True,
    )
    op.create_index("cellsync_rows_pk", "cellsync_rows", ["sheet", "pk"], if_not_exists=True)
    op.create_table(
        "cellsync_sheets",
        sa.Column("sheet", sa.String(200), primary_key=True),
        sa.Column("flushed_at", sa.DateTime(timezone=True)),
        if_not_exists=True,
    )
    op.create_table(
        "cellsync_snapshots",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sheet", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("sheet", "version", name="cellsync_snapshots_sheet_version"),
        if_not_exists=True,
    )
    if op.get_context().dialect.name == "sqlite":
        op.create_table(
            "cellsync_changes",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("tbl", sa.String(200), nullable=False),
            sa.Column("pk", sa.Text(), nullable=False),
            sqlite_autoincrement=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    for table in ("cellsync_changes", "cellsync_snapshots", "cellsync_sheets", "cellsync_rows"):
        op.drop_table(table, if_exists=True)
    op.drop_table("cellsync_updates", if_exists=True)
