"""Scenario 6, the browser: the sheet page in headless Chromium against a real `cellsync serve`.

For each sheet size, a fresh SQLite file and server, then:
  * cold: the first page, in a fresh browser context, while the server loads the sheet from its
    table; the seconds from navigation to the grid showing rows;
  * warm: the same with the sheet already loaded, `samples` times, each in a fresh context
    (nothing in IndexedDB) opened once the previous page has gone quiet (a page that has just
    rendered registers a service worker and caches itself for offline use);
  * reload: each warm context reloads its page (IndexedDB holds the sheet, the service worker
    is active): the returning user;
  * remote edits: another page writes `edits` cells, one transaction each; the time until the
    cold page's grid shows all of them, and how many times that grid reloaded its data
    (expected 0: remote edits are applied cell by cell).
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bench_lib import databases
from bench_lib.servers import ROOT, make_server
from bench_lib.table_scenarios import Run

# The browser tests' Chromium (executable and flags) lives next to them; the benchmark runs
# the very same browser.
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import chromium

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

SCENARIO = 6
SHEET = databases.TABLE
DEFAULT_SIZES, QUICK_SIZES = (10_000, 100_000), (10_000,)
DEFAULT_EDITS, QUICK_EDITS = 1000, 200
DEFAULT_SAMPLES, QUICK_SAMPLES = 5, 2
# The first sync of a 100,000-row sheet is ~13 MB, more than the server's default backlog
# (8 MiB): with it, the server drops the page as "too slow" before the page has read it.
SERVER_ENV = {"CELLSYNC_MAX_BACKLOG": str(64 * 1024 * 1024)}
VIEWPORT = {"width": 1400, "height": 900}
RENDER_TIMEOUT_MS = 180_000
QUIET_TIMEOUT_S = 60.0
QUIET_POLL_S = 0.05
EDITS_TIMEOUT_MS = 120_000

READY = '[data-testid="grid"][data-ready="true"] .tabulator-row[data-key]'

# Whether the page's background work after its first frame (page/offline.js) is done: its
# service worker active, its cache holding the page.
QUIET = """async () => {
  await navigator.serviceWorker.ready;
  const cache = await caches.open("cellsync-pages-v1");
  return (await cache.match(window.location.href)) !== undefined;
}"""

COUNT_RELOADS = """() => {
  window.benchReloads = 0;
  window.cellsync.grid.table.on("dataLoaded", () => (window.benchReloads += 1));
}"""

WRITE_EDITS = """(count) => {
  const sheet = window.cellsync.connection.sheet;
  const keys = sheet.keys();
  for (let i = 0; i < count; i += 1) sheet.setCell(keys[i % keys.length], "name", `edit ${i}`);
  return keys.slice(0, count);
}"""

ALL_SHOWN = """([keys]) => {
  const table = window.cellsync.grid.table;
  return keys.every((key, i) => table.getRow(key)?.getData().name === `edit ${i}`);
}"""


@dataclass(frozen=True)
class BrowserScenario:
    number: int
    sizes: tuple[int, ...]
    edits: int
    samples: int  # warm first renders (and reloads) per size
    kind: str = "browser"

    @property
    def title(self) -> str:
        sizes = " and ".join(f"{rows:,}" for rows in self.sizes)
        return (
            f"the browser: the sheet page of {sizes} rows in headless Chromium, first render "
            f"(cold, warm and reload x{self.samples}), {self.edits} remote edits shown"
        )


def plan(
    quick: bool, sizes: tuple[int, ...] | None, edits: int | None, samples: int | None
) -> dict[int, BrowserScenario]:
    """Scenario 6 with the command line's sizes, or the defaults of a full or --quick run."""
    return {
        SCENARIO: BrowserScenario(
            SCENARIO,
            sizes or (QUICK_SIZES if quick else DEFAULT_SIZES),
            edits or (QUICK_EDITS if quick else DEFAULT_EDITS),
            samples or (QUICK_SAMPLES if quick else DEFAULT_SAMPLES),
        )
    }


def unavailable() -> str | None:
    """None when Playwright and Chromium are installed; else why the scenario cannot run."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed in the virtualenv (.venv/bin/pip install playwright)"
    return chromium.missing()


def variants(scenario: BrowserScenario) -> list[tuple[str, Run]]:
    """(label, run) for every sheet size, in running order."""
    return [
        (f"{rows} rows", lambda work, env, r=rows: run(scenario, r, work, env))
        for rows in scenario.sizes
    ]


def create_table(url: str, rows: int) -> None:
    """`bench(id, name, qty, price, done, note)`: typed columns, which the grid formats as it
    would a user's table."""
    engine = sa.create_engine(url)
    table = sa.Table(
        databases.TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80)),
        sa.Column("qty", sa.Integer),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("done", sa.Boolean),
        sa.Column("note", sa.Text),
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"name": f"row {i}", "qty": i, "price": i / 4, "done": i % 2 == 0, "note": "n"}
                for i in range(1, rows + 1)
            ],
        )
    engine.dispose()


def run(scenario: BrowserScenario, rows: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """One size: a fresh SQLite file and server, one browser, every measure."""
    from playwright.async_api import Error as PlaywrightError

    with databases.fresh("sqlite", work, rows, create_table) as database:
        server = make_server("cellsync", database.url, SHEET, SHEET, work, {**SERVER_ENV, **env})
        try:
            server.start()
            url = f"http://127.0.0.1:{server.port}/sheets/{SHEET}"
            measured = asyncio.run(_measure(scenario, url))
        except PlaywrightError as exc:
            raise RuntimeError(f"{exc}\n{server.log_tail()}") from exc
        finally:
            server.stop()
    return {"scenario": SCENARIO, "rows": rows, **measured}


async def _measure(scenario: BrowserScenario, url: str) -> dict[str, Any]:
    """Every measure of one size in one browser, in an order where none overlaps another."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await chromium.launch(playwright)
        _, reader, cold = await _open(browser, url)
        samples = [await _warm_and_reload(browser, url) for _ in range(scenario.samples)]
        edits = await _remote_edits(browser, url, reader, scenario.edits)
        await browser.close()
    warm = [s["warm_s"] for s in samples]
    return {
        "cold_s": cold,
        "warm_median_s": statistics.median(warm),
        "warm_min_s": min(warm),
        "warm_max_s": max(warm),
        "reload_median_s": statistics.median(s["reload_s"] for s in samples),
        "samples": len(samples),
        "runs": samples,
        **edits,
    }


async def _render(page: Page, load: Callable[[], Awaitable[Any]]) -> float:
    """Seconds from starting `load` (a navigation or a reload) to the grid showing rows."""
    started = time.perf_counter()
    await load()
    await page.locator(READY).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    return time.perf_counter() - started


async def _open(browser: Browser, url: str) -> tuple[BrowserContext, Page, float]:
    """A page in a fresh context, its first render's seconds, returned once it has gone quiet
    (so that its background work overlaps no later measure)."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    seconds = await _render(page, lambda: page.goto(url))
    await _wait_quiet(page)
    return context, page, seconds


async def _wait_quiet(page: Page) -> None:
    """Until QUIET holds, or TimeoutError. Not page.wait_for_function: it takes the Promise
    that an async predicate returns for a truthy answer."""
    async with asyncio.timeout(QUIET_TIMEOUT_S):
        while not await page.evaluate(QUIET):
            await asyncio.sleep(QUIET_POLL_S)


async def _warm_and_reload(browser: Browser, url: str) -> dict[str, float]:
    """One fresh context: the first render with nothing stored, then a reload of that page;
    closing the context ends the reloaded page's background work."""
    context, page, warm = await _open(browser, url)
    reload = await _render(page, page.reload)
    await context.close()
    return {"warm_s": warm, "reload_s": reload}


async def _remote_edits(browser: Browser, url: str, reader: Page, edits: int) -> dict[str, Any]:
    """Another page writes `edits` cells; until the reader's grid shows them all."""
    _, writer, _ = await _open(browser, url)
    await reader.evaluate(COUNT_RELOADS)
    started = time.perf_counter()
    keys = await writer.evaluate(WRITE_EDITS, edits)
    await reader.wait_for_function(ALL_SHOWN, arg=[keys], timeout=EDITS_TIMEOUT_MS, polling=20)
    shown = time.perf_counter() - started
    return {
        "edits": edits,
        "edits_shown_s": shown,
        "grid_reloads": await reader.evaluate("() => window.benchReloads"),
    }
