"""Hostile input against a running server, while a Node client (yjs + y-websocket) and a Python
client stay connected and keep syncing.

After each attack: `/healthz` answers, the two clients still sync an edit both ways, the table
holds exactly what it held plus their edits, every log row decodes, and a fresh client opens
the sheet with every row. Frames that test_room_faults.py already sends (random bytes, a text
frame, truncated varints, an invalid Yjs update, an unknown sync type, an empty frame) and the
slow reader (the slow-client test there) are not repeated here.
"""

import asyncio
import contextlib
import copy
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import psutil
import pytest
import sqlalchemy as sa
import websockets
from nodeclient import NodeClient
from pycrdt import Doc, Map, YSyncMessageType, write_var_uint
from rawclient import RawClient
from tables import create_items_table
from test_worker import table_rows
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.database import create_engine
from persistence.document import row_key
from persistence.store.tables import updates
from server.websocket.protocol import Reader, sync_message

SHEET = "items"
MB = 1024 * 1024


def var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


def awareness_frame(*entries: tuple[int, int, str]) -> bytes:
    body = write_var_uint(len(entries))
    for client_id, clock, state in entries:
        body += write_var_uint(client_id) + write_var_uint(clock) + var_bytes(state.encode())
    return bytes([1]) + var_bytes(body)


def edit(doc: Doc, key: str, column: str, value: Any) -> bytes:
    """Sets a cell in a client's copy of the sheet and returns the update it made."""
    before = doc.get_state()
    doc.get("rows", type=Map)[key][column] = value
    return doc.get_update(before)


def state_clients(state: bytes) -> dict[int, int]:
    """A state vector as {client id: clock}."""
    reader = Reader(state)
    return dict((reader.var_uint(), reader.var_uint()) for _ in range(reader.var_uint()))


async def close_code(client: RawClient, timeout: float = 10) -> int | None:
    """Waits until the server closes the client; its close code (1006: no close frame)."""
    await asyncio.wait_for(client.websocket.wait_closed(), timeout)
    await client.close()  # collects the reader task
    return client.websocket.close_code


async def attacker(server) -> RawClient:
    client = await RawClient.connect(server.url, SHEET)
    await asyncio.wait_for(client.synced.wait(), 10)
    return client


# the clients that must not notice anything


@dataclass
class Bystanders:
    """A Node client and a Python client on the sheet, and the table as it must be: what it
    was when they connected, plus their own edits."""

    server: Any
    database_url: str
    node: NodeClient
    sheet: Sheet
    expected: dict[str, dict[str, Any]]
    rounds: itertools.count = field(default_factory=itertools.count)

    async def check(self, after: str, fresh: bool = True) -> None:
        """Everything still works after `after` (named in every failure); `fresh`: a new
        client opens the sheet too (not when the limits leave no room for one)."""
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{self.server.http}/healthz")
        assert health.status_code == 200, after
        assert self.server.process.poll() is None, f"server died after {after}"

        n = next(self.rounds)
        from_node, from_python = f"node edit {n}", f"python edit {n}"
        await self.node.set_cell("1", "name", from_node)
        await self.sheet.wait_for(lambda s: s.row("1")["name"] == from_node)
        self.sheet.set("2", "name", from_python)
        await eventually(
            lambda: node_sees(self.node, "2", "name", from_python),
            what=f"the Node client syncing after {after}",
        )
        self.expected["1"]["name"] = from_node
        self.expected["2"]["name"] = from_python

        await eventually(
            lambda: asyncio.to_thread(self.table_is_expected),
            what=f"the table intact after {after}",
        )
        await eventually(
            lambda: asyncio.to_thread(self.log_is_expected),
            what=f"the log intact after {after}",
        )
        if fresh:
            async with open_sheet(self.server.url, SHEET) as newcomer:
                names = {row_key(row["id"]): row["name"] for row in newcomer.rows()}
            assert names == {key: row["name"] for key, row in self.expected.items()}, after

    def table_is_expected(self) -> bool:
        return table_rows(self.database_url, "items") == self.expected

    def log_is_expected(self) -> bool:
        """Every log row decodes on its own, and their merge holds the expected names."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                query = sa.select(updates.c.data).where(updates.c.sheet == SHEET)
                rows = [bytes(data) for data in conn.execute(query).scalars()]
        finally:
            engine.dispose()
        merged = Doc()
        for data in rows:
            Doc().apply_update(data)
            merged.apply_update(data)
        logged = {
            row_key(cells["id"]): cells.get("name")
            for cells in merged.get("rows", type=Map).to_py().values()
            if isinstance(cells, dict) and cells.get("id") is not None
        }
        return logged == {key: row["name"] for key, row in self.expected.items()}


async def node_sees(node: NodeClient, key: str, column: str, value: Any) -> bool:
    return await node.get_cell(key, column) == value


@asynccontextmanager
async def bystanders(server, database_url: str) -> AsyncIterator[Bystanders]:
    expected = await asyncio.to_thread(table_rows, database_url, "items")
    node = await NodeClient.start(f"{server.url}/ws/sheet", SHEET)
    try:
        await node.wait_synced()
        async with open_sheet(server.url, SHEET) as sheet:
            yield Bystanders(server, database_url, node, sheet, copy.deepcopy(expected))
            assert (await node.status())["connected"], "the Node client was disconnected"
    finally:
        await node.close()


# malformed frames

MALFORMED = {
    "length varint claiming 2**60 bytes": bytes([0, 2]) + write_var_uint(2**60) + b"tiny",
    "length varint claiming 2**55 bytes": bytes([0, 2]) + write_var_uint(2**55) + b"tiny",
    "length varint of 11 continuation bytes": bytes([0, 2]) + b"\xff" * 11 + b"\x01tiny",
    "message type varint of 12 continuation bytes": b"\x80" * 12 + b"\x00",
    "awareness declaring 2**50 entries": bytes([1]) + var_bytes(write_var_uint(2**50) + b"\x01"),
    "awareness declaring more entries than it holds": bytes([1])
    + var_bytes(write_var_uint(5) + write_var_uint(77) + write_var_uint(1) + var_bytes(b"{}")),
    "awareness entry with a 2**60 byte state": bytes([1])
    + var_bytes(b"\x01\x4d\x01" + write_var_uint(2**60) + b"{}"),
    "sync step 1 with a truncated state vector": sync_message(
        YSyncMessageType.SYNC_STEP1, b"\x05\xff\xff"
    ),
    "sync step 1 with a state vector missing its clock": sync_message(
        YSyncMessageType.SYNC_STEP1, b"\x01\x01"
    ),
    "sync step 1 with a state vector of 10-byte varints": sync_message(
        YSyncMessageType.SYNC_STEP1, b"\xff" * 9 + b"\x01"
    ),
}


def panicking_update(doc: Doc) -> bytes:
    """A 5-byte update that makes yrs (pycrdt 0.14.13) panic on any document that already
    holds items of the client it names: one client entry with no structs, then an empty delete
    set. pycrdt raises `pyo3_runtime.PanicException`, a BaseException, not a ValueError."""
    client = next(iter(state_clients(doc.get_state())))
    return write_var_uint(1) + write_var_uint(0) + write_var_uint(client) + b"\x00\x00"


async def test_malformed_frames_close_only_their_sender_with_4400(server, database_url):
    async with bystanders(server, database_url) as others:
        for case, frame in MALFORMED.items():
            bad = await attacker(server)
            await bad.send(frame)
            assert await close_code(bad) == 4400, case
            await others.check(case)

        bad = await attacker(server)
        await bad.send_update(panicking_update(bad.doc))
        await close_code(bad)
        await others.check("an update that makes yrs panic")


async def test_an_update_that_makes_yrs_panic_closes_its_sender_with_4400(server):
    bad = await attacker(server)
    await bad.send_update(panicking_update(bad.doc))
    code = await close_code(bad)
    assert "Exception in ASGI application" not in server.log()
    assert code == 4400


# awareness

BAD_STATES = [
    pytest.param("{not json", id="not JSON"),
    pytest.param('{"x": NaN}', id="NaN"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("state", BAD_STATES)
async def test_an_awareness_state_clients_cannot_parse_closes_its_sender(
    server, database_url, state
):
    async with bystanders(server, database_url) as others:
        node = others.node
        await node.set_awareness({"user": {"name": "node bystander"}})
        watcher = await attacker(server)
        await eventually(lambda: has_presence(watcher, node.client_id, "node bystander"))

        bad = await attacker(server)
        await bad.send(awareness_frame((424242, 1, state), (424243, 1, '{"user": "ok"}')))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bad.websocket.wait_closed(), 2)
        assert bad.websocket.close_code == 4400
        await bad.close()

        # the Node client still shows itself, nobody got the bad state, and a newcomer sees it
        assert (await node.awareness())[node.client_id] == {"user": {"name": "node bystander"}}
        assert 424242 not in await node.awareness()
        assert all(e.client_id != 424242 for e in watcher.awareness_entries())
        newcomer = await attacker(server)
        await eventually(lambda: has_presence(newcomer, node.client_id, "node bystander"))
        await asyncio.gather(watcher.close(), newcomer.close())
        await others.check(f"an awareness state that is {state!r}")


def has_presence(client: RawClient, client_id: int, name: str) -> bool:
    states = {e.client_id: e.state for e in client.awareness_entries()}
    state = states.get(client_id)
    return state is not None and json.loads(state or "null") == {"user": {"name": name}}


# size


def server_rss(server) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


async def test_a_50_mb_frame_is_refused_with_4413_and_memory_comes_back(server, database_url):
    async with bystanders(server, database_url) as others:
        before = server_rss(server)
        bad = await attacker(server)
        huge = sync_message(YSyncMessageType.SYNC_UPDATE, bytes(50 * MB))
        sending = asyncio.create_task(bad.send(huge))
        assert await close_code(bad, timeout=30) == 4413
        await asyncio.gather(sending, return_exceptions=True)
        await eventually(
            lambda: server_rss(server) < before + 100 * MB,
            what=f"the server's memory back near {before // MB} MB",
        )
        await others.check("a 50 MB frame")


def frame_of_size(client: RawClient, size: int) -> tuple[bytes, str]:
    """A sync update frame of exactly `size` bytes setting row 3's notes, and the value."""
    full = client.doc.get_update()
    fill = size
    for _ in range(10):
        trial = Doc(client_id=client.doc.client_id)
        trial.apply_update(full)
        value = "n" * fill
        frame = sync_message(YSyncMessageType.SYNC_UPDATE, edit(trial, "3", "notes", value))
        if len(frame) == size:
            update = edit(client.doc, "3", "notes", value)
            return sync_message(YSyncMessageType.SYNC_UPDATE, update), value
        fill += size - len(frame)
    raise AssertionError(f"no frame of exactly {size} bytes")


async def test_a_frame_at_the_configured_limit_passes_and_one_byte_more_is_refused(
    server_factory, database_url
):
    limit = 64 * 1024
    server = await server_factory(CELLSYNC_MAX_MESSAGE=str(limit))
    async with bystanders(server, database_url) as others:
        bad = await attacker(server)
        frame, value = frame_of_size(bad, limit + 1)
        await bad.send(frame)
        assert await close_code(bad) == 4413

        writer = await attacker(server)
        frame, value = frame_of_size(writer, limit)
        await writer.send(frame)
        await others.sheet.wait_for(lambda s: s.row("3")["notes"] == value)
        await eventually(lambda: node_sees(others.node, "3", "notes", value))
        others.expected["3"]["notes"] = value
        assert not writer.websocket.close_code
        await writer.close()
        await others.check("frames at and past the size limit")


# connections


async def churn(server, kind: int) -> None:
    """One quick connection of one of six kinds, gone within milliseconds."""
    path = f"/ws/sheet/{SHEET}"
    upgrade = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
        if kind < 3:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            if kind == 1:  # half a handshake, then gone
                writer.write(upgrade[: len(upgrade) // 2])
            elif kind == 2:  # a whole handshake, gone before the answer
                writer.write(upgrade)
            await writer.drain()
            writer.transport.abort()
            return
        ws = await websockets.connect(f"{server.url}{path}", open_timeout=10)
        if kind == 3:  # gone right after the server accepted, without a close frame
            ws.transport.abort()
        elif kind == 4:  # a sync step 1, then gone without reading the answer
            await ws.send(sync_message(YSyncMessageType.SYNC_STEP1, b"\x00"))
            ws.transport.abort()
        else:  # a clean close
            await ws.close()


async def admitted(server, sheet: str = SHEET) -> websockets.ClientConnection | None:
    """A connection the server let in (it starts the sync), or None if it was refused."""
    ws = await websockets.connect(f"{server.url}/ws/sheet/{sheet}", max_size=None)
    try:
        first = await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed:
        return None
    assert first[:2] == b"\x00\x00"  # sync step 1
    return ws


async def refused_with(server, sheet: str = SHEET) -> tuple[int | None, str]:
    async with websockets.connect(f"{server.url}/ws/sheet/{sheet}") as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        await asyncio.wait_for(ws.wait_closed(), 10)
        return ws.close_code, ws.close_reason


async def reported_connections(server) -> tuple[int, int]:
    """Open connections as /metrics and /api/sheets report them."""
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{server.http}/metrics")).text
        sheets = (await http.get(f"{server.http}/api/sheets")).json()["sheets"]
    gauge = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("cellsync_connections ")
    )
    clients = sum(s["clients"] for s in sheets)
    return int(gauge), clients


async def test_thousands_of_quick_connects_and_disconnects_leak_nothing(
    server_factory, database_url
):
    max_connections = 250
    server = await server_factory(CELLSYNC_MAX_CONNECTIONS=str(max_connections))
    process = psutil.Process(server.process.pid)
    async with bystanders(server, database_url) as others:
        assert await reported_connections(server) == (2, 2)
        fds = process.num_fds()
        for batch in range(20):
            await asyncio.gather(*(churn(server, (batch + i) % 6) for i in range(100)))
        await eventually(
            lambda: reported_connections_are(server, 2), what="connections back to the baseline"
        )
        await eventually(lambda: process.num_fds() <= fds + 5, what="file descriptors released")

        # the server's own count is back too: every remaining slot can be taken
        opened = await asyncio.gather(*(admitted(server) for _ in range(max_connections - 2)))
        assert all(opened), f"{opened.count(None)} refused below max_connections"
        assert (await refused_with(server))[0] == 4429
        await asyncio.gather(*(ws.close() for ws in opened if ws))
        await others.check("2,000 quick connects and disconnects")
    assert "Traceback" not in server.log()


async def reported_connections_are(server, n: int) -> bool:
    return await reported_connections(server) == (n, n)


async def test_connection_limits_refuse_only_the_extra_connection(server_factory, database_url):
    await asyncio.to_thread(create_items_table, database_url, 10, "more")
    server = await server_factory(
        {"more": "more"}, CELLSYNC_MAX_SHEET_CONNECTIONS="3", CELLSYNC_MAX_CONNECTIONS="5"
    )
    async with bystanders(server, database_url) as others:
        third = await attacker(server)
        assert await refused_with(server) == (4429, "this sheet has too many connections")
        on_more = [await admitted(server, "more") for _ in range(2)]
        assert all(on_more)
        assert await refused_with(server, "more") == (4429, "the server has too many connections")
        assert await reported_connections(server) == (5, 5)
        await others.check("connections past the limits", fresh=False)

        await third.close()
        await eventually(lambda: reported_connections_are(server, 4))
        again = await admitted(server)
        assert again is not None
        await asyncio.gather(again.close(), *(ws.close() for ws in on_more))
        await eventually(lambda: reported_connections_are(server, 2))
        await others.check("slots freed")


async def test_max_connections_holds_when_clients_arrive_together(server_factory):
    server = await server_factory(CELLSYNC_MAX_CONNECTIONS="2")
    opened = await asyncio.gather(*(admitted(server) for _ in range(8)))
    let_in = [ws for ws in opened if ws]
    await asyncio.gather(*(ws.close() for ws in let_in))
    assert len(let_in) <= 2


async def test_a_flood_closes_only_the_flooder_with_4429(server_factory, database_url):
    server = await server_factory(CELLSYNC_MAX_MESSAGES_PER_SECOND="20")
    async with bystanders(server, database_url) as others:
        flooder = await attacker(server)
        frames = [awareness_frame((777, clock, '{"user": "flood"}')) for clock in range(1, 500)]
        for frame in frames:
            if flooder.websocket.close_code:
                break
            with contextlib.suppress(websockets.ConnectionClosed):
                await flooder.send(frame)
        assert await close_code(flooder) == 4429
        assert flooder.websocket.close_reason == "more than 20 messages a second"
        await others.check("a flood of awareness messages")

        flooder = await attacker(server)
        qty = others.expected["5"]["qty"]  # the same value over and over: the table is unchanged
        for _ in range(500):
            if flooder.websocket.close_code:
                break
            with contextlib.suppress(websockets.ConnectionClosed):
                await flooder.send_update(edit(flooder.doc, "5", "qty", qty))
        assert await close_code(flooder) == 4429
        await others.check("a flood of updates")


# names and values

SHEET_NAMES = {
    "encoded path traversal": "..%2F..%2Fetc%2Fpasswd",
    "path traversal": "../items",
    "dot segment": "..",
    "SQL with a quote": quote("items'; DROP TABLE items;--", safe=""),
    "SQL with a double quote": quote('items" OR 1=1', safe=""),
    "RTL override": quote("\u202eitems", safe=""),
    "zero-width joiner": quote("ite\u200dms", safe=""),
    "fullwidth, NFKC-equal to items": quote("\uff49\uff54\uff45\uff4d\uff53", safe=""),
    "information source sign, NFKC-equal to i": quote("\u2139tems", safe=""),
    "upper case": "ITEMS",
    "NUL": "items%00",
    "trailing space": "items%20",
    "bad percent-encoding": "items%ZZ%",
    "invalid UTF-8": "items%C3%28",
    "5 kB name": "x" * 5_000,
}


async def name_refusal(server, encoded: str) -> str:
    """How the server refused a sheet name: "4404", or "HTTP <status>" before the upgrade."""
    url = f"{server.url}/ws/sheet/{encoded}"
    try:
        async with websockets.connect(url) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                first = await asyncio.wait_for(ws.recv(), 10)
                return f"admitted: {first[:2]!r}"
            return str(ws.close_code)
    except websockets.InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"


async def test_tricky_sheet_names_are_refused_and_the_table_is_untouched(server, database_url):
    async with bystanders(server, database_url) as others, httpx.AsyncClient() as http:
        for case, encoded in SHEET_NAMES.items():
            outcome = await name_refusal(server, encoded)
            assert outcome == "4404" or outcome in ("HTTP 400", "HTTP 403", "HTTP 404"), (
                f"{case}: {outcome}"
            )
            api = await http.get(f"{server.http}/api/sheets/{encoded}")
            assert api.status_code in (400, 404), f"{case}: API answered {api.status_code}"
        sheets = (await http.get(f"{server.http}/api/sheets")).json()["sheets"]
        assert [s["name"] for s in sheets] == [SHEET]
        await others.check("tricky sheet names")
    assert "Traceback" not in server.log()


async def test_a_10_kb_sheet_name_is_refused_promptly(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET /ws/sheet/{'x' * 10_000} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(100), 3)
    except TimeoutError:
        answer = None
    finally:
        writer.transport.abort()
    assert answer is not None, "no answer within 3 s, and the socket is still open"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.http}/healthz")).status_code == 200


SQL_VALUES = [
    "'); DROP TABLE items; --",
    "Robert'); DELETE FROM cellsync_updates;--",
    'items" OR 1=1; --',
    "x' OR '1'='1",
]


async def test_values_carrying_sql_land_verbatim(server, database_url):
    async with bystanders(server, database_url) as others:
        others.sheet.set("3", "name", SQL_VALUES[0])
        await others.node.set_cell("4", "notes", SQL_VALUES[1])
        others.sheet.set("6", "notes", SQL_VALUES[2])
        key = others.sheet.add_row({"name": SQL_VALUES[3], "notes": SQL_VALUES[1]})
        await others.sheet.wait_for(lambda s: s.row(key).get("id") is not None)
        new_id = others.sheet.row(key)["id"]
        others.expected["3"]["name"] = SQL_VALUES[0]
        others.expected["4"]["notes"] = SQL_VALUES[1]
        others.expected["6"]["notes"] = SQL_VALUES[2]
        others.expected[row_key(new_id)] = {
            "id": new_id,
            "name": SQL_VALUES[3],
            "qty": None,
            "price": None,
            "done": None,
            "notes": SQL_VALUES[1],
        }
        await eventually(lambda: node_sees(others.node, "6", "notes", SQL_VALUES[2]))
        await others.check("values carrying SQL")

    engine = create_engine(database_url)
    try:
        assert {"items", "cellsync_updates"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
