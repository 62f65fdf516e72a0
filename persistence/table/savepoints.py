"""Runs writes so that a refusal costs only what the database refused.

A batch runs in a savepoint; when the database refuses it, each item is tried again alone in
a savepoint of its own, so every other row is written and each refused one carries its own
reason. Passing trouble (a lost connection, a deadlock, a timeout) is raised, never taken for
a refusal: the whole write is tried again later.
"""

import logging
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from persistence.table.db_errors import database_says, is_transient
from persistence.table.deferred_checks import ConstraintViolation, DeferredChecks

log = logging.getLogger(__name__)

Run = Callable[[list[Any]], None]
Attempt = tuple[list, str | None]  # items, and the reason the database refused them (if it did)


class Savepoints:
    def __init__(self, sheet: str, deferred: DeferredChecks) -> None:
        self.sheet = sheet
        self.deferred = deferred

    def isolated(
        self, conn: Connection, items: list, run: Run
    ) -> Iterator[tuple[list, str | None]]:
        """Yields (batch, None) for what the database took; when it refuses the whole batch,
        retries each item alone and yields ([item], reason) for each refusal."""
        if not items:
            return
        refused = self.attempt(conn, items, run)
        if refused is None or len(items) == 1:
            yield items, refused
        else:
            for item in items:
                yield [item], self.attempt(conn, [item], run)

    def attempt(self, conn: Connection, items: list, run: Run) -> str | None:
        """Runs the writes in a savepoint: None if the database took them, else its reason."""
        try:
            with conn.begin_nested():
                run(items)
                self.deferred.check(conn)
        except ConstraintViolation as exc:
            reason = str(exc)
        except DBAPIError as exc:
            if is_transient(exc):
                raise
            reason = database_says(exc)
        else:
            return None
        if len(items) == 1:
            log.info("sheet %s: the database refused a row: %s", self.sheet, reason)
        return reason
