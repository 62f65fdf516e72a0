"""Where the CLI's sheet commands find sheets and their documents.

A command edits a sheet's document through the running server when one answers, so open tabs
see the change live and the server stays the only holder of the live document; when none
answers (or it does not serve the sheet), it reads the update log and appends its edits there,
and the next server to open the sheet starts from them.
"""

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import websockets
from pycrdt import Doc

from client.sheet import Sheet, SheetClosed, open_sheet
from persistence.database import check_connection, create_engine
from persistence.document import read_meta
from persistence.origins import Command
from persistence.settings import Settings
from persistence.store.migrate import prepare as prepare_store
from persistence.store.sheet_store import SheetStore
from persistence.store.update_log import UpdateLog, merge
from persistence.table.schema import TableSchema, reflect_table
from persistence.table.write_result import Refusal, WriteResult
from persistence.tokens import WRITE, mint

CLOSE_UNKNOWN_SHEET = 4404
SYNC_TIMEOUT = 60.0


class CommandError(Exception):
    """Bad input or an unusable environment; the message is one line, fit for the user."""


@dataclass
class OpenDocument:
    doc: Doc  # to read; change it inside `edit()`
    live: bool  # True: edits reach the running server (and every open tab) on leaving
    edit: Callable[[], AbstractContextManager[Doc]]  # one transaction of the command's


@contextmanager
def _transaction(doc: Doc, origin: Command) -> Iterator[Doc]:
    with doc.transaction(origin=origin):
        yield doc


class Workspace:
    def __init__(self, settings: Settings, server: str | None) -> None:
        self.server = check_server_url(server or f"ws://{settings.host}:{settings.port}")
        self.engine = create_engine(settings.database_url)
        check_connection(self.engine)
        prepare_store(self.engine)
        self.update_log = UpdateLog(self.engine)
        self.store = SheetStore(self.engine, self.update_log)
        self.sheets = settings.sheets
        # A token given (CELLSYNC_TOKEN) is used as it is; with the server's secret at hand,
        # the CLI signs a short one of its own.
        self.token = settings.token or (
            mint(
                settings.secret,
                "cellsync-cli",
                "cellsync CLI",
                {"*": WRITE},
                600,
                rules=settings.token_rules,
            )
            if settings.secret
            else None
        )

    def close(self) -> None:
        self.engine.dispose()

    def names(self) -> list[str]:
        """Every sheet the settings list or the log holds."""
        return sorted(set(self.sheets) | set(self.update_log.sheets()))

    def table(self, name: str) -> str:
        """The sheet's table: from the settings, else from the document the log holds."""
        if name in self.sheets:
            return self.sheets[name]
        logged = self.update_log.load(name)
        if logged is not None:
            table = read_meta(logged.document()).get("table")
            if isinstance(table, str):
                return table
        raise CommandError(
            f"unknown sheet {name!r}: neither the settings (--sheet NAME=TABLE, cellsync.toml, "
            "CELLSYNC_SHEETS) nor the update log know it"
        )

    def schema(self, name: str) -> TableSchema:
        return reflect_table(self.engine, self.table(name))

    @asynccontextmanager
    async def document(self, name: str, command: str) -> AsyncIterator[OpenDocument]:
        """The sheet's current document. Through the server, edits stream out as they are made;
        into the log, they are appended on leaving the block, and not at all if it raises.
        Commands make their edits in one transaction, so either way they arrive whole."""
        table = self.table(name)
        async with AsyncExitStack() as stack:
            sheet = await self._connect(stack, name)
            origin = Command(command)
            if sheet is not None:
                yield OpenDocument(sheet.doc, live=True, edit=lambda: sheet.edit(origin))
                return
        doc = (await asyncio.to_thread(self.store.open, name, table)).doc
        edits: list[bytes] = []  # not a state-vector diff: that misses pure deletions
        subscription = doc.observe(lambda event: edits.append(event.update))
        yield OpenDocument(doc, live=False, edit=lambda: _transaction(doc, origin))
        doc.unobserve(subscription)
        if edits:
            await asyncio.to_thread(self.update_log.append, {name: merge(edits)})

    async def read(self, name: str) -> bytes:
        """The sheet's current document as an update, changing nothing anywhere."""
        table = self.table(name)
        async with AsyncExitStack() as stack:
            sheet = await self._connect(stack, name)
            if sheet is not None:
                return sheet.doc.get_update()
        return await asyncio.to_thread(self.store.peek, name, table)

    async def flush(self, name: str) -> WriteResult:
        """Has the running server write the sheet's table now, from its live document: the
        CLI's copy may be older than what the server wrote, and must not revert it."""
        base = self.server.replace("ws", "http", 1).rstrip("/")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(
            f"{base}/api/sheets/{quote(name, safe='')}/flush", method="POST", headers=headers
        )
        try:
            answer = await asyncio.to_thread(_json_of, request)
        except urllib.error.HTTPError as exc:
            reason = _json_of_error(exc)
            message = f"the server at {self.server} did not write {name!r}: {reason}"
            raise CommandError(message) from None
        except (OSError, ValueError) as exc:
            raise CommandError(f"the server at {self.server} did not answer: {exc}") from None
        refusals = [
            Refusal(r["key"], tuple(r["columns"]), r["reason"], {}, None)
            for r in answer["refusals"]
        ]
        return WriteResult(
            refusals=refusals,
            inserted=answer["inserted"],
            updated=answer["updated"],
            deleted=answer["deleted"],
        )

    async def _connect(self, stack: AsyncExitStack, name: str) -> Sheet | None:
        """The sheet through the server, or None when no server answers or serves it."""
        try:
            return await stack.enter_async_context(
                open_sheet(self.server, name, SYNC_TIMEOUT, token=self.token)
            )
        except SheetClosed as exc:  # before OSError, which it is: a refusal is not "no server"
            if exc.code == CLOSE_UNKNOWN_SHEET:
                return None
            raise CommandError(f"the server at {self.server} closed {name!r}: {exc}") from None
        except OSError:
            return None
        except (websockets.InvalidHandshake, TimeoutError) as exc:
            raise CommandError(
                f"{self.server} is not a Cellsync server that answers: {exc}"
            ) from None


def _json_of(request: urllib.request.Request) -> dict:
    with urllib.request.urlopen(request, timeout=SYNC_TIMEOUT) as answer:
        return json.load(answer)


def _json_of_error(exc: urllib.error.HTTPError) -> str:
    """The server's `{"error": ...}`, else the HTTP status."""
    try:
        return str(json.load(exc)["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}"


def check_server_url(url: str) -> str:
    """Refuses anything but ws://HOST[:PORT] or wss://HOST[:PORT]."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not port_ok or parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise CommandError(f"bad server URL {url!r}: expected ws://HOST:PORT")
    return url
