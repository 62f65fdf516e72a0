"""The Python client against a real server: integers come back as ints whoever wrote them, and
rows are read from the document as they are asked for, not copied whole beside it."""

import tracemalloc
from collections.abc import Callable
from typing import Any

from nodeclient import NodeClient

from client.sheet import open_sheet


async def test_integer_columns_give_ints_whoever_wrote_them(server):
    async with (
        open_sheet(server.url, "items") as sheet,
        await NodeClient.start(f"{server.url}/ws/sheet", "items") as node,
    ):
        await node.wait_synced()
        await node.set_cell("2", "qty", 42)  # a JavaScript number: a double in the document
        await node.set_cell("2", "price", 7)
        await sheet.wait_for(lambda s: s.row("2")["qty"] == 42 and s.row("2")["price"] == 7)

        assert type(sheet.row("2")["qty"]) is int
        assert type(sheet.row("2")["price"]) is float  # a decimal column keeps its number
        assert [type(row["qty"]) for row in sheet] == [int] * 10
        assert [row["qty"] for row in sheet.rows()] == [1, 42, *range(3, 11)]


async def test_rows_are_read_as_they_are_asked_for(large_server):
    async with open_sheet(large_server.url, "big", timeout=60) as sheet:
        one_row, first = traced_peak(lambda: sheet.row("10000"))
        iterating, count = traced_peak(lambda: sum(1 for _ in sheet))
        listing, every = traced_peak(sheet.rows)
        first_row = next(iter(sheet))

    assert first["c9"] == "r10000c9" and first_row["_key"] == "1"
    assert count == len(every) == 10_000
    assert iterating < listing / 2, (iterating, listing)
    assert one_row < listing / 100, (one_row, listing)


def traced_peak(read: Callable[[], Any]) -> tuple[int, Any]:
    """The peak of Python memory allocated while `read()` runs, and what it returned."""
    tracemalloc.start()
    try:
        result = read()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()
