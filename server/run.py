"""Runs the app under uvicorn with Cellsync's WebSocket protocol."""

import uvicorn

from server.app import create_app
from server.config import Settings
from server.websocket_transport import CellsyncWebSocketProtocol


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws=CellsyncWebSocketProtocol,
        ws_max_size=settings.max_message,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="info",
    )


def serve(settings: Settings) -> None:
    """Serves until SIGINT or SIGTERM; pending updates are written before it returns."""
    uvicorn.Server(uvicorn_config(settings)).run()
