"""A sheet page in a browser context, as a test drives it: cells found by row key and column
through the data attributes the grids carry, values read from the page's own document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

HANDSONTABLE_EVALUATION_KEY = "non-commercial-and-evaluation"  # tests only: see issue 4
TIMEOUT_MS = 10_000

# For a test of the page alone, which no database under the server changes: it runs on SQLite only,
# where other tests run on both databases (the browser tests are the slowest part of the suite).
PAGE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CELL_SELECTORS = {
    "tabulator": '.tabulator-row[data-key="{key}"] .tabulator-cell[tabulator-field="{column}"]',
    "handsontable": 'td[data-key="{key}"][data-column="{column}"]',
}

PASTE = """(text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  document.activeElement.dispatchEvent(new ClipboardEvent("paste", init));
}"""

COPY = """() => {
  const data = new DataTransfer();
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  document.activeElement.dispatchEvent(new ClipboardEvent("copy", init));
  return data.getData("text/plain");
}"""


class SheetPage:
    def __init__(self, context: BrowserContext, page: Page, url: str, grid: str) -> None:
        self.context = context
        self.page = page
        self.url = url
        self.grid = grid

    @classmethod
    async def open(
        cls,
        context: BrowserContext,
        base: str,
        sheet: str,
        user: str,
        grid: str = "tabulator",
        token: str | None = None,
        wait: bool = True,
    ) -> SheetPage:
        """Opens the sheet's page (with `token` in the URL fragment, as a host application
        links to it); `wait`: until the grid shows and the connection is up."""
        # The user's name as if picked earlier in this browser (a name picked later wins).
        await context.add_init_script(
            "if (localStorage.getItem('cellsync:user-name') === null)"
            f" localStorage.setItem('cellsync:user-name', {json.dumps(user)})"
        )
        url = f"{base}/sheets/{sheet}"
        if grid == "handsontable":
            url += f"?grid=handsontable&license={HANDSONTABLE_EVALUATION_KEY}"
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        sheet_page = cls(context, page, url, grid)
        await page.goto(url + (f"#token={token}" if token else ""))
        if wait:
            await sheet_page.wait_ready()
            await sheet_page.wait_state("connected")
        return sheet_page

    async def wait_ready(self) -> None:
        await self.page.locator('[data-testid="grid"][data-ready="true"]').wait_for()

    async def reload(self) -> None:
        await self.page.reload()
        await self.wait_ready()

    async def close(self) -> None:
        await self.context.close()

    def cell(self, key: str, column: str) -> Locator:
        return self.page.locator(CELL_SELECTORS[self.grid].format(key=key, column=column))

    @property
    def status(self) -> Locator:
        return self.page.get_by_test_id("connection-status")

    async def wait_state(self, state: str) -> None:
        await expect(self.status).to_have_attribute("data-state", state, timeout=TIMEOUT_MS)

    async def expect_text(self, key: str, column: str, text: str) -> None:
        await expect(self.cell(key, column)).to_have_text(text, timeout=TIMEOUT_MS)

    async def select(self, key: str, column: str) -> None:
        await self.cell(key, column).click()

    async def type_into(self, key: str, column: str, text: str) -> None:
        """Selects the cell, types as a user does (no double click), commits with Enter."""
        await self.select(key, column)
        await self.page.keyboard.type(text)
        await self.page.keyboard.press("Enter")

    @property
    def editor(self) -> Locator:
        """The text field of the cell editor that is open."""
        return self.page.locator(".tabulator-editing input[type=text]")

    async def expect_kept(self, text: str, reason: str) -> None:
        """The editor stays open with `text` as typed, and says why under it."""
        await expect(self.editor).to_have_value(text, timeout=TIMEOUT_MS)
        await expect(self.page.get_by_test_id("editor-message")).to_contain_text(reason)

    async def paste(self, text: str) -> None:
        """Pastes tab-separated text at the selection, as Ctrl+V would."""
        await self.page.evaluate(PASTE, text)

    async def copy(self) -> str:
        """What Ctrl+C would put on the clipboard for the selection."""
        return await self.page.evaluate(COPY)

    async def press(self, keys: str) -> None:
        await self.page.keyboard.press(keys)

    async def value(self, key: str, column: str) -> Any:
        """The cell's value in this page's document."""
        return await self.page.evaluate(
            "([key, column]) => window.cellsync.connection.sheet.row(key)?.[column]",
            [key, column],
        )

    async def wait_value(self, key: str, column: str, expected: Any) -> None:
        await self.page.wait_for_function(
            "([key, column, expected]) =>"
            " window.cellsync.connection.sheet.row(key)?.[column] === expected",
            arg=[key, column, expected],
            timeout=TIMEOUT_MS,
        )

    async def keys(self) -> list[str]:
        return await self.page.evaluate("() => window.cellsync.connection.sheet.keys()")

    async def grid_keys(self) -> list[str]:
        """Row keys of the rows the grid has rendered, top to bottom."""
        selector = ".tabulator-row[data-key]" if self.grid == "tabulator" else "td[data-key]"
        keys = await self.page.locator(selector).evaluate_all(
            "(nodes) => nodes.map((node) => node.dataset.key)"
        )
        return list(dict.fromkeys(keys))

    async def set_offline(self, offline: bool) -> None:
        await self.context.set_offline(offline)
