"""Scenario 6, the browser: the sheet page in headless Chromium against a real `cellsync serve`.

For each sheet size, a fresh SQLite file and server, then:
  * cold: the first page, in a fresh browser context, while the server opens the sheet for the
    first time ever (it builds the document from the table); the seconds from navigation to the
    grid showing rows;
  * warm: the same with the sheet already loaded, `samples` times, each in a fresh context
    (nothing in IndexedDB) opened once the previous page has gone quiet (a page that has just
    rendered registers a service worker and caches itself for offline use);
  * reload: each warm context reloads its page (IndexedDB holds the sheet, the service worker
    is active): the returning user;
  * scroll: a warm, quiet page flings through the sheet (`scroll_steps` mouse-wheel steps of a
    screenful, then jumps to 25, 50, 75 and 100% of its height) while requestAnimationFrame
    timestamps record its frames (headless Chromium draws at ~16.7 ms when idle, which the
    measure records too); the time until the last row is drawn, and whether only the last rows
    are;
  * remote edits: another page writes `edits` cells, one transaction each; the time until the
    cold page's grid shows all of them, and how many times that grid reloaded its data
    (expected 0: remote edits are applied cell by cell);
  * restart: the server is restarted and a fresh context opens the page, while the server
    loads the sheet from its update log: how every later open of an unloaded sheet goes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from bench_lib import databases
from bench_lib.scenarios import percentile
from bench_lib.servers import ROOT, Server, make_server
from bench_lib.table_report import LONG_FRAME_MS, TAIL_ROWS
from bench_lib.table_scenarios import Run

# The browser tests' Chromium (executable and flags) lives next to them; the benchmark runs
# the very same browser.
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import chromium

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

T = TypeVar("T")

SCENARIO = 6
SHEET = databases.TABLE
DEFAULT_SIZES, QUICK_SIZES = (10_000, 100_000), (10_000,)
DEFAULT_EDITS, QUICK_EDITS = 1000, 200
DEFAULT_SAMPLES, QUICK_SAMPLES = 5, 2
DEFAULT_SCROLL_STEPS, QUICK_SCROLL_STEPS = 60, 20
SCROLL_JUMPS = (0.25, 0.5, 0.75, 1.0)  # of the grid's scrollHeight, after the wheel steps
IDLE_FRAMES = 30  # frames recorded before the scroll: the page's frame interval at rest
# The first sync of a 100,000-row sheet is ~13 MB, more than the server's default backlog
# (8 MiB): with it, the server drops the page as "too slow" before the page has read it.
SERVER_ENV = {"CELLSYNC_MAX_BACKLOG": str(64 * 1024 * 1024)}
VIEWPORT = {"width": 1400, "height": 900}
RENDER_TIMEOUT_MS = 180_000
QUIET_TIMEOUT_S = 60.0
QUIET_POLL_S = 0.05
EDITS_TIMEOUT_MS = 120_000
SCROLL_TIMEOUT_MS = 30_000

READY = '[data-testid="grid"][data-ready="true"] .tabulator-row[data-key]'
# The grid holds every row of the sheet (it is first built with the first rows only).
EVERY_ROW = """() => {
  const { grid, connection } = window.cellsync;
  return grid.table.getDataCount() === connection.sheet.keys().length;
}"""
EVERY_ROW_POLL_MS = 20
HOLDER = ".tabulator-tableholder"  # the grid's scrolling element

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


# requestAnimationFrame timestamps into window.benchFrames, until FRAMES_STOP takes them.
FRAMES_START = """() => {
  const stamps = (window.benchFrames = []);
  const tick = (time) => {
    if (window.benchFrames !== stamps) return;
    stamps.push(time);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

FRAMES_STOP = """() => {
  const stamps = window.benchFrames;
  window.benchFrames = null;
  return stamps;
}"""

FRAMES_SEEN = "(count) => window.benchFrames.length >= count"

# Sets the grid's scrollTop to a fraction of its height (the browser clamps it to the end),
# notes when, and returns after the next frame.
JUMP = f"""(fraction) => new Promise((resolve) => {{
  const holder = document.querySelector("{HOLDER}");
  holder.scrollTop = fraction * holder.scrollHeight;
  window.benchJumped = performance.now();
  requestAnimationFrame(() => resolve());
}})"""

LAST_KEY = "() => window.cellsync.connection.sheet.keys().at(-1)"

# Once the row of `key` is in the DOM: the milliseconds since the last JUMP (an object, since
# 0 would read as "not yet").
DRAWN = """(key) => document.querySelector(`.tabulator-row[data-key="${CSS.escape(key)}"]`) &&
  { ms: performance.now() - window.benchJumped }"""

AT_END = """(tail) => {
  const last = new Set(window.cellsync.connection.sheet.keys().slice(-tail));
  const drawn = [...document.querySelectorAll(".tabulator-row[data-key]")];
  return { rows: drawn.length, atEnd: drawn.every((row) => last.has(row.dataset.key)) };
}"""


@dataclass(frozen=True)
class BrowserScenario:
    number: int
    sizes: tuple[int, ...]
    edits: int
    samples: int  # warm first renders (and reloads) per size
    scroll_steps: int  # mouse-wheel steps of a screenful
    kind: str = "browser"

    @property
    def title(self) -> str:
        sizes = " and ".join(f"{rows:,}" for rows in self.sizes)
        return (
            f"the browser: the sheet page of {sizes} rows in headless Chromium, first render "
            f"(cold, warm and reload x{self.samples}, after a restart), a scroll of "
            f"{self.scroll_steps} screens and {len(SCROLL_JUMPS)} jumps, {self.edits} remote "
            "edits shown"
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
            QUICK_SCROLL_STEPS if quick else DEFAULT_SCROLL_STEPS,
        )
    }


def unavailable() -> str | None:
    """None when Playwright and Chromium are installed; else why the scenario cannot run."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed in the virtualenv (.venv/bin/pip install playwright)"
    return chromium.missing()


def variants(scenario: BrowserScenario, base_tree: Path | None) -> list[tuple[str, Run]]:
    """(label, run) for every sheet size, in running order; with `base_tree`, each size again
    against the Cellsync (server and page) of that checkout, right after."""
    trees: list[tuple[str, Path | None]] = [("", None)]
    if base_tree is not None:
        trees.append((" base", base_tree))
    return [
        (f"{rows} rows{suffix}", lambda work, env, r=rows, t=tree: run(scenario, r, t, work, env))
        for rows in scenario.sizes
        for suffix, tree in trees
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


def run(
    scenario: BrowserScenario, rows: int, tree: Path | None, work: Path, env: dict[str, str]
) -> dict[str, Any]:
    """One size: a fresh SQLite file and server (of `tree`, or this checkout), one browser,
    every measure."""
    from playwright.async_api import Error as PlaywrightError

    with databases.fresh("sqlite", work, rows, create_table) as database:
        server = make_server(
            "cellsync", database.url, SHEET, SHEET, work, {**SERVER_ENV, **env}, tree
        )
        try:
            server.start()
            url = f"http://127.0.0.1:{server.port}/sheets/{SHEET}"
            measured = asyncio.run(_measure(scenario, url, restart=lambda: _restart(server)))
        except PlaywrightError as exc:
            raise RuntimeError(f"{exc}\n{server.log_tail()}") from exc
        finally:
            server.stop()
    return {"scenario": SCENARIO, "rows": rows, **measured}


def _restart(server: Server) -> None:
    """Stops the server and starts it again on the same port and database."""
    server.stop()
    server.start()


async def _measure(
    scenario: BrowserScenario, url: str, restart: Callable[[], None]
) -> dict[str, Any]:
    """Every measure of one size in one browser, in an order where none overlaps another;
    last, `restart` restarts the server for the first render after a restart."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await chromium.launch(playwright)
        reader_context, reader, (cold, _) = await _open(browser, url)
        samples = [await _warm_and_reload(browser, url) for _ in range(scenario.samples)]
        scroll = await _scroll(browser, url, scenario.scroll_steps)
        edits = await _remote_edits(browser, url, reader, scenario.edits)
        await reader_context.close()
        await asyncio.to_thread(restart)
        _, _, (restarted, _) = await _open(browser, url)
        await browser.close()
    warm = [s["warm_s"] for s in samples]
    return {
        "cold_s": cold,
        "restart_s": restarted,
        "warm_median_s": statistics.median(warm),
        "warm_min_s": min(warm),
        "warm_max_s": max(warm),
        "warm_every_row_median_s": statistics.median(s["warm_every_row_s"] for s in samples),
        "reload_median_s": statistics.median(s["reload_s"] for s in samples),
        "samples": len(samples),
        "runs": samples,
        **scroll,
        **edits,
    }


async def _render(page: Page, load: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Seconds from starting `load` (a navigation or a reload) to the grid showing rows, and
    to the grid holding every row."""
    started = time.perf_counter()
    await load()
    await page.locator(READY).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    shown = time.perf_counter() - started
    await page.wait_for_function(EVERY_ROW, timeout=RENDER_TIMEOUT_MS, polling=EVERY_ROW_POLL_MS)
    return shown, time.perf_counter() - started


async def _open(browser: Browser, url: str) -> tuple[BrowserContext, Page, tuple[float, float]]:
    """A page in a fresh context, its first render's seconds (rows shown, every row), returned
    once it has gone quiet (so that its background work overlaps no later measure)."""
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
    context, page, (warm, every_row) = await _open(browser, url)
    reload, _ = await _render(page, page.reload)
    await context.close()
    return {"warm_s": warm, "warm_every_row_s": every_row, "reload_s": reload}


async def _scroll(browser: Browser, url: str, steps: int) -> dict[str, Any]:
    """A fresh warm page, once quiet, flings through the sheet: its frames while it does, the
    milliseconds until the last row is drawn, and whether the rows drawn are the last ones."""
    context, page, _ = await _open(browser, url)
    idle, _ = await _frames(page, lambda: _wait_frames(page, IDLE_FRAMES + 1))
    last = await page.evaluate(LAST_KEY)
    started = time.perf_counter()
    frames, drawn_ms = await _frames(page, lambda: _fling(page, steps, last))
    seconds = time.perf_counter() - started
    at_end = await page.evaluate(AT_END, TAIL_ROWS)
    await context.close()
    return {
        "scroll_steps": steps,
        "scroll_jumps": len(SCROLL_JUMPS),
        "scroll_s": seconds,
        "scroll_idle_frame_ms": statistics.median(idle),
        **_frame_stats(frames),
        "scroll_end_drawn_ms": drawn_ms,
        "scroll_end_rows": at_end["rows"],
        "scroll_at_end": at_end["atEnd"],
    }


async def _frames(page: Page, during: Callable[[], Awaitable[T]]) -> tuple[list[float], T]:
    """The intervals (ms) between the page's frames while `during` runs, and its result.
    (Floats: JSON turns a whole-millisecond timestamp into an int.)"""
    await page.evaluate(FRAMES_START)
    result = await during()
    stamps = await page.evaluate(FRAMES_STOP)
    return [float(after - before) for before, after in itertools.pairwise(stamps)], result


async def _fling(page: Page, steps: int, last: str) -> float:
    """The wheel steps, then the jumps; the milliseconds from the last jump until the row of
    `last` (the sheet's last key) is drawn."""
    await _wheel(page, steps)
    for fraction in SCROLL_JUMPS:
        await page.evaluate(JUMP, fraction)
    drawn = await page.wait_for_function(DRAWN, arg=last, timeout=SCROLL_TIMEOUT_MS, polling="raf")
    return (await drawn.json_value())["ms"]


async def _wait_frames(page: Page, count: int) -> None:
    """Until the recorder has seen `count` frames."""
    await page.wait_for_function(FRAMES_SEEN, arg=count, timeout=SCROLL_TIMEOUT_MS, polling="raf")


async def _wheel(page: Page, steps: int) -> None:
    """Mouse-wheel steps of a screenful over the grid; Playwright returns from each once
    Chromium has handled it, which paces them like a fast fling."""
    box = await page.locator(HOLDER).bounding_box()
    if box is None:
        raise RuntimeError(f"{HOLDER} is not displayed")
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(steps):
        await page.mouse.wheel(0, box["height"])


def _frame_stats(intervals: list[float]) -> dict[str, Any]:
    """Frames and their intervals' p50, p95 and max (ms), and how many exceeded LONG_FRAME_MS."""
    ordered = sorted(intervals)
    return {
        "scroll_frames": len(intervals) + 1,
        "scroll_frame_p50_ms": percentile(ordered, 0.5),
        "scroll_frame_p95_ms": percentile(ordered, 0.95),
        "scroll_frame_max_ms": max(intervals, default=math.nan),
        "scroll_long_frames": sum(interval > LONG_FRAME_MS for interval in intervals),
    }


async def _remote_edits(browser: Browser, url: str, reader: Page, edits: int) -> dict[str, Any]:
    """Another page writes `edits` cells; until the reader's grid shows them all. The writer
    is closed after: left open, it would reconnect during a later measure."""
    context, writer, _ = await _open(browser, url)
    await reader.evaluate(COUNT_RELOADS)
    started = time.perf_counter()
    keys = await writer.evaluate(WRITE_EDITS, edits)
    await reader.wait_for_function(ALL_SHOWN, arg=[keys], timeout=EDITS_TIMEOUT_MS, polling=20)
    shown = time.perf_counter() - started
    await context.close()
    return {
        "edits": edits,
        "edits_shown_s": shown,
        "grid_reloads": await reader.evaluate("() => window.benchReloads"),
    }
