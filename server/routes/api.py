"""The HTTP API: sheets, their rows (JSON or CSV), how far each table lags, and metrics.

`/api/sheets` lists, for each sheet the request may read, what the home page shows: its table,
its rows (from the live room, else counted in the table), who is on it now (the names their
presence shows), and its state (rows not yet written and for how long, refused cells).

Sheet routes follow the WebSocket's rules: with a secret set, a bearer token (header, or the
`token` query parameter) must cover the sheet: 401 without a valid one, 403 for a sheet it does
not cover. `/healthz` and `/metrics` stay open, for probes and scrapers inside the network.

`/api/sheets` says, for each sheet loaded here, which process writes its table ("this process",
or the one holding its claim, as last seen).

Rows come from the live room when the sheet is loaded (the freshest state), else from the log,
else from the table itself, and are read in a thread from a copy of the document, so a large
sheet never holds up the event loop that serves WebSockets. A sheet that cannot be read now
(the database is unreachable) answers a JSON 503, worth a retry.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pycrdt import Map
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from persistence.document import REFUSALS, ROWS
from persistence.records import Record, records_of, to_csv
from persistence.table.rows import count_rows
from persistence.table.schema import UnsupportedTableError
from persistence.tokens import Grant
from server.auth import CLOSE_UNAUTHORIZED, AccessPolicy, Refused, bearer_token
from server.routes.metrics import Metrics
from server.sheets.rooms import Rooms, SheetUnavailable


def api_routes(rooms: Rooms, metrics: Metrics, policy: AccessPolicy) -> list[BaseRoute]:
    def grant(request: Request, name: str) -> Grant:
        """The request's rights on the sheet; Refused when it has none."""
        token = bearer_token(dict(request.headers), dict(request.query_params))
        return policy.admit(name, token, origin=None)

    def forbidden(request: Request, name: str) -> JSONResponse | None:
        """The error response when the request's token does not let it read the sheet."""
        try:
            grant(request, name)
        except Refused as exc:
            status = 401 if exc.code == CLOSE_UNAUTHORIZED else 403
            return JSONResponse({"error": exc.reason}, status_code=status)
        return None

    def one_sheet(handler: Callable[[Request, str], Awaitable[Response]]) -> Callable:
        """The route for a handler of one sheet, which it reaches only when the sheet exists
        and the request may read it."""

        async def route(request: Request) -> Response:
            name = request.path_params["name"]
            if (denied := forbidden(request, name)) is not None:
                return denied
            if name not in rooms.sheets:
                return unknown(name)
            try:
                return await handler(request, name)
            except UnsupportedTableError as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)
            except SheetUnavailable as exc:
                return JSONResponse({"error": exc.reason}, status_code=503)

        return route

    async def records(name: str) -> tuple[list[str], list[Record]]:
        return await asyncio.to_thread(records_of, await rooms.document(name))

    async def sheets(request: Request) -> JSONResponse:
        readable = [name for name in rooms.sheets if forbidden(request, name) is None]
        if policy.secured and not readable and rooms.sheets:
            denied = forbidden(request, next(iter(rooms.sheets)))
            if denied is not None:
                return denied
        return JSONResponse({"sheets": [await summary(name) for name in readable]})

    async def summary(name: str) -> dict:
        """One sheet as the list shows it."""
        table = rooms.sheets[name]
        room = rooms.live(name)
        lag = rooms.table_sync.lag(name)
        entry = {
            "name": name,
            "table": table,
            "loaded": room is not None,
            "clients": len(room.connections) if room is not None else 0,
            "people": sorted(c.shown_name or "someone" for c in room.connections) if room else [],
            "rows": None,
            "refusals": None,
            "pending_rows": lag.pending_rows if lag is not None else 0,
            "lag_seconds": lag.lag_seconds if lag is not None else 0.0,
        }
        if room is not None:  # which process writes its table
            entry["writer"] = rooms.election.writer(name)
        if name in rooms.errors:
            entry["error"] = rooms.errors[name]
        elif room is not None:
            entry["rows"] = len(room.document.doc.get(ROWS, type=Map))
            entry["refusals"] = len(room.document.doc.get(REFUSALS, type=Map))
        else:
            with suppress(Exception):  # the database is down: the list still answers
                entry["rows"] = await asyncio.to_thread(count_rows, rooms.store.engine, table)
        return entry

    async def sheet(request: Request, name: str) -> Response:
        columns, rows = await records(name)
        table = rooms.sheets[name]
        return JSONResponse({"sheet": name, "table": table, "columns": columns, "rows": rows})

    async def sheet_csv(request: Request, name: str) -> Response:
        columns, rows = await records(name)
        raw = request.query_params.get("raw") in ("1", "true")
        return Response(to_csv(columns, rows, raw), media_type="text/csv; charset=utf-8")

    async def status(request: Request, name: str) -> Response:
        lag = rooms.table_sync.lag(name)
        reads = rooms.table_sync.table_reads(name)
        written, refused, flushed_at = metrics.flush_totals(name)
        return JSONResponse(
            {
                "sheet": name,
                "loaded": rooms.live(name) is not None,
                "pending_rows": lag.pending_rows if lag is not None else 0,
                "lag_seconds": lag.lag_seconds if lag is not None else 0.0,
                "last_flush": _iso(flushed_at),
                "rows_written": written,
                "refusals": refused,
                "database_up": rooms.health.up,
                "database_errors": rooms.health.errors,
                "database_reason": rooms.health.reason() or None,
                "stuck_rows": lag.stuck_rows if lag is not None else 0,
                "last_error": lag.last_error if lag is not None else None,
                "table_watched": reads.watched,
                "last_compared": _iso(reads.last_compared),
                "compared_every_s": reads.compared_every,
                "table_comparisons": reads.comparisons,
            }
        )

    async def flush(request: Request, name: str) -> Response:
        """Writes the live sheet's table now: `cellsync snapshot` asks for it rather than
        writing the table from its own copy, which may be older than what the server wrote."""
        if not grant(request, name).can_write:
            return JSONResponse({"error": "the token may only read this sheet"}, status_code=403)
        return JSONResponse(await rooms.write_now(name))

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/api/sheets", sheets),
        Route("/api/sheets/{name}.csv", one_sheet(sheet_csv)),
        Route("/api/sheets/{name}/status", one_sheet(status)),
        Route("/api/sheets/{name}/flush", one_sheet(flush), methods=["POST"]),
        Route("/api/sheets/{name}", one_sheet(sheet)),
        Route("/metrics", prometheus),
    ]


def unknown(name: str) -> JSONResponse:
    return JSONResponse({"error": f"unknown sheet: {name[:100]}"}, status_code=404)


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()
