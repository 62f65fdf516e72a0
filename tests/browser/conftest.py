"""Real-browser fixtures: Debian's Chromium driven by Playwright, one browser per test, and
sheet pages opened in separate browser contexts (separate storage, like two people)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import chromium
import pytest
from playwright.async_api import Browser, async_playwright
from sheetpage import SheetPage

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if (why := chromium.missing()) is not None:
        pytest.fail(why)
    async with async_playwright() as playwright:
        browser = await chromium.launch(playwright)
        yield browser
        await browser.close()


@pytest.fixture
def open_on(browser: Browser) -> Callable[..., Awaitable[SheetPage]]:
    """Opens a sheet of a given server in a new browser context, as a new user
    (`open_on(server, user, sheet=..., grid=..., token=..., wait=...)`, see SheetPage.open)."""

    async def open_(server, user: str, sheet: str = "items", **options) -> SheetPage:
        context = await browser.new_context(viewport={"width": 1200, "height": 700})
        return await SheetPage.open(context, server.http, sheet, user, **options)

    return open_


@pytest.fixture
def open_sheet(open_on, server) -> Callable[..., Awaitable[SheetPage]]:
    """Opens a sheet of the `server` fixture in a new browser context, as a new user."""

    async def open_(user: str, sheet: str = "items", grid: str = "tabulator") -> SheetPage:
        return await open_on(server, user, sheet, grid=grid)

    return open_


@pytest.fixture
def artifacts() -> Path:
    """Where tests leave files for people to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
