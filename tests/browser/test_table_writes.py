"""Writes other programs make straight to the table reach an open grid and a Python client
within two seconds, in real Chromium, on each database."""

from __future__ import annotations

import time

from test_two_way import watch_items
from test_worker import execute

from client.sheet import open_sheet as open_in_python

SHOWN_IN_GRID = """() => {
  const cell = (key, column) => document.querySelector(
    `.tabulator-row[data-key="${key}"] .tabulator-cell[tabulator-field="${column}"]`);
  return cell("1", "name")?.textContent === "changed in SQL"
    && cell("1", "qty")?.textContent === "99"
    && cell("500", "name")?.textContent === "inserted in SQL"
    && !document.querySelector('.tabulator-row[data-key="2"]');
}"""


async def test_update_insert_and_delete_show_in_the_grid_and_the_client(
    server_factory, database_url, open_on
):
    watch_items(database_url)
    server = await server_factory(CELLSYNC_TABLE_POLL_SECONDS="0")
    page = await open_on(server, "Ada")
    async with open_in_python(server.url, "items") as sheet:
        execute(
            database_url,
            "UPDATE items SET name = 'changed in SQL', qty = 99 WHERE id = 1",
            "INSERT INTO items (id, name, qty) VALUES (500, 'inserted in SQL', 5)",
            "DELETE FROM items WHERE id = 2",
        )
        deadline = time.monotonic() + 2
        await page.page.wait_for_function(SHOWN_IN_GRID, timeout=2000)
        await sheet.wait_for(
            lambda s: (
                s.row("1")["name"] == "changed in SQL"
                and s.row("500")["name"] == "inserted in SQL"
                and all(r["_key"] != "2" for r in s.rows())
            ),
            timeout=max(0.0, deadline - time.monotonic()),
        )
