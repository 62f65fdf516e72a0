"""Adding and deleting rows as in Airtable and Sheets: a new row opens with the cursor in it,
required columns are marked, an incomplete new row waits (one message once its user leaves
it, none while they fill it in), refusals of deleted rows go for everyone, and a deletion
names its rows and can be undone."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import SheetPage
from test_worker import execute, table_rows
from waiting import eventually

PEOPLE = (
    "CREATE TABLE people (id {serial} PRIMARY KEY, name TEXT NOT NULL, "
    "age INTEGER NOT NULL CHECK (age >= 0), note TEXT)",
    "INSERT INTO people (name, age) VALUES ('Grace', 85)",
    "INSERT INTO people (name, age) VALUES ('Alan', 41)",
)


async def open_people(server_factory, database_url, open_on) -> tuple[SheetPage, SheetPage]:
    execute(database_url, *PEOPLE)
    server = await server_factory(sheets={"people": "people"})
    return await open_on(server, "Ada", "people"), await open_on(server, "Bob", "people")


async def new_row(page: SheetPage) -> str:
    await page.page.get_by_test_id("add-row").click()
    await page.page.wait_for_function("() => window.cellsync.connection.sheet.keys().length === 3")
    return (await page.keys())[-1]


async def test_a_new_row_opens_for_typing_and_waits_until_complete(
    server_factory, database_url, open_on, artifacts
):
    a, b = await open_people(server_factory, database_url, open_on)
    await expect(a.page.locator(".tabulator-col.cellsync-required")).to_have_count(2)
    key = await new_row(a)
    await a.page.keyboard.type("Ada Lovelace")
    await a.press("Enter")
    await b.expect_text(key, "name", "Ada Lovelace")
    assert len(await a.keys()) == 3  # typing went into the row, not into the Add button
    for page in (a, b):
        await expect(page.page.get_by_test_id("refusal")).to_have_count(0)  # Ada is in it

    await a.select("1", "note")  # Ada leaves the row: one message, for everyone
    for page in (a, b):
        refusal = page.page.get_by_test_id("refusal")
        await expect(refusal).to_have_count(1)
        await expect(refusal).to_have_text("new row 3: not saved until age is filled in")
    await a.page.screenshot(path=artifacts / "incomplete-row.png")
    assert len(table_rows(database_url, "people")) == 2

    await a.type_into(key, "age", "36")
    await a.wait_value(key, "id", 3)
    for page in (a, b):
        await expect(page.page.get_by_test_id("refusal")).to_have_count(0)
    await eventually(lambda: table_rows(database_url, "people")["3"]["name"] == "Ada Lovelace")


async def test_the_refusals_of_a_deleted_row_disappear_for_everyone(
    server_factory, database_url, open_on
):
    a, b = await open_people(server_factory, database_url, open_on)
    key = await new_row(a)
    await a.page.keyboard.type("Nobody")
    await a.press("Tab")
    await a.page.keyboard.type("-1")  # the table's CHECK refuses it
    await a.press("Enter")
    await a.select("1", "note")
    for page in (a, b):
        await expect(page.page.get_by_test_id("refusals")).to_contain_text("new row 3")
    assert key not in await a.page.get_by_test_id("refusals").inner_text()
    await a.select(key, "name")
    await a.page.get_by_test_id("delete-rows").click()
    for page in (a, b):
        await expect(page.page.get_by_test_id("refusal")).to_have_count(0)
    await a.reload()
    await expect(a.page.get_by_test_id("refusal")).to_have_count(0)


async def test_delete_rows_names_them_offers_undo_and_ignores_the_selection_at_load(
    open_sheet, artifacts
):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    toast = a.page.get_by_test_id("delete-toast")
    await a.page.get_by_test_id("delete-rows").click()
    await expect(toast).to_contain_text("Select a cell in each row to delete")
    assert len(await b.keys()) == 10

    await a.select("3", "name")
    await a.cell("4", "name").click(modifiers=["Shift"])
    await a.page.get_by_test_id("delete-rows").click()
    await expect(toast).to_contain_text("Deleted row 3 (id 3), row 4 (id 4).")
    await expect(b.cell("3", "name")).to_have_count(0)
    await a.page.screenshot(path=artifacts / "delete-toast.png")
    await toast.get_by_test_id("undo-delete").click()
    await expect(toast).to_have_count(0)
    for page in (a, b):
        await page.expect_text("3", "name", "item 3")
        await page.expect_text("4", "name", "item 4")


async def test_undo_of_a_deletion_the_table_holds_brings_the_row_back_with_its_id(
    server_factory, database_url, open_on, artifacts
):
    a, b = await open_people(server_factory, database_url, open_on)
    toast = a.page.get_by_test_id("delete-toast")
    await a.select("1", "name")
    await a.page.get_by_test_id("delete-rows").click()
    await expect(toast).to_contain_text("Deleted row 1 (id 1).")
    await eventually(lambda: "1" not in table_rows(database_url, "people"), what="row 1 deleted")
    await expect(b.cell("1", "name")).to_have_count(0)

    await toast.get_by_test_id("undo-delete").click()
    for page in (a, b):
        await page.expect_text("1", "name", "Grace")
        await page.expect_text("1", "id", "1")
    await eventually(lambda: "1" in table_rows(database_url, "people"), what="row 1 back")
    assert table_rows(database_url, "people") == {
        "1": {"id": 1, "name": "Grace", "age": 85, "note": None},
        "2": {"id": 2, "name": "Alan", "age": 41, "note": None},
    }
    await a.page.screenshot(path=artifacts / "undo-delete.png")
    for page in (a, b):
        await expect(page.page.get_by_test_id("refusal")).to_have_count(0)
        assert await page.value("1", "id") == 1
