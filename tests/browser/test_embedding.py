"""The embedding path client/web/README.md documents, in real Chromium: a host application's
own page imports /static/cellsync.js and its own TabulatorFull, and binds a sheet to it."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from playwright.async_api import Browser, Route
from serverprocess import ServerProcess
from sheetpage import TIMEOUT_MS, SheetPage
from tables import create_items_table
from test_grid import table_shows
from test_trust_and_table import SECRET, token

TABULATOR = Path(__file__).resolve().parents[2] / "client/web/node_modules/tabulator-tables/dist"

# The host application's page, as the README shows it (the token minted by the application).
EMBEDDER_PAGE = Template("""<!doctype html>
<link rel="stylesheet" href="/vendor/tabulator.min.css">
<div style="height: 600px"><div id="grid"></div></div>
<script type="module">
  import { connectSheet, bindTabulator } from "/static/cellsync.js";
  import { TabulatorFull } from "/vendor/tabulator_esm.min.mjs";

  const connection = await connectSheet($sheet, { token: $token });
  window.grid = bindTabulator(connection, TabulatorFull, document.querySelector("#grid"));
</script>
""")


async def open_embedded(
    browser: Browser, server: ServerProcess, sheet: str, user: str
) -> SheetPage:
    """Opens the host application's page on the server's own origin, as `user` (a write token
    for every sheet), once its grid shows the sheet; Tabulator comes from node_modules."""
    page_text = EMBEDDER_PAGE.substitute(
        sheet=json.dumps(sheet), token=json.dumps(token(user, {"*": "write"}))
    )
    responses = {
        "/embed.html": {"body": page_text, "content_type": "text/html"},
        "/vendor/tabulator_esm.min.mjs": {
            "path": TABULATOR / "js/tabulator_esm.min.mjs",
            "content_type": "text/javascript",
        },
        "/vendor/tabulator.min.css": {
            "path": TABULATOR / "css/tabulator.min.css",
            "content_type": "text/css",
        },
    }

    async def serve(route: Route) -> None:
        await route.fulfill(**responses[urlsplit(route.request.url).path])

    # Chromium takes a page Playwright fulfils (no IP address) as public, and its local network
    # access checks would block the WebSocket to the loopback server; served by the server
    # itself, the page would be loopback too.
    context = await browser.new_context(
        viewport={"width": 1200, "height": 700}, permissions=["local-network-access"]
    )
    for path in responses:
        await context.route(server.http + path, serve)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    url = f"{server.http}/embed.html"
    await page.goto(url)
    await page.locator('#grid[data-ready="true"]').wait_for()
    return SheetPage(context, page, url, "tabulator")


async def test_an_embedded_grid_edits_with_the_sheet_page_both_ways(
    browser, server_factory, database_url, open_on
):
    """Shown, typed into, and updated live next to the stock sheet page and the table."""
    server = await server_factory(CELLSYNC_SECRET=SECRET)
    embedded = await open_embedded(browser, server, "items", "Emma Embedder")
    stock = await open_on(server, "ignored", token=token("Sam Stock", {"items": "write"}))
    for key in range(1, 11):
        await embedded.expect_text(str(key), "name", f"item {key}")

    await embedded.type_into("1", "name", "from the embedder")
    await stock.expect_text("1", "name", "from the embedder")
    await table_shows(database_url, {("1", "name"): "from the embedder"})
    await stock.type_into("2", "qty", "42")
    await embedded.expect_text("2", "qty", "42")


async def test_the_embedders_tabulator_creates_no_dom_for_rows_never_shown(
    browser, server_factory, database_url
):
    """The range selection's fix (client/web/src/tabulator/select-range.js) applies to the
    TabulatorFull the embedder passes, not only to the sheet page's own Tabulator."""
    create_items_table(database_url, rows=1000, name="many")
    server = await server_factory({"many": "many"}, CELLSYNC_SECRET=SECRET)
    embedded = await open_embedded(browser, server, "many", "Emma Embedder")
    await embedded.select("1", "name")  # the grid has rendered and laid out the selection
    # The grid is given every row once its first ones are painted.
    await embedded.page.wait_for_function("() => window.grid.table.getDataCount() === 1000")
    created = await embedded.page.evaluate(
        "() => window.grid.table.getRows().map((row) => row._row.created)"
    )
    assert len(created) == 1000
    assert created[0] and not created[-1]
