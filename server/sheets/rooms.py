"""Loads rooms on first use and unloads them once idle and durable.

Two clients opening a new room at once share one load, which first claims the sheet: a sheet
another process serves is refused (`SheetTaken`) until that process lets it go. Processes that
share sheets through Redis claim nothing to load one; they stand for writing its table instead
(`server/processes/writer_election.py`), and the room reads the other processes' updates from
the stream it read before its log (`Fanout.backlog`), so nothing falls between the two. A room is
unloaded `idle_seconds` after its last client leaves, and only after its log writes are
durable; a client that arrives while that is under way waits for it, then loads the room
afresh from the log.
"""

import asyncio
import logging
from collections.abc import Mapping

from persistence.origins import Origin, OtherProcess
from persistence.store.sheet_claims import FileClaims, NoClaims, PostgresClaims, SheetTaken
from persistence.store.sheet_store import SheetStore
from persistence.store.table_record import RecordLookup
from persistence.table.schema import MissingTableError, UnsupportedTableError
from server.database_health import Backoff, DatabaseHealth, is_database_error, reason_of
from server.memory import give_back_soon
from server.processes.writer_election import SoleWriter, WriterElection
from server.sheets.early_sync import EarlySync
from server.sheets.fanout import Fanout, NoAnswer, Report
from server.sheets.room import Room, Traffic
from server.sheets.sheet_document import Hooks, SheetDocument
from server.storage.log_appender import LogAppender
from server.storage.table_sync import TableSync

log = logging.getLogger(__name__)


class UnknownSheet(LookupError):
    """A sheet the server does not serve; `reason` says why, for the client."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name)
        self.reason = reason or f"unknown sheet: {name[:100]}"


class SheetUnavailable(Exception):
    """The sheet cannot be loaded or written now (the database is unreachable, say); worth a
    retry."""

    def __init__(self, name: str, reason: str, action: str = "loaded") -> None:
        super().__init__(f"sheet {name[:100]} cannot be {action} yet: {reason}")
        self.reason = str(self)


class Rooms:
    def __init__(
        self,
        sheets: Mapping[str, str],
        store: SheetStore,
        log_appender: LogAppender,
        table_sync: TableSync,
        fanout: Fanout,
        health: DatabaseHealth,
        claims: PostgresClaims | FileClaims | NoClaims,
        *,
        merge_window: float,
        idle_seconds: float,
        election: SoleWriter | WriterElection | None = None,
    ) -> None:
        self.sheets = sheets
        self.store = store
        self.log_appender = log_appender
        self.table_sync = table_sync
        self.fanout = fanout
        self.health = health
        self.claims = claims
        self.election = election or SoleWriter()
        self.merge_window = merge_window
        self.idle_seconds = idle_seconds
        self._rooms: dict[str, asyncio.Future[Room]] = {}
        self._unloading: dict[str, asyncio.Task[None]] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self.traffic = {name: Traffic() for name in sheets}  # outlives each room's loading
        self.errors: dict[str, str] = {}  # sheet -> why its table cannot be served (yet)
        self.early = EarlySync(self.traffic)  # fresh clients of a loading sheet get its log at once
        fanout.answer_writes(self._write_here)

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
            if isinstance(exc, SheetTaken):
                raise
            if isinstance(exc, UnsupportedTableError):
                self.errors[name] = str(exc)
            if isinstance(exc, UnsupportedTableError) and not isinstance(exc, MissingTableError):
                raise UnknownSheet(name, f"sheet {name[:40]} is not served: {exc}") from exc
            raise self._unavailable(name, exc) from exc
        self.errors.pop(name, None)
        if self.health.succeeded(f"sheet {name}: load"):
            log.info("sheet %s: loads again", name)
        timer = self._idle_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        return room

    async def document(self, name: str) -> bytes:
        """The sheet's document as an update, for readers: from its live room, else from the
        log or the table, writing nothing."""
        room = self.live(name)
        if room is not None:
            return room.document.doc.get_update()
        try:
            return await asyncio.to_thread(self.store.peek, name, self.sheets[name])
        except UnsupportedTableError:
            raise  # not worth a retry: the API answers 404 with the reason
        except Exception as exc:
            raise self._unavailable(name, exc) from exc

    async def write_now(self, name: str) -> Report:
        """Writes the live sheet's table and log now, from its document; a process that does
        not write its table asks the one that does (behind a load balancer, any process may be
        asked)."""
        if self.live(name) is not None and self.election.writes(name):
            return await self._write_here(name)
        try:
            report = await self.fanout.ask_writer(name)
        except NoAnswer as exc:
            raise SheetUnavailable(name, str(exc), "written") from exc
        if report is None:
            raise SheetUnavailable(name, "it is not open on this server", "written")
        return report

    async def _write_here(self, name: str) -> Report:
        if self.live(name) is None or not self.election.writes(name):
            raise SheetUnavailable(name, "this process no longer writes its table", "written")
        result = await self.table_sync.write_now(name)
        if result is None:
            raise SheetUnavailable(
                name, self.health.reason() or "writing the table failed", "written"
            )
        try:
            await self.log_appender.append_now(name)  # the outcome (new keys) is durable too
        except Exception as exc:
            raise self._unavailable(name, exc) from exc
        return result.report()

    def live(self, name: str) -> Room | None:
        future = self._rooms.get(name)
        return future.result() if future and future.done() and not future.exception() else None

    def _unavailable(self, name: str, exc: Exception) -> SheetUnavailable:
        """Reports a failed load (logged once per outage) as a refusal worth a retry."""
        if isinstance(exc, SheetUnavailable):
            return exc
        if self.health.failed(f"sheet {name}: load", "room_load", exc):
            log.warning("sheet %s: cannot be loaded (%s)", name, reason_of(exc),
                        exc_info=not is_database_error(exc))  # fmt: skip
        return SheetUnavailable(name, reason_of(exc))

    async def keep_claims(self, interval: float = 5.0) -> None:
        """Runs until cancelled: takes the sheets this process serves back after the database
        lost their claims (a PostgreSQL restart), before another process can take them."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.claims.refresh)
            except Exception as exc:  # the database is down: its outage is reported elsewhere
                log.debug("sheet claims not refreshed: %s", reason_of(exc))

    def release(self, room: Room) -> None:
        """Called when a client leaves: an empty room is unloaded after a grace period."""
        if room.connections or room.name in self._idle_timers:
            return
        loop = asyncio.get_running_loop()
        self._idle_timers[room.name] = loop.call_later(self.idle_seconds, self._unload_soon, room)

    async def close(self, patience: float = 30.0) -> None:
        """Writes everything pending; the server calls it on shutdown. An unreachable database
        is waited for, up to `patience` seconds, before the held updates are given up."""
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        await asyncio.gather(*self._unloading.values(), return_exceptions=True)
        for room in self.loaded():
            if self.table_sync.follows(room.name):
                await self.table_sync.write_now(room.name)
        await self._write_log(patience)
        for room in self.loaded():
            await self._let_go(room)
        self._rooms.clear()

    async def _write_log(self, patience: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        backoff = Backoff(limit=2.0)
        warned = False
        while True:
            try:
                await self.log_appender.append_now()
                return
            except Exception as exc:
                if loop.time() > deadline:
                    log.error("update log: database unreachable at shutdown (%s); edits held in "
                              "memory are given up (clients that made them send them again when "
                              "they reconnect)", reason_of(exc))  # fmt: skip
                    raise
                if not warned:
                    log.warning("shutting down: waiting up to %gs for the database", patience)
                    warned = True
                await asyncio.sleep(backoff.delay())

    async def _load(self, name: str) -> Room:
        await asyncio.to_thread(self.claims.claim, name)
        try:
            return await self._open(name)
        except BaseException:
            await asyncio.to_thread(self.claims.release, name)
            raise

    async def _open(self, name: str) -> Room:
        with self.table_sync.loading(name):
            return await self._opened(name)

    async def _opened(self, name: str) -> Room:
        backlog = await self.fanout.backlog(name)  # first: what it lacks, the log holds
        loop = asyncio.get_running_loop()

        def built(chunk: bytes) -> None:  # in the loading thread: committed, so it may go out
            loop.call_soon_threadsafe(self.early.row, name, chunk)

        try:
            logged = await asyncio.to_thread(self.store.update_log.load, name)
            if logged is not None:  # fresh clients apply it while this process does
                await self.early.send(name, logged)
            loaded = await asyncio.to_thread(
                self.store.open, name, self.sheets[name], logged, built
            )
        finally:
            self.early.loaded(name)

        async def read_record(keys: set[str]) -> RecordLookup:
            return await asyncio.to_thread(self.store.recorded_rows, name, keys)

        document = SheetDocument(
            name, loaded.doc, loaded.schema, read_record, loaded.logged, loaded.logged_state
        )
        room = Room(document, self.merge_window, self.traffic[name])
        document.hooks = Hooks(
            broadcast=room.broadcast,
            log=lambda update, origin: self._log(name, update, origin),
            table=lambda update, origin: self.table_sync.follow(name, update, origin),
            processes=lambda update, origin: self.fanout.publish(name, update, origin),
        )
        room.share_presence = lambda entries: self.fanout.publish_presence(name, entries)
        self.log_appender.track(name, loaded.log_rows)
        self.fanout.attach(room, backlog)
        if loaded.repair:
            self.fanout.publish_logged(name, loaded.repair)
        built_in = loaded.built_in

        def elected() -> None:
            self.table_sync.attach(document, built_in)

        self.election.stand(name, elected, lambda: self.table_sync.detach(name))
        built_in = None  # elected later, the document and the table may have changed
        log.info("sheet %s loaded (%d log rows)", name, loaded.log_rows)
        await give_back_soon()  # what the loading thread built and let go
        return room

    def _log(self, name: str, update: bytes, origin: Origin) -> None:
        """Each update is logged once, by the process where it was made."""
        if not isinstance(origin, OtherProcess):
            self.log_appender.add(name, update)

    async def _let_go(self, room: Room) -> None:
        """Stops serving the loaded room, whose table and log are written."""
        self.fanout.detach(room.name)
        self.table_sync.detach(room.name)
        room.close()
        await self.election.withdraw(room.name)
        await asyncio.to_thread(self.claims.release, room.name)
        await give_back_soon()

    def _unload_soon(self, room: Room) -> None:
        self._idle_timers.pop(room.name, None)
        if room.connections:
            return
        del self._rooms[room.name]
        self._unloading[room.name] = asyncio.ensure_future(self._unload(room))

    async def _unload(self, room: Room) -> None:
        """Unloads the room once its table and log are written; while its log cannot be
        written, the room stays loaded, with its table writer, and tries again when idle."""
        try:
            while True:
                if self.table_sync.follows(room.name):  # its outcome goes into the log too
                    await self.table_sync.write_now(room.name)
                await self.log_appender.append_now(room.name)
                if not self.log_appender.pending(room.name):
                    break
        except Exception as exc:
            log.warning(
                "sheet %s: log not durable (%s); keeping the room loaded", room.name, reason_of(exc)
            )
            future = asyncio.get_running_loop().create_future()
            future.set_result(room)
            self._rooms[room.name] = future
            self.release(room)
            return
        finally:
            del self._unloading[room.name]
        await self._let_go(room)
        log.info("sheet %s unloaded", room.name)
