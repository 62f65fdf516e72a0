"""The Handsontable adapter in real Chromium: the same edit, insert and delete checks as the
Tabulator grid. Handsontable is proprietary: tests use its evaluation key, in tests only."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY

pytestmark = PAGE_ONLY


async def test_handsontable_edits_inserts_and_deletes(open_sheet):
    a = await open_sheet("Ada", grid="handsontable")
    b = await open_sheet("Bob")
    await a.type_into("1", "name", "from Handsontable")
    await b.expect_text("1", "name", "from Handsontable")
    await b.type_into("2", "qty", "42")
    await a.expect_text("2", "qty", "42")
    assert await a.value("2", "qty") == 42

    await a.page.get_by_test_id("add-row").click()
    await b.page.wait_for_function("() => window.cellsync.connection.sheet.keys().length === 11")
    new_key = (await b.keys())[-1]
    await a.type_into(new_key, "name", "row from Handsontable")
    await b.expect_text(new_key, "name", "row from Handsontable")
    await b.page.get_by_test_id("add-row").click()
    await a.page.wait_for_function("() => window.cellsync.connection.sheet.keys().length === 12")
    bobs_key = (await a.keys())[-1]
    await b.type_into(bobs_key, "name", "row from Tabulator")
    await a.expect_text(bobs_key, "name", "row from Tabulator")

    await a.select("8", "name")
    await a.page.get_by_test_id("delete-rows").click()
    await expect(b.cell("8", "name")).to_have_count(0)
    await b.select("9", "name")
    await b.page.get_by_test_id("delete-rows").click()
    await expect(a.cell("9", "name")).to_have_count(0)
    assert await a.keys() == await b.keys()
    assert await a.grid_keys() == [k for k in await a.keys() if k in await a.grid_keys()]


async def test_handsontable_undo_and_paste(open_sheet):
    a = await open_sheet("Ada", grid="handsontable")
    b = await open_sheet("Bob")
    await a.select("2", "name")
    await a.paste("n2\t20\nn3\t30\n")
    await b.expect_text("3", "qty", "30")
    await b.expect_text("2", "name", "n2")
    await a.select("6", "name")
    await a.press("Control+z")
    await b.expect_text("2", "name", "item 2")
    await b.expect_text("3", "qty", "3")
