"""Two `cellsync serve` processes on one database: a sheet is served by one of them at a time
(until several can cooperate), and the other says which process has it."""

import asyncio

import pytest
import sqlalchemy as sa
from own_postgresql import own_postgresql_fixture  # noqa: F401
from serverprocess import ServerProcess
from tables import create_items_table
from waiting import eventually

from client.sheet import SheetClosed, open_sheet
from persistence.database import create_engine
from persistence.store.sheet_claims import LOCK_CLASS


async def test_a_second_server_refuses_a_sheet_the_first_serves(database_url, tmp_path):
    create_items_table(database_url)
    create_items_table(database_url, name="other")
    servers = [
        ServerProcess.serving(
            database_url, {"items": "items", "other": "other"}, tmp_path / f"{name}.log"
        )
        for name in ("first", "second")
    ]
    first, second = [await server.start() for server in servers]
    try:
        async with open_sheet(first.url, "items") as sheet:
            with pytest.raises(SheetClosed) as refused:
                async with open_sheet(second.url, "items"):
                    pass
            assert refused.value.code == 4409
            assert f"pid {first.process.pid}" in refused.value.reason, refused.value.reason
            assert "another process" in second.log()
            async with open_sheet(second.url, "other") as other:  # per sheet, not per server
                assert len(other.rows()) == 10
            sheet.set("1", "name", "through the first")
        await eventually(lambda: serves(second), timeout=15, what="the idle first lets go")

        async with open_sheet(second.url, "items"):
            second.kill()  # a holder killed with -9 lets go too
        await eventually(lambda: serves(first), timeout=15, what="the killed second lets go")
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()


async def serves(server: ServerProcess) -> bool:
    try:
        async with open_sheet(server.url, "items", timeout=5) as sheet:
            return sheet.row("1")["name"] == "through the first"
    except SheetClosed:
        return False


@pytest.mark.timeout(60)
async def test_a_holder_takes_its_sheets_back_after_postgresql_restarts(own_postgresql, tmp_path):
    create_items_table(own_postgresql.url)
    servers = [
        ServerProcess.serving(own_postgresql.url, {"items": "items"}, tmp_path / f"{name}.log")
        for name in ("first", "second")
    ]
    first, second = [await server.start() for server in servers]
    try:
        async with open_sheet(first.url, "items"):
            await asyncio.to_thread(own_postgresql.stop)  # ends every session, and its locks
            await asyncio.to_thread(own_postgresql.start)
            await eventually(lambda: claims_held(own_postgresql.url) == 1, timeout=15)
            with pytest.raises(SheetClosed) as refused:
                async with open_sheet(second.url, "items", timeout=10):
                    pass
            assert refused.value.code == 4409, refused.value
    finally:
        for server in servers:
            server.kill()


def claims_held(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c"
            return conn.execute(sa.text(query), {"c": LOCK_CLASS}).scalar()
    finally:
        engine.dispose()
