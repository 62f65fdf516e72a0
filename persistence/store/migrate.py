"""Brings Cellsync's tables to the code's version, or refuses a database it cannot serve.

At start-up (`prepare`): a database without Cellsync's tables gets them; one behind the code
(at an older revision, or from before migrations: its tables, no version) waits for
`cellsync migrate` (`upgrade`, which adopts the latter at the baseline first), run by whoever
backs the database up; one ahead of it (a newer Cellsync migrated it) is refused. Migrations
run under a lock, in one transaction, so two processes starting at once never both migrate.
All calls block.
"""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from persistence.database import CellsyncDatabaseError, safe_url
from persistence.store.sheet_claims import LOCK_CLASS
from persistence.store.tables import VERSION_TABLE, metadata

log = logging.getLogger(__name__)

BASELINE = "0001"
MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = (LOCK_CLASS, -1)  # sheet claims use (LOCK_CLASS, n >= 0)

# The columns of the tables Cellsync created before it had migrations: a database holding
# them, and no version, is adopted at the baseline.
BEFORE_MIGRATIONS = {
    "cellsync_updates": {"id", "sheet", "data", "created_at"},
    "cellsync_rows": {"sheet", "row_key", "pk", "cells"},
    "cellsync_sheets": {"sheet", "flushed_at"},
    "cellsync_snapshots": {"id", "sheet", "version", "label", "rows", "created_at", "data"},
    "cellsync_changes": {"id", "tbl", "pk"},
}


class StoreNotCurrent(CellsyncDatabaseError):
    """Cellsync's tables are at a version this code does not serve; the message says why and
    what to run."""


@dataclass(frozen=True)
class Migrated:
    before: str | None  # the revision the database was at (None: no version)
    after: str


@dataclass(frozen=True)
class _State:
    versioned: bool  # the version table exists
    revision: str | None
    tables: set[str]  # Cellsync's tables present


def head() -> str:
    """The revision this code needs."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at; None for one without a version."""
    with engine.connect() as conn:
        return _state(conn).revision


def prepare(engine: sa.Engine) -> None:
    """Start-up: creates the tables of a new database, and raises StoreNotCurrent for one
    behind (from before migrations included) or ahead of the code."""
    target = head()
    if current_revision(engine) == target:
        return
    with _locked(engine) as conn:
        state = _state(conn)
        if state.revision == target:
            return
        if not state.tables and state.revision is None:
            _run(conn, target)
            log.info("created Cellsync's tables in %s (revision %s)", safe_url(engine.url), target)
            return
        raise StoreNotCurrent(_refusal(engine, state, target))


def upgrade(engine: sa.Engine) -> Migrated:
    """`cellsync migrate`: brings the database to the code's revision."""
    with _locked(engine) as conn:
        state = _state(conn)
        if not _known(state.revision):
            raise StoreNotCurrent(_refusal(engine, state, head()))
        if state.revision is None:
            _check_adoptable(conn, state)
        _run(conn, "head")
    return Migrated(state.revision, head())


def upgrade_sql(engine: sa.Engine) -> str:
    """The SQL `upgrade` would run, for a database administrator to read or run."""
    with engine.connect() as conn:
        state = _state(conn)
    if not _known(state.revision):
        raise StoreNotCurrent(_refusal(engine, state, head()))
    out = io.StringIO()
    config = _config(out)
    config.attributes["dialect"] = engine.dialect.name
    command.upgrade(config, f"{state.revision}:head" if state.revision else "head", sql=True)
    return out.getvalue()


def _refusal(engine: sa.Engine, state: _State, target: str) -> str:
    url = safe_url(engine.url)
    if not _known(state.revision):
        return (
            f"Cellsync's tables in {url} are at revision {state.revision}, newer than this "
            f"Cellsync knows (it needs {target}): upgrade Cellsync"
        )
    return (
        f"Cellsync's tables in {url} are at revision {state.revision or 'none'}; this Cellsync "
        f"needs {target}. Back up the database, then run: cellsync migrate --database-url {url}"
    )


def _check_adoptable(conn: Connection, state: _State) -> None:
    """Refuses Cellsync tables from before migrations that do not have the expected columns."""
    inspector = sa.inspect(conn)
    for table in sorted(state.tables):
        columns = {column["name"] for column in inspector.get_columns(table)}
        if columns != BEFORE_MIGRATIONS[table]:
            raise StoreNotCurrent(
                f"table {table} has columns {sorted(columns)}, not the ones Cellsync made: "
                "rename or drop it, or point Cellsync at another database"
            )


def _state(conn: Connection) -> _State:
    names = set(sa.inspect(conn).get_table_names())
    versioned = VERSION_TABLE in names
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    revision = context.get_current_revision() if versioned else None
    ours = set(metadata.tables) | set(BEFORE_MIGRATIONS)
    return _State(versioned, revision, names & ours)


def _known(revision: str | None) -> bool:
    """Whether this code has the revision (no revision: the start of the history)."""
    if revision is None:
        return True
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return False
    return True


@contextmanager
def _locked(engine: sa.Engine) -> Iterator[Connection]:
    """One transaction that only one process at a time holds: PostgreSQL's advisory lock,
    SQLite's write lock, both released at commit."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(*MIGRATION_LOCK)))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _run(conn: Connection, target: str) -> None:
    config = _config()
    config.attributes["connection"] = conn
    command.upgrade(config, target)


def _config(out: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=out)
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())
