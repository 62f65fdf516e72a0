"""Runs the app under uvicorn with Cellsync's WebSocket protocol."""

import logging
import re

import uvicorn

from persistence.settings import Settings
from server.app import create_app
from server.websocket.transport import CellsyncWebSocketProtocol


class HideTokens(logging.Filter):
    """uvicorn logs each request's query string; y-websocket puts the access token there."""

    TOKEN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self.TOKEN.sub(r"\1[hidden]", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws=CellsyncWebSocketProtocol,
        ws_max_size=settings.max_message,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        lifespan="on",
        log_level="info",
    )


def serve(settings: Settings) -> None:
    """Serves until SIGINT or SIGTERM; pending updates are written before it returns."""
    server = uvicorn.Server(uvicorn_config(settings))
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(HideTokens())
    server.run()
