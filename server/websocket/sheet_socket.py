"""The WebSocket endpoint `/ws/sheet/{name}`: admit a client, join it to the room, feed it.

Every refusal accepts the socket first and then closes it with a code and a reason: 44xx
when retrying cannot help (y-websocket 3 stops there), 1013 "try again later" when it can (a
sheet that cannot be loaded while the database is unreachable, or a server holding too many
unwritten edits), 1011 for a server fault. Whatever one client does, only its own connection
is closed.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pycrdt import YSyncMessageType
from starlette.websockets import WebSocket

from persistence.settings import Settings
from persistence.store.sheet_claims import SheetTaken
from persistence.tokens import Grant
from server.auth import CLOSE_UNAUTHORIZED, AccessPolicy, Refused, bearer_token
from server.sheets.room import Room
from server.sheets.rooms import Rooms, SheetUnavailable, UnknownSheet
from server.websocket.connection import (
    CLOSE_TOO_MANY,
    Connection,
    LimitExceeded,
    MissingFrameWriter,
    peer_address,
)
from server.websocket.protocol import ProtocolError, sync_message

log = logging.getLogger(__name__)

Message = Mapping[str, Any]  # an ASGI WebSocket message

CLOSE_PROTOCOL_ERROR = 4400
CLOSE_UNKNOWN_SHEET = 4404
CLOSE_SERVED_ELSEWHERE = 4409
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN = 1013
HELD_TOO_MUCH = "the database is unreachable and this server holds too many unwritten edits"

Handler = Callable[[Connection, bytes], Awaitable[None]]  # a room's receive

# A fresh client's first frame: sync step 1 with a state vector of nothing.
_FIRST_SYNC = sync_message(YSyncMessageType.SYNC_STEP1, b"\x00")
# How long a client that would load its sheet is given to send its first frame.
FIRST_FRAME_WAIT = 0.5


class SheetSocket:
    def __init__(
        self,
        rooms: Rooms,
        policy: AccessPolicy,
        settings: Settings,
    ) -> None:
        self.rooms = rooms
        self.policy = policy
        self.settings = settings
        self.connected = 0

    async def handle(self, websocket: WebSocket) -> None:
        await websocket.accept()
        name = websocket.path_params["name"]
        self.connected += 1  # counted before any await: clients arriving together count
        try:
            try:
                connection, room, first = await self._admit(websocket, name)
            except Refused as exc:
                log.info("refused %s on sheet %.80r: %s", peer_address(websocket), name, exc.reason)
                await websocket.close(exc.code, exc.reason[:120])
                return
            except Exception:
                log.exception("refused %s on sheet %.80r after an unexpected error",
                              peer_address(websocket), name)  # fmt: skip
                await websocket.close(CLOSE_SERVER_ERROR, "internal error")
                return
            room.join(connection)
            try:
                await self._serve(websocket, connection, room.receive, first)
            finally:
                room.leave(connection)
                self.rooms.release(room)
        finally:
            self.connected -= 1

    async def _admit(
        self, websocket: WebSocket, name: str
    ) -> tuple[Connection, Room, Message | None]:
        token = bearer_token(dict(websocket.headers), dict(websocket.query_params))
        grant = self.policy.admit(name, token, websocket.headers.get("origin"))
        if self.connected > self.settings.max_connections:
            raise Refused(CLOSE_TOO_MANY, "the server has too many connections")
        if self.rooms.log_appender.full:
            raise Refused(CLOSE_TRY_AGAIN, HELD_TOO_MUCH)
        try:
            connection = self._connection(websocket, grant)
            room, first = await self._acquire(websocket, connection, name)
        except UnknownSheet as exc:
            reason = exc.reason.encode()[:123].decode(errors="ignore")  # a close frame's limit
            raise Refused(CLOSE_UNKNOWN_SHEET, reason) from None
        except SheetUnavailable as exc:
            raise Refused(CLOSE_TRY_AGAIN, exc.reason) from None
        except SheetTaken as exc:
            raise Refused(CLOSE_SERVED_ELSEWHERE, exc.reason) from None
        except MissingFrameWriter as exc:
            log.error("%s", exc)
            raise Refused(CLOSE_SERVER_ERROR, "server misconfigured") from None
        if len(room.connections) >= self.settings.max_sheet_connections:
            self.rooms.release(room)
            raise Refused(CLOSE_TOO_MANY, "this sheet has too many connections")
        return connection, room, first

    async def _acquire(
        self, websocket: WebSocket, connection: Connection, name: str
    ) -> tuple[Room, Message | None]:
        """The sheet's room, and the client's first message when it was read and is still to
        be handled. Before a room loads, its client's first frame is read (clients send it on
        connecting): a fresh client's (a state vector of nothing) has it sent the sheet's log
        as soon as the load reads it (`EarlySync`)."""
        if self.rooms.live(name) is not None:
            return await self.rooms.acquire(name), None
        try:
            first = await asyncio.wait_for(websocket.receive(), FIRST_FRAME_WAIT)
        except TimeoutError:
            first = None
        if first is not None and first.get("bytes") == _FIRST_SYNC:
            self.rooms.early.wait(name, connection)
        try:
            room = await self.rooms.acquire(name)
        finally:
            self.rooms.early.forget(name, connection)
        return room, None if connection.sent_log else first

    def _connection(self, websocket: WebSocket, grant: Grant) -> Connection:
        user = {"id": grant.user_id, "name": grant.name} if self.policy.secured else None
        return Connection(
            websocket,
            self.settings.max_backlog,
            user=user,
            can_write=grant.can_write,
            expires_at=grant.expires_at,
            messages_per_second=self.settings.max_messages_per_second,
        )

    async def _serve(
        self,
        websocket: WebSocket,
        connection: Connection,
        handle: Handler,
        first: Message | None = None,
    ) -> None:
        """Feeds the client's frames to the room until it leaves or its token expires; a bad
        frame or a limit closes this one connection with a reason, and nobody else notices.
        While the update log holds too much, a client's frame closes it, to come back later:
        it keeps its edits."""
        loop = asyncio.get_running_loop()
        expiry = connection.expires_at
        deadline = None if expiry is None else loop.time() + expiry - time.time()
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    message, first = first or await websocket.receive(), None
                    if message["type"] == "websocket.disconnect":
                        return
                    data = message.get("bytes")
                    if data is None:
                        raise ProtocolError("text frames are not part of the protocol")
                    if self.rooms.log_appender.full:
                        raise LimitExceeded(CLOSE_TRY_AGAIN, HELD_TOO_MUCH)
                    await handle(connection, data)
        except TimeoutError:
            log.info("closing %s: its token expired", connection.peer)
            await websocket.close(CLOSE_UNAUTHORIZED, "token expired")
        except ProtocolError as exc:
            log.warning("closing %s: %s", connection.peer, exc)
            await websocket.close(CLOSE_PROTOCOL_ERROR, str(exc)[:120])
        except LimitExceeded as exc:
            log.warning("closing %s: %s", connection.peer, exc.reason)
            await websocket.close(exc.code, exc.reason)
        except Exception:
            log.exception("closing %s after an unexpected error", connection.peer)
            await websocket.close(CLOSE_SERVER_ERROR, "internal error")
