"""The room's awareness (presence) states.

pycrdt-websocket forwards every awareness frame verbatim, and y-websocket clients re-send every
remote state they receive, so one cursor move among ten clients made a hundred frames. The room
keeps each client's latest clock instead and forwards an entry only when its clock moves on:
re-sent states stop here. A client's states are removed the moment its connection closes.
"""

import json

from server.connection import Connection
from server.protocol import AwarenessEntry, ProtocolError

REMOVED = "null"


class Presence:
    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, Connection] = {}

    def apply(self, sender: Connection, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Records the entries that are news; returns them, to forward to the others. A
        client changes only its own presence: another connection's entries are left alone."""
        news = []
        for entry in entries:
            known = self._entries.get(entry.client_id)
            if known is not None and entry.clock <= known.clock:
                continue
            if self._owners.get(entry.client_id, sender) is not sender:
                continue
            entry = _checked(entry, sender.user)
            self._entries[entry.client_id] = entry
            self._owners.setdefault(entry.client_id, sender)
            news.append(entry)
        return news

    def live(self) -> list[AwarenessEntry]:
        """Every state still present, for a client that joins."""
        return [entry for entry in self._entries.values() if entry.state != REMOVED]

    def leave(self, connection: Connection) -> list[AwarenessEntry]:
        """Removes the states the connection owned; returns the removals to broadcast."""
        removals = []
        for client_id in [cid for cid, owner in self._owners.items() if owner is connection]:
            del self._owners[client_id]
            known = self._entries[client_id]
            if known.state == REMOVED:
                continue
            removal = AwarenessEntry(client_id, known.clock + 1, REMOVED)
            self._entries[client_id] = removal
            removals.append(removal)
        return removals


def _checked(entry: AwarenessEntry, user: dict | None) -> AwarenessEntry:
    """The entry, refused unless its state is JSON (every client parses it), and with the
    token's user id and name in place of whatever the client claimed."""
    try:
        state = json.loads(entry.state, parse_constant=_not_json)
    except ValueError as exc:
        raise ProtocolError("awareness state is not JSON") from exc
    if user is None or not isinstance(state, dict):
        return entry
    claimed = state.get("user") if isinstance(state.get("user"), dict) else {}
    state["user"] = {**claimed, **user}
    return AwarenessEntry(entry.client_id, entry.clock, json.dumps(state, separators=(",", ":")))


def _not_json(constant: str) -> None:
    """NaN and Infinity: Python reads them, JavaScript's JSON.parse throws on them."""
    raise ValueError(f"{constant} is not JSON")
