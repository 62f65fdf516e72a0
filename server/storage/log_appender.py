"""Batches document updates into the update log.

A SQL commit per update costs milliseconds; a room takes hundreds of updates a second. The
appender gathers updates for `interval` seconds, merges each sheet's batch into one update and
appends them all in one transaction, in a worker thread so the event loop keeps serving. A
failed write keeps its batch in memory and is retried with backoff; past `max_held_bytes` held,
the appender is `full` and the server takes no more edits until the database is back. `append_now`
returns only once a sheet is durable. Each sheet's updates are numbered as they are added;
`on_durable` callbacks hear up to which number a sheet is durable (the Redis fan-out keeps
each update it sent until then).
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

from persistence.store.update_log import UpdateLog, merge
from server.database_health import Backoff, DatabaseHealth
from server.memory import give_back_soon

log = logging.getLogger(__name__)

SOURCE = "update log"


class LogAppender:
    def __init__(
        self,
        update_log: UpdateLog,
        interval: float,
        compact_after: int,
        health: DatabaseHealth,
        max_held_bytes: int,
    ) -> None:
        self.update_log = update_log
        self.interval = interval
        self.compact_after = compact_after
        self.health = health
        self.max_held_bytes = max_held_bytes
        self._pending: dict[str, list[bytes]] = defaultdict(list)
        self._pending_bytes = 0
        self._rows: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._backoff = Backoff()
        self._was_full = False
        self._added: dict[str, int] = defaultdict(int)
        self._durable: dict[str, int] = defaultdict(int)  # the last update number written
        self.on_durable: list[Callable[[str, int], None]] = []

    def track(self, sheet: str, rows: int) -> None:
        """Tells the writer how many log rows a sheet has, to know when to compact it."""
        self._rows[sheet] = rows

    def add(self, sheet: str, update: bytes) -> None:
        self._added[sheet] += 1
        self._pending[sheet].append(update)
        self._pending_bytes += len(update)
        if self._timer is None:
            self._schedule(self.interval)
        if self.full and not self._was_full:
            self._was_full = True
            log.error(
                "update log: %d bytes of edits held in memory, past max_held_bytes (%d); "
                "refusing edits until the database is back",
                self._pending_bytes,
                self.max_held_bytes,
            )

    @property
    def full(self) -> bool:
        """Holding more unwritten updates than the setting allows."""
        return self._pending_bytes > self.max_held_bytes

    def log_rows(self) -> dict[str, int]:
        return dict(self._rows)

    def added(self, sheet: str) -> int:
        """The number of the sheet's last update added."""
        return self._added[sheet]

    def pending(self, sheet: str) -> bool:
        return bool(self._pending.get(sheet))

    async def append_now(self, sheet: str | None = None) -> None:
        """Writes what is pending (for one sheet, or all); raises if the database refuses."""
        await self._write()  # also waits for a write already under way
        while self._pending if sheet is None else self._pending.get(sheet):
            await self._write()

    async def append_added(self, sheet: str) -> None:
        """Makes durable every update of the sheet added so far, but not those that arrive
        meanwhile: under a stream of edits, chasing them would never end."""
        wanted = self._added[sheet]
        while self._durable[sheet] < wanted and (self._pending.get(sheet) or self._lock.locked()):
            await self._write()  # writes what is pending, or waits for the write under way

    def _schedule(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        task = asyncio.create_task(self._write_quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_quietly(self) -> None:
        """A timed write: a failure was reported by `_write` and is retried."""
        try:
            await self._write()
        except Exception:
            return

    async def _write(self) -> None:
        async with self._lock:
            taken, self._pending = self._pending, defaultdict(list)
            if not taken:
                return
            marks = {sheet: self._added[sheet] for sheet in taken}  # every one of them is taken
            held = sum(len(updates) for updates in taken.values())
            try:
                batches = await asyncio.to_thread(
                    lambda: {sheet: merge(updates) for sheet, updates in taken.items()}
                )
                await asyncio.to_thread(self.update_log.append, batches)
            except BaseException as exc:
                for sheet, updates in taken.items():
                    self._pending[sheet][:0] = updates
                if isinstance(exc, Exception):
                    self._failed(exc, held)
                raise
            self._pending_bytes = sum(len(u) for updates in self._pending.values() for u in updates)
            self._backoff.reset()
            if self.health.succeeded(SOURCE):
                log.info("update log: database back, wrote %d held updates", held)
            self._was_full = self.full
            for sheet in batches:
                self._durable[sheet] = marks[sheet]
                for callback in self.on_durable:
                    callback(sheet, marks[sheet])
                self._rows[sheet] = self._rows.get(sheet, 0) + 1
                if self._rows[sheet] > self.compact_after:
                    await self._compact(sheet)

    def _failed(self, exc: Exception, held: int) -> None:
        """Reports the failure (in the log once per outage) and schedules the retry."""
        if self.health.failed(SOURCE, "log_append", exc):
            log.warning(
                "update log: database unreachable (%s), holding %d updates in memory",
                self.health.failing[SOURCE],
                held,
            )
        if self._timer is not None:
            self._timer.cancel()
        self._schedule(self._backoff.delay())

    async def _compact(self, sheet: str) -> None:
        try:
            merged = await asyncio.to_thread(self.update_log.compact, sheet)
        except Exception:
            log.exception("compacting the update log of %s failed; will try again", sheet)
            return
        log.info("compacted %d log rows of sheet %s into one", merged, sheet)
        self._rows[sheet] = 1
        await give_back_soon()  # the rows read and their merge
