"""An unloaded sheet leaves nothing of its document behind in the server process, nor a closed
sheet in the Python client.

A pycrdt observer holds its callback from inside the `Doc`, where Python's collector cannot
see the cycle: a document observed by an object it owns is never freed unless the observer is
removed. The table writer's replica was such a document, and a 30-minute soak with an unload
every 2 minutes grew 42 MB a minute. The server runs in this process (a real uvicorn on a free
port) so that its documents can be counted.
"""

import asyncio
import gc
import socket
import weakref
from collections.abc import AsyncIterator

import pytest
import uvicorn
from pycrdt import Doc
from tables import create_items_table
from waiting import eventually

from client.sheet import open_sheet
from persistence.settings import Settings
from server.run import uvicorn_config
from server.sheets.sheet_document import SheetDocument

CYCLES = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(kind: type) -> list:
    gc.collect()
    return [item for item in gc.get_objects() if isinstance(item, kind)]


@pytest.fixture
async def url(database_url: str) -> AsyncIterator[str]:
    create_items_table(database_url)
    port = _free_port()
    settings = Settings(
        database_url=database_url, sheets={"items": "items"}, port=port, idle_seconds=0.2
    )
    server = uvicorn.Server(uvicorn_config(settings))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or serving.done(), what="server started")
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def test_loading_and_unloading_a_sheet_keeps_no_document(url: str):
    # what earlier tests in this process left is not this server's
    earlier = {id(item) for item in _alive(SheetDocument) + _alive(Doc)}
    clients: list[Doc] = []  # the clients' own documents, alive on purpose

    def new(kind: type) -> list:
        return [item for item in _alive(kind) if id(item) not in earlier]

    for cycle in range(CYCLES):
        async with open_sheet(url, "items") as sheet:
            sheet.set("1", "name", f"cycle {cycle}")
            clients.append(sheet.doc)
        await eventually(lambda: not new(SheetDocument), what="the sheet unloaded")
    server_docs = [doc for doc in new(Doc) if all(doc is not c for c in clients)]
    assert server_docs == [], f"{len(server_docs)} documents outlived their sheet"


async def test_the_closed_sheets_of_the_python_client_are_freed(url: str):
    closed = []
    for _ in range(CYCLES):
        async with open_sheet(url, "items") as sheet:
            sheet.set("2", "qty", 7)
        closed.append(weakref.ref(sheet))
    gc.collect()
    # the last one may still be referred to by the loop's last cancelled task
    assert [ref() for ref in closed[:-1]] == [None] * (CYCLES - 1)
