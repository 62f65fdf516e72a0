"""Editors per type accept what people type, in real Chromium: dates in ISO or the browser's
order, choices typed in full or by a unique beginning (any case) or picked, booleans toggled by
a click or Space or typed as words, numbers whose invalid text stays in the editor with the
reason readable beside it, decimals shown with their scale, long text read in the row view."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sheetpage import PAGE_ONLY
from test_editors import create_typed_table
from test_grid import table_shows

pytestmark = PAGE_ONLY


@pytest.fixture
async def typed(server_factory, database_url):
    create_typed_table(database_url)
    return await server_factory({"typed": "typed"})


async def test_choices_are_typed_in_full_or_by_a_beginning_or_picked(
    typed, database_url, open_on, artifacts
):
    a = await open_on(typed, "Ada", sheet="typed")
    b = await open_on(typed, "Bob", sheet="typed")
    await expect(a.cell("1", "status").locator(".cellsync-pill")).to_have_text("new")
    await a.type_into("1", "status", "DONE")  # a whole word, any case
    await b.expect_text("1", "status", "done")
    await a.type_into("1", "status", "n")  # the only choice beginning so
    await b.expect_text("1", "status", "new")

    await a.select("1", "status")
    await a.page.keyboard.type("maybe")
    await a.press("Enter")
    await a.expect_kept("maybe", "not a choice: new, done")
    await a.page.screenshot(path=artifacts / "editor-invalid-choice.png")
    await a.editor.fill("")
    await a.page.locator(".cellsync-choices [role=option]", has_text="done").click()
    await b.expect_text("1", "status", "done")
    await table_shows(database_url, {("1", "status"): "done"}, table="typed")


async def test_booleans_toggle_by_click_or_space_and_read_typed_words(typed, open_on):
    a = await open_on(typed, "Ada", sheet="typed")
    b = await open_on(typed, "Bob", sheet="typed")
    tick = a.cell("1", "active").locator(".cellsync-tick")
    await expect(tick).to_have_attribute("aria-label", "no")
    await tick.click()
    await b.wait_value("1", "active", True)
    await expect(b.cell("1", "active").locator("[role=img]")).to_have_attribute("aria-label", "yes")
    await a.press("Space")  # once is enough
    await b.wait_value("1", "active", False)
    await a.page.keyboard.type("yes")
    await a.press("Enter")
    await b.wait_value("1", "active", True)
    await a.type_into("1", "active", "false")
    await b.wait_value("1", "active", False)
    await a.cell("1", "active").locator(".cellsync-tick").dblclick()  # one toggle, no editor
    await b.wait_value("1", "active", True)
    await expect(a.editor).to_have_count(0)


async def test_a_mistyped_number_stays_in_the_editor_with_a_readable_reason(
    typed, open_on, artifacts
):
    a = await open_on(typed, "Ada", sheet="typed")
    await a.type_into("1", "amount", "12,5x")
    await a.expect_kept("12,5x", "expected a number")
    message = a.page.get_by_test_id("editor-message")
    style = await message.evaluate(
        "(node) => { const s = getComputedStyle(node);"
        " const cell = node.closest('.tabulator-cell');"
        " return { size: parseFloat(s.fontSize), colour: s.color, wraps: s.whiteSpace,"
        " covers: node.getBoundingClientRect().top < cell.getBoundingClientRect().bottom - 1,"
        " whole: node.scrollWidth <= node.clientWidth }; }"
    )
    assert style["size"] >= 13 and style["colour"] != "rgb(255, 255, 255)", style
    assert not style["covers"] and style["whole"], style
    await a.page.screenshot(path=artifacts / "editor-invalid-number.png")
    await a.press("Tab")  # still invalid: the editor stays
    await expect(a.editor).to_have_value("12,5x")
    await a.editor.fill("12.5")
    await a.press("Enter")
    await a.wait_value("1", "amount", 12.5)
    await a.expect_text("1", "amount", "12.50")  # the column's scale


async def test_a_date_is_typed_as_iso_or_picked(typed, open_on):
    """(Dates in the browser's own order: test_dates.py.)"""
    a = await open_on(typed, "Ada", sheet="typed")
    await a.type_into("1", "due", "2025-03-01")
    await a.wait_value("1", "due", "2025-03-01")
    await a.type_into("1", "due", "2025-02-30")
    await a.expect_kept("2025-02-30", "is not a date")
    await expect(a.page.locator(".tabulator-editing input[type=date]")).to_have_count(1)
    await a.press("Escape")
    await a.wait_value("1", "due", "2025-03-01")


async def test_long_text_reads_whole_in_the_row_view(open_sheet, artifacts):
    a = await open_sheet("Ada")
    long = "A long note that goes on and on, as notes do. " * 8
    await a.select("2", "notes")
    await a.paste(long)
    await a.wait_value("2", "notes", long)
    await a.cell("2", "notes").locator("xpath=..").locator(".cellsync-expand").click()
    view = a.page.get_by_test_id("row-view")
    await expect(view).to_be_visible()
    await expect(view.locator("h2")).to_have_text("ID 2")
    await expect(view.locator("dt")).to_contain_text(
        ["ID", "Name", "Qty", "Price", "Done", "Notes"]
    )
    await expect(view.locator("dd").last.locator("textarea")).to_have_value(long)
    box = await view.locator("dd").last.bounding_box()
    assert box is not None and box["height"] > 40  # wrapped, not cut off
    await a.page.screenshot(path=artifacts / "row-view.png")
    await a.press("Escape")
    await expect(view).to_be_hidden()
    await a.select("3", "name")
    await a.press("Shift+Space")
    await expect(view.locator("h2")).to_have_text("ID 3")
