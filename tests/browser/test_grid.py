"""The Tabulator sheet page in real Chromium: two users (separate browser contexts) on one
sheet of a real server."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage
from test_worker import table_rows
from waiting import eventually


async def table_shows(
    database_url: str, cells: dict[tuple[str, str], object], table: str = "items"
) -> None:
    """Waits until the table holds every (row id, column) -> value of `cells`."""

    def holds() -> bool:
        rows = table_rows(database_url, table)
        return all(rows.get(key, {}).get(column) == value for (key, column), value in cells.items())

    await eventually(holds, what=f"the table to hold {cells}")


async def test_edits_reach_the_other_user_both_ways(open_sheet, database_url):
    a: SheetPage = await open_sheet("Ada")
    b: SheetPage = await open_sheet("Bob")
    await a.type_into("1", "name", "from Ada")
    await b.expect_text("1", "name", "from Ada")
    await b.type_into("2", "qty", "42")
    await a.expect_text("2", "qty", "42")
    assert await a.value("2", "qty") == 42
    assert await b.value("1", "name") == "from Ada"
    await table_shows(database_url, {("1", "name"): "from Ada", ("2", "qty"): 42})


async def test_keys_move_and_commit_as_in_a_spreadsheet(open_sheet, database_url):
    """Arrows move; typing edits the selected cell; Tab commits and moves right, Enter down;
    Ctrl+C copies the selected range as tab-separated text; Ctrl+Y redoes."""
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("1", "name")
    await a.press("ArrowDown")
    await a.page.keyboard.type("moved")
    await a.press("Tab")
    await a.page.keyboard.type("12")
    await a.press("Enter")
    await a.page.keyboard.type("13")
    await a.press("Enter")
    await a.press("ArrowLeft")
    await a.page.keyboard.type("left")
    await a.press("Enter")
    expected = {("2", "name"): "moved", ("2", "qty"): 12, ("3", "qty"): 13, ("4", "name"): "left"}
    for (key, column), value in expected.items():
        await b.expect_text(key, column, str(value))
    await table_shows(database_url, expected)

    await a.select("1", "name")
    await a.cell("2", "qty").click(modifiers=["Shift"])
    assert await a.copy() == "item 1\t1\nmoved\t12"

    await a.press("Control+z")
    await b.expect_text("4", "name", "item 4")
    await a.press("Control+y")
    await b.expect_text("4", "name", "left")


@PAGE_ONLY
async def test_concurrent_edits_to_one_row_both_survive(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.set_offline(True)
    await a.wait_state("offline")
    await a.type_into("3", "name", "renamed")
    await b.type_into("3", "qty", "7")
    await a.set_offline(False)
    for page in (a, b):
        await page.expect_text("3", "name", "renamed")
        await page.expect_text("3", "qty", "7")


async def test_offline_edits_survive_a_reload_and_merge(open_sheet, database_url):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.set_offline(True)
    await a.wait_state("offline")
    await a.type_into("4", "name", "offline edit")
    await expect(a.status).to_have_attribute("data-pending", "1")
    await expect(a.status).to_contain_text("1 edit not sent")
    await a.reload()
    await a.expect_text("4", "name", "offline edit")
    await expect(a.status).to_have_attribute("data-state", "offline")
    await expect(a.status).to_have_attribute("data-pending", "1")
    await b.type_into("5", "name", "online edit")
    await a.expect_text("5", "name", "item 5")
    await a.set_offline(False)
    await a.wait_state("connected")
    await expect(a.status).to_have_attribute("data-pending", "0")
    for page in (a, b):
        await page.expect_text("4", "name", "offline edit")
        await page.expect_text("5", "name", "online edit")
    await table_shows(database_url, {("4", "name"): "offline edit", ("5", "name"): "online edit"})


@PAGE_ONLY
async def test_undo_reverts_only_the_users_own_edit(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.type_into("1", "name", "Ada's")
    await b.expect_text("1", "name", "Ada's")
    await b.type_into("2", "name", "Bob's")
    await a.expect_text("2", "name", "Bob's")
    await a.select("6", "qty")
    await a.press("Control+z")
    for page in (a, b):
        await page.expect_text("1", "name", "item 1")
        await page.expect_text("2", "name", "Bob's")
    await a.press("Control+Shift+z")
    await b.expect_text("1", "name", "Ada's")


@PAGE_ONLY
async def test_a_pasted_range_is_one_undo_step(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("2", "name")
    await a.paste("n2\t20\t2.25\nn3\t30\t3.25\nn4\t40\t4.25\n")
    for key, n in (("2", 2), ("3", 3), ("4", 4)):
        await b.expect_text(key, "name", f"n{n}")
        await b.expect_text(key, "qty", str(n * 10))
        await b.expect_text(key, "price", f"{n}.25")
    assert await b.value("3", "qty") == 30
    await a.press("Control+z")
    for key, n in (("2", 2), ("3", 3), ("4", 4)):
        await b.expect_text(key, "name", f"item {n}")
        await b.expect_text(key, "qty", str(n))


@PAGE_ONLY
async def test_delete_clears_and_rows_can_be_added_and_deleted(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("7", "name")
    await a.press("Delete")
    await b.expect_text("7", "name", "")
    assert await b.value("7", "name") is None

    await a.page.get_by_test_id("add-row").click()
    await b.page.wait_for_function("() => window.cellsync.connection.sheet.keys().length === 11")
    new_key = (await b.keys())[-1]
    assert len(new_key) == 32 and int(new_key, 16) >= 0
    await b.type_into(new_key, "name", "brand new")
    await a.expect_text(new_key, "name", "brand new")

    await a.select("8", "name")
    await a.page.get_by_test_id("delete-rows").click()
    await expect(b.cell("8", "name")).to_have_count(0)
    assert "8" not in await b.keys()


@PAGE_ONLY
async def test_presence_outlines_the_other_users_cell(open_sheet, artifacts):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.select("3", "qty")
    await b.select("5", "name")
    outlined = (
        "([selector]) => { const cell = document.querySelector(selector);"
        " return !!cell && getComputedStyle(cell).boxShadow.includes('inset'); }"
    )
    selector = '.tabulator-row[data-key="3"] .tabulator-cell[tabulator-field="qty"]'
    await b.page.wait_for_function(outlined, arg=[selector])
    await expect(b.page.get_by_test_id("person")).to_have_count(2)
    await expect(b.page.get_by_test_id("people")).to_contain_text("Ada")
    await a.page.wait_for_function(
        outlined, arg=['.tabulator-row[data-key="5"] .tabulator-cell[tabulator-field="name"]']
    )
    await b.page.screenshot(path=artifacts / "grid-presence.png")
    await a.close()
    await b.page.wait_for_function(f"(args) => !({outlined})(args)", arg=[selector])
    await expect(b.page.get_by_test_id("person")).to_have_count(1)


@PAGE_ONLY
async def test_a_picked_name_is_shown_to_the_others_and_remembered(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    name = a.page.get_by_test_id("user-name")
    await name.fill("Ada Lovelace")
    await name.press("Enter")
    await expect(b.page.get_by_test_id("people")).to_contain_text("Ada Lovelace")
    await a.reload()
    await expect(a.page.get_by_test_id("user-name")).to_have_value("Ada Lovelace")
    await expect(b.page.get_by_test_id("people")).to_contain_text("Ada Lovelace")


@PAGE_ONLY
async def test_the_status_shows_syncing_between_offline_and_connected(open_sheet):
    a = await open_sheet("Ada")
    await a.page.evaluate(RECORD_STATES)
    await a.set_offline(True)
    await a.wait_state("offline")
    await a.type_into("6", "name", "while offline")
    await a.set_offline(False)
    await a.wait_state("connected")
    states = await a.page.evaluate("() => window.states")
    assert states[-3:] == ["offline", "syncing", "connected"], states


RECORD_STATES = """() => {
  const badge = document.querySelector('[data-testid="connection-status"]');
  window.states = [badge.dataset.state];
  new MutationObserver(() => {
    if (window.states.at(-1) !== badge.dataset.state) window.states.push(badge.dataset.state);
  }).observe(badge, { attributes: true, attributeFilter: ["data-state"] });
}"""
