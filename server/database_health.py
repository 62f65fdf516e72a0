"""Whether the database answers the server's parts: what `/healthz`, `/metrics` and the log say.

Each part that retries database work (the update log, each sheet's table writer and reader, the
table watcher, room loads) reports every failure and success here under a source name of its
own. A source is failing from its first failure to its next success; the report tells the
part whether the state changed, so it logs once per outage, never once per retry.
"""

import logging
import time
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa

from persistence.database import CellsyncDatabaseError, check_connection, safe_url

log = logging.getLogger(__name__)

OPERATIONS = ("log_append", "table_write", "table_read", "room_load")


@dataclass
class DatabaseHealth:
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPERATIONS, 0))
    failing: dict[str, str] = field(default_factory=dict)  # source -> the last reason

    def failed(self, source: str, operation: str, exc: BaseException) -> bool:
        """Counts a failure; True when it starts the source's outage."""
        self.errors[operation] += 1
        started = source not in self.failing
        self.failing[source] = reason_of(exc)
        return started

    def succeeded(self, source: str) -> bool:
        """True when it ends the source's outage."""
        return self.failing.pop(source, None) is not None

    @property
    def up(self) -> bool:
        return not self.failing

    def reason(self) -> str:
        return "; ".join(f"{source}: {reason}" for source, reason in self.failing.items())


def reason_of(exc: BaseException) -> str:
    """The driver's one-line reason, not SQLAlchemy's wrapping; for a connection that failed,
    its last part ("Connection refused"), as `persistence.database` says it at start-up."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    line = lines[0] if lines else type(inner).__name__
    if isinstance(exc, sa.exc.OperationalError | psycopg.OperationalError):
        line = line.rsplit(": ", 1)[-1].strip()
    return line[:200]


def is_database_error(exc: BaseException) -> bool:
    """An error the database or its driver reported (no traceback needed), not a bug."""
    return isinstance(exc, sa.exc.DBAPIError | psycopg.Error)


class Backoff:
    """Delays between retries: `first`, doubling up to `limit`, back to `first` on success."""

    def __init__(self, first: float = 0.1, limit: float = 5.0) -> None:
        self.first = first
        self.limit = limit
        self._next = first

    def delay(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.limit)
        return delay

    def reset(self) -> None:
        self._next = self.first


def wait_for_database(engine: sa.Engine) -> None:
    """Blocks until the database answers, saying once that it waits: a server started before
    its database (a reboot, a compose file) comes up with it instead of exiting."""
    backoff = Backoff(limit=2.0)
    waiting = False
    while True:
        try:
            check_connection(engine)
        except CellsyncDatabaseError as exc:
            if not waiting:
                log.warning("%s; waiting for it", exc)
                waiting = True
            time.sleep(backoff.delay())
            continue
        if waiting:
            log.info("database %s answers; starting", safe_url(engine.url))
        return
