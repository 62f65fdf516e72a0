"""Dates and datetimes edited in the grid, in real Chromium: what the user types or picks is
what the table stores, shown as ISO; a datetime keeps its offset and precision through the
editor; a text that is no date is refused with its reason and never stored."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from playwright.async_api import expect
from sheetpage import SheetPage
from test_grid import table_shows
from test_trust_and_table import expect_refused
from test_worker import table_rows

from persistence.database import create_engine

EDITING = ".tabulator-cell.tabulator-editing"
PLUS_TWO = timezone(timedelta(hours=2))
AT = datetime(2025, 1, 31, 10, 20, 30, 123456, tzinfo=PLUS_TWO)
AT_TEXT = "2025-01-31T10:20:30.123456+02:00"
# SQLAlchemy's SQLite DATETIME stores no offset: the offset tests run on PostgreSQL.
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def dated(server_factory, database_url):
    """A server of the "dated" sheet; on PostgreSQL the database's time zone is Helsinki's,
    so that its sessions show timestamps with an offset of their own."""
    zone = "Europe/Helsinki" if database_url.startswith("postgresql") else None
    create_dated_table(database_url, zone=zone)
    return await server_factory({"dated": "dated"})


def create_dated_table(url: str, zone: str | None = None) -> None:
    """Table "dated": one row with a date and a timestamp with time zone; `zone` (PostgreSQL)
    is the database's time zone, in which its sessions show timestamps."""
    engine = create_engine(url)
    if zone is not None:
        with engine.begin() as connection:
            name = connection.execute(sa.text("SELECT current_database()")).scalar_one()
            connection.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone TO '{zone}'"))
    table = sa.Table(
        "dated",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(40)),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime(timezone=True)),
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(
            table.insert(), [{"id": 1, "label": "first", "day": date(2024, 12, 24), "at": AT}]
        )
    engine.dispose()


async def open_in_locale(
    browser, server, user: str, locale: str, grid: str = "tabulator"
) -> SheetPage:
    context = await browser.new_context(viewport={"width": 1200, "height": 700}, locale=locale)
    return await SheetPage.open(context, server.http, "dated", user, grid=grid)


async def edit_then_mark(page: SheetPage, database_url: str, mark: str) -> None:
    """Writes `mark` into row 1's label after the edits before it, and waits until the table
    holds it: every earlier edit of the page has reached the table too."""
    await page.type_into("1", "label", mark)
    await table_shows(database_url, {("1", "label"): mark}, table="dated")


async def test_an_iso_date_typed_is_stored_and_shown_as_typed(dated, database_url, open_on):
    a = await open_on(dated, "Ada", sheet="dated")
    b = await open_on(dated, "Bob", sheet="dated")
    await a.type_into("1", "day", "2025-01-31")
    await a.wait_value("1", "day", "2025-01-31")
    await a.expect_text("1", "day", "2025-01-31")
    await b.expect_text("1", "day", "2025-01-31")
    await table_shows(database_url, {("1", "day"): "2025-01-31"}, table="dated")


async def test_a_date_picked_in_the_native_picker_is_stored(dated, database_url, open_on):
    a = await open_on(dated, "Ada", sheet="dated")
    await a.cell("1", "day").dblclick()
    # The picker's own input: what Chromium's calendar sets when a day is clicked in it.
    await a.page.locator(f"{EDITING} input[type=date]").fill("2025-02-28")
    await a.wait_value("1", "day", "2025-02-28")
    await a.expect_text("1", "day", "2025-02-28")
    await table_shows(database_url, {("1", "day"): "2025-02-28"}, table="dated")


async def test_a_date_in_the_users_locale_is_stored_as_iso(dated, database_url, browser):
    british = await open_in_locale(browser, dated, "Ada", "en-GB")
    american = await open_in_locale(browser, dated, "Bob", "en-US")
    await british.type_into("1", "day", "31/01/2025")
    await british.expect_text("1", "day", "2025-01-31")
    await american.expect_text("1", "day", "2025-01-31")
    await american.type_into("1", "day", "2/28/2025")
    await british.expect_text("1", "day", "2025-02-28")
    await table_shows(database_url, {("1", "day"): "2025-02-28"}, table="dated")


async def test_an_invalid_date_is_refused_with_its_reason(dated, database_url, open_on):
    a = await open_on(dated, "Ada", sheet="dated")
    before = table_rows(database_url, "dated")["1"]
    await a.type_into("1", "day", "2025-02-30")
    await a.expect_kept("2025-02-30", "2025-02-30 is not a date")
    await a.press("Escape")
    await a.expect_text("1", "day", "2024-12-24")
    await a.paste("2025-02-30")
    await expect_refused(a, "1", "day", "2025-02-30 is not a date")
    await a.type_into("1", "at", "2025-01-31T25:00")
    await a.expect_kept("2025-01-31T25:00", "hour")
    await a.press("Escape")
    await edit_then_mark(a, database_url, "after the refusals")
    assert table_rows(database_url, "dated")["1"] == {**before, "label": "after the refusals"}
    assert await a.value("1", "day") == "2024-12-24"


@ON_POSTGRESQL
async def test_a_datetime_keeps_its_offset_and_microseconds_through_the_editor(
    dated, database_url, open_on
):
    a = await open_on(dated, "Ada", sheet="dated")
    await a.expect_text("1", "at", AT_TEXT)
    await a.cell("1", "at").dblclick()
    await expect(a.page.locator(f"{EDITING} input:focus")).to_have_value(AT_TEXT)
    await a.press("Enter")
    await edit_then_mark(a, database_url, "after Enter")
    assert await a.value("1", "at") == AT_TEXT
    assert datetime.fromisoformat(table_rows(database_url, "dated")["1"]["at"]) == AT

    # The hour typed over in the text: the offset and the microseconds stay.
    await a.cell("1", "at").dblclick()
    await a.press("Home")
    for _ in range(len("2025-01-31T")):
        await a.press("ArrowRight")
    await a.press("Shift+ArrowRight")
    await a.press("Shift+ArrowRight")
    await a.page.keyboard.type("11")
    await a.press("Enter")
    await a.wait_value("1", "at", "2025-01-31T11:20:30.123456+02:00")
    await edit_then_mark(a, database_url, "after the hour")
    assert datetime.fromisoformat(table_rows(database_url, "dated")["1"]["at"]) == AT.replace(
        hour=11
    )


@ON_POSTGRESQL
async def test_a_time_picked_keeps_the_offset(dated, database_url, open_on):
    a = await open_on(dated, "Ada", sheet="dated")
    await a.expect_text("1", "at", AT_TEXT)
    await a.cell("1", "at").dblclick()
    picker = a.page.locator(f"{EDITING} input[type=datetime-local]")
    await expect(picker).to_have_value("2025-01-31T10:20:30.123")
    await picker.fill("2025-01-31T12:20:30.123")
    await a.wait_value("1", "at", "2025-01-31T12:20:30.123456+02:00")
    await edit_then_mark(a, database_url, "after the pick")
    assert datetime.fromisoformat(table_rows(database_url, "dated")["1"]["at"]) == AT.replace(
        hour=12
    )


@ON_POSTGRESQL
async def test_handsontable_takes_a_datetime_with_an_offset_and_a_locale_date(
    dated, database_url, browser
):
    """The Handsontable binding reads cells with the same functions (values.js)."""
    a = await open_in_locale(browser, dated, "Ada", "en-GB", grid="handsontable")
    await a.expect_text("1", "at", AT_TEXT)
    await a.type_into("1", "at", "2025-01-31T11:20:30.123456+02:00")
    await a.wait_value("1", "at", "2025-01-31T11:20:30.123456+02:00")
    await a.type_into("1", "day", "31/01/2025")
    await a.wait_value("1", "day", "2025-01-31")
    await a.expect_text("1", "day", "2025-01-31")
    await table_shows(database_url, {("1", "day"): "2025-01-31"}, table="dated")
    assert datetime.fromisoformat(table_rows(database_url, "dated")["1"]["at"]) == AT.replace(
        hour=11
    )
