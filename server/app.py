"""The ASGI application: the sheet WebSocket endpoint and the HTTP routes."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from persistence.database import check_connection, create_engine
from persistence.schema import reflect_table
from persistence.sheet_store import SheetStore
from persistence.update_log import UpdateLog
from server.api import api_routes
from server.config import Settings
from server.connection import Connection, MissingFrameWriter
from server.fanout import SingleProcess
from server.log_writer import LogWriter
from server.metrics import Metrics
from server.pages import page_routes
from server.persistence_worker import PersistenceWorker
from server.protocol import ProtocolError
from server.rooms import Rooms, UnknownSheet

log = logging.getLogger(__name__)

CLOSE_PROTOCOL_ERROR = 4400
CLOSE_UNKNOWN_SHEET = 4404
CLOSE_SERVER_ERROR = 1011


def create_app(settings: Settings) -> Starlette:
    """Builds the app; refuses at once a sheet whose table Cellsync cannot serve."""
    engine = create_engine(settings.database_url)
    check_connection(engine)
    for table in settings.sheets.values():
        reflect_table(engine, table)
    update_log = UpdateLog(engine)
    writer = LogWriter(update_log, settings.log_interval, settings.compact_after)
    worker = PersistenceWorker(engine, settings.flush_debounce, settings.flush_max_delay)
    rooms = Rooms(
        settings.sheets,
        SheetStore(engine, update_log),
        writer,
        worker,
        SingleProcess(),
        merge_window=settings.merge_window,
        idle_seconds=settings.idle_seconds,
    )
    metrics = Metrics(rooms)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await rooms.close()
        worker.close()
        engine.dispose()
        log.info("all pending updates written; bye")

    async def sheet_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        name = websocket.path_params["name"]
        try:
            connection = metrics.connection(websocket, settings.max_backlog, name)
            room = await rooms.acquire(name)
        except UnknownSheet:
            await websocket.close(CLOSE_UNKNOWN_SHEET, f"unknown sheet: {name[:100]}")
            return
        except MissingFrameWriter as exc:
            log.error("%s", exc)
            await websocket.close(CLOSE_SERVER_ERROR, "server misconfigured")
            return
        room.join(connection)
        try:
            await serve_connection(websocket, connection, metrics.receiving(name, room.receive))
        finally:
            room.leave(connection)
            rooms.release(room)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "rooms": len(rooms.loaded())})

    app = Starlette(
        routes=[
            WebSocketRoute("/ws/sheet/{name}", sheet_socket),
            Route("/healthz", healthz),
            *page_routes(settings.sheets),
            *api_routes(rooms, metrics),
        ],
        lifespan=lifespan,
    )
    app.state.rooms = rooms
    return app


async def serve_connection(websocket: WebSocket, connection: Connection, handle) -> None:
    """Feeds the client's frames to the room until it leaves; a bad frame closes this one
    connection with a reason, and nobody else notices."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                raise ProtocolError("text frames are not part of the protocol")
            handle(connection, data)
    except ProtocolError as exc:
        log.warning("closing %s: %s", connection.peer, exc)
        await websocket.close(CLOSE_PROTOCOL_ERROR, str(exc)[:120])
    except Exception:
        log.exception("closing %s after an unexpected error", connection.peer)
        await websocket.close(CLOSE_SERVER_ERROR, "internal error")
