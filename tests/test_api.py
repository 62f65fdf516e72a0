"""The HTTP API and the Prometheus metrics of a real server process."""

import csv
import io
import re

import httpx
import sqlalchemy as sa
from waiting import eventually

from client.sheet import open_sheet
from persistence.database import create_engine
from server.database_health import OPERATIONS

SERIES = [
    "cellsync_connections",
    "cellsync_rooms",
    'cellsync_updates_received_total{sheet="items"}',
    'cellsync_updates_sent_total{sheet="items"}',
    'cellsync_received_bytes_total{sheet="items"}',
    'cellsync_sent_bytes_total{sheet="items"}',
    'cellsync_log_rows{sheet="items"}',
    'cellsync_flush_duration_seconds_count{sheet="items"}',
    'cellsync_rows_written_total{sheet="items"}',
    'cellsync_refused_writes_total{sheet="items"}',
    'cellsync_table_lag_seconds{sheet="items"}',
    'cellsync_database_errors_total{operation="log_append"}',
    "cellsync_database_up",
]


async def get(server, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"{server.http}{path}")


async def metric(server, series: str) -> float | None:
    text = (await get(server, "/metrics")).text
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else None


async def test_sheets_lists_names_tables_rows_people_and_state(server):
    assert (await get(server, "/healthz")).json()["status"] == "ok"
    listed = (await get(server, "/api/sheets")).json()["sheets"]
    idle = {"pending_rows": 0, "lag_seconds": 0.0, "people": []}
    closed = {"name": "items", "table": "items", "loaded": False, "clients": 0, **idle}
    assert listed == [{**closed, "rows": 10, "refusals": None}]  # counted in the table
    async with open_sheet(server.url, "items") as sheet, open_sheet(server.url, "items"):
        key = sheet.add_row({"name": "eleven"})
        await eventually(lambda: sheet.row(key).get("id") is not None, what="the new row's id")
        listed = (await get(server, "/api/sheets")).json()["sheets"]
        opened = {**closed, "loaded": True, "clients": 2, "rows": 11, "refusals": 0}
        # The Python client shows no presence: it is named by no one.
        assert listed == [{**opened, "people": ["someone", "someone"], "writer": "this process"}]


async def test_rows_as_json_and_csv_before_and_after_the_sheet_is_open(server):
    body = (await get(server, "/api/sheets/items")).json()
    assert body["columns"] == ["id", "name", "qty", "price", "done", "notes"]
    first = {"id": 1, "name": "item 1", "qty": 1, "price": 1.5, "done": False, "notes": None}
    assert body["rows"][0] == first
    assert len(body["rows"]) == 10
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("2", "name", "live, edited")

        async def shown() -> bool:
            rows = (await get(server, "/api/sheets/items")).json()["rows"]
            return rows[1]["name"] == "live, edited"

        await eventually(shown, what="the live room's rows")
        csv = await get(server, "/api/sheets/items.csv")
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0] == "id,name,qty,price,done,notes"
        assert lines[2] == '2,"live, edited",2,3.0,false,'


async def test_an_unknown_sheet_is_a_404_with_a_json_error(server):
    for path in ("/api/sheets/nope", "/api/sheets/nope.csv", "/api/sheets/nope/status"):
        response = await get(server, path)
        assert response.status_code == 404
        assert response.json() == {"error": "unknown sheet: nope"}


async def test_status_shows_the_lag_then_the_flush_and_refusals(server_factory, database_url):
    engine = create_engine(database_url)
    with engine.begin() as conn:  # a rule only the database knows: the worker's write is refused
        conn.execute(sa.text("CREATE UNIQUE INDEX items_name ON items (name)"))
    engine.dispose()
    server = await server_factory(CELLSYNC_FLUSH_DEBOUNCE="1.5", CELLSYNC_FLUSH_MAX_DELAY="5")
    idle = (await get(server, "/api/sheets/items/status")).json()
    assert idle == {
        "sheet": "items",
        "loaded": False,
        "pending_rows": 0,
        "lag_seconds": 0.0,
        "last_flush": None,
        "rows_written": 0,
        "refusals": 0,
        "database_up": True,
        "database_errors": dict.fromkeys(OPERATIONS, 0),
        "database_reason": None,
        "stuck_rows": 0,
        "last_error": None,
        "table_watched": None,
        "last_compared": None,
        "compared_every_s": None,
        "table_comparisons": 0,
    }
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("3", "qty", 33)
        sheet.set("4", "name", "item 5")

        async def status() -> dict:
            return (await get(server, "/api/sheets/items/status")).json()

        async def lagging() -> bool:
            state = await status()
            return state["pending_rows"] == 2 and state["lag_seconds"] > 0

        await eventually(lagging, what="the lag before the flush")

        async def flushed() -> bool:
            state = await status()
            return state["rows_written"] == 1 and state["refusals"] == 1

        await eventually(flushed, what="the flush")
        state = await status()
        assert state["pending_rows"] == 0 and state["last_flush"] is not None


async def test_metrics_name_every_series_and_move_after_edits(server):
    response = await get(server, "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    async with open_sheet(server.url, "items") as sheet:
        text = (await get(server, "/metrics")).text
        for series in SERIES:
            assert re.search(rf"^{re.escape(series)} ", text, re.MULTILINE), series
        assert await metric(server, "cellsync_connections") == 1
        assert await metric(server, "cellsync_rooms") == 1
        received = await metric(server, 'cellsync_updates_received_total{sheet="items"}')
        sent_bytes = await metric(server, 'cellsync_sent_bytes_total{sheet="items"}')
        assert sent_bytes > 0  # the first sync
        sheet.set("5", "name", "counted")

        async def moved() -> bool:
            written = await metric(server, 'cellsync_rows_written_total{sheet="items"}')
            updates = await metric(server, 'cellsync_updates_received_total{sheet="items"}')
            return written == 1 and updates > received

        await eventually(moved, what="the metrics to move")
        flushes = 'cellsync_flush_duration_seconds_count{sheet="items"}'
        assert await metric(server, flushes) >= 1
    await eventually(
        lambda: metric_is(server, "cellsync_connections", 0), what="the connection to close"
    )


async def metric_is(server, series: str, value: float) -> bool:
    return await metric(server, series) == value


async def test_csv_is_safe_to_open_in_a_spreadsheet_unless_raw_is_asked(server):
    formula = "=cmd|' /C calc'!A0"
    async with open_sheet(server.url, "items") as sheet:
        sheet.set("1", "name", formula)
        sheet.set("2", "notes", "@SUM(A1:A9)")

        async def exported(path: str) -> list[dict]:
            return list(csv.DictReader(io.StringIO((await get(server, path)).text)))

        async def shown() -> bool:
            return (await exported("/api/sheets/items.csv?raw=1"))[0]["name"] == formula

        await eventually(shown, what="the formula in the raw export")
        safe = await exported("/api/sheets/items.csv")
    assert safe[0]["name"] == "'" + formula and safe[1]["notes"] == "'@SUM(A1:A9)"
    assert safe[2]["name"] == "item 3" and safe[0]["qty"] == "1"
