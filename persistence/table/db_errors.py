"""Tells passing database trouble from a refusal, and says in one line what the database said.

A lost connection, a deadlock victim, a serialization failure, a lock or statement timeout, a
server shutting down or a busy SQLite file say nothing about the data: the same write succeeds
when tried again. Such errors must be retried, never shown to a user as a refused edit.
"""

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError

# PostgreSQL SQLSTATEs of errors that pass: serialization failure, deadlock, lock not available,
# query cancelled (statement_timeout), admin/crash shutdown, cannot connect now.
_TRANSIENT_STATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
# Classes: connection exception, insufficient resources (too many connections, disk full).
_TRANSIENT_CLASSES = ("08", "53")
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def database_says(exc: BaseException) -> str:
    """The first line of what the database (or driver) said, without SQLAlchemy's SQL and
    parameters."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (as SQLAlchemy raises it, or the driver's own) is worth a retry."""
    orig: BaseException | None
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    else:
        orig = exc
    if orig is None:
        return False
    if isinstance(orig, sqlite3.OperationalError):
        return any(text in str(orig).lower() for text in _SQLITE_BUSY)
    if not isinstance(orig, psycopg.Error):
        return False
    if orig.sqlstate is None:
        # What psycopg raises when the connection itself fails (server closed the
        # connection, consuming input failed) has no SQLSTATE.
        return isinstance(orig, psycopg.OperationalError)
    return orig.sqlstate in _TRANSIENT_STATES or orig.sqlstate.startswith(_TRANSIENT_CLASSES)
