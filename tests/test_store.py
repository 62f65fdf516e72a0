"""Cellsync's own tables: created by migrations, adopted from before them, and a database the
code cannot serve refused at start-up with the command to run."""

import asyncio
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from serverprocess import ROOT, ServerProcess
from tables import create_items_table

from persistence.store import migrate, table_record
from persistence.store.table_record import RecordedRow
from persistence.store.tables import VERSION_TABLE, metadata, updates

ALWAYS = {"cellsync_updates", "cellsync_rows", "cellsync_sheets", "cellsync_snapshots"}


def cellsync(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "client", *args], cwd=ROOT, capture_output=True, text=True
    )


def cellsync_tables(engine: sa.Engine) -> set[str]:
    return {name for name in sa.inspect(engine).get_table_names() if name.startswith("cellsync_")}


def needed(engine: sa.Engine) -> set[str]:
    """The tables a database of this dialect needs (cellsync_changes is SQLite's only)."""
    sqlite = {"cellsync_changes"} if engine.dialect.name == "sqlite" else set()
    return ALWAYS | sqlite | {VERSION_TABLE}


def set_revision(engine: sa.Engine, revision: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {VERSION_TABLE}"))
        if revision is not None:
            conn.execute(sa.text(f"INSERT INTO {VERSION_TABLE} VALUES (:r)"), {"r": revision})


def log_a_row(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(updates.insert().values(sheet="items", data=b"\x00\x00"))


def logged_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(updates)).scalar_one()


def test_a_new_database_gets_exactly_the_tables_it_needs(engine):
    create_items_table(str(engine.url))  # the user's own table does not make it "old"
    migrate.prepare(engine)
    assert cellsync_tables(engine) == needed(engine)
    assert migrate.current_revision(engine) == migrate.head()


def test_the_migrations_build_what_the_code_defines(engine):
    migrate.prepare(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    expected = [] if engine.dialect.name == "sqlite" else [("add_table", "cellsync_changes")]
    assert [(change, table.name) for change, table in differences] == expected


def at_baseline(engine: sa.Engine) -> None:
    """Cellsync's tables as the baseline made them: as a Cellsync before 0002 left them."""
    with engine.begin() as conn:
        config = migrate._config()
        config.attributes["connection"] = conn
        command.upgrade(config, migrate.BASELINE)


def test_a_database_from_before_migrations_is_refused_then_adopted_with_its_data(engine):
    """The server made every table but the snapshots' (which only the CLI imported)."""
    at_baseline(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        conn.execute(sa.text("DROP TABLE cellsync_snapshots"))
    log_a_row(engine)
    with pytest.raises(migrate.StoreNotCurrent, match=r"at revision none.*cellsync migrate"):
        migrate.prepare(engine)
    assert migrate.upgrade(engine) == migrate.Migrated(None, migrate.head())
    assert logged_rows(engine) == 1
    assert "cellsync_snapshots" in cellsync_tables(engine)
    migrate.prepare(engine)


def test_tables_from_before_migrations_that_differ_are_refused(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE cellsync_updates (id INTEGER PRIMARY KEY, doc TEXT)"))
    with pytest.raises(migrate.StoreNotCurrent, match="cellsync_updates has columns"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) is None


async def test_a_database_behind_is_refused_at_start_until_cellsync_migrate(
    database_url, engine, tmp_path
):
    create_items_table(database_url)
    at_baseline(engine)
    log_a_row(engine)
    set_revision(engine, None)  # as a database before the baseline: its tables, no revision
    served = ServerProcess.serving(database_url, {"items": "items"}, tmp_path / "server.log")
    with pytest.raises(RuntimeError, match="server exited with 1") as refused:
        await served.start()
    command = re.search(r"run: (cellsync migrate --database-url \S+)", str(refused.value))
    assert command, refused.value

    migrated = cellsync(*command.group(1).split()[1:])
    assert migrated.returncode == 0, migrated.stderr
    assert f"from revision none to {migrate.head()}" in migrated.stdout
    assert migrate.current_revision(engine) == migrate.head()
    assert logged_rows(engine) == 1
    server = await ServerProcess.serving(
        database_url, {"items": "items"}, tmp_path / "2.log"
    ).start()
    await server.stop()


def test_a_database_at_0001_is_refused_until_migrated_to_0002_and_keeps_its_data(
    database_url, engine
):
    at_baseline(engine)
    log_a_row(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO cellsync_rows (sheet, row_key, pk, cells)"
                " VALUES ('items', '1', '1', :cells), ('items', 'f00d', '2', :cells)"
            ),
            {"cells": '{"id": 1, "name": "one"}'},
        )
    with pytest.raises(migrate.StoreNotCurrent, match="revision 0001; this Cellsync needs 0002"):
        migrate.prepare(engine)

    migrated = cellsync("migrate", "--database-url", database_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "from revision 0001 to 0002" in migrated.stdout
    migrate.prepare(engine)
    assert logged_rows(engine) == 1
    with engine.begin() as conn:
        assert table_record.read(conn, "items") == {
            "1": RecordedRow(1, {"id": 1, "name": "one"}),
            "f00d": RecordedRow(2, {"id": 1, "name": "one"}),
        }
        table_record.bury(conn, "items", ["f00d"])  # the new column takes tombstones
        assert table_record.deleted(conn, "items", ["1", "f00d"]) == {"f00d": 2}
        assert list(table_record.read(conn, "items")) == ["1"]


def test_a_database_ahead_of_the_code_is_refused(database_url, engine):
    migrate.prepare(engine)
    set_revision(engine, "9999_from_a_newer_cellsync")
    with pytest.raises(migrate.StoreNotCurrent, match="newer than this Cellsync knows"):
        migrate.prepare(engine)
    refused = cellsync("migrate", "--database-url", database_url)
    assert refused.returncode == 1
    assert "upgrade Cellsync" in refused.stderr
    assert migrate.current_revision(engine) == "9999_from_a_newer_cellsync"


def test_cellsync_migrate_sql_prints_the_migration_without_running_it(database_url, engine):
    printed = cellsync("migrate", "--database-url", database_url, "--sql")
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE IF NOT EXISTS cellsync_updates" in printed.stdout
    assert cellsync_tables(engine) == set()


async def test_servers_starting_at_once_migrate_once(database_url, engine, tmp_path):
    create_items_table(database_url)
    servers = [
        ServerProcess.serving(database_url, {"items": "items"}, tmp_path / f"{n}.log")
        for n in range(3)
    ]
    try:
        await asyncio.gather(*(server.start(timeout=60) for server in servers))
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.kill()
    assert cellsync_tables(engine) == needed(engine)
    assert sum("created Cellsync's tables" in server.log() for server in servers) == 1


# Says it is ready once imported and connected, then migrates when the test says go: the
# migrations start together.
AT_ONCE = """
import logging, sys
from persistence.database import create_engine, check_connection
from persistence.store.migrate import prepare
logging.basicConfig(level=logging.INFO)
engine = create_engine(sys.argv[1])
check_connection(engine)
print("ready", flush=True)
sys.stdin.readline()
prepare(engine)
"""


def test_processes_migrating_at_the_same_instant_migrate_once(database_url, engine):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", AT_ONCE, database_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        assert process.stdout.readline() == "ready\n", process.communicate(timeout=60)
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    logs = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, logs
    assert sum("created Cellsync's tables" in log for log in logs) == 1, logs
    assert cellsync_tables(engine) == needed(engine)
