"""The seam where a room's updates leave for the same room in other server processes.

A single process needs nothing behind it. Several processes sharing sheets put a Redis
implementation here: `publish` sends each local update out, and updates arriving from other
processes go into the room with `Room.apply(update)`.
"""

from typing import Protocol


class Fanout(Protocol):
    def publish(self, sheet: str, update: bytes) -> None: ...


class SingleProcess:
    """One server process holds every room: nothing to send anywhere."""

    def publish(self, sheet: str, update: bytes) -> None:
        return None
