"""Keeps each open sheet's table following its document, off the event loop.

Each room's updates are fed to a replica of its document on the worker's single thread. A flush
runs `debounce` seconds after the last change, and at most `max_delay` after the first one
under a continuous stream; it writes the dirty rows in one transaction. Its outcome (new
primary keys, refused cells, cells the table changed meanwhile) and the changes other programs
make to the table are server edits of the room's own document, made after every edit the room
has received, so that they never undo a later one; a flush and an ingest take turns.

A failed flush or read is retried with backoff, keeping what it had taken (dirty rows, changed
keys) and the age of the oldest change, and is reported to `DatabaseHealth` once per outage.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa

from persistence import row_edits
from persistence.external_changes import ExternalReader, as_edits
from persistence.flush_outcome import put_outcome
from persistence.schema import TableSchema
from persistence.sheet_replica import SheetReplica
from persistence.table_watch import is_watched
from persistence.table_writer import FlushResult, TableWriter
from persistence.update_log import merge
from server.database_health import Backoff, DatabaseHealth, is_database_error
from server.room import Room

log = logging.getLogger(__name__)


@dataclass
class SheetLag:
    """How far a sheet's table is behind its document."""

    pending_rows: int
    lag_seconds: float
    stuck_rows: int = 0  # new rows the database refused, waiting for a fix
    last_error: str | None = None  # the database's reason for the last refusal


@dataclass
class _Sheet:
    room: Room
    schema: TableSchema
    replica: SheetReplica | None = None  # made, and only used, on the worker thread
    writer: TableWriter | None = None
    first_change: float | None = None  # monotonic time of the oldest change not yet taken
    in_flight: tuple[float, int] | None = None  # the flush under way: its oldest change, rows
    last_change: float = 0.0
    timer: asyncio.TimerHandle | None = None
    flushing: asyncio.Task[FlushResult | None] | None = None
    reader: ExternalReader | None = None
    watched: bool | None = None  # does the table report changes (triggers)?
    external_keys: set[str] = field(default_factory=set)  # changed rows' primary keys
    external_all: bool = False  # compare the whole table
    ingesting: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # a flush or an ingest at a time
    incoming: list[tuple[bytes, bool]] = field(default_factory=list)  # (update, by a client)
    write_backoff: Backoff = field(default_factory=Backoff)
    read_backoff: Backoff = field(default_factory=Backoff)
    retry_at: float = 0.0  # monotonic time before which a failed flush is not retried
    last_refusal: str | None = None

    @property
    def pending_rows(self) -> int:
        return len(self.replica.dirty) if self.replica is not None else 0


class PersistenceWorker:
    def __init__(
        self, engine: sa.Engine, debounce: float, max_delay: float, health: DatabaseHealth
    ) -> None:
        self.engine = engine
        self.health = health
        self.debounce = debounce
        self.max_delay = max_delay
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellsync-worker")
        self._sheets: dict[str, _Sheet] = {}
        self.on_flush: list[Callable[[str, FlushResult, float], None]] = []

    def attach(self, room: Room, update: bytes, schema: TableSchema) -> None:
        """Starts following a room whose document is `update`; the first flush writes whatever
        the log holds and the table lacks (after a crash, say). If the start fails, the first
        flush starts it again, and reports why."""
        sheet = self._sheets[room.name] = _Sheet(room, schema)
        self._executor.submit(self._start, sheet, update)
        self._changed(sheet)
        self.external(room.name, None)  # what other programs wrote while the sheet was closed

    def external(self, name: str, pks: Iterable[str] | None) -> None:
        """Rows of the sheet's table that other programs changed (None: maybe any of them)
        become server edits of the document."""
        sheet = self._sheets.get(name)
        if sheet is None:
            return
        if pks is None:
            sheet.external_all = True
        else:
            sheet.external_keys.update(pks)
        if sheet.ingesting is None:
            sheet.ingesting = asyncio.ensure_future(self._ingest(sheet))

    def watched(self, name: str) -> bool | None:
        """Whether the sheet's table reports its changes (None: not known yet)."""
        sheet = self._sheets.get(name)
        return sheet.watched if sheet is not None else None

    def feed(self, name: str, update: bytes, by_client: bool) -> None:
        """Called for every update the room applies; the worker thread takes them in order.
        Only a client's edits are for the table: the server's own already match it."""
        sheet = self._sheets.get(name)
        if sheet is None:
            return
        if not sheet.incoming:
            asyncio.get_running_loop().call_soon(self._hand_over, sheet)
        sheet.incoming.append((update, by_client))
        if by_client:
            self._changed(sheet)

    def _hand_over(self, sheet: _Sheet) -> None:
        """Passes the updates that came in to the worker thread, in order: one hand-over per
        turn of the event loop, not one per update."""
        if sheet.incoming:
            updates, sheet.incoming = sheet.incoming, []
            self._executor.submit(self._apply, sheet, updates)

    @staticmethod
    def _apply(sheet: _Sheet, updates: list[tuple[bytes, bool]]) -> None:
        """Merges each run of client (or server) updates into one."""
        if sheet.replica is not None:
            for by_client, run in groupby(updates, key=itemgetter(1)):
                sheet.replica.apply(merge([update for update, _ in run]), by_client)

    def detach(self, name: str) -> None:
        """Stops following the sheet; the caller has flushed it."""
        sheet = self._sheets.pop(name, None)
        if sheet is not None and sheet.timer is not None:
            sheet.timer.cancel()
        for source in (f"sheet {name}: table write", f"sheet {name}: table read"):
            self.health.succeeded(source)  # no longer this server's trouble

    async def flush(self, name: str) -> FlushResult | None:
        """Writes the sheet's pending changes now (waiting for a flush under way); None when
        the write failed (it is retried)."""
        sheet = self._sheets[name]
        if sheet.flushing is not None:
            await asyncio.shield(sheet.flushing)
        if sheet.timer is not None:
            sheet.timer.cancel()
            sheet.timer = None
        return await self._flush(sheet)

    def lag(self, name: str) -> SheetLag | None:
        sheet = self._sheets.get(name)
        if sheet is None:
            return None
        replica = sheet.replica
        since = [sheet.first_change, sheet.in_flight and sheet.in_flight[0]]
        oldest = [t for t in (*since, replica and replica.stuck_since) if t]
        rows = sheet.pending_rows + (sheet.in_flight[1] if sheet.in_flight else 0)
        stuck = replica.stuck if replica is not None else 0
        age = time.monotonic() - min(oldest) if oldest else 0.0
        return SheetLag(rows, age, stuck, sheet.last_refusal)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _changed(self, sheet: _Sheet) -> None:
        now = time.monotonic()
        sheet.last_change = now
        if sheet.first_change is None:
            sheet.first_change = now
        self._arm(sheet)

    def _arm(self, sheet: _Sheet) -> None:
        if sheet.flushing is not None or sheet.first_change is None:
            return  # re-armed when the flush under way ends
        due = min(sheet.last_change + self.debounce, sheet.first_change + self.max_delay)
        due = max(due, sheet.retry_at)
        if sheet.timer is not None:
            sheet.timer.cancel()
        loop = asyncio.get_running_loop()
        sheet.timer = loop.call_at(loop.time() + max(0.0, due - time.monotonic()), self._due, sheet)

    def _due(self, sheet: _Sheet) -> None:
        sheet.timer = None
        sheet.flushing = asyncio.ensure_future(self._flush(sheet))

    async def _flush(self, sheet: _Sheet) -> FlushResult | None:
        name = sheet.room.name
        started = time.perf_counter()
        result = None
        async with sheet.lock:
            self._hand_over(sheet)  # what came in before the flush belongs to it
            oldest = sheet.first_change or time.monotonic()
            sheet.in_flight = (oldest, sheet.pending_rows)
            sheet.first_change = None
            # a replica whose start failed begins again from the room's document
            update = sheet.room.doc.get_update() if sheet.replica is None else None
            try:
                result = await self._run(self._write, sheet, update)
            except Exception as exc:
                self._write_failed(sheet, exc)
                sheet.first_change = min(oldest, sheet.first_change or oldest)
            else:
                put_outcome(sheet.room.doc, result, sheet.schema.pk)
                if result.refusals:
                    sheet.last_refusal = result.refusals[-1].reason
            finally:
                sheet.flushing = None
                sheet.in_flight = None
        if result is not None:
            sheet.write_backoff.reset()
            sheet.retry_at = 0.0
            if self.health.succeeded(f"sheet {name}: table write"):
                log.info("sheet %s: the table is written again", name)
            for callback in self.on_flush:
                callback(name, result, time.perf_counter() - started)
        if sheet.pending_rows and sheet.first_change is None:
            sheet.first_change = time.monotonic()
        self._arm(sheet)
        return result

    def _write_failed(self, sheet: _Sheet, exc: Exception) -> None:
        """Reports a failed flush (once per outage) and puts off its retry."""
        name = sheet.room.name
        if self.health.failed(f"sheet {name}: table write", "table_write", exc):
            log.warning(
                "sheet %s: writing the table failed (%s), %d rows waiting; retrying with backoff",
                name,
                self.health.failing[f"sheet {name}: table write"],
                sheet.pending_rows,
                exc_info=not is_database_error(exc),  # a bug's traceback, once
            )
        sheet.retry_at = time.monotonic() + sheet.write_backoff.delay()

    def _start(self, sheet: _Sheet, update: bytes) -> None:
        """On the worker thread: the replica, with the rows the table lacks marked dirty."""
        name = sheet.room.name
        replica = SheetReplica(update, sheet.schema.pk)
        replica.reconcile(self.engine, name)
        sheet.watched = is_watched(self.engine, sheet.schema)
        sheet.writer = TableWriter(self.engine, name, sheet.schema)
        sheet.reader = ExternalReader(self.engine, name, sheet.schema)
        if replica.dirty:
            log.info("sheet %s: %d rows differ from the table", name, len(replica.dirty))
        sheet.replica = replica

    async def _ingest(self, sheet: _Sheet) -> None:
        """Reads the changed rows until none are left; a failed read keeps the keys it took
        and is retried with backoff while the sheet is followed."""
        name = sheet.room.name
        source = f"sheet {name}: table read"
        try:
            while (sheet.external_all or sheet.external_keys) and self._sheets.get(name) is sheet:
                reader = sheet.reader
                if reader is None:  # its start failed: the next flush starts it again
                    await asyncio.sleep(sheet.read_backoff.delay())
                    continue
                pks = None if sheet.external_all else set(sheet.external_keys)
                sheet.external_all = False
                sheet.external_keys.clear()
                async with sheet.lock:
                    try:
                        changes = await self._run(reader.collect, pks)
                    except Exception as exc:
                        changes = None
                        self.external(name, pks)
                        if self.health.failed(source, "table_read", exc):
                            log.warning("sheet %s: reading table changes failed (%s); retrying",
                                        name, self.health.failing[source])  # fmt: skip
                    if changes:  # in the room's own document: after every edit it has
                        row_edits.apply(sheet.room.doc, as_edits(sheet.room.doc, changes))
                if changes is None:
                    await asyncio.sleep(sheet.read_backoff.delay())
                else:
                    sheet.read_backoff.reset()
                    if self.health.succeeded(source):
                        log.info("sheet %s: reading table changes again", name)
        finally:
            sheet.ingesting = None

    def _write(self, sheet: _Sheet, update: bytes | None) -> FlushResult:
        """On the worker thread: dirty rows to the table (starting the replica from `update`
        if its start failed)."""
        if sheet.replica is None:
            assert update is not None, "_flush hands over the document while there is no replica"
            self._start(sheet, update)
        replica, writer = sheet.replica, sheet.writer
        assert replica is not None and writer is not None, "_start makes both"
        changes = replica.take()
        try:
            result = writer.write(changes)
        except Exception:
            replica.dirty.update(change.key for change in changes)
            raise
        replica.settle(result)
        return result

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
