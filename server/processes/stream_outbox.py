"""Sends this process's updates and presence to each sheet's Redis stream, in order.

An update goes out merged with those made in the same turn, and is kept until the update
log holds it: the pending hash names this process's oldest entry the log lacks, so that no
process trims it away (`stream_trimmer`), and if Redis restarts and loses it, it is sent
again (`resend`). Presence and write requests follow a sheet's updates, so a writer asked to
write has what was sent before. While Redis is unreachable, updates wait here (up to
`max_held_bytes`, past which the other processes catch up from the log instead); presence and
requests are dropped.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from persistence.store.update_log import merge
from server.database_health import Backoff, DatabaseHealth
from server.processes.sheet_streams import (
    PRESENCE,
    UPDATE,
    WRITE_REQUEST,
    StreamId,
    entry_fields,
    pending_key,
    stream_key,
)

log = logging.getLogger(__name__)

SOURCE = "redis: sending"
UNKNOWN = b"?"  # what the pending hash holds after a failed send

# Adds the entry and, unless this process already has an entry there, names it in the pending
# hash, atomically: a trimmer never sees the entry without its mark.
_ADD = """
local id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
redis.call('HSETNX', KEYS[2], ARGV[1], id)
return {id, redis.call('HGET', KEYS[2], ARGV[1])}
"""


@dataclass
class _Outgoing:
    """One sheet's entries on their way."""

    unsent: list[tuple[int, bytes]] = field(default_factory=list)  # (log number, update)
    after: list[tuple[bytes, bytes]] = field(default_factory=list)  # (kind, data), not updates
    sent: deque[tuple[int, StreamId, bytes]] = field(default_factory=deque)  # not yet durable
    durable: int = 0  # the log holds this sheet's updates up to this number
    marked: StreamId | None = None  # what the pending hash holds for this process

    @property
    def idle(self) -> bool:
        return not (self.unsent or self.after or self.sent or self.marked)


class StreamOutbox:
    def __init__(
        self, redis: Redis, process: str, health: DatabaseHealth, max_held_bytes: int
    ) -> None:
        self.redis = redis
        self.process = process
        self.health = health
        self.max_held_bytes = max_held_bytes
        self.updates_sent = 0
        self._sheets: dict[str, _Outgoing] = {}
        self._wake = asyncio.Event()
        self._add = redis.register_script(_ADD)
        self._dropped = False

    def add(self, sheet: str, number: int, update: bytes) -> None:
        """An update of this process's, the `number`th the log writer took for the sheet (0: one
        the log held before it was sent)."""
        self._sheet(sheet).unsent.append((number, update))
        self._wake.set()

    def add_presence(self, sheet: str, data: bytes) -> None:
        self._sheet(sheet).after.append((PRESENCE, data))
        self._wake.set()

    def add_write_request(self, sheet: str, request: str) -> None:
        self._sheet(sheet).after.append((WRITE_REQUEST, request.encode()))
        self._wake.set()

    def durable(self, sheet: str, number: int) -> None:
        """The log writer's callback: the sheet's updates up to `number` are in the log."""
        outgoing = self._sheet(sheet)
        outgoing.durable = number
        while outgoing.sent and outgoing.sent[0][0] <= number:
            outgoing.sent.popleft()
        self._wake.set()

    def resend(self) -> None:
        """Redis may have lost what it had (a restart): what the log lacks goes again."""
        for outgoing in self._sheets.values():
            outgoing.unsent[:0] = [(number, update) for number, _, update in outgoing.sent]
            outgoing.sent.clear()
            outgoing.marked = UNKNOWN
        self._wake.set()

    @property
    def held_bytes(self) -> int:
        return sum(len(u) for o in self._sheets.values() for _, u in o.unsent)

    async def run(self) -> None:
        """Runs until cancelled."""
        backoff = Backoff(limit=2.0)
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._send()
            except RedisError as exc:
                self._failed(exc)
                await asyncio.sleep(backoff.delay())
                self._wake.set()
                continue
            backoff.reset()
            if self.health.succeeded(SOURCE):
                log.info("redis: sending again")

    async def flush(self, patience: float) -> None:
        """Waits up to `patience` seconds for every update to be sent (at shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while any(o.unsent for o in self._sheets.values()) and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def _sheet(self, sheet: str) -> _Outgoing:
        outgoing = self._sheets.get(sheet)
        if outgoing is None:
            outgoing = self._sheets[sheet] = _Outgoing()
        return outgoing

    async def _send(self) -> None:
        """One pipeline for every sheet: marks to mend, updates (merged per sheet), presence."""
        pipe = self.redis.pipeline(transaction=False)
        on_reply: list[Callable[[Any], None]] = []
        taken: list[tuple[_Outgoing, list[tuple[int, bytes]]]] = []
        for sheet, outgoing in list(self._sheets.items()):
            mark = outgoing.sent[0][1] if outgoing.sent else None
            if mark != outgoing.marked:
                if mark is None:
                    pipe.hdel(pending_key(sheet), self.process)
                else:
                    pipe.hset(pending_key(sheet), self.process, mark)
                on_reply.append(partial(_marked, outgoing, mark))
            if outgoing.unsent:
                batch, outgoing.unsent = outgoing.unsent, []
                taken.append((outgoing, batch))
                update = merge([update for _, update in batch])
                args: list[EncodableT] = [self.process, UPDATE, update]
                await self._add(
                    keys=[stream_key(sheet), pending_key(sheet)], args=args, client=pipe
                )
                on_reply.append(partial(self._sent, outgoing, batch, update))
            for kind, data in outgoing.after:
                pipe.xadd(stream_key(sheet), entry_fields(self.process, kind, data))
                on_reply.append(_ignore)
            outgoing.after.clear()
        if not on_reply:
            return
        try:
            replies = await pipe.execute()
        except BaseException:
            for outgoing, batch in taken:
                outgoing.unsent[:0] = batch
            raise
        for handle, reply in zip(on_reply, replies, strict=True):
            handle(reply)
        for sheet in [s for s, o in self._sheets.items() if o.idle]:
            del self._sheets[sheet]

    def _sent(
        self, outgoing: _Outgoing, batch: list[tuple[int, bytes]], update: bytes, reply: Any
    ) -> None:
        entry_id, outgoing.marked = reply
        self.updates_sent += len(batch)
        number = max(n for n, _ in batch)
        if number > outgoing.durable:
            outgoing.sent.append((number, entry_id, update))

    def _failed(self, exc: Exception) -> None:
        """Reports the failure once per outage; past `max_held_bytes`, gives the updates up."""
        for outgoing in self._sheets.values():
            outgoing.after.clear()
            outgoing.marked = UNKNOWN
        if self.health.failed(SOURCE, "stream_send", exc):
            log.warning("redis: cannot send (%s); keeping this process's updates until it is "
                        "back", self.health.failing[SOURCE])  # fmt: skip
        if self.held_bytes > self.max_held_bytes:
            for outgoing in self._sheets.values():
                outgoing.unsent.clear()
            if not self._dropped:
                log.error("redis: more than %d bytes of updates held; the other processes will "
                          "read them from the update log", self.max_held_bytes)  # fmt: skip
            self._dropped = True


def _marked(outgoing: _Outgoing, mark: StreamId | None, reply: Any) -> None:
    outgoing.marked = mark


def _ignore(reply: Any) -> None:
    return None
