"""The room's awareness (presence) states.

pycrdt-websocket forwards every awareness frame verbatim, and y-websocket clients re-send every
remote state they receive, so one cursor move among ten clients made a hundred frames. The room
keeps each client's latest clock instead and forwards an entry only when its clock moves on:
re-sent states stop here. A client's states are removed the moment its connection closes.
"""

from server.connection import Connection
from server.protocol import AwarenessEntry

REMOVED = "null"


class Presence:
    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, Connection] = {}

    def apply(self, sender: Connection, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Records the entries that are news; returns them, to forward to the others."""
        news = []
        for entry in entries:
            known = self._entries.get(entry.client_id)
            if known is not None and entry.clock <= known.clock:
                continue
            self._entries[entry.client_id] = entry
            self._owners.setdefault(entry.client_id, sender)
            news.append(entry)
        return news

    def live(self) -> list[AwarenessEntry]:
        """Every state still present, for a client that joins."""
        return [entry for entry in self._entries.values() if entry.state not in (REMOVED, "")]

    def leave(self, connection: Connection) -> list[AwarenessEntry]:
        """Removes the states the connection owned; returns the removals to broadcast."""
        removals = []
        for client_id in [cid for cid, owner in self._owners.items() if owner is connection]:
            del self._owners[client_id]
            known = self._entries[client_id]
            if known.state in (REMOVED, ""):
                continue
            removal = AwarenessEntry(client_id, known.clock + 1, REMOVED)
            self._entries[client_id] = removal
            removals.append(removal)
        return removals
