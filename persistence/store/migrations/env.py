"""Alembic's entry point for Cellsync's tables: runs the migrations on the connection (and in
the transaction) that `persistence.store.migrate` hands it, or prints their SQL."""

from alembic import context

from persistence.store.tables import VERSION_TABLE

config = context.config
if context.is_offline_mode():
    context.configure(
        dialect_name=config.attributes["dialect"], literal_binds=True, version_table=VERSION_TABLE
    )
else:
    context.configure(connection=config.attributes["connection"], version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
