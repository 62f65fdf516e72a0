"""Keeps each open sheet's table following its document, with the SQL off the event loop.

The room's document is the only copy of a sheet the server holds: `DirtyRows` observes it on
the event loop and names the rows each edit the table must follow changed, and the `table` hook
of the `SheetDocument` makes a write due. A table write runs `debounce` seconds after the last
client edit, and at most `max_delay` after the first one under a continuous stream: it reads
the dirty rows' cells on the event loop, in one read transaction, and writes them in one
database transaction on this module's single worker thread. Its outcome (new primary keys,
refused cells, cells the table changed meanwhile) and the changes other programs make to the
table are edits of the sheet's document with the origin `FROM_TABLE`, made after every edit it
has received, so that they never undo a later one; a write and a read of the table's changes
take turns.

A failed write or read is retried with backoff, keeping what it had taken (dirty rows, changed
keys) and the age of the oldest change, and is reported to `DatabaseHealth` once per outage.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from persistence import row_edits
from persistence.origins import FROM_TABLE, Origin, table_must_follow
from persistence.table.dirty_rows import DirtyRows, Reconciliation
from persistence.table.external_changes import ExternalChange, ExternalReader, as_edits
from persistence.table.outcome import put_outcome
from persistence.table.schema import TableSchema
from persistence.table.triggers import is_watched
from persistence.table.write_result import RowState, WriteResult
from persistence.table.writer import TableWriter
from server.database_health import Backoff, DatabaseHealth, is_database_error
from server.memory import give_back_soon
from server.sheets.sheet_document import SheetDocument
from server.storage.write_schedule import WriteSchedule

log = logging.getLogger(__name__)

# The share of the time an unwatched table's polls may spend comparing it whole: a table whose
# comparison takes longer than that share of the poll interval is compared less often.
POLL_SHARE = 0.05
# Dirty rows read from the document per turn of the event loop when the table is written: ~20 ms
# (3,000 at once stopped every room for 60-90 ms).
TAKE_PAGE = 1000
# Rows of other programs' changes per edit of the document, the loop free in between: pycrdt
# appends to `order` one key at a time, quadratically within a transaction (10,000 new rows in
# one edit took 2.6 s, 30,000 over a minute, and stopped every client of the server meanwhile).
EDIT_ROWS = 1000


@dataclass
class SheetLag:
    """How far a sheet's table is behind its document."""

    pending_rows: int
    lag_seconds: float
    stuck_rows: int = 0  # new rows the database refused, waiting for a fix
    last_error: str | None = None  # the database's reason for the last refusal


@dataclass
class TableReads:
    """How the server learns of other programs' changes to a sheet's table, for /status."""

    watched: bool | None  # the table reports its changes (None: not known yet)
    last_compared: float | None  # wall-clock end of the last whole-table read, or None
    compared_every: float | None  # an unwatched table's polls' spacing, once known
    comparisons: int  # whole-table comparisons since the sheet was loaded


@dataclass
class _Reads:
    """The table's rows other programs changed, waiting to be read into the document."""

    keys: set[str] = field(default_factory=set)  # changed rows' primary keys
    whole_table: bool = False  # compare the whole table
    running: asyncio.Task[None] | None = None
    backoff: Backoff = field(default_factory=Backoff)
    compared_at: float = 0.0  # when the last whole-table comparison ended (monotonic)
    compare_seconds: float = 0.0  # and how long it took
    spaced_out: bool = False  # the polls were told to wait longer (logged once)
    every: float | None = None  # the polls' spacing, once one has run
    comparisons: int = 0  # whole-table comparisons made (a build is not one)

    def compared(self, started: float) -> None:
        """A whole-table comparison (or read) that started at `started` ended now."""
        self.compared_at = time.monotonic()
        self.compare_seconds = self.compared_at - started

    @property
    def compared_on(self) -> float | None:
        """When the last whole-table read ended, as wall-clock time (for /status)."""
        if not self.compared_at:
            return None
        return time.time() - (time.monotonic() - self.compared_at)


@dataclass
class _Sheet:
    document: SheetDocument
    schedule: WriteSchedule
    rows: DirtyRows  # the document's rows the table lacks, tracked on the event loop
    reconcile: bool  # the start compares the document with the record first
    reads: _Reads = field(default_factory=_Reads)
    writing: asyncio.Task[WriteResult | None] | None = None
    in_flight: tuple[float, int] | None = None  # the write under way: its oldest change, rows
    last_refusal: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # a write or a read at a time
    # made by the start, on the worker thread, and only used there:
    writer: TableWriter | None = None
    reader: ExternalReader | None = None
    watched: bool | None = None  # does the table report changes (triggers)?

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def pending_rows(self) -> int:
        return len(self.rows.dirty)


class TableSync:
    def __init__(
        self,
        engine: sa.Engine,
        debounce: float,
        max_delay: float,
        health: DatabaseHealth,
        log_first: Callable[[str], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.health = health
        self.log_first = log_first  # makes a sheet's update log durable up to now
        self.debounce = debounce
        self.max_delay = max_delay
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellsync-table")
        self._sheets: dict[str, _Sheet] = {}
        self._early: dict[str, _Reads] = {}  # changes reported while a sheet loads
        self.on_write: list[Callable[[str, WriteResult, float], None]] = []

    def attach(self, document: SheetDocument, built_in: float | None = None) -> None:
        """Starts following a sheet's document: its edits are tracked from now on, and the
        first write (or read) starts the table's side, which finds whatever the log holds and
        the table lacks (after a crash, say); a start that fails is made again, and reported,
        by the next one. A document just built from its table (in `built_in` seconds),
        unedited, matches the record written from the same read: neither is compared with the
        table again, only the rows reported changed while it was built are read, and the
        build counts as a whole-table comparison that took as long, which polls space out
        from."""
        name = document.name
        schedule = WriteSchedule(self.debounce, self.max_delay, lambda: self._due(sheet))
        rows = DirtyRows(document.doc, document.schema.pk)
        sheet = self._sheets[name] = _Sheet(document, schedule, rows, reconcile=built_in is None)
        schedule.changed()
        early = self._early.pop(name, _Reads())
        if built_in is not None:
            log.info("sheet %s: built from its table just now, not compared with it", name)
            sheet.reads.compared(time.monotonic() - built_in)
            if early.whole_table or early.keys:
                self.read_changes(name, None if early.whole_table else early.keys)
        else:
            self.read_changes(name, None)  # what other programs wrote while it was closed

    @contextmanager
    def loading(self, name: str) -> Iterator[None]:
        """While a sheet loads: the table changes reported meanwhile are kept for `attach`."""
        self._early[name] = _Reads()
        try:
            yield
        finally:
            self._early.pop(name, None)

    def follow(self, name: str, update: bytes, origin: Origin) -> None:
        """The document's `table` hook: an edit the table lacks (`table_must_follow`) makes a
        write due; `DirtyRows` has named its rows already."""
        sheet = self._sheets.get(name)
        if sheet is not None and table_must_follow(origin):
            sheet.schedule.changed()

    def read_changes(self, name: str, pks: Iterable[str] | None) -> None:
        """Rows of the sheet's table that other programs changed (None: maybe any of them)
        become edits of the document."""
        sheet = self._sheets.get(name)
        reads = sheet.reads if sheet is not None else self._early.get(name)
        if reads is None:
            return
        if pks is None:
            reads.whole_table = True
        else:
            reads.keys.update(pks)
        if sheet is not None and sheet.reads.running is None:
            sheet.reads.running = asyncio.ensure_future(self._read(sheet))

    def poll(self, name: str, interval: float) -> None:
        """A poll of an unwatched table, every `interval` seconds: compares it whole, unless
        the last comparison took more than `POLL_SHARE` of the time since it ended. Without
        that, a 200,000-row table compared every 5 s would keep a core busy."""
        sheet = self._sheets.get(name)
        if sheet is None or sheet.watched is not False:
            return
        reads = sheet.reads
        wait = reads.compare_seconds / POLL_SHARE
        reads.every = max(interval, wait)
        if wait > interval and not reads.spaced_out:
            reads.spaced_out = True
            log.info(
                "sheet %s: comparing its table whole takes %.1f s, so it is compared every "
                "%.0f s instead of %g s; `cellsync watch` makes other programs' changes arrive "
                "at once",
                name, reads.compare_seconds, wait, interval,
            )  # fmt: skip
        if time.monotonic() - reads.compared_at >= wait:
            self.read_changes(name, None)

    def follows(self, name: str) -> bool:
        """Whether this process writes the sheet's table."""
        return name in self._sheets

    def watched(self, name: str) -> bool | None:
        """Whether the sheet's table reports its changes (None: not known yet)."""
        sheet = self._sheets.get(name)
        return sheet.watched if sheet is not None else None

    def detach(self, name: str) -> None:
        """Stops following the sheet; the caller has written it."""
        sheet = self._sheets.pop(name, None)
        if sheet is not None:
            sheet.schedule.cancel()
            sheet.rows.close()
        for source in (f"sheet {name}: table write", f"sheet {name}: table read"):
            self.health.succeeded(source)  # no longer this server's trouble

    async def write_now(self, name: str) -> WriteResult | None:
        """Writes the sheet's pending changes now (waiting for a write under way); None when
        the write failed (it is retried)."""
        sheet = self._sheets[name]
        if sheet.writing is not None:
            await asyncio.shield(sheet.writing)
        sheet.schedule.cancel()
        return await self._write(sheet)

    def lag(self, name: str) -> SheetLag | None:
        sheet = self._sheets.get(name)
        if sheet is None:
            return None
        in_flight = sheet.in_flight
        since = [sheet.schedule.first_change, in_flight and in_flight[0], sheet.rows.stuck_since]
        oldest = [t for t in since if t]
        rows = sheet.pending_rows + (in_flight[1] if in_flight else 0)
        age = time.monotonic() - min(oldest) if oldest else 0.0
        return SheetLag(rows, age, sheet.rows.stuck, sheet.last_refusal)

    def table_reads(self, name: str) -> TableReads:
        sheet = self._sheets.get(name)
        if sheet is None:  # not followed here: nothing read
            return TableReads(None, None, None, 0)
        reads = sheet.reads
        every = reads.every if sheet.watched is False else None
        return TableReads(sheet.watched, reads.compared_on, every, reads.comparisons)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _due(self, sheet: _Sheet) -> None:
        sheet.schedule.writing = True
        sheet.writing = asyncio.ensure_future(self._write(sheet))

    async def _write(self, sheet: _Sheet) -> WriteResult | None:
        schedule = sheet.schedule
        schedule.writing = True
        started = time.perf_counter()
        result = None
        async with sheet.lock:
            oldest = schedule.taken()
            sheet.in_flight = (oldest, 0)
            keys: list[str] = []
            try:
                writer, _ = await self._start(sheet)
                keys = sheet.rows.take()
                taken = await self._states(sheet.rows, keys)  # the cells as written
                sheet.in_flight = (oldest, len(taken))
                # the table never holds an edit the log lacks: after a crash, the document
                # comes from the log, and a table ahead of it would be written back
                await self.log_first(sheet.name)
                result = await self._run(writer.write, taken)
            except Exception as exc:
                sheet.rows.dirty.update(keys)
                self._write_failed(sheet, exc)
                schedule.failed(oldest)
            else:
                sheet.rows.settle(result, taken)
                with sheet.document.edit(FROM_TABLE) as doc:
                    put_outcome(doc, result, sheet.document.schema.pk)
                if result.refusals:
                    sheet.last_refusal = result.refusals[-1].reason
            finally:
                sheet.writing = None
                sheet.in_flight = None
                schedule.writing = False
        if result is not None:
            schedule.succeeded()
            if self.health.succeeded(f"sheet {sheet.name}: table write"):
                log.info("sheet %s: the table is written again", sheet.name)
            for callback in self.on_write:
                callback(sheet.name, result, time.perf_counter() - started)
        if sheet.pending_rows and schedule.first_change is None:
            schedule.first_change = time.monotonic()
        schedule.arm()
        return result

    def _write_failed(self, sheet: _Sheet, exc: Exception) -> None:
        """Reports a failed write (once per outage) and puts off its retry."""
        source = f"sheet {sheet.name}: table write"
        if self.health.failed(source, "table_write", exc):
            log.warning(
                "sheet %s: writing the table failed (%s), %d rows waiting; retrying with backoff",
                sheet.name,
                self.health.failing[source],
                sheet.pending_rows,
                exc_info=not is_database_error(exc),  # a bug's traceback, once
            )

    async def _start(self, sheet: _Sheet) -> tuple[TableWriter, ExternalReader]:
        """The sheet's table writer and reader, made at its first write or read (again after
        a failed start), under the sheet's lock. First, unless `sheet.reconcile` is off, the
        rows where the document and the record disagree become dirty: after a crash, what the
        log holds and the table lacks."""
        if sheet.writer is None or sheet.reader is None:
            if sheet.reconcile:
                differ = await self._reconcile(sheet)
                if differ:
                    log.info("sheet %s: %d rows differ from the table", sheet.name, len(differ))
                sheet.rows.dirty.update(differ)
            sheet.watched, sheet.writer, sheet.reader = await self._run(
                self._open_table, sheet.name, sheet.document.schema
            )
        return sheet.writer, sheet.reader

    @staticmethod
    async def _states(rows: DirtyRows, keys: list[str]) -> list[RowState]:
        """The rows of `keys` as they are now, a page per turn of the loop. A row edited
        between pages is dirty again and written next time."""
        states: list[RowState] = []
        for start in range(0, len(keys), TAKE_PAGE):
            if start:
                await asyncio.sleep(0)
            states += rows.states(keys[start : start + TAKE_PAGE])
        return states

    @staticmethod
    async def _into_document(document: SheetDocument, changes: list[ExternalChange]) -> None:
        """Other programs' changes as edits of the document, `EDIT_ROWS` rows per edit and
        per turn of the loop, each made against the document as it is then (`as_edits`)."""
        for start in range(0, len(changes), EDIT_ROWS):
            if start:
                await asyncio.sleep(0)
            with document.edit(FROM_TABLE) as doc:
                row_edits.apply(doc, as_edits(doc, changes[start : start + EDIT_ROWS]))

    async def _reconcile(self, sheet: _Sheet) -> set[str]:
        """The rows where the document and the record disagree. The record is read and
        compared on the worker thread; the document's rows a page at a time on the event
        loop (~16 ms each), where every row at once would stop it for 1.5 s at 200,000 rows.
        Edits meanwhile are tracked by `DirtyRows` anyway."""
        found = Reconciliation(self.engine, sheet.name, sheet.rows.keys())
        while (keys := await self._run(found.next_page)) is not None:
            await self._run(found.compare, sheet.rows.json_of(keys))
        return found.differ

    def _open_table(
        self, name: str, schema: TableSchema
    ) -> tuple[bool, TableWriter, ExternalReader]:
        """On the worker thread: whether the table reports its changes, its writer and its
        reader."""
        watched = is_watched(self.engine, schema)
        return (
            watched,
            TableWriter(self.engine, name, schema),
            ExternalReader(self.engine, name, schema),
        )

    async def _read(self, sheet: _Sheet) -> None:
        """Reads the changed rows until none are left; a failed read keeps the keys it took
        and is retried with backoff while the sheet is followed."""
        name, reads = sheet.name, sheet.reads
        source = f"sheet {name}: table read"
        try:
            while (reads.whole_table or reads.keys) and self._sheets.get(name) is sheet:
                pks = None if reads.whole_table else set(reads.keys)
                reads.whole_table = False
                reads.keys.clear()
                async with sheet.lock:
                    try:
                        _, reader = await self._start(sheet)
                        started = time.monotonic()
                        changes = await self._run(reader.collect, pks)
                        if pks is None:
                            reads.compared(started)
                            reads.comparisons += 1
                    except Exception as exc:
                        changes = None
                        self.read_changes(name, pks)
                        if self.health.failed(source, "table_read", exc):
                            log.warning("sheet %s: reading table changes failed (%s); retrying",
                                        name, self.health.failing[source])  # fmt: skip
                    if changes:  # after every edit the document has had
                        await self._into_document(sheet.document, changes)
                if pks is None:
                    await give_back_soon()  # the whole table and its record, compared
                if changes is None:
                    await asyncio.sleep(reads.backoff.delay())
                else:
                    reads.backoff.reset()
                    if self.health.succeeded(source):
                        log.info("sheet %s: reading table changes again", name)
        finally:
            reads.running = None

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
