"""The room's awareness (presence) states.

pycrdt-websocket forwards every awareness frame verbatim, and y-websocket clients re-send every
remote state they receive, so one cursor move among ten clients made a hundred frames. The room
keeps each client's latest clock instead and forwards an entry only when its clock moves on:
re-sent states stop here. A client's states are removed the moment its connection closes.

Every other page renders these states, so a state keeps only the fields the page uses, each
checked (a `#rrggbb` colour, bounded text, cells of this sheet), under the token's identity; a
state that is not a JSON object closes its sender.

With several processes, the states of another process's clients arrive checked by it
(`apply_remote`): they are owned by that process, under the same clock rule, and removed when
that process is found dead (`leave(process)`).
"""

import json
import re
from collections.abc import Callable
from typing import Any, TypeGuard

from server.websocket.connection import Connection
from server.websocket.protocol import AwarenessEntry, ProtocolError

REMOVED = "null"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_TEXT = 80  # characters of a name, a row key or a column name

CellCheck = Callable[[str, str], bool]  # (row key, column): is it a cell of the sheet?


class Presence:
    def __init__(self, is_cell: CellCheck) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, Connection | str] = {}  # a local client, or another process
        self._is_cell = is_cell

    def apply(self, sender: Connection, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Records the entries that are news; returns them, to forward to the others. A
        client changes only its own presence: another connection's entries are left alone."""
        return self._record(sender, entries, lambda entry: self._checked(entry, sender))

    def apply_remote(self, process: str, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """The same for the entries of another process's clients, which it checked."""
        return self._record(process, entries, lambda entry: entry)

    def _record(
        self,
        owner: Connection | str,
        entries: list[AwarenessEntry],
        check: Callable[[AwarenessEntry], AwarenessEntry],
    ) -> list[AwarenessEntry]:
        news = []
        for entry in entries:
            known = self._entries.get(entry.client_id)
            if known is not None and entry.clock <= known.clock:
                continue
            if self._owners.get(entry.client_id, owner) != owner:
                continue
            entry = check(entry)
            self._entries[entry.client_id] = entry
            self._owners.setdefault(entry.client_id, owner)
            news.append(entry)
        return news

    def live(self) -> list[AwarenessEntry]:
        """Every state still present, for a client that joins."""
        return [entry for entry in self._entries.values() if entry.state != REMOVED]

    def processes(self) -> set[str]:
        """The other processes whose clients' states are here."""
        return {owner for owner in self._owners.values() if isinstance(owner, str)}

    def leave(self, owner: Connection | str) -> list[AwarenessEntry]:
        """Removes the states a connection, or another process (gone), owned; returns the
        removals to broadcast."""
        removals = []
        for client_id in [cid for cid, known in self._owners.items() if known == owner]:
            del self._owners[client_id]
            known = self._entries[client_id]
            if known.state == REMOVED:
                continue
            removal = AwarenessEntry(client_id, known.clock + 1, REMOVED)
            self._entries[client_id] = removal
            removals.append(removal)
        return removals

    def _checked(self, entry: AwarenessEntry, sender: Connection) -> AwarenessEntry:
        """The entry as the others may see it; ProtocolError unless its state is a JSON
        object or null (a removal). The sender's `shown_name` follows the name it shows."""
        try:
            state = json.loads(entry.state, parse_constant=_not_json)
        except ValueError as exc:
            raise ProtocolError("awareness state is not JSON") from exc
        if state is None:
            return AwarenessEntry(entry.client_id, entry.clock, REMOVED)
        if not isinstance(state, dict):
            raise ProtocolError("awareness state is not a JSON object")
        user = _user(state.get("user"), sender.user)
        if user and user.get("name"):
            sender.shown_name = user["name"]
        fields = {
            "user": user,
            "cursor": self._cell(state.get("cursor")),
            "selection": self._selection(state.get("selection")),
        }
        kept = {name: value for name, value in fields.items() if value is not None}
        return AwarenessEntry(entry.client_id, entry.clock, json.dumps(kept, separators=(",", ":")))

    def _cell(self, cell: Any) -> dict[str, str] | None:
        """`{row, column}` when it names a cell of this sheet, else None."""
        if not isinstance(cell, dict):
            return None
        row, column = cell.get("row"), cell.get("column")
        if not (_short_text(row) and _short_text(column) and self._is_cell(row, column)):
            return None
        return {"row": row, "column": column}

    def _selection(self, selection: Any) -> dict[str, dict[str, str]] | None:
        """A range, `{start, end}`, when both are cells of this sheet, else None."""
        if not isinstance(selection, dict):
            return None
        start, end = self._cell(selection.get("start")), self._cell(selection.get("end"))
        return {"start": start, "end": end} if start and end else None


def _user(claimed: Any, token_user: dict | None) -> dict[str, str] | None:
    """The name and colour the client claims, checked, under the token's id and name."""
    claimed = claimed if isinstance(claimed, dict) else {}
    user = {}
    name, colour = claimed.get("name"), claimed.get("colour")
    if isinstance(name, str):
        user["name"] = name[:MAX_TEXT]
    if isinstance(colour, str) and COLOUR.fullmatch(colour):
        user["colour"] = colour
    return (user | (token_user or {})) or None


def _short_text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT


def _not_json(constant: str) -> None:
    """NaN and Infinity: Python reads them, JavaScript's JSON.parse throws on them."""
    raise ValueError(f"{constant} is not JSON")
