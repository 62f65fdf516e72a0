"""Turns writes that other programs make to the sheets' tables into live edits.

On PostgreSQL it LISTENs for the notifications of `cellsync watch` triggers; on SQLite it polls
the triggers' change table by id, which is cheap. Tables without triggers are compared whole
every `table_poll_seconds` while their sheet is open, or less often when a comparison is slow
(`TableSync.poll`). `TableSync` does the comparing. While the
database is unreachable it retries with backoff, and says so once.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

import psycopg
import sqlalchemy as sa

from persistence.database import psycopg_params
from persistence.table.triggers import CHANNEL, changed_since
from server.database_health import Backoff
from server.sheets.rooms import Rooms
from server.storage.table_sync import TableSync

log = logging.getLogger(__name__)

SOURCE = "table watcher"


class TableWatcher:
    def __init__(
        self,
        engine: sa.Engine,
        sheets: Mapping[str, str],
        rooms: Rooms,
        table_sync: TableSync,
        poll_seconds: float,
        table_poll_seconds: float,
    ) -> None:
        self.engine = engine
        self.rooms = rooms
        self.table_sync = table_sync
        self.poll_seconds = poll_seconds
        self.table_poll_seconds = table_poll_seconds
        self.backoff = Backoff()
        self.sheets_of: dict[str, list[str]] = defaultdict(list)
        for sheet, table in sheets.items():
            self.sheets_of[table].append(sheet)

    async def run(self) -> None:
        """Runs until cancelled."""
        listen = self._listen() if self.engine.dialect.name == "postgresql" else self._poll()
        await asyncio.gather(listen, self._compare_unwatched())

    def _changed(self, table: str, pks: Iterable[str]) -> None:
        pks = list(pks)
        for sheet in self.sheets_of.get(table, ()):
            self.table_sync.read_changes(sheet, pks)

    async def _listen(self) -> None:
        params = psycopg_params(self.engine)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._answered()
                    self._compare_loaded()  # what changed before LISTEN took effect
                    async for notice in conn.notifies():
                        table, _, pk = notice.payload.partition("\t")
                        self._changed(table, [pk])
            except psycopg.Error as exc:
                await self._failed(exc)

    async def _poll(self) -> None:
        newest = 0
        while True:
            try:
                newest, by_table = await asyncio.to_thread(self._read_changes, newest)
            except sa.exc.SQLAlchemyError as exc:
                await self._failed(exc)
                continue
            self._answered()
            for table, pks in by_table.items():
                self._changed(table, pks)
            await asyncio.sleep(self.poll_seconds)

    async def _failed(self, exc: Exception) -> None:
        """Reports a failure (logged once per outage) and waits before the retry."""
        if self.rooms.health.failed(SOURCE, "table_read", exc):
            log.warning("watching table changes failed (%s); retrying with backoff",
                        self.rooms.health.failing[SOURCE])  # fmt: skip
        await asyncio.sleep(self.backoff.delay())

    def _answered(self) -> None:
        self.backoff.reset()
        if self.rooms.health.succeeded(SOURCE):
            log.info("watching table changes again")

    def _read_changes(self, after: int) -> tuple[int, dict[str, set[str]]]:
        with self.engine.begin() as conn:
            return changed_since(conn, after)

    async def _compare_unwatched(self) -> None:
        while self.table_poll_seconds > 0:
            await asyncio.sleep(self.table_poll_seconds)
            for room in self.rooms.loaded():
                self.table_sync.poll(room.name, self.table_poll_seconds)

    def _compare_loaded(self) -> None:
        """Has `TableSync` compare whole tables of the open sheets with what it last wrote."""
        for room in self.rooms.loaded():
            self.table_sync.read_changes(room.name, None)
