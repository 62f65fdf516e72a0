"""The seam where a room's updates leave for the same room in other server processes.

A single process needs nothing behind it. Several processes sharing sheets put a Redis
implementation here: `publish` sends each local update out, and updates arriving from other
processes go into the sheet's document with `SheetDocument.apply(update, OtherProcess(...))`,
which hands them to every hook but this one's (`publish` skips `OtherProcess` origins).
"""

from typing import Protocol

from persistence.origins import Origin


class Fanout(Protocol):
    def publish(self, sheet: str, update: bytes, origin: Origin) -> None: ...


class SingleProcess:
    """One server process holds every room: nothing to send anywhere."""

    def publish(self, sheet: str, update: bytes, origin: Origin) -> None:
        return None
