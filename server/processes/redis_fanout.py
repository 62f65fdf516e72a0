"""Several server processes sharing sheets through Redis: the `Fanout` behind `--redis-url`.

Each process sends its own updates and presence to the sheet's stream (`stream_outbox`), reads
the others' (`stream_reader`), and, for the sheets whose table it writes, trims the streams to
what the update log holds (`stream_trimmer`). Every `HEARTBEAT_SECONDS` it renews a key that
says it is alive; a process whose key expired is taken for dead: its clients' presence leaves
every room here at once (a kill -9 sends no removals), and its unlogged updates are adopted.
Redis going away stops none of this process's work: its clients keep editing together, and it
catches up once Redis is back.
"""

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket

from redis.asyncio import Redis
from redis.exceptions import RedisError

from persistence.origins import Origin, OtherProcess
from persistence.store.update_log import UpdateLog
from server.database_health import DatabaseHealth
from server.processes.sheet_streams import Backlog, alive_key, answer_key, encode_presence
from server.processes.stream_outbox import StreamOutbox
from server.processes.stream_reader import StreamReader
from server.processes.stream_trimmer import StreamTrimmer
from server.processes.writer_election import WriterElection
from server.sheets.fanout import CrossProcess, NoAnswer, Report, WriteHere
from server.sheets.room import Room
from server.storage.log_appender import LogAppender
from server.websocket.protocol import AwarenessEntry

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0  # also how often the others' presence is checked for dead processes
ALIVE_SECONDS = 5  # a process silent this long is taken for dead
FROM_LOG = OtherProcess("update log")  # what a catch-up finds there
ASK_SECONDS = 10.0  # how long a process waits for a sheet's writer to write it on request


def process_name() -> str:
    """Unique per start of a process: a reused pid is another process."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class RedisFanout:
    def __init__(
        self,
        url: str,
        update_log: UpdateLog,
        log_appender: LogAppender,
        election: WriterElection,
        max_held_bytes: int,
        trim_seconds: float,
        keep_seconds: float,
    ) -> None:
        self.process = process_name()
        self.redis = Redis.from_url(url)
        self.update_log = update_log
        self.log_appender = log_appender
        self.election = election
        self.health = DatabaseHealth(dict.fromkeys(("stream_send", "stream_read", "heartbeat"), 0))
        self.outbox = StreamOutbox(self.redis, self.process, self.health, max_held_bytes)
        self.reader = StreamReader(
            self.redis, self.process, self.health, self._catch_up, self.outbox.resend, self._asked
        )
        self.trimmer = StreamTrimmer(self.redis, update_log, keep_seconds)
        self.trim_seconds = trim_seconds
        self._write: WriteHere | None = None
        self._answering: set[asyncio.Task[None]] = set()
        log_appender.on_durable.append(self.outbox.durable)

    async def backlog(self, sheet: str) -> Backlog:
        return await self.reader.backlog(sheet)

    def attach(self, room: Room, backlog: Backlog) -> None:
        self.reader.follow(room, backlog)

    def detach(self, sheet: str) -> None:
        self.reader.stop(sheet)

    def publish(self, sheet: str, update: bytes, origin: Origin) -> None:
        """The document's `processes` hook; the log writer has just numbered the update."""
        if not isinstance(origin, OtherProcess):
            self.outbox.add(sheet, self.log_appender.added(sheet), update)

    def publish_logged(self, sheet: str, update: bytes) -> None:
        """An update the log already holds (what a load repaired): no mark keeps it."""
        self.outbox.add(sheet, 0, update)

    def publish_presence(self, sheet: str, entries: list[AwarenessEntry]) -> None:
        self.outbox.add_presence(sheet, encode_presence(entries))

    def answer_writes(self, write: WriteHere) -> None:
        self._write = write

    async def ask_writer(self, sheet: str) -> Report:
        """Asks the sheet's writer, through its stream (after what this process sent), to
        write its table, and waits for its report."""
        request = secrets.token_hex(8)
        self.outbox.add_write_request(sheet, request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ASK_SECONDS
        try:  # each wait shorter than the client's socket timeout (redis-py's default: 5 s)
            while (reply := await self.redis.blpop([answer_key(sheet, request)], 1)) is None:
                if loop.time() > deadline:
                    raise NoAnswer(f"its table writer did not answer within {ASK_SECONDS:g}s "
                                   "(no process has it open, or redis is unreachable)")  # fmt: skip
        except RedisError as exc:
            raise NoAnswer(f"its table writer cannot be asked: redis: {exc}") from exc
        answer = json.loads(reply[1])
        if "error" in answer:
            raise NoAnswer(answer["error"])
        report: Report = answer["report"]
        return report

    def state(self) -> CrossProcess:
        return CrossProcess(
            self.process,
            self.health.up,
            self.health.reason(),
            self.reader.updates_received,
            self.outbox.updates_sent,
            self.outbox.held_bytes,
            dict(self.reader.lag),
        )

    async def run(self) -> None:
        """Runs until cancelled."""
        log.info("sharing sheets through redis as process %s", self.process)
        await asyncio.gather(
            self.outbox.run(), self.reader.run(), self._heartbeat(), self._maintain()
        )

    async def close(self) -> None:
        """Sends what is left (briefly: the log holds it too) and says this process is gone."""
        await self.outbox.flush(patience=5.0)
        with contextlib.suppress(RedisError):
            await self.redis.delete(alive_key(self.process))
        await self.redis.aclose()

    async def _heartbeat(self) -> None:
        while True:
            try:
                was_alive = await self.redis.set(
                    alive_key(self.process), "1", ex=ALIVE_SECONDS, get=True
                )
                if was_alive:  # else Redis lost every key (a restart): the others' come back
                    await self._drop_dead_presence()
            except RedisError as exc:  # reported by the reader and the outbox
                log.debug("redis: heartbeat failed: %s", exc)
            except Exception:
                log.exception("redis: heartbeat failed")
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _drop_dead_presence(self) -> None:
        """Removes the presence of the processes whose heartbeat expired from every room."""
        rooms = self.reader.rooms()
        owners = sorted(set().union(*(room.processes_present() for room in rooms)))
        if not owners:
            return
        pipe = self.redis.pipeline(transaction=False)
        for process in owners:
            pipe.exists(alive_key(process))
        alive = await pipe.execute()
        for process, exists in zip(owners, alive, strict=True):
            if not exists:
                log.info("process %s is gone: its clients' presence leaves", process)
                for room in rooms:
                    room.process_gone(process)

    async def _maintain(self) -> None:
        """Every `trim_seconds`: streams read past a gap, and the written sheets trimmed."""
        while True:
            await asyncio.sleep(self.trim_seconds)
            try:
                await self.reader.check_gaps()
                for sheet in self.reader.sheets():
                    if self.election.writes(sheet):
                        await self.trimmer.trim(sheet)
            except RedisError as exc:  # reported by the reader and the outbox
                log.debug("redis: stream upkeep failed: %s", exc)
            except Exception:
                log.exception("redis: stream upkeep failed")

    def _asked(self, room: Room, request: str) -> None:
        """Another process asked for the sheet's table to be written: its writer answers."""
        if self._write is not None and self.election.writes(room.name):
            task = asyncio.ensure_future(self._answer(room.name, request, self._write))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    async def _answer(self, sheet: str, request: str, write: WriteHere) -> None:
        answer: dict[str, object]
        try:
            answer = {"report": await write(sheet)}
        except Exception as exc:
            answer = {"error": getattr(exc, "reason", None) or str(exc)}
        key = answer_key(sheet, request)
        try:
            pipe = self.redis.pipeline()
            pipe.rpush(key, json.dumps(answer))
            pipe.expire(key, 60)  # an asker that gave up leaves nothing behind
            await pipe.execute()
        except RedisError as exc:
            log.warning("sheet %s: cannot answer a request to write its table: %s", sheet, exc)

    async def _catch_up(self, room: Room) -> None:
        """Applies the sheet's log to its room: what the stream lost is there."""
        try:
            logged = await asyncio.to_thread(self.update_log.load, room.name)
        except Exception as exc:
            log.warning("sheet %s: cannot catch up from the log (%s)", room.name, exc)
            return
        if logged is not None and self.reader.follows(room):
            room.document.apply(logged.update, FROM_LOG)
