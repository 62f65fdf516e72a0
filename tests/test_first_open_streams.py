"""A big sheet's first open sends each chunk of rows to a waiting fresh client as soon as the
chunk is committed, under a name no one loads until the build is over. If the server dies half
way, the next start resumes the build after the last committed chunk: no row is lost or shown
twice, in the client that held the first chunks either."""

import contextlib
import sqlite3
from collections.abc import Iterator

import sqlalchemy as sa
from pycrdt import Array, Map
from rawclient import RawClient
from tables import create_items_table
from test_worker import table_rows
from waiting import eventually

from persistence.database import create_engine
from persistence.document import chunk_rows
from persistence.store.tables import updates
from persistence.store.update_log import BUILDING, UpdateLog

COLUMNS = 6  # of the items table
ROWS = 9 * chunk_rows(COLUMNS) + 17  # ten chunks, the last one short: the build outlasts a check


async def test_a_fresh_client_gets_chunks_while_the_build_goes_on_and_a_crash_loses_none(
    server_factory, database_url
):
    create_items_table(database_url, rows=ROWS, name="big")
    server = await server_factory({"big": "big"})
    first = await RawClient.connect(server.url, "big")
    try:
        await eventually(lambda: _keys(first) != [], timeout=60, what="the first chunk")
        with _writes_held(database_url):  # the build waits to commit its next chunk
            held = _logged(database_url)
            assert held["big"] == 0  # nobody loads a sheet half built
            assert 1 <= held[BUILDING + "big"] < 10
            assert _listed(database_url) == []  # `cellsync sheets` does not show it either
            assert not first.synced.is_set()
            server.kill()
    finally:
        await first.close()
    partial = _keys(first)
    assert partial == [str(n) for n in range(1, len(partial) + 1)]
    assert len(partial) < ROWS

    await server.start()
    later = await RawClient.connect(server.url, "big")
    back = await RawClient.connect(server.url, "big", doc=first.doc)
    try:
        everything = [str(n) for n in range(1, ROWS + 1)]
        for client in (later, back):
            await eventually(lambda c=client: _keys(c) == everything, timeout=60,
                             what="every row, once each, in order")  # fmt: skip
            assert client.cell(str(ROWS), "name") == f"item {ROWS}"
    finally:
        await later.close()
        await back.close()
    assert len(table_rows(database_url, "big")) == ROWS  # the table lost nothing
    assert _logged(database_url)[BUILDING + "big"] == 0
    assert "its first open stopped after" in server.log()
    assert "resuming it" in server.log()


def _keys(client: RawClient) -> list[str]:
    """The rows `order` lists, where each is in `rows`."""
    rows = client.doc.get("rows", type=Map)
    return [key for key in client.doc.get("order", type=Array) if key in rows]


def _logged(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(updates)
            return {
                sheet: conn.execute(count.where(updates.c.sheet == sheet)).scalar_one()
                for sheet in ("big", BUILDING + "big")
            }
    finally:
        engine.dispose()


def _listed(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return UpdateLog(engine).sheets()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _writes_held(url: str) -> Iterator[None]:
    """Holds off every write to the log: SQLite's write lock, or a lock on the log table."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"LOCK TABLE {updates.name} IN SHARE ROW EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()
