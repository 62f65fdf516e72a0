"""The home page lists the sheets the tab's token covers, and none without one."""

from playwright.async_api import expect
from test_trust import SECRET, token


async def home(browser, server, fragment: str = ""):
    context = await browser.new_context()
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
