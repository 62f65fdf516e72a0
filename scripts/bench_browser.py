#!/usr/bin/env python3
"""Browser benchmark: the sheet page in headless Chromium against a real `cellsync serve`.

For each sheet size (10,000 and 100,000 rows by default) it measures
  * first render: from navigation to the grid showing rows, in a fresh browser context
    (nothing in IndexedDB), once while the server still loads the sheet from its table (cold)
    and once with the sheet already loaded (warm);
  * remote edits: another context writes 1,000 cells, one transaction each; the time until the
    first page's grid shows all of them, and how many times its grid reloaded its data
    (expected: 0, remote edits are applied cell by cell).

    .venv/bin/python scripts/bench_browser.py
    .venv/bin/python scripts/bench_browser.py --rows 10000 --edits 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The first sync of a 100,000-row sheet is ~13 MB, more than the server's default backlog
# (8 MiB): with it, the server drops the page as "too slow" before the page has read it.
SERVER_ENV = {"CELLSYNC_MAX_BACKLOG": str(64 * 1024 * 1024)}
READY = '[data-testid="grid"][data-ready="true"] .tabulator-row[data-key]'

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


def create_table(url: str, rows: int) -> None:
    engine = sqlalchemy.create_engine(url)
    table = sqlalchemy.Table(
        "bench",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
        sqlalchemy.Column("name", sqlalchemy.String(80)),
        sqlalchemy.Column("qty", sqlalchemy.Integer),
        sqlalchemy.Column("price", sqlalchemy.Numeric(10, 2)),
        sqlalchemy.Column("done", sqlalchemy.Boolean),
        sqlalchemy.Column("note", sqlalchemy.Text),
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_server(url: str, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "client", "serve", "--database-url", url]
    command += ["--port", str(port), "--sheet", "bench=bench"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **SERVER_ENV},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise TimeoutError(f"server did not start:\n{log.read_text()}")


async def open_page(browser: Browser, url: str) -> tuple[Page, float]:
    """A page in a fresh context and the seconds from navigation to rows on screen."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    started = time.perf_counter()
    await page.goto(url)
    await page.locator(READY).first.wait_for(timeout=180_000)
    return page, time.perf_counter() - started


async def bench_size(browser: Browser, rows: int, edits: int, workdir: Path) -> dict[str, float]:
    url = f"sqlite:///{workdir / f'bench-{rows}.db'}"
    create_table(url, rows)
    port = free_port()
    server = await start_server(url, port, workdir / f"server-{rows}.log")
    try:
        sheet_url = f"http://127.0.0.1:{port}/sheets/bench"
        reader, cold = await open_page(browser, sheet_url)
        writer, warm = await open_page(browser, sheet_url)
        await reader.evaluate(COUNT_RELOADS)
        started = time.perf_counter()
        keys = await writer.evaluate(WRITE_EDITS, edits)
        await reader.wait_for_function(ALL_SHOWN, arg=[keys], timeout=120_000, polling=20)
        shown = time.perf_counter() - started
        reloads = await reader.evaluate("() => window.benchReloads")
        return {"cold": cold, "warm": warm, "edits": shown, "reloads": reloads}
    finally:
        server.kill()
        server.wait()


async def main(sizes: list[int], edits: int) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{'rows':>8}  {'first render cold':>17}  {'warm':>7}  {edits} remote edits")
            for rows in sizes:
                r = await bench_size(browser, rows, edits, Path(tmp))
                print(
                    f"{rows:>8}  {r['cold']:>16.2f}s  {r['warm']:>6.2f}s  "
                    f"{r['edits']:.2f}s shown, grid reloads: {r['reloads']}"
                )
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--edits", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.edits))
