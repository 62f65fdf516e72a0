"""Keeps only values the table's columns accept in the live document.

Every cell a client's transaction changes is checked against its column (type, nullability,
length, choices, read-only); the guard knows a client's transaction by its origin. What fails
is put back in a repair of its own: the previous value, or nothing where there was none. The
sender learns which cell and why from the document's `refusals` map, which reaches offline tabs.
`meta` and `refusals` are the server's: whatever a client changes in them is put back too.

Two checks need the record of what the table holds (a replaced row's cells, a key the table
gave or a deleted row had: an undo of a delete sends it again): `Findings.lookups` names those
rows, and the caller reads them off the event loop.
"""

from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, MapEvent, ReadTransaction

from persistence.document import META, REFUSALS, ROWS, from_cell, publish_meta, row_cells, same
from persistence.origins import Client
from persistence.refusals import is_scalar, refuse
from persistence.store.table_record import RecordLookup
from persistence.table.schema import TableSchema

MISSING = object()  # a cell or row that did not exist before the client's edit
RECORDED = object()  # put back the row as the record holds it (or remove it if it has none)


@dataclass(frozen=True)
class Violation:
    row: str
    column: str  # "" for the row itself
    reason: str
    value: Any  # what the client wrote
    restore: Any  # what to put back, MISSING to remove, RECORDED for the record's row
    unless_recorded_key: bool = False  # fine if `value` is the key the record holds (or held)


@dataclass
class Findings:
    """What one client transaction broke, before the record is consulted."""

    violations: list[Violation] = field(default_factory=list)
    meta_touched: bool = False
    refusals_before: dict[str, Any] = field(default_factory=dict)  # entry -> what it held

    @property
    def lookups(self) -> set[str]:
        """Rows whose record decides what to do."""
        return {v.row for v in self.violations if v.restore is RECORDED or v.unless_recorded_key}

    def __bool__(self) -> bool:
        return bool(self.violations or self.meta_touched or self.refusals_before)


class DocumentGuard:
    def __init__(self, doc: Doc, schema: TableSchema) -> None:
        self.doc = doc
        self.schema = schema
        self.columns = {column.name: column for column in schema.columns}
        self._rows = doc.get(ROWS, type=Map)
        self._meta = doc.get(META, type=Map)
        self._refusals = doc.get(REFUSALS, type=Map)
        self._found = Findings()
        self._subscriptions = [
            self._rows.observe_deep(self._on_rows),
            self._meta.observe_deep(self._on_meta),
            self._refusals.observe_deep(self._on_refusals),
        ]

    def take(self) -> Findings:
        """What the client transactions since the last call broke."""
        found, self._found = self._found, Findings()
        return found

    def repair(self, found: Findings, record: RecordLookup, user: Any) -> list[Violation]:
        """Puts back what `found` says was broken, inside the caller's repair transaction;
        returns the violations that stand once the record is known."""
        violations = [self._settled(v, record) for v in found.violations]
        standing = [v for v in violations if v is not None]
        for key, entry in found.refusals_before.items():
            if entry is MISSING:
                self._refusals.pop(key, None)
            else:
                self._refusals[key] = entry
        for violation in standing:
            self._put_back(violation)
            refuse(self._refusals, violation.row, violation.column, violation.reason,
                   violation.value, user)  # fmt: skip
        if found.meta_touched:
            publish_meta(self.doc, self.schema)
        return standing

    def close(self) -> None:
        for shared, subscription in zip(
            (self._rows, self._meta, self._refusals), self._subscriptions, strict=True
        ):
            shared.unobserve(subscription)

    def _on_meta(self, events: list, txn: ReadTransaction) -> None:
        if isinstance(txn.origin, Client):
            self._found.meta_touched = True

    def _on_refusals(self, events: list, txn: ReadTransaction) -> None:
        """`refusals` is the server's: what a client changes there is put back."""
        if not isinstance(txn.origin, Client):
            return
        before = self._found.refusals_before
        for event in events:
            if event.path:  # inside an entry a client made a map: that entry goes
                before.setdefault(str(event.path[0]), MISSING)
                continue
            for key, change in event.keys.items():
                before.setdefault(key, change.get("oldValue", MISSING))

    def _on_rows(self, events: list, txn: ReadTransaction) -> None:
        if not isinstance(txn.origin, Client):
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
            restore = RECORDED if isinstance(change.get("oldValue"), Map) else MISSING
            self._found.violations.append(
                Violation(row, "", "a row must be a map of cells", value, restore)
            )
            return
        for column, cell in row_cells(value).items():
            self._check_cell(row, column, {"action": "add", "newValue": cell}, new_row=True)

    def _check_cell(self, row: str, column: str, change: dict[str, Any], new_row: bool) -> None:
        value = change.get("newValue")
        if new_row and value is None:
            return  # an empty cell of a new row: the table's default fills it in
        restore = change.get("oldValue", MISSING)
        first_key = new_row or restore is MISSING or restore is None
        reason = self._why_invalid(column, value, change["action"], first_key)
        if reason is not None:
            # a client that kept the server's write-back of a key (which a crash kept from the
            # update log) sends it again, or brings back a deleted row (undo): fine if the
            # record holds that key, or its tombstone does
            recorded_key = column == self.schema.pk and value is not None
            self._found.violations.append(
                Violation(row, column, reason, value, restore, unless_recorded_key=recorded_key)
            )

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

    def _settled(self, violation: Violation, record: RecordLookup) -> Violation | None:
        """The violation once the record is known: gone, or with what to restore."""
        recorded = record.rows.get(violation.row)
        if violation.unless_recorded_key:
            if recorded and same(violation.value, recorded.get(self.schema.pk)):
                return None
            if self._deleted_key(violation, record):
                if not self.schema.pk_always_generated:
                    return None  # the table sync inserts the row with it again
                reason = (f'the table gives every new row its "{self.schema.pk}": this row '
                          "comes back as a new row")  # fmt: skip
                return Violation(violation.row, violation.column, reason, violation.value,
                                 violation.restore)  # fmt: skip
        if violation.restore is RECORDED:
            restore = dict(recorded) if recorded is not None else MISSING
            return Violation(violation.row, "", violation.reason, violation.value, restore)
        return violation

    @staticmethod
    def _deleted_key(violation: Violation, record: RecordLookup) -> bool:
        """Whether the violation sends a deleted row's own key under its own row key."""
        tombstone = record.deleted.get(violation.row, MISSING)
        return tombstone is not MISSING and same(violation.value, tombstone)


def _error(value: Any, column) -> str | None:
    if not is_scalar(value):
        return f'column "{column.name}" takes one value, not a {type(value).__name__.lower()}'
    try:
        from_cell(value, column)
    except ValueError as exc:
        return str(exc)
    return None
