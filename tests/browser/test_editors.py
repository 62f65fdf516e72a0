"""The grid's editors follow the column types of the user's table, in real Chromium on each
database: a date picker for dates, a list for choices, text inputs for numbers and text, and no
editor at all for the primary key or a computed column (booleans: test_typed_editors.py)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.async_api import expect
from test_grid import table_shows
from test_trust_and_table import expect_refused

from persistence.database import create_engine

EDITOR = ".tabulator-cell.tabulator-editing input"
READ_ONLY = re.compile(r"\bcellsync-readonly\b")


def create_typed_table(url: str) -> None:
    engine = create_engine(url)
    table = sa.Table(
        "typed",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(40)),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("active", sa.Boolean),
        sa.Column("due", sa.Date),
        sa.Column("status", sa.String(10), sa.CheckConstraint("status IN ('new', 'done')")),
        sa.Column("double", sa.Numeric(12, 2), sa.Computed("amount * 2", persisted=True)),
        sa.Column("big", sa.BigInteger),
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [{"id": 1, "label": "first", "amount": 2, "active": False, "status": "new"}],
        )
    engine.dispose()


async def test_editors_follow_the_column_types(server_factory, database_url, open_on):
    create_typed_table(database_url)
    server = await server_factory({"typed": "typed"})
    page = await open_on(server, "Ada", sheet="typed")

    async def open_editor(column: str) -> None:
        await page.cell("1", column).dblclick()

    for column, kind in (("label", "text"), ("amount", "text")):
        await open_editor(column)
        await expect(page.page.locator(EDITOR)).to_have_attribute("type", kind)
        await page.press("Escape")
    await open_editor("amount")
    await expect(page.page.locator(EDITOR)).to_have_attribute("inputmode", "decimal")
    await page.press("Escape")

    await open_editor("due")  # ISO text, and the browser's date picker beside it
    await expect(page.page.locator(f"{EDITOR}[type=date]")).to_have_count(1)
    await page.page.locator(f"{EDITOR}[type=text]").fill("2025-03-01")
    await page.press("Enter")

    await open_editor("status")
    choices = page.page.locator(".cellsync-choices [role=option]")
    await expect(choices).to_have_text(["(empty)", "new", "done"])  # the column is nullable
    await choices.filter(has_text="done").click()

    for column in ("id", "double"):
        await expect(page.cell("1", column)).to_have_class(READ_ONLY)
        await open_editor(column)
        await expect(page.page.locator(EDITOR)).to_have_count(0)

    await page.wait_value("1", "due", "2025-03-01")
    await page.wait_value("1", "status", "done")
    await table_shows(
        database_url, {("1", "due"): "2025-03-01", ("1", "status"): "done"}, table="typed"
    )


async def test_integers_past_2_53_keep_every_digit(server_factory, database_url, open_on):
    """JavaScript Numbers round past 2^53; a 64-bit column's value typed or pasted in the grid
    reaches the other users and the table exactly, and one past 64 bits is refused."""
    create_typed_table(database_url)
    server = await server_factory({"typed": "typed"})
    a = await open_on(server, "Ada", sheet="typed")
    b = await open_on(server, "Bob", sheet="typed")
    await a.type_into("1", "big", "9007199254740993")
    await b.expect_text("1", "big", "9007199254740993")
    await table_shows(database_url, {("1", "big"): 9007199254740993}, table="typed")

    await a.select("1", "big")
    await a.paste("-9223372036854775807")
    await b.expect_text("1", "big", "-9223372036854775807")
    await table_shows(database_url, {("1", "big"): -9223372036854775807}, table="typed")

    await a.type_into("1", "big", "9223372036854775808")
    await a.expect_kept("9223372036854775808", "out of range")
    await a.press("Escape")
    await a.paste("9223372036854775808")
    await expect_refused(a, "1", "big", "out of range")
    await a.expect_text("1", "big", "-9223372036854775807")
