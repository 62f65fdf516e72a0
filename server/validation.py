"""Keeps only values the table's columns accept in the live document.

Right after the room applies a client's update, every cell it changed is checked against the
column it belongs to (type, nullability, length, choices, read-only). What fails is put back in
a server transaction of its own: the previous value, or nothing where there was none. Both
updates leave in the same broadcast frame, so other clients never show the invalid value. The
sender learns which cell and why from the document's `refusals` map, which reaches offline tabs.
`meta` and `refusals` are the server's: whatever a client changes in them is put back too.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map, MapEvent

from persistence.document import META, REFUSALS, ROWS, from_cell, publish_meta, same
from persistence.refusals import is_scalar, refuse
from persistence.schema import TableSchema

MISSING = object()  # a cell or row that did not exist before the client's edit


@dataclass(frozen=True)
class Violation:
    row: str
    column: str  # "" for the row itself
    reason: str
    value: Any  # what the client wrote
    restore: Any  # what to put back, or MISSING to remove


class DocumentGuard:
    def __init__(
        self, doc: Doc, schema: TableSchema, written_row: Callable[[str], dict | None]
    ) -> None:
        self.doc = doc
        self.schema = schema
        self.written_row = written_row  # a row as the table last held it
        self.columns = {column.name: column for column in schema.columns}
        self._rows = doc.get(ROWS, type=Map)
        self._meta = doc.get(META, type=Map)
        self._refusals = doc.get(REFUSALS, type=Map)
        self._checking = False
        self._found: list[Violation] = []
        self._meta_touched = False
        self._refusals_before: dict[str, Any] = {}  # entries a client changed: what they held
        self._subscriptions = [
            self._rows.observe_deep(self._on_rows),
            self._meta.observe_deep(self._on_meta),
            self._refusals.observe_deep(self._on_refusals),
        ]

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Checks what changes inside the block (a client's update)."""
        self._checking = True
        try:
            yield
        finally:
            self._checking = False

    def repair(self, user: dict[str, Any] | None) -> list[Violation]:
        """Puts back what the last client update broke; returns what was wrong."""
        found, self._found = self._found, []
        republish, self._meta_touched = self._meta_touched, False
        refusals_before, self._refusals_before = self._refusals_before, {}
        if not found and not republish and not refusals_before:
            return []
        with self.doc.transaction():
            for key, entry in refusals_before.items():
                if entry is MISSING:
                    self._refusals.pop(key, None)
                else:
                    self._refusals[key] = entry
            for violation in found:
                self._put_back(violation)
                refuse(
                    self._refusals,
                    violation.row,
                    violation.column,
                    violation.reason,
                    violation.value,
                    user,
                )
            if republish:
                publish_meta(self.doc, self.schema)
        return found

    def close(self) -> None:
        for shared, subscription in zip(
            (self._rows, self._meta, self._refusals), self._subscriptions, strict=True
        ):
            shared.unobserve(subscription)

    def _on_meta(self, events: list) -> None:
        if self._checking:
            self._meta_touched = True

    def _on_refusals(self, events: list) -> None:
        """`refusals` is the server's: what a client changes there is put back."""
        if not self._checking:
            return
        for event in events:
            if event.path:  # inside an entry a client made a map: that entry goes
                self._refusals_before.setdefault(str(event.path[0]), MISSING)
                continue
            for key, change in event.keys.items():
                self._refusals_before.setdefault(key, change.get("oldValue", MISSING))

    def _on_rows(self, events: list) -> None:
        if not self._checking:
            return
        for event in events:
            if not isinstance(event, MapEvent):
                continue
            # pycrdt sets both through MapEvent.__slots__; its type declares neither
            path, keys = event.path, event.keys  # type: ignore[attr-defined]
            if path:
                row = str(path[0])
                for column, change in keys.items():
                    self._check_cell(row, column, change, new_row=False)
            else:
                for row, change in keys.items():
                    self._check_row(row, change)

    def _check_row(self, row: str, change: dict[str, Any]) -> None:
        if change["action"] == "delete":
            return
        value = change["newValue"]
        if not isinstance(value, Map):
            # A replaced row's content is gone from the document: the table still has it.
            replaced = isinstance(change.get("oldValue"), Map)
            restore = (self.written_row(row) if replaced else None) or MISSING
            self._found.append(Violation(row, "", "a row must be a map of cells", value, restore))
            return
        cells = value.to_py()
        assert cells is not None, "a map an event carries is in the document"
        for column, cell in cells.items():
            change = {"action": "add", "newValue": cell}
            self._check_cell(row, column, change, new_row=True)

    def _check_cell(self, row: str, column: str, change: dict[str, Any], new_row: bool) -> None:
        value = change.get("newValue")
        if new_row and value is None:
            return  # an empty cell of a new row: the table's default fills it in
        restore = change.get("oldValue", MISSING)
        first_key = new_row or restore is MISSING or restore is None
        if column == self.schema.pk and self._written_key(row, value):
            return
        reason = self._why_invalid(column, value, change["action"], first_key)
        if reason is not None:
            self._found.append(Violation(row, column, reason, value, restore))

    def _written_key(self, row: str, value: Any) -> bool:
        """Whether `value` is the key the table gave this row: a client that kept the server's
        write-back of it (which a crash kept from the update log) sends it again."""
        if value is None:
            return False
        written = self.written_row(row)
        return written is not None and same(value, written.get(self.schema.pk))

    def _why_invalid(self, name: str, value: Any, action: str, first_key: bool) -> str | None:
        column = self.columns.get(name)
        if column is None:
            return None if action == "delete" else f'unknown column "{name}"'
        if name == self.schema.pk:
            if self.schema.autoincrement:
                return (
                    None
                    if value is None and first_key
                    else f'column "{name}" is set by the database'
                )
            return _error(value, column) if first_key else f'column "{name}" cannot change'
        if column.readonly:
            why = f": {column.readonly_reason}" if column.readonly_reason else ""
            return f'column "{name}" is read-only{why}'
        if action == "delete":
            return None if column.nullable else f'column "{name}" cannot be empty'
        return _error(value, column)

    def _put_back(self, violation: Violation) -> None:
        if violation.column == "":
            if violation.restore is MISSING:
                self._rows.pop(violation.row, None)
            else:
                self._rows[violation.row] = Map(violation.restore)
            return
        row = self._rows.get(violation.row)
        if not isinstance(row, Map):
            return
        current = row.get(violation.column, MISSING)
        if current is not MISSING and is_scalar(current) and not same(current, violation.value):
            return  # changed again since: that newer value is checked on its own
        if violation.restore is MISSING:
            row.pop(violation.column, None)
        else:
            row[violation.column] = violation.restore


def _error(value: Any, column) -> str | None:
    if not is_scalar(value):
        return f'column "{column.name}" takes one value, not a {type(value).__name__.lower()}'
    try:
        from_cell(value, column)
    except ValueError as exc:
        return str(exc)
    return None
