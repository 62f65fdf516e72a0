"""Entries of the document's `refusals` map: "ROW\\0COLUMN" -> {reason, value, at, user}.

Every client keeps the map and every page shows it, so an entry stays small whatever was
refused: the column in its key, the reason and a text value are cut at `MAX_TEXT` characters,
and a value that is not one cell's value (a nested map, a list) is not copied at all. The
entries of a row go with the row.
"""

import time
from typing import Any

from pycrdt import Map

from persistence.document import refusal_key

MAX_TEXT = 200


def refuse(
    refusals: Map, row: str, column: str, reason: str, value: Any, user: dict | None = None
) -> None:
    """Records why a cell (column "": the row) was refused, in bounded form."""
    refusals[refusal_key(row, column[:MAX_TEXT])] = {
        "reason": _cut(reason),
        "value": _cut(value) if isinstance(value, str) else value if is_scalar(value) else None,
        "at": time.time(),
        "user": user,
    }


def drop_deleted_rows(refusals: Map, rows: Map) -> int:
    """Removes the entries of rows the document no longer has; returns how many."""
    entries = refusals.keys()  # pycrdt types Map iteration loosely
    stale = [key for key in entries if rows.get(key.partition("\x00")[0]) is None]
    for key in stale:
        del refusals[key]
    return len(stale)


def is_scalar(value: Any) -> bool:
    """Whether a value can be one cell's value: null, a boolean, a number or a text."""
    return value is None or isinstance(value, bool | int | float | str)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
