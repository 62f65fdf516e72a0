"""The home page lists the sheets the tab's token covers, and none without one: each with its
table, rows, who is on it now and its state."""

from playwright.async_api import expect
from sheetpage import PAGE_ONLY
from test_trust import SECRET, token

pytestmark = PAGE_ONLY


async def home(browser, server, fragment: str = "", viewport: dict | None = None):
    context = await browser.new_context(viewport=viewport or {"width": 1200, "height": 700})
    page = await context.new_page()
    await page.goto(f"{server.http}/{fragment}")
    return page


async def test_an_open_server_lists_every_sheet(browser, server_factory):
    server = await server_factory(sheets={"orders": "items"})
    page = await home(browser, server)
    await expect(page.get_by_test_id("sheets").get_by_role("link")).to_have_text(
        ["items", "orders"]
    )
    await page.get_by_role("link", name="orders").click()
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "connected"
    )


async def test_with_a_secret_only_the_sheets_the_token_covers_are_listed(browser, server_factory):
    server = await server_factory(sheets={"payroll": "items"}, CELLSYNC_SECRET=SECRET)
    anonymous = await home(browser, server)
    await expect(anonymous.get_by_test_id("sheets-message")).to_contain_text("access token")
    assert await anonymous.get_by_test_id("sheets").get_by_role("link").count() == 0

    reader = await home(browser, server, f"#token={token({'items': 'read'})}")
    await expect(reader.get_by_test_id("sheets").get_by_role("link")).to_have_text(["items"])
    await reader.get_by_role("link", name="items").click()  # the tab keeps its token
    await expect(reader.get_by_test_id("read-only")).to_be_visible()


async def test_each_sheet_shows_its_table_rows_people_and_state(
    browser, server_factory, open_on, artifacts
):
    server = await server_factory(sheets={"orders": "items"})
    await open_on(server, "Ada")
    await open_on(server, "Bob")
    page = await home(browser, server)
    items = page.locator("[data-testid=sheet-row][data-sheet=items]")
    await expect(items.get_by_test_id("sheet-people")).to_have_text("AdaBob")
    await expect(items.get_by_test_id("sheet-rows")).to_have_text("10")
    await expect(items.get_by_test_id("sheet-status")).to_have_text("Up to date")
    orders = page.locator("[data-testid=sheet-row][data-sheet=orders]")
    await expect(orders.get_by_test_id("sheet-people")).to_have_text("No one")
    await expect(orders.get_by_test_id("sheet-rows")).to_have_text("10")
    await expect(orders.get_by_test_id("sheet-status")).to_have_text("Closed")
    font = await page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "serif" not in font.replace("sans-serif", "")
    await page.screenshot(path=artifacts / "home-desktop.png")
    phone = await home(browser, server, viewport={"width": 390, "height": 844})
    await expect(phone.get_by_test_id("sheet-row")).to_have_count(2)
    await phone.screenshot(path=artifacts / "home-390x844.png")
