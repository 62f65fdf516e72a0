"""A load balancer of the test's own, as nginx in front of several `cellsync serve` processes:
each new connection goes to the first process still running, and is cut when that one dies."""

from __future__ import annotations

import asyncio
import contextlib

from serverprocess import ServerProcess


class Balancer:
    def __init__(self, upstreams: list[ServerProcess]) -> None:
        self.upstreams = upstreams
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for upstream in self.upstreams:
            if upstream.process is None or upstream.process.poll() is not None:
                continue
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    "127.0.0.1", upstream.port
                )
            except OSError:
                continue
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            return
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies bytes until either side ends, then closes the other side too."""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
