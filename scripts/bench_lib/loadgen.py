"""The load generator's processes: subscribers, writers and the fresh-sync prober.

Each runs its own event loop (uvloop when installed) and talks to the orchestrator over a
multiprocessing pipe: it sends ("ready", info), waits for ("go", start_ns) and ("stop", None),
and answers with ("result", dict), or ("error", traceback) if anything fails.

Every edit writes the string `~s<writer>.<seq>@<monotonic_ns>~` into its own cell. The value
travels as UTF-8 inside every update the server sends, merged or not, so subscribers find the
markers with one regex over each sync message, without decoding the CRDT. CLOCK_MONOTONIC is
system-wide on Linux, so the send time read in the writer's process is comparable with the
arrival time read in a subscriber's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import resource
import signal
import time
import traceback
from array import array
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from bench_lib.wire import (
    EMPTY_STATE_VECTOR,
    STEP1,
    STEP2,
    SYNC,
    UPDATE,
    YClient,
    sync_payload,
)

MARKER = re.compile(rb"~s(\d+)\.(\d+)@(\d+)~")
SEQ_SPAN = 10_000_000  # marker id = writer * SEQ_SPAN + seq
CONNECT_CONCURRENCY = 20


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str


def marker(writer: int, seq: int) -> str:
    return f"~s{writer}.{seq}@{time.monotonic_ns()}~"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _die_with_parent() -> None:
    """Children ignore Ctrl-C (the orchestrator stops them) and die if it dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_child(conn: Connection, main: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    _die_with_parent()
    try:
        import uvloop

        runner: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(main(conn, *args))
    except BaseException:
        with contextlib.suppress(OSError):
            os.set_blocking(conn.fileno(), True)
            conn.send(("error", traceback.format_exc()))
        raise


class Commands:
    """The orchestrator's messages, awaited without blocking the loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        while self.conn.poll():
            try:
                self.queue.put_nowait(self.conn.recv())
            except EOFError:
                asyncio.get_running_loop().remove_reader(self.conn.fileno())
                self.queue.put_nowait(("stop", None))
                return

    def close(self) -> None:
        """Back to a blocking pipe (the event loop made it non-blocking) for the last send."""
        asyncio.get_running_loop().remove_reader(self.conn.fileno())
        os.set_blocking(self.conn.fileno(), True)

    async def expect(self, kind: str) -> Any:
        got, value = await self.queue.get()
        if got != kind:
            raise RuntimeError(f"expected {kind!r} from the orchestrator, got {got!r}")
        return value


async def _connect_all(count: int, connect: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int) -> None:
        async with gate:
            await connect(index)

    await asyncio.gather(*(one(i) for i in range(count)))


# subscribers


@dataclass
class Subscriber:
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    sync_bytes: int = 0
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    client: YClient | None = None


async def subscribers_main(
    conn: Connection, progress: Synchronized, target: Target, count: int, sync_timeout: float
) -> None:
    commands = Commands(conn)
    subscribers = [Subscriber() for _ in range(count)]
    latencies = array("q")  # ns from send to arrival, first arrival of each marker at each client
    delivered = 0

    def handler(sub: Subscriber) -> Callable[[YClient, bytes, int], None]:
        seen, record = sub.seen, latencies.append

        def on_message(_client: YClient, message: bytes, now: int) -> None:
            nonlocal delivered
            if message[0] != SYNC:
                return
            kind = message[1]
            if kind == UPDATE:
                for match in MARKER.finditer(message):
                    key = int(match[1]) * SEQ_SPAN + int(match[2])
                    if key in seen:
                        sub.duplicates += 1
                        continue
                    seen.add(key)
                    record(now - int(match[3]))
                    delivered += 1
            elif kind == STEP2 and not sub.synced.is_set():
                sub.sync_bytes = len(message)
                sub.synced.set()

        return on_message

    async def connect(index: int) -> None:
        sub = subscribers[index]
        sub.client = await YClient.connect(target.host, target.port, target.path, handler(sub))
        sub.client.send_sync(STEP1, EMPTY_STATE_VECTOR)
        await asyncio.wait_for(sub.synced.wait(), sync_timeout)

    started = time.monotonic()
    await _connect_all(count, connect)
    conn.send(
        (
            "ready",
            {
                "connect_s": time.monotonic() - started,
                "sync_bytes": subscribers[0].sync_bytes if subscribers else 0,
            },
        )
    )

    async def publish_progress() -> None:
        while True:
            progress.value = delivered
            await asyncio.sleep(0.02)

    publisher = asyncio.ensure_future(publish_progress())
    await commands.expect("go")
    cpu_start = cpu_seconds()
    expected: dict[int, int] = await commands.expect("stop")  # writer -> edits sent
    cpu = cpu_seconds() - cpu_start
    publisher.cancel()
    wanted = {w * SEQ_SPAN + s for w, n in expected.items() for s in range(n)}
    result = {
        "delivered": [len(sub.seen & wanted) for sub in subscribers],
        "unexpected": sum(len(sub.seen - wanted) for sub in subscribers),
        "duplicates": sum(sub.duplicates for sub in subscribers),
        "disconnected": sum(
            1 for sub in subscribers if sub.client is None or sub.client.closed.done()
        ),
        "latencies_ns": latencies.tobytes(),
        "cpu_s": cpu,
    }
    for sub in subscribers:
        if sub.client is not None:
            sub.client.close()
    commands.close()
    conn.send(("result", result))


# writers


class Writer:
    """A real CRDT peer: a pycrdt Doc that applies what it receives and edits its own cells."""

    def __init__(self, index: int) -> None:
        from pycrdt import Doc, TransactionEvent

        self.index = index
        self.doc = Doc()
        self.synced = asyncio.Event()
        self.sync_bytes = 0
        self.client: YClient | None = None
        self._local: list[bytes] = []
        self._capturing = False

        def on_transaction(event: TransactionEvent) -> None:
            if self._capturing:
                self._local.append(event.update)

        self._subscription = self.doc.observe(on_transaction)

    def on_message(self, _client: YClient, message: bytes, _now: int) -> None:
        if message[0] != SYNC or message[1] not in (STEP2, UPDATE):
            return
        self.doc.apply_update(sync_payload(message))
        if message[1] == STEP2 and not self.synced.is_set():
            self.sync_bytes = len(message)
            self.synced.set()

    def edit(self, row: Any, column: str, value: str) -> None:
        """Sets one cell and sends the update that the edit made."""
        assert self.client is not None
        self._capturing = True
        try:
            row[column] = value
        finally:
            self._capturing = False
        for update in self._local:
            self.client.send_sync(UPDATE, update)
        self._local.clear()


async def sync_writers(
    peers: list[Writer], target: Target, sync_timeout: float, seed: bytes | None = None
) -> list[list[Any]]:
    """Connects and syncs every peer; returns each peer's row maps, in key order."""
    from pycrdt import Map

    for peer in peers:
        peer.client = await YClient.connect(target.host, target.port, target.path, peer.on_message)
        if seed is not None and peer.index == 0:
            # Baseline servers start empty: the first peer uploads the table's document.
            peer.doc.apply_update(seed)
            peer.client.send_sync(UPDATE, seed)
        peer.client.send_sync(STEP1, peer.doc.get_state())
        await asyncio.wait_for(peer.synced.wait(), sync_timeout)
    rows_by_peer = []
    for peer in peers:
        rows = peer.doc.get("rows", type=Map)
        keys = sorted(rows.keys(), key=lambda k: (len(k), k))
        if not keys:
            raise RuntimeError("the synced document has no rows")
        rows_by_peer.append([rows[k] for k in keys])
    return rows_by_peer


async def writers_main(
    conn: Connection,
    target: Target,
    writers: int,
    rate: float,
    edits: int,
    seed: bytes | None,
    sync_timeout: float,
) -> None:

    commands = Commands(conn)
    peers = [Writer(i) for i in range(writers)]
    rows_by_peer = await sync_writers(peers, target, sync_timeout, seed)
    columns = sorted(c for c in rows_by_peer[0][0] if c != "id")
    conn.send(
        (
            "ready",
            {
                "rows": len(rows_by_peer[0]),
                "columns": len(columns) + 1,
                "sync_bytes": peers[-1].sync_bytes,
            },
        )
    )

    start_ns: int = await commands.expect("go")
    cpu_start = cpu_seconds()
    lag_ns = [0] * writers
    sent = [0] * writers

    async def write(peer: Writer) -> None:
        rows = rows_by_peer[peer.index]
        column = columns[peer.index % len(columns)]
        interval_ns = int(1e9 / rate)
        for seq in range(edits):
            due = start_ns + seq * interval_ns
            now = time.monotonic_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            else:
                lag_ns[peer.index] = max(lag_ns[peer.index], now - due)
                if seq % 16 == 0:
                    await asyncio.sleep(0)  # let the socket reads run while catching up
            peer.edit(rows[seq % len(rows)], column, marker(peer.index, seq))
            sent[peer.index] += 1

    await asyncio.gather(*(write(p) for p in peers))
    conn.send(("done", {"sent": dict(enumerate(sent)), "max_lag_ms": max(lag_ns) / 1e6}))
    await commands.expect("stop")
    cpu = cpu_seconds() - cpu_start
    for peer in peers:
        assert peer.client is not None
        peer.client.close()
    commands.close()
    conn.send(("result", {"cpu_s": cpu}))


# a fresh client's first sync


async def sync_probe_main(conn: Connection, target: Target, runs: int, sync_timeout: float) -> None:
    from pycrdt import Doc, Map

    results = []
    for _ in range(runs):
        done = asyncio.get_running_loop().create_future()

        def on_message(_client: YClient, message: bytes, now: int, done=done) -> None:
            if message[0] == SYNC and message[1] == STEP2 and not done.done():
                done.set_result((message, now))

        started = time.monotonic_ns()
        client = await YClient.connect(target.host, target.port, target.path, on_message)
        client.send_sync(STEP1, EMPTY_STATE_VECTOR)
        message, arrived = await asyncio.wait_for(done, sync_timeout)
        doc = Doc()
        doc.apply_update(sync_payload(message))
        rows = len(doc.get("rows", type=Map))
        applied = time.monotonic_ns()
        client.close()
        await client.closed
        results.append(
            {
                "received_s": (arrived - started) / 1e9,
                "applied_s": (applied - started) / 1e9,
                "bytes": len(message),
                "wire_bytes": client.bytes_received,
                "rows": rows,
            }
        )
        await asyncio.sleep(0.3)
    conn.send(("result", {"runs": results}))
