"""Several `cellsync serve` processes sharing sheets through a Redis of the test's own, on one
PostgreSQL: their clients converge, the table is written once by one writer, and a writer
killed with -9 is replaced."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from balancer import Balancer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nodeclient import NodeClient
from own_redis import OwnRedis, own_redis_fixture  # noqa: F401
from rawclient import RawClient
from serverprocess import ServerProcess
from tables import create_items_table
from test_two_way import watch_items
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine
from persistence.document import iter_rows
from server.websocket.protocol import AwarenessEntry, encode_awareness


@pytest.fixture
async def processes(
    postgresql_url: str, own_redis: OwnRedis, tmp_path: Path
) -> AsyncIterator[Callable]:
    """Starts `cellsync serve --redis-url` processes over `items`; kills any left running."""
    create_items_table(postgresql_url)
    started: list[ServerProcess] = []

    async def start(name: str = "p", **settings: str) -> ServerProcess:
        log = tmp_path / f"{name}{len(started)}.log"
        server = ServerProcess.serving(
            postgresql_url, {"items": "items"}, log, CELLSYNC_REDIS_URL=own_redis.url, **settings
        )
        started.append(server)
        return await server.start()

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill()


def table_rows(url: str) -> dict[int, dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name, qty FROM items ORDER BY id")).mappings()
            return {row["id"]: {"name": row["name"], "qty": row["qty"]} for row in rows}
    finally:
        engine.dispose()


def document_rows(sheet: Sheet) -> dict[int, dict]:
    """The rows that have their primary key, as the table should hold them."""
    with sheet.doc.transaction():
        rows = dict(iter_rows(sheet.doc))
    return {
        int(row["id"]): {"name": row.get("name"), "qty": row.get("qty")}
        for row in rows.values()
        if row.get("id") is not None
    }


def same_rows(sheets: list[Sheet]) -> bool:
    first = sheets[0].rows()
    return all(sheet.rows() == first for sheet in sheets[1:])


async def writers(servers: list[ServerProcess]) -> list[str]:
    """What each process says writes `items`."""
    found = []
    async with httpx.AsyncClient() as client:
        for server in servers:
            sheets = (await client.get(f"{server.http}/api/sheets")).json()["sheets"]
            found.append(next(s for s in sheets if s["name"] == "items").get("writer"))
    return found


@pytest.mark.timeout(90)
async def test_clients_over_three_processes_converge_and_the_table_follows(
    processes, postgresql_url
):
    servers = [await processes() for _ in range(3)]
    async with (
        open_sheet(servers[0].url, "items") as a,
        open_sheet(servers[1].url, "items") as b,
        open_sheet(servers[2].url, "items") as c,
    ):
        a.set("1", "name", "from a")
        b.set("2", "qty", 222)
        c.set("3", "name", "from c")
        new_keys = [a.add_row({"name": "new a", "qty": 1}), c.add_row({"name": "new c", "qty": 3})]
        b.delete_row("4")
        sheets = [a, b, c]
        for sheet in sheets:
            await sheet.wait_for(
                lambda s: s.row("1")["name"] == "from a" and s.row("3")["name"] == "from c"
                and s.row("2")["qty"] == 222 and all(k in s._rows for k in new_keys)
                and "4" not in s._rows
                and all(s.row(k).get("id") is not None for k in new_keys),
                timeout=15,
            )  # fmt: skip
        await eventually(lambda: same_rows(sheets), timeout=10, what="the clients converge")
        await eventually(
            lambda: table_rows(postgresql_url) == document_rows(a), timeout=10, what="the table"
        )
        ids = [a.row(k)["id"] for k in new_keys]
        assert len(set(ids)) == 2, ids
        assert len(table_rows(postgresql_url)) == 11  # ten, one deleted, two new: one key each
        said = await writers(servers)
        assert said.count("this process") == 1, said


async def writer_of(servers: list[ServerProcess]) -> ServerProcess | None:
    said = await writers([s for s in servers if s.process.poll() is None])
    alive = [s for s in servers if s.process.poll() is None]
    chosen = [server for server, who in zip(alive, said, strict=True) if who == "this process"]
    return chosen[0] if len(chosen) == 1 else None


@pytest.mark.timeout(90)
async def test_a_flush_sent_to_a_process_that_does_not_write_the_table_is_written_by_the_writer(
    processes, postgresql_url
):
    slow = {"CELLSYNC_FLUSH_DEBOUNCE": "600", "CELLSYNC_FLUSH_MAX_DELAY": "600"}  # flush only
    servers = [await processes(**slow), await processes(**slow)]
    async with open_sheet(servers[0].url, "items"), open_sheet(servers[1].url, "items"):
        await eventually(lambda: writer_of(servers), timeout=10, what="a writer")
        writer = await writer_of(servers)
        other = next(server for server in servers if server is not writer)
        async with open_sheet(other.url, "items") as a, open_sheet(other.url, "items") as seen:
            a.set("1", "name", "flushed elsewhere")
            key = a.add_row({"name": "new", "qty": 7})
            await seen.wait_for(lambda s: key in s._rows and s.row("1")["name"] != "item 1")
            assert table_rows(postgresql_url)[1]["name"] == "item 1"  # not written yet
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.post(f"{other.http}/api/sheets/items/flush")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"inserted": 1, "updated": 1, "deleted": 0, "refusals": []}
            rows = table_rows(postgresql_url)
            assert rows[1]["name"] == "flushed elsewhere"
            assert {"name": "new", "qty": 7} in rows.values()
            await a.wait_for(lambda s: s.row(key).get("id") is not None)  # the outcome crosses
            assert table_rows(postgresql_url) == document_rows(a)


async def edit_until(sheets: list[Sheet], stop: asyncio.Event, made: list[str]) -> None:
    """A stream of edits over the sheets, each adding a row and changing one, until `stop`."""
    turn = 0
    while not stop.is_set():
        sheet = sheets[turn % len(sheets)]
        made.append(sheet.add_row({"name": f"row {turn}", "qty": turn}))
        sheet.set(str(1 + turn % 10), "qty", 1000 + turn)
        turn += 1
        await asyncio.sleep(0.05)


@pytest.mark.timeout(120)
async def test_the_writer_killed_under_edits_is_replaced_and_the_table_is_complete(
    processes, postgresql_url
):
    servers = [await processes() for _ in range(3)]
    async with open_sheet(servers[0].url, "items"):  # loads it everywhere, one writer
        pass
    sheets_open = [open_sheet(server.url, "items") for server in servers]
    clients = [await opened.__aenter__() for opened in sheets_open]
    try:
        await eventually(lambda: writer_of(servers), timeout=10, what="a writer")
        writer = await writer_of(servers)
        survivors = [i for i, server in enumerate(servers) if server is not writer]
        editing = [clients[i] for i in survivors]
        stop, made = asyncio.Event(), []
        edits = asyncio.create_task(edit_until(editing, stop, made))
        await eventually(lambda: len(made) > 20, timeout=10)
        writer.kill()
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await eventually(lambda: writer_of(servers), timeout=10, what="a new writer")
        failover = loop.time() - killed_at
        await eventually(lambda: len(made) > 60, timeout=15)
        stop.set()
        await edits
        a = editing[0]

        def complete(sheet: Sheet) -> bool:
            return all(k in sheet._rows and sheet.row(k).get("id") for k in made)

        for sheet in editing:
            await sheet.wait_for(complete, timeout=20)
        await eventually(lambda: same_rows(editing), timeout=10, what="the clients converge")
        await eventually(
            lambda: table_rows(postgresql_url) == document_rows(a), timeout=15, what="the table"
        )
        assert len(table_rows(postgresql_url)) == 10 + len(made)  # each new row once
        assert failover < 8, failover
        assert "writes its table" in (await writer_of(servers)).log()
    finally:
        for opened in sheets_open:
            await opened.__aexit__(None, None, None)


@pytest.mark.timeout(120)
async def test_a_client_of_a_killed_process_reconnects_to_another_and_loses_nothing(
    processes, postgresql_url
):
    """Behind a load balancer, a y-websocket client whose process dies mid-stream reconnects to
    a survivor, and what it typed before and while it was cut off reaches everyone and the table."""
    servers = [await processes() for _ in range(2)]
    async with (
        Balancer(servers) as balancer,
        open_sheet(servers[1].url, "items") as watcher,
    ):
        node = await NodeClient.start(f"{balancer.url}/ws/sheet", "items")
        try:
            await node.wait_synced()
            made = []
            for turn in range(40):
                if turn == 20:
                    servers[0].kill()  # the process the balancer chose
                key = f"n{turn}"
                await node.add_row(key, {"name": f"node {turn}", "qty": turn})
                made.append(key)
                await asyncio.sleep(0.02)

            def complete(sheet: Sheet) -> bool:
                return all(k in sheet._rows and sheet.row(k).get("id") for k in made)

            await watcher.wait_for(complete, timeout=30)
            await eventually(
                lambda: table_rows(postgresql_url) == document_rows(watcher),
                timeout=15,
                what="the table",
            )
            assert len(table_rows(postgresql_url)) == 10 + len(made)
            connected = [e for e in node.events if e == {"event": "status", "status": "connected"}]
            assert len(connected) == 2  # cut off once, then on the survivor
        finally:
            await node.close()


@pytest.mark.timeout(90)
async def test_a_change_made_to_the_table_reaches_the_clients_of_every_process(
    processes, postgresql_url
):
    watch_items(postgresql_url)  # the writer hears of changes at once
    servers = [await processes(), await processes()]
    async with open_sheet(servers[0].url, "items") as a, open_sheet(servers[1].url, "items") as b:
        engine = create_engine(postgresql_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE items SET name = 'by hand' WHERE id = 3"))
                conn.execute(sa.text("INSERT INTO items (name, qty) VALUES ('inserted', 5)"))
        finally:
            engine.dispose()
        for sheet in (a, b):
            await sheet.wait_for(
                lambda s: (
                    s.row("3")["name"] == "by hand"
                    and any(row.get("name") == "inserted" for row in s.rows())
                ),
                timeout=10,
            )
        assert table_rows(postgresql_url) == document_rows(a) == document_rows(b)


@pytest.mark.timeout(150)
async def test_redis_away_30_seconds_under_edits_then_everything_meets(
    processes, own_redis, postgresql_url
):
    first, second = await processes(), await processes()
    async with (
        open_sheet(first.url, "items") as a,
        open_sheet(first.url, "items") as a_too,
        open_sheet(second.url, "items") as b,
    ):
        a.set("1", "name", "before")
        await b.wait_for(lambda s: s.row("1")["name"] == "before")
        own_redis.stop()
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        async with httpx.AsyncClient() as http:

            async def degraded() -> bool:
                health = (await http.get(f"{first.http}/healthz")).json()
                return health["status"] == "degraded" and "redis" in health["reason"]

            await eventually(degraded, timeout=10, what="/healthz says redis is away")
            metrics = (await http.get(f"{first.http}/metrics")).text
            assert "cellsync_redis_up{" in metrics and '"} 0.0' in metrics
        turn = 0
        made_a, made_b = [], []
        while loop.time() - stopped_at < 30:  # edits all along the outage
            made_a.append(a.add_row({"name": f"a {turn}"}))
            made_b.append(b.add_row({"name": f"b {turn}"}))
            a.set("2", "qty", turn)
            await a_too.wait_for(lambda s, qty=turn: s.row("2")["qty"] == qty)  # together on one
            turn += 1
            await asyncio.sleep(0.05)  # a stream of edits, not a flood the server would refuse
        assert first.process.poll() is None and second.process.poll() is None
        own_redis.start()
        everything = made_a + made_b
        for sheet in (a, a_too, b):
            await sheet.wait_for(lambda s: all(k in s._rows for k in everything), timeout=20)
        await eventually(lambda: same_rows([a, a_too, b]), timeout=15, what="they converge")
        await eventually(
            lambda: table_rows(postgresql_url) == document_rows(b), timeout=15, what="the table"
        )
        async with httpx.AsyncClient() as http:

            async def healthy() -> bool:
                return (await http.get(f"{first.http}/healthz")).json()["status"] == "ok"

            await eventually(healthy, timeout=10, what="/healthz says ok again")


@pytest.mark.timeout(90)
async def test_a_process_started_after_the_stream_was_trimmed_loads_everything(
    processes, own_redis
):
    first, second = await processes(), await processes()
    async with open_sheet(first.url, "items") as a, open_sheet(second.url, "items") as b:
        keys = [a.add_row({"name": f"a {i}"}) for i in range(20)]
        keys += [b.add_row({"name": f"b {i}"}) for i in range(20)]
        b.set("5", "name", "changed by b")
        for sheet in (a, b):
            await sheet.wait_for(lambda s: all(k in s._rows for k in keys), timeout=10)
        redis = own_redis.client()
        stream = "cellsync:{items}:updates"
        await eventually(lambda: not redis.hlen("cellsync:{items}:pending"), what="all logged")
        assert redis.xlen(stream) > 0
        redis.xtrim(stream, maxlen=0)  # as after an hour of edits
        third = await processes()
        async with open_sheet(third.url, "items") as c:
            assert all(k in c._rows for k in keys)
            assert c.row("5")["name"] == "changed by b"
            c.set("6", "name", "from the third")
            for sheet in (a, b):
                await sheet.wait_for(lambda s: s.row("6")["name"] == "from the third")


async def holds(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Checks `condition` all along `seconds`: a negative result has no moment to wait for."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        assert condition(), what
        await asyncio.sleep(0.05)


async def add_rows(sheet: Sheet, redis, stream: str, entries: int, tag: str) -> list[str]:
    """Adds rows, one per turn of the loop, until the stream got `entries` more entries: on a
    busy machine several rows merge into one entry, so rows are not counted, entries are."""

    def added() -> int:
        return redis.xinfo_stream(stream)["entries-added"] if redis.exists(stream) else 0

    until, keys = added() + entries, []
    async with asyncio.timeout(60):
        while added() < until:
            keys.append(sheet.add_row({"name": f"{tag} {len(keys)}"}))
            await asyncio.sleep(0.005)
    return keys


@pytest.mark.timeout(150)
async def test_the_stream_is_trimmed_on_its_own_once_logged_and_never_before(
    processes, own_redis, postgresql_url
):
    quick = {"CELLSYNC_STREAM_TRIM_SECONDS": "0.3", "CELLSYNC_STREAM_KEEP_SECONDS": "0.5"}
    first, second = await processes(**quick), await processes(**quick)
    redis = own_redis.client()
    stream = "cellsync:{items}:updates"
    node = 100  # entries of a radix tree node: an approximate trim removes whole ones
    async with open_sheet(first.url, "items") as a, open_sheet(second.url, "items") as b:
        keys = await add_rows(a, redis, stream, 3 * node, "logged")
        await b.wait_for(lambda s: all(k in s._rows for k in keys), timeout=15)
        await eventually(lambda: redis.xlen(stream) <= node, timeout=15, what="trimmed on its own")

        engine = create_engine(postgresql_url)
        try:
            with engine.connect() as conn:  # the log takes nothing while this lasts
                conn.execute(sa.text("LOCK TABLE cellsync_updates IN EXCLUSIVE MODE"))
                last = redis.xrevrange(stream, count=1)[0][0]
                unlogged = await add_rows(a, redis, stream, 2 * node, "unlogged")
                await b.wait_for(lambda s: all(k in s._rows for k in unlogged), timeout=15)
                after = len(redis.xrange(stream, min=b"(" + last))
                assert after >= 2 * node
                await holds(
                    lambda: len(redis.xrange(stream, min=b"(" + last)) >= after,
                    seconds=3,
                    what="an entry the log lacks was trimmed",
                )
                conn.rollback()
        finally:
            engine.dispose()
        await eventually(lambda: redis.xlen(stream) <= node, timeout=20, what="trimmed once logged")
    third = await processes()
    async with open_sheet(third.url, "items") as c:
        assert all(k in c._rows for k in keys + unlogged)


EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 1), st.integers(1, 10), st.integers(0, 99)),
        st.tuples(st.just("add"), st.integers(0, 1), st.just(0), st.integers(0, 99)),
        st.tuples(st.just("restart"), st.integers(0, 1), st.just(0), st.just(0)),
    ),
    min_size=3,
    max_size=8,
)


@pytest.mark.timeout(300)
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=EDITS)
async def test_random_edits_over_processes_and_restarts_end_equal(processes, program):
    if not hasattr(processes, "servers"):  # the fixture lives across examples: two processes
        processes.servers = [await processes(), await processes()]
    servers = processes.servers
    opened = [open_sheet(server.url, "items") for server in servers]
    clients = [await o.__aenter__() for o in opened]
    try:
        for op, which, row, value in program:
            if op == "set":
                clients[which].set(str(row), "qty", value)
            elif op == "add":
                clients[which].add_row({"name": f"added {value}", "qty": value})
            else:
                await opened[which].__aexit__(None, None, None)
                await servers[which].stop()
                await servers[which].start()
                opened[which] = open_sheet(servers[which].url, "items")
                clients[which] = await opened[which].__aenter__()
        await eventually(lambda: same_rows(clients), timeout=15, what="every client equal")
    finally:
        for o in opened:
            await o.__aexit__(None, None, None)
    async with open_sheet(servers[0].url, "items") as a, open_sheet(servers[1].url, "items") as b:
        await eventually(lambda: same_rows([a, b]), timeout=15, what="fresh clients equal")


def shown(watcher: RawClient, client_id: int) -> dict | None:
    """The presence state the watcher was last sent for that client (None: none, or removed)."""
    states = {e.client_id: e.state for e in watcher.awareness_entries()}
    return json.loads(states[client_id]) if client_id in states else None


async def presence_across(processes, client_id: int, state: dict):
    """Two processes, a client of the first whose presence `state` reached a watcher on the
    second: (the first process, the watcher, the sender)."""
    first, second = await processes(), await processes()
    watcher = await RawClient.connect(second.url, "items")
    sender = await RawClient.connect(first.url, "items")
    await watcher.synced.wait()
    await sender.synced.wait()
    await sender.send(encode_awareness([AwarenessEntry(client_id, 1, json.dumps(state))]))
    await eventually(lambda: shown(watcher, client_id) is not None, what="the state crosses")
    return first, watcher, sender


async def test_presence_of_a_process_killed_leaves_the_other_processes_within_seconds(processes):
    state = {"user": {"name": "Ada"}, "cursor": {"row": "1", "column": "name"}}
    first, watcher, _ = await presence_across(processes, 6161, state)
    try:
        first.kill()  # no removal is ever sent
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await eventually(
            lambda: (
                6161 in {e.client_id for e in watcher.awareness_entries()}
                and shown(watcher, 6161) is None
            ),
            timeout=15,
            what="the dead process's presence leaves",
        )
        assert loop.time() - killed_at < 8
    finally:
        await watcher.close()


async def test_presence_crosses_processes_and_leaves_with_its_client(processes):
    state = {
        "user": {"name": "Ada", "colour": "#ff0000"},
        "cursor": {"row": "1", "column": "name"},
        "secret": 1,
    }
    _, watcher, sender = await presence_across(processes, 5151, state)
    try:
        assert shown(watcher, 5151) == {
            "user": {"name": "Ada", "colour": "#ff0000"},
            "cursor": {"row": "1", "column": "name"},
        }
        await sender.close()
        await eventually(
            lambda: any(
                e.client_id == 5151 and e.state == "null" for e in watcher.awareness_entries()
            ),
            what="its removal crosses too",
        )
    finally:
        await watcher.close()


@pytest.mark.timeout(90)
async def test_what_a_later_load_repairs_reaches_the_processes_that_have_the_sheet_open(
    processes, postgresql_url
):
    first = await processes()
    async with open_sheet(first.url, "items") as a:
        engine = create_engine(postgresql_url)
        try:
            with engine.begin() as conn:  # a column added while the sheet is open on `first`
                conn.execute(sa.text("ALTER TABLE items ADD COLUMN colour TEXT DEFAULT 'teal'"))
        finally:
            engine.dispose()
        second = await processes()
        async with open_sheet(second.url, "items") as b:  # its load fills the new column in
            assert b.row("1")["colour"] == "teal"
            await a.wait_for(lambda s: s.row("1").get("colour") == "teal", timeout=10)
            await a.wait_for(lambda s: all(s.row(k).get("colour") for k in s._rows), timeout=10)
