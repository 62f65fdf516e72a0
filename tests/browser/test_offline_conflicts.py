"""After reconnecting, the offline edits that lost a same-cell race to another user's edit are
reported, and "Use mine" writes the user's value again."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage

pytestmark = PAGE_ONLY

CLIENT_ID = "() => window.cellsync.connection.sheet.doc.clientID"


async def by_race(ada: SheetPage, bob: SheetPage) -> tuple[SheetPage, SheetPage, str]:
    """(loser, winner, the winner's name): Yjs keeps the concurrent write of the client with
    the higher id, so the tab with the lower one loses every same-cell race."""
    if await ada.page.evaluate(CLIENT_ID) < await bob.page.evaluate(CLIENT_ID):
        return ada, bob, "Bob"
    return bob, ada, "Ada"


async def lose_offline(a: SheetPage, b: SheetPage) -> None:
    """A sets qty of row 3 to 77 and name of row 4 offline; B sets qty of row 3 to 88."""
    await a.set_offline(True)
    await a.wait_state("offline")
    await a.type_into("3", "qty", "77")
    await a.type_into("4", "name", "not raced")
    await b.type_into("3", "qty", "88")
    await b.wait_value("3", "qty", 88)
    await a.set_offline(False)
    await a.wait_state("connected")


async def test_an_offline_edit_that_lost_is_reported_and_can_be_applied_again(
    open_sheet, artifacts
):
    a, b, winner = await by_race(await open_sheet("Ada"), await open_sheet("Bob"))
    await lose_offline(a, b)
    report = a.page.get_by_test_id("conflict-report")
    await expect(report).to_be_visible()
    conflict = report.get_by_test_id("conflict")
    await expect(conflict).to_have_count(1)
    await expect(conflict).to_contain_text("qty, row 3 (id 3)")
    await expect(conflict.get_by_test_id("conflict-mine")).to_have_text("77")
    await expect(conflict.get_by_test_id("conflict-won")).to_have_text("88")
    await expect(conflict).to_contain_text(f"by {winner}")
    await a.page.screenshot(path=artifacts / "offline-conflict-report.png")
    await a.expect_text("3", "qty", "88")

    await conflict.get_by_test_id("use-mine").click()
    await expect(report).to_be_hidden()
    for page in (a, b):
        await page.expect_text("3", "qty", "77")
        await page.expect_text("4", "name", "not raced")
    assert await b.value("3", "qty") == 77


async def test_the_report_fits_a_phone(open_sheet, artifacts):
    a, b, _ = await by_race(await open_sheet("Ada"), await open_sheet("Bob"))
    await lose_offline(a, b)
    await a.page.set_viewport_size({"width": 390, "height": 844})
    report = a.page.get_by_test_id("conflict-report")
    await expect(report.get_by_test_id("conflict")).to_have_count(1)
    box = await report.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    await a.page.screenshot(path=artifacts / "offline-conflict-report-390.png")
    await report.get_by_test_id("conflicts-dismiss").click()
    await expect(report).to_be_hidden()
    await a.expect_text("3", "qty", "88")


async def test_no_report_when_no_offline_edit_lost(open_sheet):
    a = await open_sheet("Ada")
    b = await open_sheet("Bob")
    await a.set_offline(True)
    await a.wait_state("offline")
    await a.type_into("5", "qty", "55")
    await b.type_into("6", "qty", "66")
    await a.set_offline(False)
    await a.wait_state("connected")
    await a.expect_text("6", "qty", "66")
    await b.expect_text("5", "qty", "55")
    await expect(a.page.get_by_test_id("conflict-report")).to_be_hidden()
