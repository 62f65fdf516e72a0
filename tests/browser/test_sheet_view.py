"""A sheet you can work in, in real Chromium: sort, filter and search are each user's own and
never change the document's order; a row count; humanised headers with type signs; no row
number beside the key; styled buttons; Undo and Redo enabled only when they can act."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage

pytestmark = PAGE_ONLY


async def shown_keys(page) -> list[str]:
    """The keys of the rows the grid shows, in its order (not only those drawn)."""
    return await page.page.evaluate(
        "() => window.cellsync.grid.table.getRows('active')"
        ".map((row) => row.getData().__cellsync_key)"
    )


async def test_sort_filter_and_search_are_the_users_own(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    order = await a.keys()
    count = a.page.get_by_test_id("row-count")
    await expect(count).to_have_text("10 rows")

    qty = a.page.locator('.tabulator-col[tabulator-field="qty"]')
    await qty.locator(".tabulator-col-sorter").click()
    await qty.locator(".tabulator-col-sorter").click()  # descending
    assert await shown_keys(a) == [str(i) for i in range(10, 0, -1)]
    assert await a.keys() == order and await b.keys() == order  # the document is untouched
    assert await shown_keys(b) == order

    await a.page.get_by_test_id("search").fill("item 1")
    await expect(count).to_have_text("2 of 10 rows")  # item 1, item 10
    assert sorted(await shown_keys(a)) == ["1", "10"]
    await a.page.get_by_test_id("search").fill("")
    await expect(count).to_have_text("10 rows")

    await a.page.get_by_test_id("toggle-filters").click()
    qty_filter = qty.locator(".tabulator-header-filter input")
    await qty_filter.press_sequentially(">7")
    await expect(count).to_have_text("3 of 10 rows")
    await expect(b.page.get_by_test_id("row-count")).to_have_text("10 rows")
    await b.type_into("9", "name", "from Bob")  # edits still arrive in a filtered view
    await a.expect_text("9", "name", "from Bob")
    await a.page.get_by_test_id("reset-view").click()
    await expect(count).to_have_text("10 rows")
    assert await shown_keys(a) == order


async def test_headers_buttons_and_the_row_handle(open_sheet, artifacts):
    a = await open_sheet("Ada")
    titles = a.page.locator(".tabulator-col[tabulator-field] .tabulator-col-title")
    await expect(titles).to_have_text(["#ID", "AaName", "#Qty", ".00Price", "✓Done", "AaNotes"])
    await expect(
        a.page.locator('.tabulator-col[tabulator-field="price"] .cellsync-title')
    ).to_have_attribute("title", "price: decimal; 2 decimals")
    await a.expect_text("2", "price", "3.00")  # the column's scale
    handle = a.page.locator('.tabulator-row[data-key="2"] .tabulator-range-row-header')
    await expect(handle).not_to_contain_text("2")  # the key is the ID column's, not repeated

    button = a.page.get_by_test_id("add-row")
    style = await button.evaluate(
        "(b) => { const s = getComputedStyle(b); return [s.borderRadius, s.backgroundColor]; }"
    )
    assert style == ["6px", "rgb(255, 255, 255)"], style

    undo, redo = a.page.get_by_test_id("undo"), a.page.get_by_test_id("redo")
    await expect(undo).to_be_disabled()
    await expect(redo).to_be_disabled()
    await a.type_into("1", "name", "changed")
    await expect(undo).to_be_enabled()
    await expect(redo).to_be_disabled()
    await undo.click()
    await a.expect_text("1", "name", "item 1")
    await expect(undo).to_be_disabled()
    await expect(redo).to_be_enabled()
    await a.page.screenshot(path=artifacts / "sheet-desktop.png")


ACTIVE = (
    "() => { const c = window.cellsync.grid.table.modules.selectRange.getActiveCell();"
    " return c && [c.row.getData().__cellsync_key, c.column.getField()]; }"
)


async def test_others_edits_are_put_in_my_view_mine_once_i_leave_the_row(open_sheet, artifacts):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    count = a.page.get_by_test_id("row-count")
    qty = a.page.locator('.tabulator-col[tabulator-field="qty"]')
    await a.page.get_by_test_id("toggle-filters").click()
    await qty.locator(".tabulator-header-filter input").press_sequentially(">7")
    await expect(count).to_have_text("3 of 10 rows")
    await a.select("10", "name")

    await b.type_into("8", "qty", "1")  # no longer matches: leaves Ada's view
    await expect(count).to_have_text("2 of 10 rows")
    assert sorted(await shown_keys(a)) == ["10", "9"]
    assert await a.page.evaluate(ACTIVE) == ["10", "name"]  # Ada's cell stays selected
    await b.type_into("2", "qty", "50")  # now matches: joins it
    await expect(count).to_have_text("3 of 10 rows")
    assert sorted(await shown_keys(a)) == ["10", "2", "9"]
    await b.page.get_by_test_id("add-row").click()  # an empty row matches no qty filter
    await expect(count).to_have_text("3 of 11 rows")
    assert sorted(await shown_keys(a)) == ["10", "2", "9"]

    await qty.locator(".tabulator-col-sorter").click()  # ascending: 9, 10, 50
    assert await shown_keys(a) == ["9", "10", "2"]
    await a.select("10", "name")
    await b.type_into("9", "qty", "99")  # a sorted column changed: the row moves
    await a.page.wait_for_function(
        "() => window.cellsync.grid.table.getRows('active').at(-1).getData().id === 9"
    )
    assert await shown_keys(a) == ["10", "2", "9"]
    assert await a.page.evaluate(ACTIVE) == ["10", "name"]

    await a.select("10", "qty")  # Ada's own edit: the row stays while she is in it
    await a.page.keyboard.type("3")
    await a.press("Tab")
    await a.wait_value("10", "qty", 3)
    assert await a.page.evaluate(ACTIVE) == ["10", "price"]
    await b.type_into("2", "qty", "51")  # and a remote change meanwhile does not take it away
    await a.expect_text("2", "qty", "51")
    assert "10" in await shown_keys(a)
    row = a.page.locator('.tabulator-row[data-key="10"]')
    await expect(row).to_have_class(re.compile("cellsync-hidden-once-left"))
    await expect(count).to_have_text("3 of 11 rows")
    await a.page.screenshot(path=artifacts / "view-kept-row.png")
    await a.select("2", "name")  # she leaves it: it leaves the view
    await expect(count).to_have_text("2 of 11 rows")
    assert await shown_keys(a) == ["2", "9"]
    assert await a.page.evaluate(ACTIVE) == ["2", "name"]  # her click's cell, where it went
    await a.page.screenshot(path=artifacts / "view-after-remote-edits.png")


async def test_a_search_on_a_phone_follows_remote_edits(browser, server, open_sheet, artifacts):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    a = await SheetPage.open(context, server.http, "items", "Ada")
    b = await open_sheet("Bob")
    count = a.page.get_by_test_id("row-count")
    await a.page.get_by_test_id("search").fill("item 1")
    await expect(count).to_have_text("2 of 10 rows")
    await b.type_into("10", "name", "gadget")
    await expect(count).to_have_text("1 of 10 rows")
    await b.type_into("4", "name", "item 1b")
    await expect(count).to_have_text("2 of 10 rows")
    assert sorted(await shown_keys(a)) == ["1", "4"]
    await b.page.evaluate("() => window.cellsync.connection.sheet.deleteRows(['1'])")
    await expect(count).to_have_text("1 of 9 rows")
    assert await shown_keys(a) == ["4"]
    await a.page.screenshot(path=artifacts / "view-search-390x844.png")


async def test_the_row_view_edits_as_the_grid_does(open_sheet, browser, server, artifacts):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("3", "name")
    await a.press("Shift+Space")
    view = a.page.get_by_test_id("row-view")
    await expect(view).to_be_visible()
    await expect(view.locator('dd[data-column="id"]')).to_have_text("3")  # the key: read only
    assert await view.locator('dd[data-column="id"] input').count() == 0

    notes = view.get_by_role("textbox", name="Notes")
    await notes.click()
    await notes.press_sequentially("First line")
    await notes.press("Enter")  # a new line, not a commit
    await notes.press_sequentially("second line")
    await notes.press("Control+Enter")
    await b.wait_value("3", "notes", "First line\nsecond line")
    await a.expect_text("3", "notes", "First line\nsecond line")

    qty = view.get_by_role("textbox", name="Qty")
    await qty.fill("12abc")
    await qty.press("Enter")  # refused as the grid refuses it: kept, with the reason
    await expect(view.get_by_test_id("editor-message")).to_be_visible()
    await expect(qty).to_have_value("12abc")
    await expect(view).to_be_visible()
    await a.page.screenshot(path=artifacts / "row-view-invalid.png")
    await qty.fill("12")
    await qty.press("Tab")  # leaving the field commits
    await b.wait_value("3", "qty", 12)
    await a.expect_text("3", "qty", "12")

    name = view.get_by_role("textbox", name="Name")
    await name.click()
    await name.press_sequentially(" typo")
    await name.press("Escape")  # puts the stored value back; the view stays open
    await expect(name).to_have_value("item 3")
    await expect(view).to_be_visible()

    await b.type_into("3", "price", "9.5")  # someone else's edit shows at once
    await expect(view.get_by_role("textbox", name="Price")).to_have_value("9.5")
    await a.page.screenshot(path=artifacts / "row-view-edited.png")
    await a.press("Escape")
    await expect(view).to_be_hidden()

    phone = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    c = await SheetPage.open(phone, server.http, "items", "Cy")
    await c.select("3", "name")
    await c.page.get_by_test_id("expand-row").click()
    await expect(c.page.get_by_role("textbox", name="Notes")).to_have_value(
        "First line\nsecond line"
    )
    await c.page.screenshot(path=artifacts / "row-view-390x844.png")
