"""Two users on one cell: the user editing it sees another's change at once, and what the grid
shows once the editor closes is what the document holds."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage

pytestmark = PAGE_ONLY


async def start_typing(page: SheetPage, key: str, column: str, text: str) -> None:
    """Selects the cell and types into it without committing."""
    await page.select(key, column)
    await page.page.keyboard.type(text)


async def test_a_cell_changed_under_the_editor_is_shown_and_escape_keeps_it(open_sheet, artifacts):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await start_typing(a, "1", "name", "Ada typing")
    await b.type_into("1", "name", "Bob typed")
    notice = a.page.get_by_test_id("edit-conflict")
    await expect(notice).to_contain_text("Bob")
    await expect(notice).to_contain_text("Bob typed")
    await expect(a.cell("1", "name").locator("input")).to_have_value("Ada typing")
    await a.page.screenshot(path=artifacts / "edit-conflict.png")
    await a.press("Escape")
    await expect(notice).to_have_count(0)
    await a.expect_text("1", "name", "Bob typed")
    assert await a.value("1", "name") == "Bob typed"


async def test_enter_after_the_notice_keeps_the_users_text_for_everyone(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await start_typing(a, "2", "name", "Ada typing")
    await b.type_into("2", "name", "Bob typed")
    await expect(a.page.get_by_test_id("edit-conflict")).to_contain_text("Bob typed")
    await a.press("Enter")
    for page in (a, b):
        await page.expect_text("2", "name", "Ada typing")
        await page.wait_value("2", "name", "Ada typing")


async def test_an_editor_left_untouched_follows_the_other_users_change(open_sheet):
    """An editor opened (F2 or double click) but not typed in takes the new value: Enter
    then writes nothing and the grid shows the other user's value."""
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.cell("3", "name").dblclick()
    await expect(a.cell("3", "name").locator("input")).to_have_value("item 3")
    await b.type_into("3", "name", "Bob typed")
    await expect(a.cell("3", "name").locator("input")).to_have_value("Bob typed")
    await a.press("Enter")
    await a.expect_text("3", "name", "Bob typed")
    await b.expect_text("3", "name", "Bob typed")


async def test_on_a_phone_the_notice_fits_the_screen(browser, server, artifacts):
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    a = await SheetPage.open(context, server.http, "items", "Ada")
    b_context = await browser.new_context(viewport={"width": 1200, "height": 700})
    b = await SheetPage.open(b_context, server.http, "items", "Bob")
    await start_typing(a, "1", "name", "Ada typing")
    await b.type_into("1", "name", "Bob typed")
    notice = a.page.get_by_test_id("edit-conflict")
    await expect(notice).to_contain_text("Bob typed")
    box = await notice.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    await a.page.screenshot(path=artifacts / "edit-conflict-390.png")
