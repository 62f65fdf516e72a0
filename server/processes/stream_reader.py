"""Applies the other processes' entries of each loaded sheet's Redis stream to its room.

One task reads every loaded sheet's stream in one blocking XREAD. Updates go into the sheet's
document with the origin `OtherProcess`, so they reach this process's clients and its table
writer, but neither the log (their own process logs them) nor Redis again; presence goes to
the room's clients, a request to write the table to `asked` (the writer answers it). A room
starts from the entries its stream held before its log was read (`backlog`): an entry leaves
the stream only once the log holds it, so between the two nothing is missing. After Redis was
unreachable, or a stream was trimmed past what was read, each sheet concerned catches up from
the log (`catch_up`); re-applying what it has is harmless.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from persistence.origins import OtherProcess
from persistence.store.update_log import merge
from server.database_health import Backoff, DatabaseHealth
from server.processes.sheet_streams import (
    PRESENCE,
    UPDATE,
    WRITE_REQUEST,
    Backlog,
    Entry,
    StreamId,
    decode_presence,
    id_order,
    parse_entries,
    stream_key,
)
from server.sheets.room import Room

log = logging.getLogger(__name__)

SOURCE = "redis: reading"
BLOCK_MS = 250  # a sheet loaded meanwhile joins the read after at most this long
BATCH = 1000  # entries per read


class StreamReader:
    def __init__(
        self,
        redis: Redis,
        process: str,
        health: DatabaseHealth,
        catch_up: Callable[[Room], Awaitable[None]],
        reconnected: Callable[[], None],
        asked: Callable[[Room, str], None],
    ) -> None:
        self.redis = redis
        self.process = process
        self.health = health
        self._catch_up = catch_up
        self._reconnected = reconnected
        self._asked = asked
        self._rooms: dict[str, Room] = {}
        self._last: dict[str, StreamId] = {}
        self._catching_up: set[asyncio.Task[None]] = set()
        self.updates_received = 0
        self.lag: dict[str, float] = {}  # sheet -> age of the last entry applied, when applied

    async def backlog(self, sheet: str) -> Backlog:
        """Everything the sheet's stream holds now; unreadable (Redis is down): nothing, and
        the room reads the whole stream once Redis is back."""
        entries: list[Entry] = []
        start = b"-"
        try:
            while True:
                chunk = parse_entries(
                    await self.redis.xrange(stream_key(sheet), min=start, count=BATCH)
                )
                entries += chunk
                if len(chunk) < BATCH:
                    break
                start = b"(" + chunk[-1].id
        except RedisError as exc:
            log.warning("sheet %s: its stream cannot be read (%s); loading from the log alone",
                        sheet, exc)  # fmt: skip
            return Backlog([], b"0-0")
        return Backlog(entries, entries[-1].id if entries else b"0-0")

    def follow(self, room: Room, backlog: Backlog) -> None:
        """Applies the backlog's updates to the new room and reads on from there."""
        self._apply(room, [entry for entry in backlog.entries if entry.kind == UPDATE])
        self._rooms[room.name] = room
        self._last[room.name] = backlog.last_id

    def stop(self, sheet: str) -> None:
        self._rooms.pop(sheet, None)
        self._last.pop(sheet, None)
        self.lag.pop(sheet, None)

    def follows(self, room: Room) -> bool:
        return self._rooms.get(room.name) is room

    def sheets(self) -> list[str]:
        return list(self._rooms)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    async def run(self) -> None:
        """Runs until cancelled."""
        backoff = Backoff(limit=2.0)
        while True:
            if not self._rooms:
                await asyncio.sleep(BLOCK_MS / 1000)
                continue
            keys = {stream_key(sheet): sheet for sheet in self._rooms}
            streams = {key: self._last[sheet] for key, sheet in keys.items()}
            try:
                reply: Any = await self.redis.xread(streams, count=BATCH, block=BLOCK_MS)  # type: ignore[arg-type]
            except RedisError as exc:
                if self.health.failed(SOURCE, "stream_read", exc):
                    log.warning("redis: unreachable (%s); each process's clients keep editing "
                                "together, and catch up from the log once it is back",
                                self.health.failing[SOURCE])  # fmt: skip
                await asyncio.sleep(backoff.delay())
                continue
            backoff.reset()
            if self.health.succeeded(SOURCE):
                log.info("redis: back; catching up from the log")
                self._reconnected()
                for room in self._rooms.values():
                    self.catch_up_soon(room)
            for key, reply_entries in reply or []:
                target = self._rooms.get(keys.get(key.decode(), ""))
                entries = parse_entries(reply_entries)
                if target is None or not entries:
                    continue
                self._last[target.name] = entries[-1].id
                self._apply(target, entries)

    async def check_gaps(self) -> None:
        """Catches up from the log each sheet whose stream lost entries not yet read."""
        for sheet, room in list(self._rooms.items()):
            try:
                info: Any = await self.redis.xinfo_stream(stream_key(sheet))
            except ResponseError:  # no stream yet
                continue
            deleted = info["max-deleted-entry-id"]
            last = self._last.get(sheet)
            if last is not None and id_order(deleted) > id_order(last):
                log.warning("sheet %s: its stream was trimmed past what this process read; "
                            "catching up from the log", sheet)  # fmt: skip
                self._last[sheet] = deleted
                self.catch_up_soon(room)

    def catch_up_soon(self, room: Room) -> None:
        task = asyncio.ensure_future(self._catch_up(room))
        self._catching_up.add(task)
        task.add_done_callback(self._catching_up.discard)

    def _apply(self, room: Room, entries: list[Entry]) -> None:
        """Each run of one process's updates goes in as one; presence goes to the room."""
        updates: list[bytes] = []
        maker = ""

        def apply_updates() -> None:
            if updates:
                try:
                    room.document.apply(merge(updates), OtherProcess(maker))
                except Exception:
                    log.exception("sheet %s: an update from %s cannot be applied", room.name, maker)
                updates.clear()

        for entry in entries:
            if entry.process == self.process:
                continue
            if entry.kind == UPDATE:
                if entry.process != maker:
                    apply_updates()
                    maker = entry.process
                updates.append(entry.data)
                self.updates_received += 1
            elif entry.kind == PRESENCE:
                apply_updates()
                room.presence_from(entry.process, decode_presence(entry.data))
            elif entry.kind == WRITE_REQUEST:
                apply_updates()  # what the asker sent before it goes into the write
                self._asked(room, entry.data.decode())
            self.lag[room.name] = time.time() - id_order(entry.id)[0] / 1000
        apply_updates()
