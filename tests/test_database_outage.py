"""PostgreSQL goes away under a running server, for real: a cluster of the test's own, stopped
and started again. The server stays up, keeps serving, tells the operator, and loses nothing."""

import asyncio
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import websockets
from own_postgresql import OwnPostgreSQL, own_postgresql_fixture  # noqa: F401
from pycrdt import Map
from rawclient import RawClient
from serverprocess import ServerProcess
from tables import create_items_table
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine

OUTAGE_SECONDS = 30


def serving(cluster: OwnPostgreSQL, tmp_path: Path, **settings: str) -> ServerProcess:
    return ServerProcess.serving(
        cluster.url, {"items": "items"}, tmp_path / "server.log", **settings
    )


def table_rows(url: str) -> dict[int, dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM items")).mappings().all()
        return {row["id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def own_lines(log: str) -> list[str]:
    """The server's own log lines, without uvicorn's one per HTTP request."""
    return [line for line in log.splitlines() if '"GET /' not in line]


class Editors:
    """Two clients editing in a stream: ann sets notes, bob adds rows; each must see the other."""

    def __init__(self, ann: Sheet, bob: Sheet) -> None:
        self.ann = ann
        self.bob = bob
        self.notes: dict[str, str] = {}
        self.added: dict[str, str] = {}  # bob's rows: key -> name
        self.count = 0

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            i = self.count = self.count + 1
            key = str(i % 10 + 1)
            self.ann.set(key, "notes", f"ann {i}")
            self.notes[key] = f"ann {i}"
            if i % 5 == 0:
                self.added[self.bob.add_row({"name": f"bob {i}", "qty": i})] = f"bob {i}"
            await asyncio.sleep(0.1)

    async def seen_by_each_other(self) -> None:
        last_note = dict(self.notes)
        added = dict(self.added)
        await self.bob.wait_for(lambda s: all(s.row(k)["notes"] == v for k, v in last_note.items()))
        await self.ann.wait_for(lambda s: all(s.row(k)["name"] == v for k, v in added.items()))

    def in_table(self, rows: dict[int, dict]) -> bool:
        names = {row["name"] for row in rows.values()}
        notes = all(rows[int(key)]["notes"] == value for key, value in self.notes.items())
        return notes and set(self.added.values()) <= names

    def in_document(self, sheet: Sheet) -> bool:
        notes = all(sheet.row(key)["notes"] == value for key, value in self.notes.items())
        names = {row["name"] for row in sheet.rows()}
        return notes and set(self.added.values()) <= names


@pytest.mark.timeout(90)
async def test_an_outage_is_survived_told_once_and_nothing_is_lost(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    server = await serving(own_postgresql, tmp_path, CELLSYNC_IDLE_SECONDS="60").start()
    http = httpx.AsyncClient(base_url=server.http)
    try:
        async with open_sheet(server.url, "items") as ann, open_sheet(server.url, "items") as bob:
            editors = Editors(ann, bob)
            await editors.run(1)
            await eventually(lambda: editors.in_table(table_rows(own_postgresql.url)))

            await asyncio.to_thread(own_postgresql.stop)
            stream = asyncio.create_task(editors.run(OUTAGE_SECONDS))
            await eventually(lambda: degraded(http), timeout=10, what="/healthz says degraded")
            first = (await http.get("/api/sheets/items/status")).json()

            async def lag_grew() -> bool:
                status = (await http.get("/api/sheets/items/status")).json()
                return status["lag_seconds"] >= first["lag_seconds"] + 4

            await eventually(lag_grew, timeout=15, what="the lag growing through the outage")
            later = (await http.get("/api/sheets/items/status")).json()
            assert later["pending_rows"] > 0 and later["database_up"] is False, later
            metrics = (await http.get("/metrics")).text
            assert metric(metrics, "cellsync_database_up") == 0
            log_errors = 'cellsync_database_errors_total{operation="log_append"}'
            table_errors = 'cellsync_database_errors_total{operation="table_write"}'
            assert metric(metrics, log_errors) > 0 and metric(metrics, table_errors) > 0
            await editors.seen_by_each_other()
            await stream
            await editors.seen_by_each_other()

            await asyncio.to_thread(own_postgresql.start)
            await eventually(lambda: healthy(http), timeout=20, what="/healthz ok again")
            await eventually(
                lambda: editors.in_table(table_rows(own_postgresql.url)),
                timeout=15,
                what="every edit in the table",
            )
        async with open_sheet(server.url, "items") as fresh:
            assert editors.in_document(fresh)
        log = server.log()
        assert log.count("update log: database unreachable") == 1, log
        assert log.count("update log: database back, wrote") == 1, log
        assert "Traceback" not in log, log
        assert len(own_lines(log)) < 40, log
        await server.stop()
    finally:
        await http.aclose()
        if server.process.poll() is None:
            server.kill()


@pytest.mark.timeout(60)
async def test_past_the_bound_edits_are_refused_until_the_database_is_back(
    own_postgresql, tmp_path
):
    create_items_table(own_postgresql.url)
    server = await serving(own_postgresql, tmp_path, CELLSYNC_MAX_HELD_BYTES="20000").start()
    try:
        client = await RawClient.connect(server.url, "items")
        await client.synced.wait()
        await asyncio.to_thread(own_postgresql.stop)
        rows = client.doc.get("rows", type=Map)
        with pytest.raises(websockets.ConnectionClosed):
            for i in range(100):
                state = client.doc.get_state()
                rows[str(i % 10 + 1)]["notes"] = f"{i} " + "x" * 1000
                await client.send_update(client.doc.get_update(state))
                await asyncio.sleep(0.02)
        await asyncio.wait_for(client.websocket.wait_closed(), 10)
        assert client.websocket.close_code == 1013
        assert "holds too many unwritten edits" in client.websocket.close_reason
        assert server.log().count("past max_held_bytes") == 1

        await asyncio.to_thread(own_postgresql.start)
        async with httpx.AsyncClient() as http:
            await eventually(lambda: healthy(http, server.http), timeout=20)
        watcher = await RawClient.connect(server.url, "items")
        again = await RawClient.connect(server.url, "items")  # as y-websocket reconnects
        await asyncio.gather(watcher.synced.wait(), again.synced.wait())
        await again.send_update(client.doc.get_update())
        last = {key: client.cell(key, "notes") for key in rows}
        await eventually(
            lambda: all(watcher.cell(k, "notes") == v for k, v in last.items()), timeout=10
        )
        await asyncio.gather(watcher.close(), again.close())
    finally:
        server.kill()


@pytest.mark.timeout(60)
async def test_serve_waits_for_a_database_that_is_down_at_start(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    await asyncio.to_thread(own_postgresql.stop)
    server = serving(own_postgresql, tmp_path)
    starting = asyncio.create_task(server.start(timeout=40))
    await eventually(lambda: "waiting for it" in server.log(), timeout=20)
    assert not starting.done(), server.log()
    await asyncio.sleep(2)
    await asyncio.to_thread(own_postgresql.start)
    try:
        await starting
        assert server.log().count("waiting for it") == 1
        async with open_sheet(server.url, "items") as sheet:
            assert len(sheet.rows()) == 10
    finally:
        server.kill()


@pytest.mark.timeout(60)
async def test_a_sheet_first_opened_during_an_outage_is_refused_retryably(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    server = await serving(own_postgresql, tmp_path).start()
    try:
        await asyncio.to_thread(own_postgresql.stop)
        for _ in range(3):
            client = await RawClient.connect(server.url, "items")
            await asyncio.wait_for(client.websocket.wait_closed(), 10)
            assert client.websocket.close_code == 1013, client.websocket.close_code
            assert "cannot be loaded yet" in client.websocket.close_reason
        async with httpx.AsyncClient(base_url=server.http) as http:
            answer = await http.get("/api/sheets/items")
            assert answer.status_code == 503
            assert "cannot be loaded yet" in answer.json()["error"]
            assert (await http.get("/healthz")).status_code == 503
            await asyncio.to_thread(own_postgresql.start)
            await eventually(lambda: loads(server), timeout=20, what="the sheet loads")
            assert (await http.get("/api/sheets/items")).status_code == 200
        assert "Exception in ASGI application" not in server.log()
    finally:
        server.kill()


async def degraded(http: httpx.AsyncClient) -> bool:
    answer = await http.get("/healthz")
    body = answer.json()
    return answer.status_code == 503 and body["status"] == "degraded" and bool(body["reason"])


async def healthy(http: httpx.AsyncClient, base: str = "") -> bool:
    return (await http.get(f"{base}/healthz")).status_code == 200


async def loads(server: ServerProcess) -> bool:
    try:
        async with open_sheet(server.url, "items", timeout=5) as sheet:
            return len(sheet.rows()) == 10
    except (ConnectionError, websockets.ConnectionClosed, TimeoutError):
        return False


@pytest.mark.timeout(60)
async def test_a_room_whose_unload_failed_keeps_its_table_writer(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    server = await serving(own_postgresql, tmp_path, CELLSYNC_IDLE_SECONDS="0.5").start()
    try:
        async with open_sheet(server.url, "items") as sheet:
            await asyncio.to_thread(own_postgresql.stop)
            sheet.set("1", "notes", "during the outage")
        await eventually(lambda: "keeping the room loaded" in server.log(), timeout=15)
        async with open_sheet(server.url, "items") as sheet:
            await asyncio.to_thread(own_postgresql.start)
            sheet.set("2", "notes", "after the outage")
            await eventually(
                lambda: notes_in_table(own_postgresql.url, "during the outage", "after the outage"),
                timeout=20,
                what="both edits in the table",
            )
    finally:
        server.kill()


def notes_in_table(url: str, *notes: str) -> bool:
    return set(notes) <= {row["notes"] for row in table_rows(url).values()}


@pytest.mark.timeout(60)
async def test_a_shutdown_during_an_outage_waits_for_the_database(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    server = await serving(own_postgresql, tmp_path, CELLSYNC_IDLE_SECONDS="60").start()
    try:
        async with open_sheet(server.url, "items") as sheet:
            await asyncio.to_thread(own_postgresql.stop)
            sheet.set("5", "notes", "held at shutdown")
            await eventually(lambda: "holding" in server.log(), what="the update held")
        stopping = asyncio.create_task(server.stop(timeout=40))
        await eventually(lambda: "waiting up to" in server.log(), timeout=10)
        await asyncio.to_thread(own_postgresql.start)
        await stopping
        await server.start()
        async with open_sheet(server.url, "items") as sheet:
            assert sheet.row("5")["notes"] == "held at shutdown"
    finally:
        if server.process.poll() is None:
            server.kill()
