"""Batches document updates into the update log.

A SQL commit per update costs milliseconds; a room takes hundreds of updates a second. The
writer gathers updates for `interval` seconds, merges each sheet's batch into one update and
appends them all in one transaction, in a worker thread so the event loop keeps serving. A
failed write keeps its batch and is retried; `flush` returns only once a sheet is durable.
"""

import asyncio
import logging
from collections import defaultdict

from persistence.update_log import UpdateLog, merge

log = logging.getLogger(__name__)


class LogWriter:
    def __init__(self, update_log: UpdateLog, interval: float, compact_after: int) -> None:
        self.update_log = update_log
        self.interval = interval
        self.compact_after = compact_after
        self._pending: dict[str, list[bytes]] = defaultdict(list)
        self._rows: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()

    def track(self, sheet: str, rows: int) -> None:
        """Tells the writer how many log rows a sheet has, to know when to compact it."""
        self._rows[sheet] = rows

    def add(self, sheet: str, update: bytes) -> None:
        self._pending[sheet].append(update)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def log_rows(self) -> dict[str, int]:
        return dict(self._rows)

    async def flush(self, sheet: str | None = None) -> None:
        """Writes what is pending (for one sheet, or all); raises if the database refuses."""
        await self._write()  # also waits for a write already under way
        while self._pending if sheet is None else self._pending.get(sheet):
            await self._write()

    def _tick(self) -> None:
        self._timer = None
        task = asyncio.create_task(self._write_logging_errors())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_logging_errors(self) -> None:
        try:
            await self._write()
        except Exception:
            log.exception("writing the update log failed; retrying in %.1fs", self.interval)
            if self._pending and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.interval, self._tick)

    async def _write(self) -> None:
        async with self._lock:
            taken, self._pending = self._pending, defaultdict(list)
            if not taken:
                return
            try:
                batches = await asyncio.to_thread(
                    lambda: {sheet: merge(updates) for sheet, updates in taken.items()}
                )
                await asyncio.to_thread(self.update_log.append, batches)
            except BaseException:
                for sheet, updates in taken.items():
                    self._pending[sheet][:0] = updates
                raise
            for sheet in batches:
                self._rows[sheet] = self._rows.get(sheet, 0) + 1
                if self._rows[sheet] > self.compact_after:
                    await self._compact(sheet)

    async def _compact(self, sheet: str) -> None:
        try:
            merged = await asyncio.to_thread(self.update_log.compact, sheet)
        except Exception:
            log.exception("compacting the update log of %s failed; will try again", sheet)
            return
        log.info("compacted %d log rows of sheet %s into one", merged, sheet)
        self._rows[sheet] = 1
