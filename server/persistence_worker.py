"""Keeps each open sheet's table following its document, off the event loop.

Each room's updates are fed to a replica of its document on the worker's single thread. A flush
runs `debounce` seconds after the last change, and at most `max_delay` after the first one
under a continuous stream; it writes the dirty rows in one transaction. Its outcome (new
primary keys, refused cells, cells the table changed meanwhile) and the changes other programs
make to the table are server edits of the room's own document, made after every edit the room
has received, so that they never undo a later one; a flush and an ingest take turns.
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
from persistence.external_changes import ExternalChange, ExternalReader, as_edits
from persistence.flush_outcome import put_outcome
from persistence.schema import TableSchema
from persistence.sheet_replica import SheetReplica
from persistence.table_watch import is_watched
from persistence.table_writer import FlushResult, TableWriter
from persistence.update_log import merge
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
    flushing: asyncio.Task[None] | None = None
    reader: ExternalReader | None = None
    watched: bool | None = None  # does the table report changes (triggers)?
    external_keys: set[str] = field(default_factory=set)  # changed rows' primary keys
    external_all: bool = False  # compare the whole table
    ingesting: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # a flush or an ingest at a time
    incoming: list[tuple[bytes, bool]] = field(default_factory=list)  # (update, by a client)
    last_refusal: str | None = None

    @property
    def pending_rows(self) -> int:
        return len(self.replica.dirty) if self.replica is not None else 0


class PersistenceWorker:
    def __init__(self, engine: sa.Engine, debounce: float, max_delay: float) -> None:
        self.engine = engine
        self.debounce = debounce
        self.max_delay = max_delay
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellsync-worker")
        self._sheets: dict[str, _Sheet] = {}
        self.on_flush: list[Callable[[str, FlushResult, float], None]] = []

    def attach(self, room: Room, update: bytes, schema: TableSchema) -> None:
        """Starts following a room whose document is `update`; the first flush writes whatever
        the log holds and the table lacks (after a crash, say)."""
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

    async def detach(self, name: str) -> None:
        """Writes what is pending and stops following the sheet."""
        sheet = self._sheets.get(name)
        if sheet is None:
            return
        await self.flush(name)
        del self._sheets[name]

    async def flush(self, name: str) -> None:
        """Writes the sheet's pending changes now (waiting for a flush under way)."""
        sheet = self._sheets[name]
        if sheet.flushing is not None:
            await asyncio.shield(sheet.flushing)
        if sheet.timer is not None:
            sheet.timer.cancel()
            sheet.timer = None
        await self._flush(sheet)

    def lag(self, name: str) -> SheetLag | None:
        sheet = self._sheets.get(name)
        if sheet is None:
            return None
        oldest = [t for t in (sheet.first_change, sheet.in_flight and sheet.in_flight[0]) if t]
        rows = sheet.pending_rows + (sheet.in_flight[1] if sheet.in_flight else 0)
        stuck = sheet.replica.stuck if sheet.replica is not None else 0
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
        if sheet.timer is not None:
            sheet.timer.cancel()
        loop = asyncio.get_running_loop()
        sheet.timer = loop.call_at(loop.time() + max(0.0, due - time.monotonic()), self._due, sheet)

    def _due(self, sheet: _Sheet) -> None:
        sheet.timer = None
        sheet.flushing = asyncio.ensure_future(self._flush(sheet))

    async def _flush(self, sheet: _Sheet) -> None:
        name = sheet.room.name
        started = time.perf_counter()
        result = None
        async with sheet.lock:
            self._hand_over(sheet)  # what came in before the flush belongs to it
            sheet.in_flight = (sheet.first_change or time.monotonic(), sheet.pending_rows)
            sheet.first_change = None
            if sheet.replica is None:  # its start failed: begin again from the room's document
                self._executor.submit(self._start, sheet, sheet.room.doc.get_update())
            try:
                result = await self._run(self._write, sheet)
            except Exception:
                log.exception("sheet %s: writing the table failed; will retry", name)
                sheet.first_change = sheet.first_change or time.monotonic()
            else:
                put_outcome(sheet.room.doc, result, sheet.schema.pk)
                if result.refusals:
                    sheet.last_refusal = result.refusals[-1].reason
            finally:
                sheet.flushing = None
                sheet.in_flight = None
        if result is None:
            await asyncio.sleep(min(self.max_delay, 1.0))
        else:
            for callback in self.on_flush:
                callback(name, result, time.perf_counter() - started)
        if sheet.pending_rows and sheet.first_change is None:
            sheet.first_change = time.monotonic()
        self._arm(sheet)

    def _start(self, sheet: _Sheet, update: bytes) -> None:
        """On the worker thread: the replica, with the rows the table lacks marked dirty."""
        name = sheet.room.name
        try:
            replica = SheetReplica(update, sheet.schema.pk)
            replica.reconcile(self.engine, name)
            sheet.watched = is_watched(self.engine, sheet.schema)
            sheet.writer = TableWriter(self.engine, name, sheet.schema)
            sheet.reader = ExternalReader(self.engine, name, sheet.schema)
        except Exception:
            log.exception("sheet %s: the worker could not start", name)
            return
        if replica.dirty:
            log.info("sheet %s: %d rows differ from the table", name, len(replica.dirty))
        sheet.replica = replica

    async def _ingest(self, sheet: _Sheet) -> None:
        try:
            while sheet.external_all or sheet.external_keys:
                pks = None if sheet.external_all else set(sheet.external_keys)
                sheet.external_all = False
                sheet.external_keys.clear()
                async with sheet.lock:
                    try:
                        changes = await self._run(self._collect, sheet, pks)
                    except Exception:
                        log.exception("sheet %s: reading table changes failed", sheet.room.name)
                        return
                    if changes:  # in the room's own document: after every edit it has
                        row_edits.apply(sheet.room.doc, as_edits(sheet.room.doc, changes))
        finally:
            sheet.ingesting = None

    @staticmethod
    def _collect(sheet: _Sheet, pks: set[str] | None) -> list[ExternalChange]:
        """On the worker thread: what other programs changed in the table."""
        return sheet.reader.collect(pks) if sheet.reader is not None else []

    @staticmethod
    def _write(sheet: _Sheet) -> FlushResult:
        """On the worker thread: dirty rows to the table."""
        if sheet.replica is None or sheet.writer is None:
            raise RuntimeError("the sheet's replica could not be made")
        changes = sheet.replica.take()
        try:
            result = sheet.writer.write(changes)
        except Exception:
            sheet.replica.dirty.update(change.key for change in changes)
            raise
        sheet.replica.settle(result)
        return result

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
