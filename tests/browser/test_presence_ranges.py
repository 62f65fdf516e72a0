"""Presence in real Chromium: another user's whole selected range is outlined in their colour,
their name tag sits outside the range's cells (never over a value), and up to twelve users
each get a colour of their own."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage
from waiting import eventually

pytestmark = PAGE_ONLY

CELL = '.tabulator-row[data-key="{key}"] .tabulator-cell[tabulator-field="{column}"]'
SHADOW = "(selector) => getComputedStyle(document.querySelector(selector)).boxShadow"
OUTLINED = f"(selector) => ({SHADOW})(selector).includes('inset')"
TAG = (
    "(selector) => { const cell = document.querySelector(selector);"
    " const tag = getComputedStyle(cell, '::before'); return { content: tag.content,"
    " bottom: tag.bottom, top: tag.top, height: cell.offsetHeight }; }"
)


def cell(key: str, column: str) -> str:
    return CELL.format(key=key, column=column)


async def test_the_whole_range_is_outlined_and_the_tag_covers_no_value(open_sheet, artifacts):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("3", "name")
    await a.cell("5", "qty").click(modifiers=["Shift"])
    await b.page.wait_for_function(OUTLINED, arg=cell("5", "qty"))
    for key, column in (("3", "name"), ("3", "qty"), ("4", "name"), ("4", "qty"), ("5", "name")):
        assert await b.page.evaluate(OUTLINED, cell(key, column)), (key, column)
    for key, column in (("2", "name"), ("6", "qty"), ("4", "price")):
        assert await b.page.evaluate(SHADOW, cell(key, column)) == "none", (key, column)
    tag = await b.page.evaluate(TAG, cell("3", "name"))
    assert tag["content"] == '"Ada"'
    assert tag["bottom"].endswith("px") and float(tag["bottom"][:-2]) >= tag["height"], tag
    await b.page.screenshot(path=artifacts / "presence-range.png")

    await a.select("1", "qty")  # on the first row, the tag goes under the cell
    await b.page.wait_for_function(OUTLINED, arg=cell("1", "qty"))
    tag = await b.page.evaluate(TAG, cell("1", "qty"))
    assert float(tag["top"][:-2]) >= tag["height"], tag
    await b.page.screenshot(path=artifacts / "presence-first-row.png")


async def test_twelve_users_get_twelve_colours(open_sheet, artifacts):
    pages = [await open_sheet(f"user {i}") for i in range(12)]
    await asyncio.gather(
        *(
            expect(page.page.get_by_test_id("person")).to_have_count(12, timeout=30_000)
            for page in pages
        )
    )
    colours = "() => window.cellsync.connection.presence.others().map((p) => p.colour)"

    async def distinct() -> bool:
        seen = await pages[0].page.evaluate(colours)
        mine = await pages[0].page.evaluate(
            "() => window.cellsync.connection.provider.awareness.getLocalState().user.colour"
        )
        return len(set([*seen, mine])) == 12

    await eventually(distinct, what="twelve distinct colours")
    await pages[0].page.screenshot(path=artifacts / "presence-twelve.png")


EDGES = (
    "(selector) => { const s = getComputedStyle(document.querySelector(selector)).boxShadow;"
    " return { top: s.includes('0px 2px 0px 0px inset'), bottom: s.includes('0px -2px 0px 0px"
    " inset'), left: s.includes(' 2px 0px 0px 0px inset'), right: s.includes('-2px 0px 0px"
    " 0px inset'), none: s === 'none' }; }"
)


async def edges(page, key: str, column: str) -> set[str]:
    found = await page.page.evaluate(EDGES, cell(key, column))
    return {edge for edge, present in found.items() if present}


async def sort_by_qty(page) -> None:
    sorter = page.page.locator('.tabulator-col[tabulator-field="qty"] .tabulator-col-sorter')
    await sorter.click()
    await page.page.wait_for_function("() => window.cellsync.grid.table.getSorters().length === 1")


async def test_a_range_is_outlined_as_my_sorted_view_shows_it(
    open_sheet, browser, server, artifacts
):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    c = await SheetPage.open(phone, server.http, "items", "Cy")
    await a.type_into("4", "qty", "100")  # sorted by qty, row 4 goes last
    await a.select("3", "name")
    await a.cell("5", "qty").click(modifiers=["Shift"])  # rows 3-5 in the document's order
    await b.page.wait_for_function(OUTLINED, arg=cell("5", "qty"))
    for viewer in (b, c):
        await sort_by_qty(viewer)  # 1, 2, 3, 5, 6, ..., 10, 4: runs [3, 5] and [4]
        await eventually_edges(viewer, "3", "name", {"top", "left"})
        assert await edges(viewer, "3", "qty") == {"top", "right"}
        assert await edges(viewer, "5", "name") == {"bottom", "left"}
        assert await edges(viewer, "5", "qty") == {"bottom", "right"}
        assert await edges(viewer, "4", "name") == {"top", "bottom", "left"}
        assert await edges(viewer, "4", "qty") == {"top", "bottom", "right"}
        assert await edges(viewer, "6", "name") == {"none"}
        tag = await viewer.page.evaluate(TAG, cell("3", "name"))
        assert tag["content"] == '"Ada"'
        assert float(tag["bottom"][:-2]) >= tag["height"], tag
    await b.page.locator('.tabulator-row[data-key="4"]').scroll_into_view_if_needed()
    await b.page.screenshot(path=artifacts / "presence-range-sorted.png")
    await c.page.screenshot(path=artifacts / "presence-range-sorted-390x844.png")

    await b.page.get_by_test_id("toggle-filters").click()  # row 4 filtered out: one run
    await b.page.locator(
        '.tabulator-col[tabulator-field="qty"] .tabulator-header-filter input'
    ).press_sequentially("<50")
    await eventually_edges(b, "5", "qty", {"bottom", "right"})
    assert await edges(b, "3", "name") == {"top", "left"}


async def eventually_edges(page, key: str, column: str, expected: set[str]) -> None:
    async def drawn() -> bool:
        return await edges(page, key, column) == expected

    await eventually(drawn, what=f"{key}/{column} outlined on {sorted(expected)}")
