"""A client on a slow link takes seconds to receive a big sheet's first sync; edits others make
meanwhile do not count it as falling behind (it is not dropped, and gets them all after the
sync), while a client that falls behind past `max_backlog` beyond its sync still is
(`test_room_faults.py`)."""

import asyncio
import base64
import os
import socket
from urllib.parse import urlparse

from test_worker import execute, table_follows

from client.sheet import open_sheet
from server.websocket.protocol import sync_message

NOTE = "n" * 20_000
ROWS = 800  # a first sync of ~16 MB, far more than the socket buffers take


async def test_edits_made_while_a_slow_client_receives_its_first_sync_do_not_drop_it(
    server_factory, database_url
):
    execute(
        database_url,
        "CREATE TABLE wide (id INTEGER PRIMARY KEY, note TEXT)",
        *(f"INSERT INTO wide (id, note) VALUES ({i}, '{NOTE}')" for i in range(1, ROWS + 1)),
    )
    server = await server_factory({"wide": "wide"}, CELLSYNC_MAX_BACKLOG=str(64 * 1024))
    slow = await asyncio.to_thread(_connect_without_reading, server.url, "wide")
    try:
        async with open_sheet(server.url, "wide") as sheet:  # joins after the slow client
            for i in range(20):
                sheet.set("1", "note", f"edit {i}")
            await table_follows(database_url, sheet, "wide")  # the server had (and sent) them
        received = await asyncio.to_thread(_read_all, slow, ROWS * len(NOTE))
    finally:
        slow.close()
    assert "too slow" not in server.log()
    assert b"edit 19" in received  # the edits made meanwhile, after the sync


def _connect_without_reading(url: str, sheet: str) -> socket.socket:
    """A WebSocket client with a small receive buffer that sends its sync step 1 and then
    reads nothing: a slow link, as the server sees it."""
    address = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # no autotuning
    sock.connect((address.hostname, address.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws/sheet/{sheet} HTTP/1.1\r\nHost: {address.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # the headers only: the frames after them stay unread
    assert response.startswith(b"HTTP/1.1 101"), response
    sock.sendall(_masked(sync_message(0, b"\x00")))
    return sock


def _masked(payload: bytes) -> bytes:
    """A client's binary frame (masked, as RFC 6455 requires); payloads under 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + body


def _read_all(sock: socket.socket, at_least: int) -> bytes:
    """Everything the server sent, until `at_least` bytes and a quiet second; fails if the
    server closed the connection first."""
    sock.settimeout(1.0)
    received = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            if len(received) >= at_least:
                return bytes(received)
            raise
        assert chunk, f"the server closed the connection after {len(received)} bytes"
        received += chunk
