"""The stock pycrdt-websocket server, as its README sets it up, for the baseline.

Run: `uvicorn bench_lib.pycrdt_server:app`. Every path is a room. The exception handler logs and
keeps the server running (without one, a client leaving mid-broadcast stops every room).
Plain HTTP answers 200 so the benchmark can tell when the server is up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from logging import Logger
from typing import Any

from pycrdt.websocket import ASGIServer, WebsocketServer

log = logging.getLogger("pycrdt_baseline")


def log_exception(exc: Exception, logger: Logger) -> bool:
    logger.error("pycrdt-websocket: %r", exc)
    return True


websocket_server = WebsocketServer(exception_handler=log_exception, log=log)
websocket_app = ASGIServer(websocket_server)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        async with websocket_server:
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    else:
        await websocket_app(scope, receive, send)
