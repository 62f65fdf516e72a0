"""The sheet page against the real table and the server's rules, in real Chromium: edits land
in the table, refused values are shown as refused while the grid keeps the valid value, and
access tokens decide who may open, read and write a sheet."""

from __future__ import annotations

import fnmatch

import pytest
from playwright.async_api import expect
from sheetpage import PAGE_ONLY, TIMEOUT_MS, SheetPage
from test_worker import execute, table_rows
from waiting import eventually

from persistence.tokens import mint

SECRET = "browser-test-secret-of-at-least-32-bytes"
HOUR = 3600

OUTLINED = (  # another user's range, drawn as inset shadows in their colour
    "([selector]) => { const cell = document.querySelector(selector);"
    " return !!cell && getComputedStyle(cell).boxShadow.includes('inset'); }"
)
REFUSED_MARK = (
    "([selector]) => { const cell = document.querySelector(selector);"
    " return !!cell && getComputedStyle(cell).boxShadow.includes('inset'); }"
)


def cell_selector(key: str, column: str) -> str:
    return f'.tabulator-row[data-key="{key}"] .tabulator-cell[tabulator-field="{column}"]'


async def table_has(url: str, table: str, key: str, column: str, value) -> bool:
    return table_rows(url, table).get(key, {}).get(column) == value


async def expect_refused(page: SheetPage, key: str, column: str, reason: str) -> None:
    """The cell is marked, its reason shows on hover, and the list beside the grid has it."""
    await page.page.wait_for_function(REFUSED_MARK, arg=[cell_selector(key, column)])
    await page.cell(key, column).hover()
    await page.page.wait_for_function(
        "([selector, reason]) => getComputedStyle(document.querySelector(selector), '::after')"
        ".content.includes(reason)",
        arg=[cell_selector(key, column), reason],
    )
    # rows are named by position and key value: "qty, row 3 (id 3): ..."
    refusal = page.page.get_by_test_id("refusal").filter(has_text=f"{column}, row {key} (")
    await expect(refusal).to_contain_text(reason)


async def test_edits_and_new_rows_land_in_the_table(server_factory, database_url, open_on):
    server = await server_factory()
    page = await open_on(server, "Ada")
    await page.type_into("1", "name", "from the browser")
    await page.type_into("2", "qty", "42")
    await page.select("3", "done")
    await page.paste("true")

    await page.page.get_by_test_id("add-row").click()
    await page.page.wait_for_function("() => window.cellsync.connection.sheet.keys().length === 11")
    new_key = (await page.keys())[-1]
    await page.type_into(new_key, "name", "brand new")
    await page.type_into(new_key, "price", "9.99")

    # The database gives the row its primary key; the grid shows it in the row's id cell.
    await page.expect_text(new_key, "id", "11")
    assert await page.value(new_key, "id") == 11
    await eventually(lambda: table_has(database_url, "items", "11", "name", "brand new"))
    await eventually(lambda: table_has(database_url, "items", "1", "name", "from the browser"))
    await eventually(lambda: str(table_rows(database_url, "items")["11"]["price"]) == "9.99")
    rows = table_rows(database_url, "items")
    assert rows["2"]["qty"] == 42
    assert rows["3"]["done"] is True

    await page.select(new_key, "name")
    await page.page.get_by_test_id("delete-rows").click()
    await eventually(lambda: "11" not in table_rows(database_url, "items"), what="row 11 deleted")


async def test_refused_values_show_why_and_the_grid_keeps_the_valid_value(
    server_factory, database_url, open_on
):
    execute(
        database_url,
        "CREATE TABLE gadgets (id {serial} PRIMARY KEY, name VARCHAR(40),"
        " qty INTEGER CHECK (qty >= 0))",
        "INSERT INTO gadgets (name, qty) VALUES ('bolt', 5)",
    )
    server = await server_factory(sheets={"gadgets": "gadgets"})
    a = await open_on(server, "Ada")
    b = await open_on(server, "Bob")

    # Values the column cannot take stay in the editor with the reason, and are never sent;
    # pasted, they are refused and listed.
    await a.type_into("2", "name", "x" * 81)
    await a.expect_kept("x" * 81, "at most 80 characters")
    await a.press("Escape")
    await a.expect_text("2", "name", "item 2")
    await a.paste("x" * 81)
    await expect_refused(a, "2", "name", "at most 80 characters")
    await a.type_into("3", "qty", "lots")
    await a.expect_kept("lots", "expected a whole number")
    await a.press("Escape")
    await a.paste("lots")
    await a.expect_text("3", "qty", "3")
    await expect_refused(a, "3", "qty", "expected a whole number")
    assert await a.value("3", "qty") == 3
    # A valid value clears the cell's refusal.
    await a.type_into("3", "qty", "33")
    await b.expect_text("3", "qty", "33")
    await expect(a.page.get_by_test_id("refusal").filter(has_text="qty, row 3 (")).to_have_count(0)

    # A client that writes an invalid value anyway: the server puts the valid one back, for
    # every user, and says why.
    await a.page.evaluate("() => window.cellsync.connection.sheet.rows.get('4').set('qty', 'many')")
    await a.expect_text("4", "qty", "4")
    await expect_refused(a, "4", "qty", "expected a number, got str")
    await b.expect_text("4", "qty", "4")
    assert await b.value("4", "qty") == 4

    # The database refuses what its CHECK constraint forbids: the cell shows the table's value.
    gadgets = await open_on(server, "Ada", "gadgets")
    await gadgets.type_into("1", "qty", "-5")
    await gadgets.page.wait_for_function(REFUSED_MARK, arg=[cell_selector("1", "qty")])
    await gadgets.expect_text("1", "qty", "5")
    await expect(gadgets.page.get_by_test_id("refusal")).to_contain_text("qty, row 1 (")
    assert table_rows(database_url, "gadgets")["1"]["qty"] == 5
    await eventually(lambda: table_has(database_url, "items", "3", "qty", 33))
    assert table_rows(database_url, "items")["4"]["qty"] == 4


@pytest.fixture
async def secured(server_factory):
    return await server_factory(CELLSYNC_SECRET=SECRET)


def token(name: str, sheets: dict[str, str], ttl: float = HOUR) -> str:
    return mint(SECRET, name.lower().replace(" ", "-"), name, sheets, ttl)


async def test_write_and_read_only_tokens(secured, database_url, open_on, artifacts):
    writer = await open_on(secured, "ignored", token=token("Wendy Writer", {"items": "write"}))
    reader = await open_on(secured, "ignored", token=token("Rita Réader", {"it[e]m*": "read"}))

    # The token leaves the address bar at once; the name comes from it, not from a picker.
    assert "token" not in writer.page.url
    await expect(writer.page.get_by_test_id("user-name")).to_have_text("Wendy Writer")
    await expect(reader.page.get_by_test_id("user-name")).to_have_text("Rita Réader")
    await expect(writer.page.get_by_test_id("read-only")).to_have_count(0)
    await expect(reader.page.get_by_test_id("read-only")).to_be_visible()
    await expect(reader.page.get_by_test_id("add-row")).to_have_count(0)
    await expect(reader.page.get_by_test_id("delete-rows")).to_have_count(0)

    # The writer edits; the reader sees it live.
    await writer.type_into("1", "name", "by Wendy")
    await reader.expect_text("1", "name", "by Wendy")
    await eventually(lambda: table_has(database_url, "items", "1", "name", "by Wendy"))

    # The reader's grid refuses typing, Delete and paste.
    await reader.type_into("2", "name", "by Rita")
    await reader.select("2", "qty")
    await reader.press("Delete")
    await reader.paste("99")
    await expect(reader.page.locator(".tabulator-editing")).to_have_count(0)
    for page in (reader, writer):
        await page.expect_text("2", "name", "item 2")
        await page.expect_text("2", "qty", "2")
    assert await reader.value("2", "qty") == 2

    # The reader's presence shows to the writer, under the token's name.
    await reader.select("5", "qty")
    await writer.page.wait_for_function(OUTLINED, arg=[cell_selector("5", "qty")])
    await expect(writer.page.get_by_test_id("people")).to_contain_text("Rita Réader")
    await expect(reader.page.get_by_test_id("people")).to_contain_text("Wendy Writer")
    await reader.page.screenshot(path=artifacts / "grid-read-only.png")

    # A reload of the tab keeps the token (sessionStorage): still connected, still read-only.
    await reader.reload()
    await reader.wait_state("connected")
    await expect(reader.page.get_by_test_id("read-only")).to_be_visible()
    await writer.type_into("6", "name", "after the reload")
    await reader.expect_text("6", "name", "after the reload")
    assert table_rows(database_url, "items")["2"]["name"] == "item 2"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (None, "You are not signed in to this sheet"),
        ("expired", "token expired"),
        ("bad signature", "invalid token"),
        ("other sheet", "You do not have access to this sheet"),
    ],
)
@PAGE_ONLY
async def test_a_refused_connection_says_why_and_stops(secured, open_on, artifacts, given, message):
    tokens = {
        None: None,
        "expired": token("Late Larry", {"*": "write"}, ttl=-60),
        "bad signature": mint(SECRET[::-1], "mallory", "Mallory", {"*": "write"}, HOUR),
        "other sheet": token("Olga Other", {"orders": "write"}),
    }
    page = await open_on(secured, "Nobody", token=tokens[given], wait=False)
    alert = page.page.get_by_test_id("access-refused")
    await expect(alert).to_be_visible(timeout=TIMEOUT_MS)
    await expect(alert).to_contain_text(message)
    await page.wait_state("refused")
    assert not await page.page.evaluate("() => window.cellsync.connection.provider.shouldConnect")
    await expect(page.page.locator(".tabulator-row")).to_have_count(0)
    if given == "expired":
        await page.page.screenshot(path=artifacts / "page-refused.png")


@PAGE_ONLY
async def test_handsontable_is_read_only_for_a_reader(secured, open_on):
    writer = await open_on(secured, "ignored", token=token("Wendy Writer", {"*": "write"}))
    reader = await open_on(
        secured, "ignored", grid="handsontable", token=token("Rita Reader", {"*": "read"})
    )
    await expect(reader.page.get_by_test_id("read-only")).to_be_visible()
    await reader.type_into("2", "name", "by Rita")
    await reader.select("3", "name")
    await reader.paste("pasted")
    await writer.type_into("4", "name", "by Wendy")
    await reader.expect_text("4", "name", "by Wendy")
    for page in (reader, writer):
        await page.expect_text("2", "name", "item 2")
        await page.expect_text("3", "name", "item 3")


@PAGE_ONLY
async def test_token_rights_match_the_servers_patterns(server, open_on):
    """The page's reading of a token's sheet patterns agrees with Python's fnmatch."""
    page = await open_on(server, "Ada")
    names = ["items", "Items", "item", "items2", "a[b]c", "a]b", "x.y", "x-y", "über", "!x", ""]
    patterns = ["*", "items", "item?", "i*s", "[iI]tems", "[!i]tems", "a[[]b]c", "a[]]b", "[",
                "x.y", "x?y", "[a-c]*", "[^a]*", "?ber", "[!!]x", "*[0-9]"]  # fmt: skip
    cases = [[name, pattern] for name in names for pattern in patterns]
    found = await page.page.evaluate(
        "async (cases) => { const { fnmatch } = await import('/static/cellsync.js');"
        " return cases.map(([name, pattern]) => fnmatch(name, pattern)); }",
        cases,
    )
    assert found == [fnmatch.fnmatchcase(name, pattern) for name, pattern in cases]

    minted = token("Zoë Z", {"it*": "read", "items": "write", "orders": "read"})
    access = await page.page.evaluate(
        "async ([token, sheets]) => { const { tokenAccess } = await import('/static/cellsync.js');"
        " return sheets.map((sheet) => tokenAccess(token, sheet)); }",
        [minted, ["items", "itemz", "orders", "people"]],
    )
    assert [a["right"] for a in access] == ["write", "read", "read", None]
    assert access[0]["user"] == {"id": "zoë-z", "name": "Zoë Z"}
