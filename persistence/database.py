"""Engine creation for the two databases Cellsync supports (SQLite by default, PostgreSQL).

Every part of Cellsync opens its database through `create_engine`, so URL handling, SQLite
settings and error messages are the same everywhere.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from persistence.table.db_errors import database_says

DEFAULT_URL = "sqlite:///./cellsync.db"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SQLITE_BUSY_TIMEOUT_MS = 10_000

# psycopg 3 is the only PostgreSQL driver we ship; bare URLs would pick psycopg2.
_URL_PREFIXES = {"postgres://": "postgresql+psycopg://", "postgresql://": "postgresql+psycopg://"}


class CellsyncDatabaseError(Exception):
    """A database URL or connection problem, with a one-line message fit for a user."""


def create_engine(url: str | None = None) -> Engine:
    """Create an engine for `url` (default: a SQLite file in the current directory)."""
    parsed = parse_url(url or DEFAULT_URL)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _create_sqlite_engine(parsed)
        return sqlalchemy.create_engine(parsed)
    except (NoSuchModuleError, ImportError) as exc:
        raise CellsyncDatabaseError(
            f"database driver {parsed.drivername!r} is not installed: {database_says(exc)}"
        ) from exc


def parse_url(url: str) -> URL:
    """Parse and normalise a database URL, refusing backends Cellsync does not support."""
    for prefix, replacement in _URL_PREFIXES.items():
        if url.startswith(prefix):
            url = replacement + url.removeprefix(prefix)
    try:
        parsed = sqlalchemy.make_url(url)
    except ArgumentError as exc:
        raise CellsyncDatabaseError(f"malformed database URL {url!r}") from exc
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise CellsyncDatabaseError(
            f"unsupported database {parsed.drivername!r} in {safe_url(parsed)}; "
            f"Cellsync supports {' and '.join(SUPPORTED_BACKENDS)}"
        )
    return parsed


def psycopg_params(engine: sqlalchemy.Engine) -> dict[str, Any]:
    """What the engine passes psycopg to connect, for a connection of Cellsync's own (LISTEN,
    advisory locks): rendering the URL back to text would turn the spaces of `?options=-c ...`
    into "+", which libpq does not read as spaces."""
    _, params = engine.dialect.create_connect_args(engine.url)
    # without "context": SQLAlchemy's adapters, for its own connections only
    return {key: value for key, value in params.items() if key != "context"}


def safe_url(url: URL) -> str:
    """Render a URL for messages and logs, without its password."""
    return url._replace(password=None).render_as_string(hide_password=False)


def check_connection(engine: Engine) -> None:
    """Open one connection so an unreachable database fails early with a readable message."""
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.select(1))
    except sqlalchemy.exc.DBAPIError as exc:
        raise CellsyncDatabaseError(
            f"cannot reach database {safe_url(engine.url)}: {_reason(exc)}"
        ) from exc


def _create_sqlite_engine(url: URL) -> Engine:
    """SQLite engine shared by threads, in WAL mode, with foreign keys and a busy timeout."""
    engine = sqlalchemy.create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection, _connection_record) -> None:
    """Per-connection SQLite settings: they are not persistent, so every connection needs them."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    finally:
        cursor.close()


def _reason(exc: sqlalchemy.exc.DBAPIError) -> str:
    """The driver's reason, e.g. "connection refused", without the surrounding noise."""
    reason = database_says(exc).rsplit(": ", 1)[-1].strip()
    return reason[:1].lower() + reason[1:]
