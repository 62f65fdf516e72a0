"""Which rows of a sheet document the table lacks, tracked on the document itself.

The server holds one copy of each sheet's document, the room's: this tracker observes it on
the event loop, and a table write reads the dirty rows' cells there, in one read transaction
(milliseconds for a thousand rows), so that only the SQL runs on the table's worker thread.
The CLI (`write_document`) wraps a document it builds from an update the same way.
"""

import json
import time
from typing import Any

import sqlalchemy as sa
from pycrdt import Doc, Map, MapEvent, ReadTransaction, TransactionEvent

from persistence.document import ROWS, new_doc, row_cells, same
from persistence.origins import FROM_TABLE, table_must_follow
from persistence.store import table_record
from persistence.table.outcome import put_outcome
from persistence.table.write_result import RowState, WriteResult


class DirtyRows:
    """The rows of `doc` changed by an edit the table must follow (`table_must_follow`) since
    they were last taken. Use it from one thread at a time (the event loop's, on the server);
    `close` it when done: its observer keeps `doc` and itself alive until then."""

    def __init__(self, doc: Doc, pk: str) -> None:
        self.doc = doc
        self.pk = pk
        self.rows = doc.get(ROWS, type=Map)
        self.dirty: set[str] = set()
        # new rows the database refused: key -> (their cells' fingerprint, monotonic time since)
        self._refused_inserts: dict[str, tuple[str, float]] = {}
        self._subscription = self.rows.observe_deep(self._on_change)

    @classmethod
    def of_update(cls, update: bytes, pk: str) -> "DirtyRows":
        """A document of its own, built from `update`, where no room holds the sheet."""
        doc = new_doc()
        doc.apply_update(update)
        return cls(doc, pk)

    def close(self) -> None:
        """Stops tracking the document (this process no longer writes its table)."""
        self.rows.unobserve(self._subscription)

    def keys(self) -> set[str]:
        return set(self.rows.keys())

    def json_of(self, keys: list[str]) -> dict[str, str]:
        """The cells of the rows of `keys` the document has, as JSON (`str` of a row's map is
        2.5x faster than `to_py`), for a `Reconciliation` on another thread."""
        found = {}
        with self.doc.transaction():  # one read transaction for them all
            for key in keys:
                row = self.rows.get(key)
                if isinstance(row, Map):
                    found[key] = str(row)
        return found

    def reconcile(self, engine: sa.Engine, sheet: str) -> None:
        """Marks every row where the document and the record disagree, at once (blocking)."""
        found = Reconciliation(engine, sheet, self.keys())
        while (keys := found.next_page()) is not None:
            found.compare(self.json_of(keys))
        self.dirty.update(found.differ)

    def take(self) -> list[str]:
        """The dirty rows' keys, clean from now on until changed again."""
        keys, self.dirty = self.dirty, set()
        return list(keys)

    def states(self, keys: list[str]) -> list[RowState]:
        """The rows of `keys` as they are now; a new row refused before and unchanged is
        skipped."""
        states = []
        with self.doc.transaction():  # one read transaction, not one per row: 3x faster
            for key in keys:
                cells = self._cells(key)
                refused = self._refused_inserts.get(key)
                if cells is not None and refused is not None and refused[0] == _fingerprint(cells):
                    continue
                states.append(RowState(key, cells))
        return states

    @property
    def stuck(self) -> int:
        """New rows the database refused, held back until someone changes them."""
        return len(self._refused_inserts)

    @property
    def stuck_since(self) -> float | None:
        """Monotonic time the oldest of them was first refused: the table lags since then."""
        return min((since for _, since in self._refused_inserts.values()), default=None)

    def settle(self, result: WriteResult, taken: list[RowState]) -> None:
        """Remembers each new row the database refused as it was written (`taken`), so that it
        is not tried again until someone changes it. Not as it is now: a row edited while the
        write ran is dirty again, and must be tried again."""
        written = {state.key: state.cells for state in taken}
        for key in result.written:
            self._refused_inserts.pop(key, None)
        for refusal in result.refusals:
            cells = written.get(refusal.key) if refusal.restore is None else None
            if cells is not None:
                _, since = self._refused_inserts.get(refusal.key, ("", time.monotonic()))
                self._refused_inserts[refusal.key] = (_fingerprint(cells), since)

    def write_back(self, result: WriteResult, taken: list[RowState]) -> bytes | None:
        """Settles the write and puts its outcome into the document (where no room holds the
        sheet); returns the update, if any."""
        self.settle(result, taken)
        made: list[bytes] = []  # from the transaction: a deletion alone keeps the state vector

        def keep(event: TransactionEvent) -> None:
            made.append(event.update)

        subscription = self.doc.observe(keep)
        try:
            with self.doc.transaction(origin=FROM_TABLE):
                put_outcome(self.doc, result, self.pk)
        finally:
            self.doc.unobserve(subscription)
        return made[0] if made else None

    def _cells(self, key: str) -> dict[str, Any] | None:
        row = self.rows.get(key)
        return row_cells(row) if isinstance(row, Map) else None

    def _on_change(self, events: list, txn: ReadTransaction) -> None:
        """Runs on every transaction that touches a row (on the server, the event loop's):
        only names the rows, reads no cell."""
        if not table_must_follow(txn.origin):
            return
        for event in events:
            if event.path:
                self.dirty.add(str(event.path[0]))
            elif isinstance(event, MapEvent):
                # pycrdt sets `keys` through MapEvent.__slots__; its type does not declare it
                self.dirty.update(event.keys)  # type: ignore[attr-defined]


class Reconciliation:
    """The rows where the document and the record disagree (after a crash, what the log holds
    and the table lacks), found a page of the record at a time: whoever holds the document
    reads a page of its rows at once (`DirtyRows.json_of`) between `next_page`, which reads
    the record, and `compare`, which may run on another thread."""

    def __init__(self, engine: sa.Engine, sheet: str, keys: set[str]) -> None:
        self.engine = engine
        self.sheet = sheet
        self._unseen = keys  # the document's rows no page had yet
        self._page: list[tuple[str, table_record.RecordedRow]] = []
        self._differ: set[str] = set()

    def next_page(self) -> list[str] | None:
        """The keys of the record's next page, or None after its last."""
        after = self._page[-1][0] if self._page else None
        with self.engine.connect() as conn:
            self._page = table_record.page(conn, self.sheet, after)
        return [key for key, _ in self._page] or None

    def compare(self, rows: dict[str, str]) -> None:
        """Compares the page with the document's rows of its keys (`DirtyRows.json_of`)."""
        for key, recorded in self._page:
            self._unseen.discard(key)
            text = rows.get(key)
            cells = json.loads(text) if text is not None else None
            if cells is None or any(not same(v, cells.get(c)) for c, v in recorded.cells.items()):
                self._differ.add(key)

    @property
    def differ(self) -> set[str]:
        """After the last page: the rows that disagree, and those the record lacks."""
        return self._differ | self._unseen


def _fingerprint(cells: dict[str, Any]) -> str:
    return json.dumps(cells, sort_keys=True, default=str)
