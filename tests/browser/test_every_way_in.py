"""Every screen and every way in, in real Chromium: the phone layout (grid first, the panel
folded, the editor above the frozen row handle), keyboard access to the toolbar and the
spreadsheet keys, and the grid's ARIA roles, counts, live status and labels."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage
from tables import create_items_table

pytestmark = PAGE_ONLY

ACTIVE = (
    "() => { const c = window.cellsync.grid.table.modules.selectRange.getActiveCell();"
    " return c && [c.row.getData().__cellsync_key, c.column.getField()]; }"
)


async def active(page: SheetPage) -> list[str]:
    return await page.page.evaluate(ACTIVE)


async def test_a_phone_shows_the_grid_first_and_the_editor_whole(browser, server, artifacts):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = await SheetPage.open(context, server.http, "items", "Ada")
    grid = await page.page.get_by_test_id("grid").bounding_box()
    assert grid is not None and grid["width"] >= 380 and grid["height"] >= 500, grid
    await expect(page.page.get_by_test_id("panel")).to_be_hidden()
    toggle = page.page.get_by_test_id("panel-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await page.page.screenshot(path=artifacts / "sheet-390x844.png")

    # Scrolled right, a cell partly under the frozen row handle: its editor is drawn above it.
    await page.select("3", "name")
    await page.page.locator(".tabulator-tableholder").evaluate("(h) => { h.scrollLeft = 100; }")
    await page.press("F2")
    editor = page.editor
    await expect(editor).to_be_focused()
    box = await editor.bounding_box()
    handle = await page.page.locator(".tabulator-range-row-header").first.bounding_box()
    assert box is not None and handle is not None and box["x"] < handle["x"] + handle["width"]
    hit = await page.page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.tagName", [box["x"] + 3, box["y"] + 5]
    )
    assert hit == "INPUT", hit
    await page.page.screenshot(path=artifacts / "sheet-390x844-editing.png")
    await page.press("Escape")

    await toggle.click()
    await expect(page.page.get_by_test_id("panel")).to_be_visible()
    await expect(page.page.get_by_test_id("person")).to_have_count(1)
    await page.page.screenshot(path=artifacts / "sheet-390x844-panel.png")


async def test_the_keyboard_reaches_every_control_and_moves_as_a_spreadsheet(open_sheet):
    a = await open_sheet("Ada")
    await a.select("2", "name")
    await a.press("End")
    assert await active(a) == ["2", "notes"]
    await a.press("Home")
    assert await active(a) == ["2", "id"]
    await a.press("Control+End")
    assert await active(a) == ["10", "notes"]
    await a.press("Control+Home")
    assert await active(a) == ["1", "id"]
    await a.press("PageDown")
    assert (await active(a))[0] == "10"  # the whole sheet fits a screen
    await a.press("PageUp")
    assert (await active(a))[0] == "1"

    await a.select("4", "qty")
    await a.press("F2")
    await expect(a.editor).to_have_value("4")
    await a.editor.fill("44")
    await a.press("Enter")
    await a.wait_value("4", "qty", 44)

    await a.press("Escape")  # leaves the grid for the toolbar
    await expect(a.page.get_by_test_id("add-row")).to_be_focused()
    order = []
    for _ in range(8):
        order.append(await a.page.evaluate("() => document.activeElement.dataset.testid"))
        await a.press("Tab")
    assert order == [
        "add-row",
        "delete-rows",
        "undo",
        "user-name",
        "search",
        "toggle-filters",
        "expand-row",
        order[7],
    ], order


async def test_aria_roles_counts_live_status_and_labels(open_sheet):
    a = await open_sheet("Ada")
    grid = a.page.get_by_role("grid")
    await expect(grid).to_have_attribute("aria-rowcount", "11")  # the header row and 10 rows
    await expect(grid).to_have_attribute("aria-label", "items")
    await expect(a.status).to_have_attribute("aria-live", "polite")
    await expect(a.status).to_have_attribute("role", "status")
    await a.page.get_by_test_id("add-row").click()
    await expect(grid).to_have_attribute("aria-rowcount", "12")
    tick = a.cell("1", "done").get_by_role("img")
    await expect(tick).to_have_attribute("aria-label", "no")
    for control in await a.page.locator(".cellsync-page input, .cellsync-page button").all():
        name = await control.evaluate(
            "(c) => c.getAttribute('aria-label') || c.labels?.[0]?.textContent || c.textContent"
        )
        assert name.strip(), await control.evaluate("(c) => c.outerHTML")


ROW_INDEXES = (
    "() => [...document.querySelectorAll('.tabulator-row[data-key]')]"
    ".filter((row) => row.offsetParent)"
    ".map((row) => [row.dataset.key, row.getAttribute('aria-rowindex')])"
)


async def test_aria_rowindex_follows_sort_filter_and_scrolling(
    database_url, server_factory, open_on, artifacts
):
    create_items_table(database_url, rows=300, name="many")
    server = await server_factory({"many": "many"})
    a = await open_on(server, "Ada", "many")
    header = a.page.locator(".tabulator-headers")
    await expect(header).to_have_attribute("aria-rowindex", "1")
    await expect(a.page.get_by_role("grid")).to_have_attribute("aria-rowcount", "301")
    drawn = dict(await a.page.evaluate(ROW_INDEXES))
    assert drawn["1"] == "2" and drawn["5"] == "6", drawn

    qty = a.page.locator('.tabulator-col[tabulator-field="qty"] .tabulator-col-sorter')
    await qty.click()
    await qty.click()  # descending: 300 first
    drawn = dict(await a.page.evaluate(ROW_INDEXES))
    assert drawn["300"] == "2" and drawn["296"] == "6", drawn
    holder = a.page.locator(".tabulator-tableholder")
    await holder.evaluate("(h) => { h.scrollTop = h.scrollHeight; }")
    await a.page.wait_for_function(f"() => ({ROW_INDEXES})().some(([key]) => key === '1')")
    drawn = dict(await a.page.evaluate(ROW_INDEXES))
    assert drawn["1"] == "301" and drawn["2"] == "300", drawn
    await a.page.screenshot(path=artifacts / "aria-rowindex-scrolled.png")

    await a.page.get_by_test_id("toggle-filters").click()
    await a.page.locator(
        '.tabulator-col[tabulator-field="qty"] .tabulator-header-filter input'
    ).press_sequentially("<=250")
    await expect(a.page.get_by_role("grid")).to_have_attribute("aria-rowcount", "251")
    await holder.evaluate("(h) => { h.scrollTop = 0; }")
    await a.page.wait_for_function(f"() => ({ROW_INDEXES})().some(([key]) => key === '250')")
    drawn = dict(await a.page.evaluate(ROW_INDEXES))
    assert drawn["250"] == "2" and drawn["249"] == "3", drawn
    for key, index in drawn.items():
        assert int(index) == 252 - int(key), (key, index)
