"""Loads rooms on first use and unloads them once idle and durable.

Two clients opening a new room at once share one load. A room is unloaded `idle_seconds` after
its last client leaves, and only after its log writes are durable; a client that arrives while
that is under way waits for it, then loads the room afresh from the log.
"""

import asyncio
import logging
from collections.abc import Mapping

from persistence.document import new_doc
from persistence.schema import MissingTableError, UnsupportedTableError
from persistence.sheet_store import SheetStore
from server.fanout import Fanout
from server.log_writer import LogWriter
from server.persistence_worker import PersistenceWorker
from server.room import Room, Traffic
from server.validation import DocumentGuard

log = logging.getLogger(__name__)


class UnknownSheet(LookupError):
    """A sheet the server does not serve; `reason` says why, for the client."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name)
        self.reason = reason or f"unknown sheet: {name[:100]}"


class Rooms:
    def __init__(
        self,
        sheets: Mapping[str, str],
        store: SheetStore,
        writer: LogWriter,
        worker: PersistenceWorker,
        fanout: Fanout,
        *,
        merge_window: float,
        idle_seconds: float,
    ) -> None:
        self.sheets = sheets
        self.store = store
        self.writer = writer
        self.worker = worker
        self.fanout = fanout
        self.merge_window = merge_window
        self.idle_seconds = idle_seconds
        self._rooms: dict[str, asyncio.Future[Room]] = {}
        self._unloading: dict[str, asyncio.Task[None]] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self.traffic = {name: Traffic() for name in sheets}  # outlives each room's loading
        self.errors: dict[str, str] = {}  # sheet -> why its table cannot be served (yet)

    def loaded(self) -> list[Room]:
        return [f.result() for f in self._rooms.values() if f.done() and not f.exception()]

    async def acquire(self, name: str) -> Room:
        """The live room of a sheet, loading it if needed; the caller joins it at once."""
        if name not in self.sheets:
            raise UnknownSheet(name)
        while name in self._unloading:
            await asyncio.shield(self._unloading[name])
        future = self._rooms.get(name)
        if future is None:
            future = self._rooms[name] = asyncio.ensure_future(self._load(name))
        try:
            room = await asyncio.shield(future)
        except Exception as exc:
            if self._rooms.get(name) is future:
                del self._rooms[name]
            if isinstance(exc, UnsupportedTableError):
                self.errors[name] = str(exc)
            if isinstance(exc, UnsupportedTableError) and not isinstance(exc, MissingTableError):
                raise UnknownSheet(name, f"sheet {name[:40]} is not served: {exc}") from exc
            raise
        self.errors.pop(name, None)
        timer = self._idle_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        return room

    def release(self, room: Room) -> None:
        """Called when a client leaves: an empty room is unloaded after a grace period."""
        if room.connections or room.name in self._idle_timers:
            return
        loop = asyncio.get_running_loop()
        self._idle_timers[room.name] = loop.call_later(self.idle_seconds, self._unload_soon, room)

    async def close(self) -> None:
        """Writes everything pending; the server calls it on shutdown."""
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        await asyncio.gather(*self._unloading.values(), return_exceptions=True)
        for room in self.loaded():
            await self.worker.detach(room.name)
        await self.writer.flush()
        for room in self.loaded():
            room.close()
        self._rooms.clear()

    async def _load(self, name: str) -> Room:
        loaded = await asyncio.to_thread(self.store.open, name, self.sheets[name])
        doc = new_doc()
        doc.apply_update(loaded.update)
        self.writer.track(name, loaded.log_rows)
        guard = DocumentGuard(doc, loaded.schema, lambda key: self.store.written_row(name, key))
        room = Room(name, doc, self._on_update, self.merge_window, guard, self.traffic[name])
        self.worker.attach(room, loaded.update, loaded.schema)
        log.info("sheet %s loaded (%d log rows)", name, loaded.log_rows)
        return room

    def _on_update(self, sheet: str, update: bytes, by_client: bool) -> None:
        self.writer.add(sheet, update)
        self.worker.feed(sheet, update, by_client)
        self.fanout.publish(sheet, update)

    def _unload_soon(self, room: Room) -> None:
        self._idle_timers.pop(room.name, None)
        if room.connections:
            return
        del self._rooms[room.name]
        self._unloading[room.name] = asyncio.ensure_future(self._unload(room))

    async def _unload(self, room: Room) -> None:
        try:
            await self.worker.detach(room.name)
            await self.writer.flush(room.name)
        except Exception:
            log.exception("sheet %s: log not durable; keeping the room loaded", room.name)
            future = asyncio.get_running_loop().create_future()
            future.set_result(room)
            self._rooms[room.name] = future
            self.release(room)
            return
        finally:
            del self._unloading[room.name]
        room.close()
        log.info("sheet %s unloaded", room.name)
