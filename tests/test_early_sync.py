"""After a restart, a fresh client of a sheet that loads from its log is sent the log rows as
soon as they are read, so it applies them while the server does; when the room is loaded it
gets what loading added (here a column added to the table while the server was down). A
client with a document of its own waits for the room and gets only what it lacks."""

from pycrdt import Doc, Map
from rawclient import RawClient
from test_worker import execute, table_follows
from waiting import eventually

from client.sheet import open_sheet
from server.websocket.protocol import MessageKind


async def test_a_fresh_client_gets_the_log_before_the_room_loads_then_what_loading_added(
    server_factory, database_url
):
    server = await server_factory()
    async with open_sheet(server.url, "items") as sheet:
        sheet.update("2", {"name": "edited"})
        await table_follows(database_url, sheet)
    await server.stop()
    execute(database_url, "ALTER TABLE items ADD COLUMN color VARCHAR(20) DEFAULT 'red'")
    await server.start()

    early = await RawClient.connect(server.url, "items")
    try:
        await eventually(lambda: early.cell("3", "color") == "red")
        kinds = early.kinds()  # the log, then the room's step 1 and its answer to the client's
        assert set(kinds[: kinds.index(MessageKind.SYNC_STEP1)]) == {MessageKind.SYNC_UPDATE}
        assert early.cell("2", "name") == "edited"
        later = await RawClient.connect(server.url, "items")  # the room is loaded: the usual way
        try:
            await later.synced.wait()
            assert later.kinds()[0] is MessageKind.SYNC_STEP1
            assert _rows(early.doc) == _rows(later.doc)
        finally:
            await later.close()
    finally:
        await early.close()
    assert "log rows sent to 1 clients while it loaded" in server.log()


async def test_a_client_with_a_document_gets_only_what_it_lacks_after_the_room_loads(
    server_factory, database_url
):
    server = await server_factory()
    first = await RawClient.connect(server.url, "items")
    await first.synced.wait()
    full = len(first.doc.get_update())
    await first.close()
    sent_early = server.log().count("while it loaded")  # the first open's chunks, to `first`
    await server.stop()
    execute(database_url, "ALTER TABLE items ADD COLUMN color VARCHAR(20) DEFAULT 'red'")
    await server.start()

    back = await RawClient.connect(server.url, "items", doc=first.doc)
    try:
        await eventually(lambda: back.cell("3", "color") == "red")
        assert back.kinds()[0] is MessageKind.SYNC_STEP1  # it waited for the room
        assert sum(map(len, back.received)) < full / 2  # not the whole document
    finally:
        await back.close()
    assert server.log().count("while it loaded") == sent_early


def _rows(doc: Doc) -> dict:
    return doc.get("rows", type=Map).to_py()
