"""The ASGI application: the sheet WebSocket endpoint and the HTTP routes."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from persistence.database import create_engine
from persistence.settings import Settings
from persistence.store.migrate import prepare as prepare_store
from persistence.store.sheet_claims import NoClaims, sheet_claims
from persistence.store.sheet_store import SheetStore
from persistence.store.update_log import UpdateLog
from persistence.table.schema import unservable
from server.auth import policy_for
from server.database_health import DatabaseHealth, wait_for_database
from server.loop_lag import LoopLag
from server.processes.redis_fanout import RedisFanout
from server.processes.writer_election import SoleWriter, WriterElection
from server.routes.api import api_routes
from server.routes.metrics import Metrics
from server.routes.pages import page_routes
from server.routes.security_headers import SecurityHeaders
from server.sheets.fanout import Fanout, SingleProcess
from server.sheets.rooms import Rooms
from server.storage.log_appender import LogAppender
from server.storage.table_sync import TableSync
from server.storage.table_watcher import TableWatcher
from server.websocket.sheet_socket import SheetSocket

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Builds the app, once the database answers; refuses at once a public address without a
    secret. A sheet whose table Cellsync cannot serve is logged and listed with its error; the
    others are served."""
    policy = policy_for(settings)
    engine = create_engine(settings.database_url)
    wait_for_database(engine)
    prepare_store(engine)
    update_log = UpdateLog(engine)
    health = DatabaseHealth()
    log_appender = LogAppender(
        update_log, settings.log_interval, settings.compact_after, health, settings.max_held_bytes
    )
    table_sync = TableSync(
        engine, settings.flush_debounce, settings.flush_max_delay, health, log_appender.append_added
    )
    # One process per sheet, or any number sharing every sheet through Redis: then a sheet's
    # claim only says which of them writes its table.
    claims = sheet_claims(engine)
    election: SoleWriter | WriterElection = SoleWriter()
    fanout: Fanout = SingleProcess()
    if settings.redis_url:
        election = WriterElection(claims)
        fanout = RedisFanout(
            settings.redis_url,
            update_log,
            log_appender,
            election,
            settings.max_held_bytes,
            trim_seconds=settings.stream_trim_seconds,
            keep_seconds=settings.stream_keep_seconds,
        )
        claims = NoClaims()
    rooms = Rooms(
        settings.sheets,
        SheetStore(engine, update_log),
        log_appender,
        table_sync,
        fanout,
        health,
        claims,
        merge_window=settings.merge_window,
        idle_seconds=settings.idle_seconds,
        election=election,
    )
    rooms.errors.update(unservable(engine, settings.sheets))
    for name, error in rooms.errors.items():
        log.error("sheet %s is not served: %s", name, error)
    metrics = Metrics(rooms)
    loop_lag = LoopLag(metrics.registry)
    sheet_socket = SheetSocket(rooms, policy, settings)

    watcher = TableWatcher(
        engine,
        settings.sheets,
        rooms,
        table_sync,
        settings.watch_poll_seconds,
        settings.table_poll_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not policy.secured:
            log.warning("no CELLSYNC_SECRET: running open, anyone on this machine may edit")
        watching = asyncio.create_task(watcher.run())
        claiming = asyncio.create_task(rooms.keep_claims())
        measuring = asyncio.create_task(loop_lag.run())
        sharing = asyncio.create_task(fanout.run())
        electing = asyncio.create_task(election.run())
        yield
        for task in (watching, claiming, measuring, electing):
            task.cancel()
        await rooms.close()
        sharing.cancel()
        await fanout.close()
        table_sync.close()
        engine.dispose()
        log.info("all pending updates written; bye")

    async def healthz(request: Request) -> JSONResponse:
        """503 while any part of the server cannot reach the database, with the reason. Redis
        unreachable is degraded too, but 200: this process's clients still edit together."""
        rooms_loaded = len(rooms.loaded())
        if not health.up:
            degraded = {"status": "degraded", "reason": health.reason(), "rooms": rooms_loaded}
            return JSONResponse(degraded, status_code=503)
        shared = fanout.state()
        if shared is not None and not shared.up:
            degraded = {"status": "degraded", "reason": shared.reason, "rooms": rooms_loaded}
            return JSONResponse(degraded)
        return JSONResponse({"status": "ok", "rooms": rooms_loaded})

    app = Starlette(
        routes=[
            WebSocketRoute("/ws/sheet/{name}", sheet_socket.handle),
            Route("/healthz", healthz),
            *page_routes(settings.sheets, secured=policy.secured),
            *api_routes(rooms, metrics, policy),
        ],
        middleware=[Middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)],
        lifespan=lifespan,
    )
    app.state.rooms = rooms
    return app
