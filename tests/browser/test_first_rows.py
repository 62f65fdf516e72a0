"""A big sheet's first paint, in real Chromium: the grid is built with the sheet's first rows
only and given the rest once they are painted (client/web/src/tabulator/binding.js). What
happens between the two must not show: edits made then, in the grid or the document, and rows
added or deleted then, are each shown once, and every row ends up there in the document's order
with the document's values. A new tab is built from the first chunk the server sends, and given
every row once the last has come."""

from __future__ import annotations

from playwright.async_api import expect
from sheetpage import PAGE_ONLY, SheetPage
from tables import create_items_table

from persistence.document import chunk_rows

pytestmark = PAGE_ONLY

ROWS = 3000

# Before the page's scripts run: once the page sets `window.cellsync`, waits for its grid to be
# ready and then at once (a microtask after the grid is built, before the browser paints), while
# the grid holds the first rows only, opens an editor in the first row (which holds the rest
# back until it closes) and changes the document: a cell of a row shown, a cell of a row not in
# the grid yet, a row deleted and a row added. `window.early` resolves to what it saw and did.
WHILE_FIRST_ROWS = """Object.defineProperty(window, "cellsync", {
  configurable: true,
  set(page) {
    Object.defineProperty(window, "cellsync", { value: page, writable: true, configurable: true });
    window.early = page.grid.ready.then((grid) => {
      const sheet = page.connection.sheet;
      const keys = sheet.keys();
      const early = {
        inGrid: grid.table.getDataCount(),
        drawn: document.querySelector(`.tabulator-row[data-key="${keys[0]}"]`) !== null,
      };
      grid.table.getRow(keys[0]).getCell("name").edit();
      sheet.setCell(keys[1], "name", "edited near");
      sheet.setCell(keys.at(-2), "name", "edited far");
      sheet.deleteRows([keys[2]]);
      const added = sheet.addRow({ name: "added early" });
      return { ...early, inSheet: keys.length, deleted: keys[2], added };
    });
  },
});"""

GRID_AND_DOCUMENT = """() => {
  const { grid, connection } = window.cellsync;
  const sheet = connection.sheet;
  const rows = grid.table.getRows("active").map((row) => row.getData());
  return {
    grid: rows.map((row) => [row.__cellsync_key, row.name]),
    sheet: sheet.keys().map((key) => [key, sheet.row(key).name]),
  };
}"""


async def open_big_sheet(
    database_url, server_factory, browser, rows: int, init_script: str
) -> SheetPage:
    """A new tab on a sheet of `rows` items, `init_script` run before the page's own."""
    create_items_table(database_url, rows=rows, name="many")
    server = await server_factory({"many": "many"})
    context = await browser.new_context(viewport={"width": 1200, "height": 700})
    await context.add_init_script(init_script)
    return await SheetPage.open(context, server.http, "many", "Ada", wait=False)


async def test_rows_edited_added_or_deleted_before_every_row_is_in_the_grid(
    database_url, server_factory, browser
):
    a = await open_big_sheet(database_url, server_factory, browser, ROWS, WHILE_FIRST_ROWS)
    await a.page.wait_for_function("() => window.early")
    early = await a.page.evaluate("() => window.early")
    assert early["drawn"] and 0 < early["inGrid"] < early["inSheet"] == ROWS, early

    await a.editor.fill("typed early")  # the editor opened while the rest was held back
    await a.press("Enter")
    keys = [str(i) for i in range(1, ROWS + 1) if str(i) != early["deleted"]]
    await a.page.wait_for_function(
        "(count) => window.cellsync.grid.table.getDataCount('active') === count",
        arg=len(keys) + 1,
    )
    shown = await a.page.evaluate(GRID_AND_DOCUMENT)
    assert shown["grid"] == shown["sheet"]
    assert [key for key, _ in shown["grid"]] == [*keys, early["added"]]
    names = dict(shown["grid"])
    assert names["1"] == "typed early" and names["2"] == "edited near"
    assert names[str(ROWS - 1)] == "edited far" and names[early["added"]] == "added early"
    await a.expect_text("1", "name", "typed early")
    await a.wait_value("1", "name", "typed early")
    await expect(a.page.get_by_role("grid")).to_have_attribute("aria-rowcount", str(ROWS + 1))


FIRST_CHUNK = chunk_rows(6)  # rows per chunk of the items table, as the server builds them
CHUNKS = 2 * FIRST_CHUNK + 500  # three chunks

# Before the page's scripts run: records what the grid held when it was built (from the
# document's first change, in the same call: the binding subscribed first) and counts the
# grid's reloads of every row.
AS_CHUNKS_ARRIVE = """Object.defineProperty(window, "cellsync", {
  configurable: true,
  set(page) {
    Object.defineProperty(window, "cellsync", { value: page, writable: true, configurable: true });
    window.reloads = 0;
    const unsubscribe = page.connection.changes.subscribe(() => {
      const grid = page.grid;
      if (!grid.built || window.built) return;
      window.built = {
        inSheet: page.connection.sheet.keys().length,
        inGrid: grid.shown.length,
        synced: page.connection.provider.synced,
      };
      const replaceData = grid.table.replaceData.bind(grid.table);
      grid.table.replaceData = (...args) => {
        window.reloads += 1;
        return replaceData(...args);
      };
      unsubscribe();
    });
  },
});"""


async def test_a_new_tab_shows_the_first_chunk_and_takes_every_row_once_the_last_has_come(
    database_url, server_factory, browser
):
    a = await open_big_sheet(database_url, server_factory, browser, CHUNKS, AS_CHUNKS_ARRIVE)
    await a.wait_ready()
    await a.page.wait_for_function(
        "(count) => window.cellsync.grid.table.getDataCount('active') === count", arg=CHUNKS
    )
    built = await a.page.evaluate("() => window.built")
    assert built == {"inSheet": FIRST_CHUNK, "inGrid": 100, "synced": False}, built
    assert await a.page.evaluate("() => window.reloads") == 1  # not one per chunk
    shown = await a.page.evaluate(GRID_AND_DOCUMENT)
    assert shown["grid"] == shown["sheet"]
    assert [key for key, _ in shown["grid"]] == [str(i) for i in range(1, CHUNKS + 1)]
