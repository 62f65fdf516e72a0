"""Trims a sheet's stream to what the update log holds; the sheet's table writer runs it.

Each process names in the sheet's pending hash its oldest entry the log lacks; the stream is
trimmed below the lowest of those, and below `keep_seconds` ago (the setting
`stream_keep_seconds`), so a reader a little behind loses nothing. A process that died (its
heartbeat key expired) can no longer write its entries to the log: the trimmer writes them
instead, then forgets the process. Should the process only have paused, the log holds those
updates twice, which merging makes one.
"""

import asyncio
import logging
import time

from redis.asyncio import Redis

from persistence.store.update_log import UpdateLog, merge
from server.processes.sheet_streams import (
    UPDATE,
    StreamId,
    alive_key,
    id_order,
    parse_entries,
    pending_key,
)
from server.processes.sheet_streams import stream_key as stream_of

log = logging.getLogger(__name__)


class StreamTrimmer:
    def __init__(self, redis: Redis, update_log: UpdateLog, keep_seconds: float):
        self.redis = redis
        self.update_log = update_log
        self.keep_seconds = keep_seconds

    async def trim(self, sheet: str) -> None:
        stream = stream_of(sheet)
        newest = parse_entries(await self.redis.xrevrange(stream, count=1))
        if not newest:
            return
        below = [id_order(newest[0].id), (int((time.time() - self.keep_seconds) * 1000), 0)]
        marks: dict[bytes, bytes] = await self.redis.hgetall(pending_key(sheet))  # type: ignore[assignment]
        for process, mark in marks.items():
            if await self.redis.exists(alive_key(process.decode())):
                below.append(id_order(mark))
            else:
                await self._adopt(sheet, process.decode(), mark)
        ms, seq = min(below)
        await self.redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=True)

    async def _adopt(self, sheet: str, process: str, mark: StreamId) -> None:
        """Writes to the log the updates a dead process sent from `mark` on."""
        parsed = parse_entries(await self.redis.xrange(stream_of(sheet), min=mark))
        updates = [e.data for e in parsed if e.process == process and e.kind == UPDATE]
        if updates:
            await asyncio.to_thread(self.update_log.append, {sheet: merge(updates)})
            log.info("sheet %s: wrote to the log %d updates that process %s, gone, had not",
                     sheet, len(updates), process)  # fmt: skip
        await self.redis.hdel(pending_key(sheet), process)
