"""Only values the table's columns accept stay in the live document, for everyone."""

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa
from nodeclient import NodeClient
from pycrdt import Map
from rawclient import RawClient
from test_worker import execute, table_rows
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine

THINGS = [
    """CREATE TABLE things (
        id {serial} PRIMARY KEY,
        label VARCHAR(10) NOT NULL,
        qty INTEGER,
        price NUMERIC(8, 2),
        status VARCHAR(10) CHECK (status IN ('new', 'done')),
        created DATE
    )""",
    "INSERT INTO things (label, qty, price, status, created) VALUES "
    "('a', 1, 1.25, 'new', '2024-01-01'), ('b', 2, 2.50, 'done', '2024-02-02')",
]


def set_cell(column: str, value):
    return lambda doc: doc.get("rows", type=Map)["1"].__setitem__(column, value)


def delete_cell(column: str):
    return lambda doc: doc.get("rows", type=Map)["1"].pop(column)


INVALID = {
    "wrong type": (set_cell("qty", "lots"), "qty", 1),
    "too long": (set_cell("label", "x" * 11), "label", "a"),
    "not a choice": (set_cell("status", "maybe"), "status", "new"),
    "null where not allowed": (set_cell("label", None), "label", "a"),
    "emptied where not allowed": (delete_cell("label"), "label", "a"),
    "the primary key": (set_cell("id", 99), "id", 1),
    "unknown column": (set_cell("hacker", "x"), "hacker", None),
    "a bad date": (set_cell("created", "yesterday"), "created", "2024-01-01"),
}


@pytest.fixture
async def things(server_factory, database_url):
    execute(database_url, *THINGS)
    return await server_factory(sheets={"things": "things"})


async def edit(client: RawClient, change) -> None:
    before = client.doc.get_state()
    with client.doc.transaction():
        change(client.doc)
    await client.send_update(client.doc.get_update(before))


@pytest.mark.parametrize(("change", "column", "valid"), INVALID.values(), ids=INVALID)
async def test_an_invalid_cell_is_put_back_for_everyone_and_the_sender_is_told(
    things, database_url, change, column, valid
):
    sender = await RawClient.connect(things.url, "things")
    async with await NodeClient.start(f"{things.url}/ws/sheet", "things") as other:
        await asyncio.gather(sender.synced.wait(), other.wait_synced())
        await edit(sender, change)
        await eventually(lambda: sender.cell("1", column) == valid, what="the sender put back")
        await eventually(lambda: other_has(other, column, valid), what="the other put back")
        async with open_sheet(things.url, "things") as sheet:
            reason = sheet.refusals()[("1", column)]
            assert sheet.row("1").get(column) == valid
        print(column, "->", reason)
    await sender.close()
    assert table_rows(database_url, "things")["1"].get(column, None) == valid


async def test_meta_is_written_by_the_server_only(things):
    sender = await RawClient.connect(things.url, "things")
    await sender.synced.wait()
    await edit(sender, lambda doc: doc.get("meta", type=Map).__setitem__("pk", "label"))
    await eventually(lambda: sender.doc.get("meta", type=Map)["pk"] == "id")
    await edit(sender, lambda doc: doc.get("meta", type=Map).__setitem__("banner", "<b>hi</b>"))
    await eventually(lambda: "banner" not in sender.doc.get("meta", type=Map))
    async with open_sheet(things.url, "things") as sheet:
        assert sheet.meta["pk"] == "id" and "banner" not in sheet.meta
    await sender.close()


async def test_a_row_that_is_not_a_map_is_undone(things):
    sender = await RawClient.connect(things.url, "things")
    await sender.synced.wait()
    await edit(sender, lambda doc: doc.get("rows", type=Map).__setitem__("2", "not a row"))
    await edit(sender, lambda doc: doc.get("rows", type=Map).__setitem__("junk", 42))
    await eventually(lambda: isinstance(sender.doc.get("rows", type=Map).get("2"), Map))
    async with open_sheet(things.url, "things") as sheet:
        assert sheet.row("2")["label"] == "b"
        assert "junk" not in sheet.doc.get("rows", type=Map)
    await sender.close()


async def test_a_new_row_keeps_only_its_valid_cells(things, database_url):
    async with open_sheet(things.url, "things") as sheet:
        key = sheet.add_row({"label": "fine", "qty": "many", "status": "new"})
        await sheet.wait_for(lambda s: s.row(key).get("id") is not None)
        assert "qty" not in sheet.row(key) and (key, "qty") in sheet.refusals()
    row = next(r for r in table_rows(database_url, "things").values() if r["label"] == "fine")
    assert row["qty"] is None and row["status"] == "new"


async def test_integral_floats_fit_integers_and_decimals_keep_their_precision(things, database_url):
    async with await NodeClient.start(f"{things.url}/ws/sheet", "things") as node:
        await node.wait_synced()
        await node.set_cell("1", "qty", 3.0)
        await node.set_cell("1", "price", 0.1 + 0.2)
        await node.set_cell("2", "price", 1234.56)
    engine = create_engine(database_url)
    try:

        def stored():
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, price FROM things")).all()
                return {id: Decimal(str(price)) for id, price in rows}  # SQLite gives floats

        await eventually(lambda: stored()[2] == Decimal("1234.56"))
        assert stored()[1] == Decimal("0.30")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT qty FROM things WHERE id = 1")).scalar_one() == 3
    finally:
        engine.dispose()


async def other_has(node: NodeClient, column: str, value) -> bool:
    return await node.get_cell("1", column) == value


def nested(depth: int) -> Map:
    """A map `depth` maps deep, as a hostile client can put in a cell."""
    value: Map | str = "bottom"
    for _ in range(depth):
        value = Map({"a": value})
    return value


BOUNDED = {
    "a map 300 deep": (set_cell("label", nested(300)), "label", "a"),
    "a 5,000-character text": (set_cell("label", "=" * 5000), "label", "a"),
    "a 5,000-character column name": (set_cell("c" * 5000, 1), "c" * 5000, None),
}


@pytest.mark.parametrize(("change", "column", "valid"), BOUNDED.values(), ids=BOUNDED)
async def test_a_refusal_is_bounded_and_the_refused_value_leaves_every_copy(
    things, change, column, valid
):
    sender = await RawClient.connect(things.url, "things")
    await sender.synced.wait()
    await edit(sender, change)
    await eventually(lambda: sender.cell("1", column) == valid, what="the sender's copy put back")
    async with open_sheet(things.url, "things") as sheet:
        assert sheet.row("1").get(column) == valid
        refusal = sheet.doc.get("refusals", type=Map).to_py()
        (key, stored), *_ = refusal.items()
        assert len(refusal) == 1 and key.startswith("1\x00")
        assert len(stored["reason"]) <= 200, stored["reason"]
        assert stored["value"] is None or len(str(stored["value"])) <= 200, stored["value"]
    await sender.close()


async def test_the_refusals_map_is_written_by_the_server_only(things):
    sender = await RawClient.connect(things.url, "things")
    await sender.synced.wait()
    await edit(sender, set_cell("qty", "lots"))  # a real refusal
    refusals = sender.doc.get("refusals", type=Map)
    await eventually(lambda: "1\x00qty" in refusals, what="the real refusal")
    real = refusals.to_py()

    def tamper(doc) -> None:
        shared = doc.get("refusals", type=Map)
        del shared["1\x00qty"]
        shared["2\x00label"] = {"reason": "<b>spoofed</b>", "value": "x" * 10_000}
        shared["3\x00label"] = Map({"reason": "a map"})

    await edit(sender, tamper)
    await eventually(lambda: refusals.to_py() == real, what="the sender's copy put back")
    async with open_sheet(things.url, "things") as sheet:
        assert sheet.doc.get("refusals", type=Map).to_py() == real
    await sender.close()
