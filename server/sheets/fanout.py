"""The seam where a room's updates and presence leave for the same room in other processes.

A single process needs nothing behind it (`SingleProcess`). Processes sharing sheets put
`server/processes/redis_fanout.py` here: `publish` sends each local update out, and updates arriving
from other processes go into the sheet's document with `SheetDocument.apply(update,
OtherProcess(...))`, which hands them to every hook but this one's (`publish` skips
`OtherProcess` origins). A room starts from the `backlog` read before its log, then `attach`;
the edits its load made (`load_repair`), which the log holds already, go out by
`publish_logged`, so processes that had the sheet open see them too. A process asked to write
a sheet's table that it does not write asks the writer (`ask_writer`), which writes it with the
function given to `answer_writes`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from persistence.origins import Origin
from server.processes.sheet_streams import Backlog
from server.sheets.room import Room
from server.websocket.protocol import AwarenessEntry

Report = dict[str, Any]  # a table write's report (`WriteResult.report`), as JSON
WriteHere = Callable[[str], Awaitable[Report]]  # writes the sheet's table in this process


class NoAnswer(Exception):
    """The sheet's table writer, in another process, did not write it; says why."""


@dataclass
class CrossProcess:
    """What `/healthz` and `/metrics` say about the other processes' link."""

    process: str
    up: bool
    reason: str
    updates_in: int
    updates_out: int
    held_bytes: int  # updates waiting for Redis
    lag: dict[str, float] = field(default_factory=dict)  # sheet -> seconds


class Fanout(Protocol):
    async def backlog(self, sheet: str) -> Backlog: ...

    def attach(self, room: Room, backlog: Backlog) -> None: ...

    def detach(self, sheet: str) -> None: ...

    def publish(self, sheet: str, update: bytes, origin: Origin) -> None: ...

    def publish_logged(self, sheet: str, update: bytes) -> None: ...

    def publish_presence(self, sheet: str, entries: list[AwarenessEntry]) -> None: ...

    def answer_writes(self, write: WriteHere) -> None: ...

    async def ask_writer(self, sheet: str) -> Report | None: ...

    def state(self) -> CrossProcess | None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...


class SingleProcess:
    """One server process holds every room: nothing to send anywhere."""

    async def backlog(self, sheet: str) -> Backlog:
        return Backlog([], b"")

    def attach(self, room: Room, backlog: Backlog) -> None:
        return None

    def detach(self, sheet: str) -> None:
        return None

    def publish(self, sheet: str, update: bytes, origin: Origin) -> None:
        return None

    def publish_logged(self, sheet: str, update: bytes) -> None:
        return None

    def publish_presence(self, sheet: str, entries: list[AwarenessEntry]) -> None:
        return None

    def answer_writes(self, write: WriteHere) -> None:
        return None

    async def ask_writer(self, sheet: str) -> Report | None:
        """None: there is no other process to ask."""
        return None

    def state(self) -> CrossProcess | None:
        return None

    async def run(self) -> None:
        return None

    async def close(self) -> None:
        return None
