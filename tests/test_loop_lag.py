"""Nothing a client sends blocks the event loop: the guard reads the record off the loop.

The test holds the record's table under `LOCK TABLE` while a client sends rows whose keys only
the record can vouch for, so the guard's read waits for as long as the test likes. Everyone
else's edits, and `/metrics`, must go on meanwhile: a read on the loop would stop them all.
PostgreSQL only: SQLite in WAL mode never makes a reader wait.
"""

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy
from pycrdt import Map
from rawclient import RawClient
from tables import create_items_table
from waiting import eventually

from persistence.database import create_engine
from persistence.store.tables import record_rows

ROWS = 300


@contextmanager
def record_locked(url: str) -> Iterator[sqlalchemy.Engine]:
    """The record's table locked against every reader until the block ends; yields an engine
    to look at the server's sessions with."""
    engine = create_engine(url)
    try:
        with engine.connect() as holder:
            holder.execute(
                sqlalchemy.text(f"LOCK TABLE {record_rows.name} IN ACCESS EXCLUSIVE MODE")
            )
            try:
                yield engine
            finally:
                holder.rollback()
    finally:
        engine.dispose()


def waiting_on_the_record(engine: sqlalchemy.Engine) -> bool:
    """Whether one of the server's sessions waits for the record's table lock."""
    query = sqlalchemy.text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = CAST(:table AS regclass)"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"table": record_rows.name}).scalar_one() > 0


async def loop_lag_count(server) -> float:
    """How many timers `cellsync_event_loop_lag_seconds` has measured."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http}/metrics", timeout=5)).text
    count = re.search(r"^cellsync_event_loop_lag_seconds_count (\S+)$", text, re.MULTILINE)
    assert count is not None, "the server reports its event loop's lag"
    return float(count[1])


async def lag_grew(server, before: float) -> bool:
    """Whether the lag monitor's timer ran since it had measured `before` of them."""
    return await loop_lag_count(server) > before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_while_the_guard_waits_for_the_record_everyone_else_goes_on(
    server_factory, database_url
):
    create_items_table(database_url, rows=ROWS, name="many")
    server = await server_factory(sheets={"many": "many"})
    sender, editor, watcher = [await RawClient.connect(server.url, "many") for _ in range(3)]
    for client in (sender, editor, watcher):
        await asyncio.wait_for(client.synced.wait(), 30)
    rows = sender.doc.get("rows", type=Map)
    await eventually(lambda: len(rows) == ROWS, 30, "every row synced")

    lag_before = await loop_lag_count(server)
    with record_locked(database_url) as engine:
        # Each row's key sent again, as a client that kept the server's write-back of it does:
        # the guard accepts it only after reading the row's record. Nobody sees any of the
        # update (its new name for row 2 included) before then.
        state = sender.doc.get_state()
        with sender.doc.transaction():
            for key in list(rows.keys()):
                rows[key]["id"] = int(key)
            rows["2"]["name"] = "sent with the keys"
        await sender.send_update(sender.doc.get_update(state))
        await eventually(lambda: waiting_on_the_record(engine), 20, "the guard waiting")

        state = editor.doc.get_state()
        editor.doc.get("rows", type=Map)["1"]["name"] = "while the record is locked"
        await editor.send_update(editor.doc.get_update(state))
        await eventually(
            lambda: watcher.cell("1", "name") == "while the record is locked",
            20,
            "another client's edit reaching a third while the guard waits",
        )
        await eventually(
            lambda: lag_grew(server, lag_before), 10, "the loop's timers measured meanwhile"
        )
        assert watcher.cell("2", "name") != "sent with the keys", "nothing unchecked went out"

    await eventually(
        lambda: watcher.cell("2", "name") == "sent with the keys", 20, "the checked update"
    )
    assert not watcher.doc.get("refusals", type=Map).to_py(), "every key was the recorded one"
