"""Every table Cellsync keeps in the user's database, on one MetaData.

The migrations in `migrations/versions/` create and change them; this module is what the code
reads and writes, and tests/test_store.py checks that the two agree. Every name starts with
`cellsync_`, so they stay apart from the user's own tables (and their own Alembic's).
"""

import sqlalchemy as sa

VERSION_TABLE = "cellsync_alembic_version"  # Alembic's record of the migrations applied

metadata = sa.MetaData()

# The durable update log: a sheet's document is the merge of its rows.
updates = sa.Table(
    "cellsync_updates",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("sheet", sa.String(200), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Index("cellsync_updates_sheet_id", "sheet", "id"),
)

# What the worker last wrote to (or read from) each row of a sheet's table, and the rows it
# deleted lately (tombstones).
record_rows = sa.Table(
    "cellsync_rows",
    metadata,
    sa.Column("sheet", sa.String(200), primary_key=True),
    sa.Column("row_key", sa.String(200), primary_key=True),
    sa.Column("pk", sa.Text(), nullable=False),  # JSON: the row's primary-key value
    sa.Column("cells", sa.Text(), nullable=False),  # JSON: column -> document scalar
    # Set when the table sync deleted the row: a tombstone, so that the row can come back
    # under its key with its primary key (undo). Dropped after `table_record.TOMBSTONE_AGE`.
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.Index("cellsync_rows_pk", "sheet", "pk"),
    sa.Index(
        "cellsync_rows_deleted",
        "sheet",
        "deleted_at",
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    ),
)

# One row per sheet, locked by every writer of the sheet's table.
sheet_locks = sa.Table(
    "cellsync_sheets",
    metadata,
    sa.Column("sheet", sa.String(200), primary_key=True),
    sa.Column("flushed_at", sa.DateTime(timezone=True)),
)

# Named versions of sheet documents.
snapshots = sa.Table(
    "cellsync_snapshots",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("sheet", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("label", sa.String(200)),
    sa.Column("rows", sa.Integer(), nullable=False),  # how many rows the version holds
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.UniqueConstraint("sheet", "version", name="cellsync_snapshots_sheet_version"),
)

# SQLite only: rows other programs changed, appended by `cellsync watch`'s triggers (PostgreSQL
# sends NOTIFY instead, so its databases do not have this table).
changes = sa.Table(
    "cellsync_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tbl", sa.String(200), nullable=False),
    sa.Column("pk", sa.Text, nullable=False),
    sqlite_autoincrement=True,  # ids never come back once read changes are deleted
    info={"dialects": ("sqlite",)},
)
