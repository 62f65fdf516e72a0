"""Load-generator processes of the table scenarios (4 and 5), run with `loadgen.run_child`.

Scenario 4: `spread_writers_main` edits cells of the live sheet from several WebSocket peers,
spread over every row; `table_probe_main` polls a sample of the table's rows from its own
database connection and notes when each edit's value first shows up there.

Scenario 5: `committer_main` commits UPDATEs straight to the table from its own connection;
`arrivals_main` is a bare y-websocket subscriber that notes when each value reaches it.

Values carry the same marker as the room scenarios, `~s<writer>.<seq>@<monotonic_ns>~`;
CLOCK_MONOTONIC is system-wide on Linux, so times taken in different processes compare.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

import sqlalchemy as sa

from bench_lib.loadgen import (
    MARKER,
    SEQ_SPAN,
    Commands,
    Target,
    Writer,
    cpu_seconds,
    marker,
    sync_writers,
)
from bench_lib.wire import EMPTY_STATE_VECTOR, STEP1, STEP2, SYNC, UPDATE, YClient, sync_payload

ROW_STRIDE = 7919  # prime, coprime with any row count of the form 2^a 5^b: a full cycle


def row_index(writer: int, seq: int, writers: int, rows: int) -> int:
    """The row (0-based, in primary-key order) that edit `seq` of `writer` changes: each
    writer walks every row in a scattered order, the writers a quarter apart, so edits spread
    over the whole table and no writer edits the same row twice within `rows` edits."""
    return (seq * ROW_STRIDE + writer * (rows // max(1, writers))) % rows


def edit_column(writer: int) -> str:
    """Each writer edits a column of its own (c1, c2, ...): no two edits ever race on a cell."""
    return f"c{writer + 1}"


def marker_key(writer: int, seq: int) -> int:
    return writer * SEQ_SPAN + seq


# scenario 4


class SpreadWriter(Writer):
    """A writer that applies the server's document only until it is synced: it edits cells of
    its own column, so what others write later never changes what it sends, and skipping
    1,000 remote updates a second keeps the load generator far from being the bottleneck."""

    def on_message(self, client: YClient, message: bytes, now: int) -> None:
        if not self.synced.is_set():
            super().on_message(client, message, now)


async def spread_writers_main(
    conn: Connection,
    target: Target,
    writers: int,
    rate: float,
    edits: int,
    sync_timeout: float,
) -> None:
    """`writers` peers, each sending `edits` edits at `rate` a second from ("go", start_ns)."""

    commands = Commands(conn)
    peers = [SpreadWriter(i) for i in range(writers)]
    rows_by_peer = await sync_writers(peers, target, sync_timeout)
    conn.send(("ready", {"rows": len(rows_by_peer[0])}))

    start_ns: int = await commands.expect("go")
    cpu_start = cpu_seconds()
    sent = [0] * writers
    behind_ns = [0] * writers

    async def write(peer: Writer) -> None:
        rows = rows_by_peer[peer.index]
        column = edit_column(peer.index)
        interval_ns = int(1e9 / rate)
        # The writers start a fraction of an interval apart, so edits arrive evenly.
        offset_ns = interval_ns * peer.index // writers
        for seq in range(edits):
            due = start_ns + offset_ns + seq * interval_ns
            now = time.monotonic_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            else:
                behind_ns[peer.index] = max(behind_ns[peer.index], now - due)
                if seq % 16 == 0:
                    await asyncio.sleep(0)
            index = row_index(peer.index, seq, writers, len(rows))
            peer.edit(rows[index], column, marker(peer.index, seq))
            sent[peer.index] += 1

    await asyncio.gather(*(write(p) for p in peers))
    conn.send(("done", {"sent": sent, "max_behind_ms": max(behind_ns) / 1e6}))
    await commands.expect("stop")
    cpu = cpu_seconds() - cpu_start
    for peer in peers:
        assert peer.client is not None
        peer.client.close()
    commands.close()
    conn.send(("result", {"cpu_s": cpu}))


def _engine(url: str) -> sa.Engine:
    from persistence.database import create_engine

    return create_engine(url)


async def table_probe_main(
    conn: Connection,
    progress: Synchronized,
    url: str,
    sample_ids: list[int],
    columns: list[str],
    interval: float,
) -> None:
    """Reads the sampled rows every `interval` seconds until "stop"; answers with the first
    time each marker was seen in the table and the marker's own send time; `progress` counts
    the markers seen so far."""
    engine = _engine(url)
    commands = Commands(conn)
    table = sa.Table("bench", sa.MetaData(), autoload_with=engine)
    query = sa.select(*(table.c[c] for c in columns)).where(
        table.c.id.in_(sa.bindparam("ids", expanding=True))
    )
    seen: set[int] = set()
    keys, sent_ns, seen_ns = array("q"), array("q"), array("q")
    polls = 0
    poll_ns = array("q")
    conn.send(("ready", {}))
    await commands.expect("go")
    cpu_start = cpu_seconds()
    while commands.queue.empty():
        started = time.monotonic_ns()
        with engine.connect() as db:
            rows = db.execute(query, {"ids": sample_ids}).all()
        now = time.monotonic_ns()  # the values were in the table by now
        polls += 1
        poll_ns.append(now - started)
        for row in rows:
            for value in row:
                if value is None or "~" not in value:
                    continue
                for match in MARKER.finditer(value.encode()):
                    key = marker_key(int(match[1]), int(match[2]))
                    if key not in seen:
                        seen.add(key)
                        keys.append(key)
                        sent_ns.append(int(match[3]))
                        seen_ns.append(now)
        progress.value = len(seen)
        await asyncio.sleep(max(0.0, interval - (time.monotonic_ns() - started) / 1e9))
    await commands.expect("stop")
    engine.dispose()
    ordered = sorted(poll_ns)
    commands.close()
    conn.send(
        (
            "result",
            {
                "keys": keys.tobytes(),
                "sent_ns": sent_ns.tobytes(),
                "seen_ns": seen_ns.tobytes(),
                "polls": polls,
                "poll_median_ms": ordered[len(ordered) // 2] / 1e6 if ordered else None,
                "cpu_s": cpu_seconds() - cpu_start,
            },
        )
    )


# scenario 5


async def committer_main(
    conn: Connection, url: str, commits: int, interval: float, rows: int, column: str
) -> None:
    """From ("go", start_ns): one UPDATE of one cell per commit, every `interval` seconds, on
    rows 1, 2, 3, ...; answers with each commit's return time."""
    engine = _engine(url)
    commands = Commands(conn)
    table = sa.Table("bench", sa.MetaData(), autoload_with=engine)
    statement = (
        table.update().where(table.c.id == sa.bindparam("row")).values({column: sa.bindparam("v")})
    )
    with engine.connect() as db:  # open the pooled connection before the clock starts
        db.execute(sa.text("SELECT 1"))
    conn.send(("ready", {}))
    start_ns: int = await commands.expect("go")
    committed_ns = array("q")
    commit_ms = array("d")
    behind_ns = 0
    for seq in range(commits):
        due = start_ns + int(seq * interval * 1e9)
        now = time.monotonic_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        else:
            behind_ns = max(behind_ns, now - due)
        started = time.monotonic_ns()
        with engine.begin() as db:
            db.execute(statement, {"row": seq % rows + 1, "v": marker(0, seq)})
        done = time.monotonic_ns()
        committed_ns.append(done)
        commit_ms.append((done - started) / 1e6)
    conn.send(("done", {"commits": commits}))
    await commands.expect("stop")
    engine.dispose()
    commands.close()
    conn.send(
        (
            "result",
            {
                "committed_ns": committed_ns.tobytes(),
                "commit_ms": sorted(commit_ms)[len(commit_ms) // 2] if commit_ms else None,
                "max_behind_ms": behind_ns / 1e6,
            },
        )
    )


async def arrivals_main(
    conn: Connection, progress: Synchronized, target: Target, sync_timeout: float
) -> None:
    """One subscriber: after its first sync, the first arrival time of every marker in the
    updates the server sends (markers the document already held at sync are ignored);
    `progress` counts the markers so far."""
    commands = Commands(conn)
    synced = asyncio.Event()
    arrivals: dict[int, int] = {}
    sync_bytes = 0

    def on_message(_client: YClient, message: bytes, now: int) -> None:
        nonlocal sync_bytes
        if message[0] != SYNC:
            return
        if message[1] == STEP2 and not synced.is_set():
            sync_bytes = len(sync_payload(message))
            synced.set()
        elif message[1] == UPDATE:
            for match in MARKER.finditer(message):
                arrivals.setdefault(marker_key(int(match[1]), int(match[2])), now)
            progress.value = len(arrivals)

    client = await YClient.connect(target.host, target.port, target.path, on_message)
    client.send_sync(STEP1, EMPTY_STATE_VECTOR)
    await asyncio.wait_for(synced.wait(), sync_timeout)
    conn.send(("ready", {"sync_bytes": sync_bytes}))
    await commands.expect("go")
    await commands.expect("stop")
    disconnected = client.closed.done()
    client.close()
    commands.close()
    keys = array("q", arrivals.keys())
    times = array("q", arrivals.values())
    conn.send(
        (
            "result",
            {
                "keys": keys.tobytes(),
                "arrived_ns": times.tobytes(),
                "disconnected": disconnected,
            },
        )
    )


def unpack(data: bytes) -> list[int]:
    """The int64 array a child sent as bytes."""
    values = array("q")
    values.frombytes(data)
    return list(values)
