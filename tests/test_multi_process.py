"""Several `cellsync serve` processes sharing sheets through a Redis of the test's own, on one
PostgreSQL: their clients converge, the table is written once by one writer, and a writer
killed with -9 is replaced."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from own_redis import OwnRedis, own_redis_fixture  # noqa: F401
from serverprocess import ServerProcess
from tables import create_items_table
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine
from persistence.document import iter_rows

Start = Callable[..., "asyncio.Future[ServerProcess]"]


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
