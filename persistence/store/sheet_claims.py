"""One server per sheet: the claim a process holds on a sheet while it serves it.

Two processes that both served a sheet on their own would each write its table from their own
document and revert each other's edits. Processes that share sheets through Redis hold the
same claim only while they write the sheet's table (`server/processes/writer_election.py`).
A claim is released by the operating system or the database when its holder dies, kill -9 included:

* PostgreSQL: a session-level advisory lock per sheet, on one connection of the process's own
  named after the process, so that a refused process can say who holds the sheet.
* SQLite: an exclusive `flock` on a file beside the database file, holding the owner's pid and
  host.

All calls block: run them in a thread.
"""

import fcntl
import logging
import os
import re
import socket
import threading
import zlib
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from persistence.database import psycopg_params

log = logging.getLogger(__name__)

LOCK_CLASS = 0x63656C6C  # "cell": the advisory locks' first key, apart from other programs'
HOLDER = f"cellsync serve, pid {os.getpid()} on {socket.gethostname()}"[:63]


class SheetTaken(Exception):
    """Another process serves the sheet."""

    def __init__(self, sheet: str, holder: str) -> None:
        super().__init__(
            f"sheet {sheet[:60]} is served by another process ({holder}); one server per sheet"
        )
        self.reason = str(self)
        self.holder = holder


def sheet_claims(engine: sa.Engine) -> "PostgresClaims | FileClaims | NoClaims":
    """The claims for the engine's database."""
    if engine.dialect.name == "postgresql":
        return PostgresClaims(psycopg_params(engine))
    database = engine.url.database
    return FileClaims(Path(database)) if database and database != ":memory:" else NoClaims()


class NoClaims:
    """An in-memory SQLite database has one process by nature."""

    def claim(self, sheet: str) -> None:
        pass

    def refresh(self) -> list[str]:
        return []

    def release(self, sheet: str) -> None:
        pass


class PostgresClaims:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params  # how to connect, as the engine does
        self._conn: psycopg.Connection | None = None
        self._held: set[str] = set()
        self._lost: list[str] = []  # taken by another process while the session was gone
        self._lock = threading.Lock()

    def claim(self, sheet: str) -> None:
        """Raises SheetTaken if another process holds the sheet."""
        with self._lock:
            conn = self._connection()
            if not self._try(conn, sheet):
                raise SheetTaken(sheet, self._holder(conn, sheet))
            self._held.add(sheet)

    def refresh(self) -> list[str]:
        """Takes the held sheets back if the database lost them (a restart ends sessions);
        returns those another process took meanwhile, which this one no longer holds."""
        with self._lock:
            if self._held:
                self._connection()
            lost, self._lost = self._lost, []
            return lost

    def release(self, sheet: str) -> None:
        with self._lock:
            self._held.discard(sheet)
            if self._conn is None or self._conn.closed:
                return  # the database ended the session, and its locks with it
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", _key(sheet))
            except psycopg.Error:
                self._conn.close()

    def _connection(self) -> psycopg.Connection:
        """The claims' own connection; a new one (after an outage, say) takes back the sheets
        the process still serves, naming any another process took meanwhile."""
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("SELECT 1")
                return self._conn
            except psycopg.Error:
                self._conn.close()
        self._conn = psycopg.connect(**self.params, autocommit=True, application_name=HOLDER)
        for sheet in sorted(self._held):
            if not self._try(self._conn, sheet):
                log.error("%s", SheetTaken(sheet, self._holder(self._conn, sheet)))
                self._held.discard(sheet)
                self._lost.append(sheet)
        return self._conn

    @staticmethod
    def _try(conn: psycopg.Connection, sheet: str) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", _key(sheet)).fetchone()
        assert row is not None, "a SELECT without FROM returns one row"
        return row[0]

    @staticmethod
    def _holder(conn: psycopg.Connection, sheet: str) -> str:
        row = conn.execute(
            "SELECT a.application_name, a.client_addr, a.pid FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.classid = %s AND l.objid = %s"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            _key(sheet),
        ).fetchone()
        if row is None:
            return "unknown, it just let go: try again"
        name, address, pid = row
        return f"{name or 'a session'}, from {address or 'a local socket'}, backend {pid}"


class FileClaims:
    """Counted per sheet: a room loading while its predecessor still unloads claims the sheet
    again in this process, where a second flock on the file would refuse it as another's."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._files: dict[str, tuple[int, int]] = {}  # sheet -> (locked file, claims)
        self._lock = threading.Lock()

    def claim(self, sheet: str) -> None:
        """Raises SheetTaken if another process holds the sheet."""
        with self._lock:
            if sheet in self._files:
                fd, claims = self._files[sheet]
                self._files[sheet] = (fd, claims + 1)
                return
            fd = os.open(self._path(sheet), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise SheetTaken(sheet, holder) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, HOLDER.encode(), 0)
            self._files[sheet] = (fd, 1)

    def refresh(self) -> list[str]:
        """A file lock lasts as long as its process."""
        return []

    def release(self, sheet: str) -> None:
        with self._lock:
            if sheet not in self._files:
                return
            fd, claims = self._files.pop(sheet)
            if claims > 1:
                self._files[sheet] = (fd, claims - 1)
                return
            os.ftruncate(fd, 0)
            os.close(fd)

    def _path(self, sheet: str) -> Path:
        """`DB.sheet-NAME-CRC.lock`: readable, and distinct for names that differ."""
        readable = re.sub(r"[^A-Za-z0-9_-]", "_", sheet)[:40]
        crc = zlib.crc32(sheet.encode())
        return self.database.with_name(f"{self.database.name}.sheet-{readable}-{crc:08x}.lock")


def _key(sheet: str) -> tuple[int, int]:
    return LOCK_CLASS, zlib.crc32(sheet.encode()) & 0x7FFFFFFF
