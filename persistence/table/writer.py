"""Writes changed document rows into the user's table: one transaction per write.

Only cells that differ from what was last written (the record) are written: UPDATE of the
changed cells, INSERT of new rows with the cells a user set (the table's defaults fill the
rest), DELETE of removed rows. What the table stored is read back in the same transaction
(RETURNING for an INSERT, a read after an UPDATE, `read_back`) into the record, and where it
differs from what was sent (defaults, generated keys, rounded decimals, normalised timestamps)
into the document, through the `WriteResult`.

Statements run batched in savepoints (`savepoints`): only the rows, then the cells, the
database refuses are refused, each with its reason; deferred constraints are checked at each
statement (`deferred_checks`). Passing trouble fails the whole write, which is tried again.
Cells another program changed since the last write keep the table's value. Blocking: run it
in a worker thread.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from persistence.document import from_cell, row_key, same
from persistence.store import table_record
from persistence.store.table_record import RecordedRow
from persistence.table.deferred_checks import DeferredChecks
from persistence.table.external_changes import ExternalReader
from persistence.table.read_back import exact_columns
from persistence.table.savepoints import Savepoints
from persistence.table.schema import TableSchema, filled_by_database, load_table
from persistence.table.write_result import Refusal, RowState, WriteResult


@dataclass
class _Write:
    key: str
    params: dict[str, Any]  # converted values, by column name
    cells: dict[str, Any]  # the same values as document cells
    before: RecordedRow | None
    stored: dict[str, Any] | None = None  # the whole row as the table stored it


class TableWriter:
    def __init__(self, engine: Engine, sheet: str, schema: TableSchema) -> None:
        self.engine = engine
        self.sheet = sheet
        self.schema = schema
        self.table = load_table(engine, schema.table)
        self.pk = self.table.c[schema.pk]
        # SQLite reflects a hand-written `id INTEGER PRIMARY KEY` as nullable, which makes
        # SQLAlchemy refuse it as the sentinel that orders a batch INSERT's RETURNING rows.
        self.pk.nullable = False
        self.generated = {c.name for c in self.table.c if filled_by_database(c)}
        self.exact = exact_columns(engine, self.table)  # an UPDATE of only these is not read back
        self.columns = {c.name: c for c in schema.columns}
        self.external = ExternalReader(engine, sheet, schema)
        self.deferred = DeferredChecks(engine, self.table)
        self.savepoints = Savepoints(sheet, self.deferred)

    def write(self, changes: Iterable[RowState]) -> WriteResult:
        changes = list(changes)
        result = WriteResult()
        if not changes:
            return result
        with self.engine.begin() as conn:
            self.deferred.start(conn)
            table_record.lock_sheet(conn, self.sheet)
            known = table_record.read(conn, self.sheet, [c.key for c in changes])
            result.external = self.external.since_written(conn, known)
            inserts, updates, deletes = self._plan(changes, known, result)
            self._delete(conn, deletes, result)
            self._update(conn, updates, result)
            self._insert(conn, inserts, result)
        return result

    def _plan(
        self, changes: list[RowState], known: dict[str, RecordedRow], result: WriteResult
    ) -> tuple[list[_Write], list[_Write], list[tuple[str, RecordedRow]]]:
        inserts: list[_Write] = []
        updates: list[_Write] = []
        deletes: list[tuple[str, RecordedRow]] = []
        outside = {change.key: change.cells for change in result.external}
        for change in changes:
            before = known.get(change.key)
            if change.key in outside and outside[change.key] is None:
                continue  # deleted in the table since: the document follows the table
            if change.cells is None:
                if before is not None:
                    deletes.append((change.key, before))
                continue
            if before is None:
                # Empty cells of a new row are left to the table's defaults.
                cells = {
                    c: v
                    for c, v in change.cells.items()
                    if c in self.columns and v is not None and not self._follows_table(c)
                }
            else:
                cells, corrections = {}, {}
                taken = outside.get(change.key) or {}  # the table wins
                for c, v in change.cells.items():
                    if c not in self.columns or c == self.schema.pk or c in taken:
                        continue
                    if same(v, before.cells.get(c)):
                        continue
                    if self._follows_table(c) or (c in before.sent and same(v, before.sent[c])):
                        corrections[c] = (v, before.cells.get(c))  # a correction a crash lost
                    else:
                        cells[c] = v
                if corrections:
                    result.stored[change.key] = corrections
                if before.pk is not None and not same(change.cells.get(self.schema.pk), before.pk):
                    result.pks[change.key] = before.pk  # a crash came between INSERT and write-back
                if not cells:
                    continue
            write = self._convert(change.key, cells, before, result)
            if write is not None:
                (inserts if before is None else updates).append(write)
        return inserts, updates, deletes

    def _follows_table(self, column: str) -> bool:
        """A read-only column the database computes: never written, always read back."""
        return column != self.schema.pk and self.columns[column].readonly

    def _convert(
        self, key: str, cells: dict[str, Any], before: RecordedRow | None, result: WriteResult
    ) -> _Write | None:
        if before is None:
            empty = tuple(
                c.name
                for c in self.schema.columns
                if c.name not in cells and not c.nullable and c.name not in self.generated
            )
            if empty:
                result.waiting[key] = empty
                return None
        params, refused = {}, []
        for name, value in cells.items():
            try:
                params[name] = from_cell(value, self.columns[name])
            except ValueError as exc:
                refused.append((name, str(exc)))
        for name, reason in refused:
            result.refusals.append(Refusal(key, (name,), reason, {name: cells.get(name)}, before))
        if refused:
            return None
        return _Write(key, params, cells, before)

    def _delete(
        self, conn: Connection, deletes: list[tuple[str, RecordedRow]], result: WriteResult
    ) -> None:
        def run(batch: list[tuple[str, RecordedRow]]) -> None:
            pks = [self._pk_param(row.pk) for _, row in batch]
            conn.execute(self.table.delete().where(self.pk.in_(pks)))

        for batch, refused in self.savepoints.isolated(conn, deletes, run):
            if refused is None:
                table_record.bury(conn, self.sheet, [key for key, _ in batch])
                result.deleted += len(batch)
            else:
                key, row = batch[0]
                result.refusals.append(Refusal(key, (), refused, {}, row, deleted=True))

    def _update(self, conn: Connection, updates: list[_Write], result: WriteResult) -> None:
        for group in _by_columns(updates):
            self._record(conn, group, lambda batch: self._run_update(conn, batch), result, False)

    def _run_update(self, conn: Connection, batch: list[_Write]) -> None:
        """UPDATEs rows that change the same columns, then reads them back as stored."""
        columns = sorted(batch[0].params)
        statement = (
            self.table.update()
            .where(self.pk == sa.bindparam("_pk"))
            .values({c: sa.bindparam(f"_v_{c}") for c in columns})
        )
        pks = [self._pk_param(_updated(w).pk) for w in batch]
        conn.execute(
            statement,
            [
                {"_pk": pk} | {f"_v_{c}": v for c, v in w.params.items()}
                for w, pk in zip(batch, pks, strict=True)
            ],
        )
        if set(columns) <= self.exact:
            return
        stored = self.external.rows(conn, pks)  # no database returns an executemany UPDATE
        for write in batch:
            write.stored = stored.get(row_key(_updated(write).pk))

    def _insert(self, conn: Connection, inserts: list[_Write], result: WriteResult) -> None:
        for group in _by_columns(inserts):
            self._record(conn, group, lambda batch: self._run_insert(conn, batch), result, True)

    def _run_insert(self, conn: Connection, batch: list[_Write]) -> None:
        """INSERTs rows that set the same columns, reading back what the table stored."""
        statement = self.table.insert().returning(
            *self.external.columns, sort_by_parameter_order=True
        )
        rows = conn.execute(statement, [w.params for w in batch]).all()
        for write, row in zip(batch, rows, strict=True):
            write.stored = self.external.cells(row)

    def _record(self, conn, group: list[_Write], run, result: WriteResult, inserted: bool) -> None:
        """Runs a batch of writes in isolation and records what they did."""
        for batch, refused in self.savepoints.isolated(conn, group, run):
            if refused is None:
                self._written(conn, batch, result, inserted)
            elif inserted:
                self._narrow_insert(conn, batch[0], refused, run, result)
            elif len(batch[0].params) > 1:
                self._narrow(conn, batch[0], run, result)
            else:
                write = batch[0]
                result.refusals.append(
                    Refusal(write.key, tuple(write.params), refused, write.cells, write.before)
                )

    def _narrow_insert(
        self, conn: Connection, write: _Write, reason: str, run, result: WriteResult
    ) -> None:
        """A refused new row, tried without each of its cells in turn: when one is the cause,
        the row is inserted without it and that cell alone is refused. The key is left out
        only where the database generates keys (a deleted row's own key brought back, which
        it refuses or another row took since): the row comes back with a new key. Otherwise
        the whole row waits for a fix (a rare path)."""
        for column in sorted(c for c in write.params if self._optional(c)):
            part = _Write(
                write.key,
                {c: v for c, v in write.params.items() if c != column},
                {c: v for c, v in write.cells.items() if c != column},
                None,
            )
            if self.savepoints.attempt(conn, [part], run) is None:
                row = self._written(conn, [part], result, inserted=True)[write.key]
                cells = {column: write.cells[column]}
                result.refusals.append(Refusal(write.key, (column,), reason, cells, row))
                return
        result.refusals.append(Refusal(write.key, tuple(write.params), reason, write.cells, None))

    def _narrow(self, conn: Connection, write: _Write, run, result: WriteResult) -> None:
        """A refused row's changed cells, each tried alone: the others are written, and each
        cell the database refuses is refused with its own reason (a rare path)."""
        before, written = write.before, False
        for column in sorted(write.params):
            part = _Write(
                write.key, {column: write.params[column]}, {column: write.cells[column]}, before
            )
            for _, refused in self.savepoints.isolated(conn, [part], run):
                if refused is None:
                    rows = self._written(conn, [part], result, inserted=False, count=False)
                    before, written = rows[write.key], True
                else:
                    cells = {column: write.cells[column]}
                    result.refusals.append(Refusal(write.key, (column,), refused, cells, before))
        result.updated += written

    def _written(
        self,
        conn: Connection,
        batch: list[_Write],
        result: WriteResult,
        inserted: bool,
        count: bool = True,
    ) -> dict[str, RecordedRow]:
        """Records what the batch wrote, in the record and in the result."""
        rows = {write.key: self._stored(write, result) for write in batch}
        table_record.write(conn, self.sheet, rows, new=set(rows) if inserted else set())
        if count and inserted:
            result.inserted += len(batch)
        elif count:
            result.updated += len(batch)
        return rows

    def _stored(self, write: _Write, result: WriteResult) -> RecordedRow:
        """The row's new record, from what the table stored; puts what differs from what the
        document held into the result."""
        before = write.before
        held = (before.cells if before is not None else {}) | write.cells
        stored = write.stored if write.stored is not None else held
        pk = stored.get(self.schema.pk, before.pk if before is not None else None)
        differ = {
            c: (held.get(c), v)
            for c, v in (write.stored or {}).items()  # nothing read back: stored as held
            if c != self.schema.pk and not same(held.get(c), v)
        }
        if differ:
            result.stored[write.key] = result.stored.get(write.key, {}) | differ
        result.written.setdefault(write.key, set()).update(write.cells)
        if before is None:
            result.pks[write.key] = pk
        kept = {c: v for c, v in before.sent.items() if c not in write.cells} if before else {}
        return RecordedRow(pk, stored, kept | {c: sent for c, (sent, _) in differ.items()})

    def _optional(self, column: str) -> bool:
        """Whether a new row can be inserted without this cell of its."""
        return column != self.schema.pk or self.schema.autoincrement

    def _pk_param(self, pk: Any) -> Any:
        return from_cell(pk, self.columns[self.schema.pk])


def _updated(write: _Write) -> RecordedRow:
    """The row an UPDATE writes: `_plan` makes an update only of a row the table had."""
    assert write.before is not None, "an update of a row the table never had"
    return write.before


def _by_columns(writes: list[_Write]) -> list[list[_Write]]:
    """Writes grouped by the columns they set: one statement per group."""
    groups: dict[tuple[str, ...], list[_Write]] = defaultdict(list)
    for write in writes:
        groups[tuple(sorted(write.params))].append(write)
    return list(groups.values())
