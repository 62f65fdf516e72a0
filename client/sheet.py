"""The Python client: open a live sheet by URL and name, read and edit its rows.

    async with open_sheet("ws://127.0.0.1:8000", "orders") as sheet:
        for row in sheet:
            print(row["_key"], row["quantity"])
        sheet.set(key, "quantity", 3)
        key = sheet.add_row({"customer": "Ada"})

Edits apply to the local document at once and reach the server in the background; leaving the
`async with` block sends what is queued before it closes. To change `sheet.doc` in your own
way, do it inside `with sheet.edit() as doc:`, one transaction.

Rows are read from the document when asked for, never copied whole beside it: iterating over
the sheet reads them a chunk at a time. Integer columns give ints, even where JavaScript wrote
the number (a double).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from itertools import islice
from typing import Any

import websockets
from pycrdt import (
    Array,
    Doc,
    Map,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from persistence.document import REFUSALS, iter_rows, new_doc, new_row_key, read_meta, row_cells
from persistence.origins import REMOTE, Remote
from persistence.records import integer_columns, with_integers

READ_CHUNK = 1000  # rows read per read transaction while iterating


class SheetClosed(ConnectionError):
    """The server closed the sheet's connection (an unknown sheet is code 4404)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"sheet connection closed ({code}): {reason}")
        self.code = code
        self.reason = reason


class Sheet:
    """A sheet's document, kept in sync with the server while the sheet is open."""

    def __init__(self, websocket: websockets.ClientConnection) -> None:
        self.doc = new_doc()
        self._websocket = websocket
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._synced = asyncio.Event()
        self._made: list[bytes] = []  # updates of this program's transactions not yet sent
        self._tasks: list[asyncio.Task[None]] = []
        self._waiters: set[asyncio.Event] = set()
        self._subscription = self.doc.observe(self._on_transaction)

    async def _start(self, timeout: float) -> None:
        self._outbox.put_nowait(create_sync_message(self.doc))
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]
        closed = asyncio.ensure_future(self._websocket.wait_closed())
        synced = asyncio.ensure_future(self._synced.wait())
        try:
            await asyncio.wait({closed, synced}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            closed.cancel()
            synced.cancel()
        self._check_open()
        if not self._synced.is_set():
            raise TimeoutError(f"sheet did not sync within {timeout}s")

    async def _stop(self) -> None:
        """Sends what is queued, then closes."""
        self._send_made()
        if self._websocket.close_code is None:
            await self._outbox.join()
        await self._websocket.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # the observer holds this Sheet from inside pycrdt, where Python's collector cannot see
        # the cycle: left in place, every sheet ever opened would stay in memory
        self.doc.unobserve(self._subscription)

    @contextmanager
    def edit(self, origin: object = None) -> Iterator[Doc]:
        """One transaction on the sheet's document; its update goes to the server unless it
        came from there (origin `REMOTE`). A remote one is applied unobserved: it is not this
        program's to send, and its update (tens of MB for a big sheet's first sync) is not
        encoded again."""
        self._send_made()  # anything changed outside `edit` is this program's own
        remote = isinstance(origin, Remote)
        if remote:
            self.doc.unobserve(self._subscription)
        try:
            with self.doc.transaction(origin=origin):
                yield self.doc
        finally:
            if remote:
                self._subscription = self.doc.observe(self._on_transaction)
                self._wake_waiters()
            self._send_made()

    def _send_made(self) -> None:
        made, self._made = self._made, []
        for update in made:
            self._outbox.put_nowait(create_update_message(update))

    def _on_transaction(self, event: TransactionEvent) -> None:
        """Keeps the update of this program's own changes, to send."""
        self._wake_waiters()
        self._made.append(event.update)

    async def _send(self) -> None:
        while True:
            message = await self._outbox.get()
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._websocket.send(message)
            self._outbox.task_done()

    async def _receive(self) -> None:
        try:
            await self._apply_incoming()
        finally:
            self._wake_waiters()  # a closed connection ends every wait

    async def _apply_incoming(self) -> None:
        async for message in self._websocket:
            if isinstance(message, str) or message[0] != YMessageType.SYNC:
                continue  # awareness is not shown by the Python client
            kind = message[1]
            if kind == YSyncMessageType.SYNC_STEP1:  # a state vector: small
                reply = handle_sync_message(message[1:], self.doc)
                if reply is not None:
                    self._outbox.put_nowait(reply)
                continue
            update = _sync_payload(message)
            del message
            with self.edit(REMOTE):
                self.doc.apply_update(update)
            if kind == YSyncMessageType.SYNC_STEP2:
                self._synced.set()

    @property
    def meta(self) -> dict[str, Any]:
        return read_meta(self.doc)

    @property
    def columns(self) -> list[str]:
        return [column["name"] for column in self.meta.get("columns", [])]

    def rows(self) -> list[dict[str, Any]]:
        """Every row in display order, with its key under `"_key"`, as one list."""
        return list(self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every row in display order, with its key under `"_key"`, read as the iteration
        reaches it: a read transaction per `READ_CHUNK` rows is 3x faster than one per row,
        and none stays open while the caller's code runs."""
        integers = integer_columns(self.doc)
        rows = iter_rows(self.doc)
        while True:
            with self.doc.transaction():
                chunk = [
                    with_integers({"_key": key, **cells}, integers)
                    for key, cells in islice(rows, READ_CHUNK)
                ]
            if not chunk:
                return
            yield from chunk

    def refusals(self) -> dict[tuple[str, str], str]:
        """Cells the server refused, (row key, column) -> why; column "" for a whole row."""
        refusals = self.doc.get(REFUSALS, type=Map)
        return {tuple(k.split("\x00", 1)): v["reason"] for k, v in refusals.items()}

    def row(self, key: str) -> dict[str, Any]:
        """One row's cells, read from the document now; KeyError if there is no such row."""
        return with_integers(row_cells(self._rows[key]), integer_columns(self.doc))

    def set(self, key: str, column: str, value: Any) -> None:
        self.update(key, {column: value})

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        """Sets several cells of one row in one transaction."""
        self._check_open()
        row = self._rows[key]
        with self.edit():
            for column, value in values.items():
                row[column] = value

    def add_row(self, values: Mapping[str, Any]) -> str:
        """Appends a row under a fresh random key and returns the key."""
        self._check_open()
        key = new_row_key()
        with self.edit():
            self._rows[key] = Map(dict(values))
            self._order.append(key)
        return key

    def delete_row(self, key: str) -> None:
        self._check_open()
        with self.edit():
            del self._rows[key]
            for index in reversed([i for i, k in enumerate(self._order) if k == key]):
                del self._order[index]

    async def wait_for(self, condition: Callable[["Sheet"], bool], timeout: float = 10) -> None:
        """Waits until `condition(sheet)` holds after a change; raises TimeoutError, or
        SheetClosed as soon as the server closes the connection."""
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            async with asyncio.timeout(timeout):
                while not condition(self):
                    self._check_open()
                    await changed.wait()
                    changed.clear()
        finally:
            self._waiters.discard(changed)

    def _wake_waiters(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _check_open(self) -> None:
        """Refuses edits that could never reach the server."""
        if self._websocket.close_code is not None:
            raise SheetClosed(self._websocket.close_code, self._websocket.close_reason or "")

    @property
    def _rows(self) -> Map:
        return self.doc.get("rows", type=Map)

    @property
    def _order(self) -> Array:
        return self.doc.get("order", type=Array)


def _sync_payload(message: bytes) -> bytes:
    """The update a sync message carries after its two type bytes and its length, in one copy:
    pycrdt's `handle_sync_message` makes three, each the whole sheet on the first sync."""
    start = 2
    while message[start] & 0x80:  # the length's varuint: its last byte is under 0x80
        start += 1
    return message[start + 1 :]


@asynccontextmanager
async def open_sheet(
    url: str, name: str, timeout: float = 30, token: str | None = None
) -> AsyncIterator[Sheet]:
    """Connects to `url` (ws://host:port) and yields the sheet once it is synced; `token` is
    the access token when the server requires one."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    path = f"{url.rstrip('/')}/ws/sheet/{name}"
    async with websockets.connect(path, max_size=None, additional_headers=headers) as ws:
        sheet = Sheet(ws)
        try:
            await sheet._start(timeout)
            yield sheet
        finally:
            await sheet._stop()
