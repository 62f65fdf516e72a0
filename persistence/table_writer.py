"""Writes changed document rows into the user's table: one transaction per flush.

Only cells that differ from what was last written (the shadow record) are written: UPDATE of
the changed cells, INSERT of new rows with the cells a user set (the table's defaults fill the
rest), DELETE of removed rows. What the table stored is read back in the same transaction
(RETURNING for an INSERT, a read after an UPDATE) into the record, and where it differs from
what was sent (defaults, generated keys, rounded decimals, normalised timestamps) into the
document, through the flush's result.

Statements run batched; when the database refuses a batch, its rows are retried one by one in
savepoints, and a refused row's changed cells one by one, so that only the cells the database
refuses are refused, each with its reason, and every other cell is written. Deferred
constraints are checked at each statement (deferred_checks). Passing trouble (a lost
connection, a deadlock, a timeout) is never a refusal: it fails the whole flush, which the
worker tries again. Cells another program changed since the last write (not yet read back)
keep the table's value: the flush returns them for the document. Blocking: run it in a worker
thread.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from persistence import shadow
from persistence.db_errors import database_says, is_transient
from persistence.deferred_checks import ConstraintViolation, DeferredChecks
from persistence.document import from_cell, row_key, same
from persistence.external_changes import ExternalChange, ExternalReader
from persistence.schema import TableSchema, filled_by_database, load_table
from persistence.shadow import ShadowRow
from persistence.table_watch import TRIGGER as WATCH_TRIGGER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RowState:
    """A dirty row as the document holds it now; `cells` is None for a deleted row."""

    key: str
    cells: dict[str, Any] | None


@dataclass(frozen=True)
class Refusal:
    """Cells the database (or the column type) would not take."""

    key: str
    columns: tuple[str, ...]
    reason: str
    values: dict[str, Any]  # the refused values, as the document held them
    restore: ShadowRow | None  # what the table still holds; None for a row never written
    deleted: bool = False  # a refused DELETE: the row must come back


@dataclass
class FlushResult:
    written: dict[str, set[str]] = field(default_factory=dict)  # row key -> columns written
    pks: dict[str, Any] = field(default_factory=dict)  # new rows' keys -> pk for the document
    # Row key -> column -> (the value the document held, the value the table stored): cells
    # the document must show as stored, unless it changed them again meanwhile.
    stored: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    # New rows not inserted yet: key -> the required columns still empty. Not refusals: their
    # users are still filling them in; the row is tried again when it changes.
    waiting: dict[str, tuple[str, ...]] = field(default_factory=dict)
    external: list[ExternalChange] = field(default_factory=list)  # found in the table, kept
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def rows_written(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class _Write:
    key: str
    params: dict[str, Any]  # converted values, by column name
    cells: dict[str, Any]  # the same values as document cells
    before: ShadowRow | None
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
        # An UPDATE is read back unless the table stores exactly what it was sent: only those
        # columns are written, and no trigger or computed column changes anything else.
        self.exact = {c.name for c in self.table.c if isinstance(c.type, _EXACT_TYPES)}
        self.exact -= {c.name for c in self.table.c if isinstance(c.type, _PADDED_TYPES)}
        if _has_triggers(engine, self.table) or any(c.computed for c in self.table.c):
            self.exact = set()
        self.columns = {c.name: c for c in schema.columns}
        self.external = ExternalReader(engine, sheet, schema)
        self.deferred = DeferredChecks(engine, self.table)

    def write(self, changes: Iterable[RowState]) -> FlushResult:
        changes = list(changes)
        result = FlushResult()
        if not changes:
            return result
        with self.engine.begin() as conn:
            self.deferred.start(conn)
            shadow.lock_sheet(conn, self.sheet)
            known = shadow.read(conn, self.sheet, [c.key for c in changes])
            result.external = self.external.since_written(conn, known)
            inserts, updates, deletes = self._plan(changes, known, result)
            self._delete(conn, deletes, result)
            self._update(conn, updates, result)
            self._insert(conn, inserts, result)
        return result

    def _plan(
        self, changes: list[RowState], known: dict[str, ShadowRow], result: FlushResult
    ) -> tuple[list[_Write], list[_Write], list[tuple[str, ShadowRow]]]:
        inserts: list[_Write] = []
        updates: list[_Write] = []
        deletes: list[tuple[str, ShadowRow]] = []
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
        self, key: str, cells: dict[str, Any], before: ShadowRow | None, result: FlushResult
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
        self, conn: Connection, deletes: list[tuple[str, ShadowRow]], result: FlushResult
    ) -> None:
        def run(batch: list[tuple[str, ShadowRow]]) -> None:
            pks = [self._pk_param(row.pk) for _, row in batch]
            conn.execute(self.table.delete().where(self.pk.in_(pks)))

        for batch, refused in self._isolated(conn, deletes, run):
            if refused is None:
                shadow.forget(conn, self.sheet, [key for key, _ in batch])
                result.deleted += len(batch)
            else:
                key, row = batch[0]
                result.refusals.append(Refusal(key, (), refused, {}, row, deleted=True))

    def _update(self, conn: Connection, updates: list[_Write], result: FlushResult) -> None:
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

    def _insert(self, conn: Connection, inserts: list[_Write], result: FlushResult) -> None:
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

    def _record(self, conn, group: list[_Write], run, result: FlushResult, inserted: bool) -> None:
        """Runs a batch of writes in isolation and records what they did."""
        for batch, refused in self._isolated(conn, group, run):
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
        self, conn: Connection, write: _Write, reason: str, run, result: FlushResult
    ) -> None:
        """A refused new row, tried without each of its cells but the key in turn: when one
        is the cause, the row is inserted without it and that cell alone is refused. Otherwise
        the whole row waits for a fix (a rare path)."""
        for column in sorted(c for c in write.params if c != self.schema.pk):
            part = _Write(
                write.key,
                {c: v for c, v in write.params.items() if c != column},
                {c: v for c, v in write.cells.items() if c != column},
                None,
            )
            if self._attempt(conn, [part], run) is None:
                row = self._written(conn, [part], result, inserted=True)[write.key]
                cells = {column: write.cells[column]}
                result.refusals.append(Refusal(write.key, (column,), reason, cells, row))
                return
        result.refusals.append(Refusal(write.key, tuple(write.params), reason, write.cells, None))

    def _narrow(self, conn: Connection, write: _Write, run, result: FlushResult) -> None:
        """A refused row's changed cells, each tried alone: the others are written, and each
        cell the database refuses is refused with its own reason (a rare path)."""
        before, written = write.before, False
        for column in sorted(write.params):
            part = _Write(
                write.key, {column: write.params[column]}, {column: write.cells[column]}, before
            )
            for _, refused in self._isolated(conn, [part], run):
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
        result: FlushResult,
        inserted: bool,
        count: bool = True,
    ) -> dict[str, ShadowRow]:
        """Records what the batch wrote, in the record and in the result."""
        rows = {write.key: self._stored(write, result) for write in batch}
        shadow.write(conn, self.sheet, rows, new=set(rows) if inserted else set())
        if count and inserted:
            result.inserted += len(batch)
        elif count:
            result.updated += len(batch)
        return rows

    def _stored(self, write: _Write, result: FlushResult) -> ShadowRow:
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
        return ShadowRow(pk, stored, kept | {c: sent for c, (sent, _) in differ.items()})

    def _isolated(self, conn: Connection, items: list, run) -> Iterator[tuple[list, str | None]]:
        """Yields (batch, None) for what the database took; when it refuses the whole batch,
        retries each item alone in a savepoint and yields ([item], reason) for each refusal.
        Passing trouble is raised, never yielded as a refusal."""
        if not items:
            return
        refused = self._attempt(conn, items, run)
        if refused is None or len(items) == 1:
            yield items, refused
        else:
            for item in items:
                yield [item], self._attempt(conn, [item], run)

    def _attempt(self, conn: Connection, items: list, run) -> str | None:
        """Runs the writes in a savepoint: None if the database took them, else its reason."""
        try:
            with conn.begin_nested():
                run(items)
                self.deferred.check(conn)
        except ConstraintViolation as exc:
            reason = str(exc)
        except DBAPIError as exc:
            if is_transient(exc):
                raise
            reason = database_says(exc)
        else:
            return None
        if len(items) == 1:
            log.info("sheet %s: the database refused a row: %s", self.sheet, reason)
        return reason

    def _pk_param(self, pk: Any) -> Any:
        return from_cell(pk, self.columns[self.schema.pk])


def _updated(write: _Write) -> ShadowRow:
    """The row an UPDATE writes: `_plan` makes an update only of a row the table had."""
    assert write.before is not None, "an update of a row the table never had"
    return write.before


def _by_columns(writes: list[_Write]) -> list[list[_Write]]:
    """Writes grouped by the columns they set: one statement per group."""
    groups: dict[tuple[str, ...], list[_Write]] = defaultdict(list)
    for write in writes:
        groups[tuple(sorted(write.params))].append(write)
    return list(groups.values())


_EXACT_TYPES = (sa.Integer, sa.Boolean, sa.String, sa.Double)
_PADDED_TYPES = (sa.CHAR, sa.NCHAR)  # char(n) pads what it stores


def _has_triggers(engine: Engine, table: sa.Table) -> bool:
    """Whether triggers other than Cellsync's own (which change no row) are on the table."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = (
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:t) "
                "AND NOT tgisinternal AND tgname <> :own"
            )
            name = conn.dialect.identifier_preparer.format_table(table)
        else:
            query = (
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                "AND name NOT LIKE :own || '%'"
            )
            name = table.name
        return bool(conn.execute(sa.text(query), {"t": name, "own": WATCH_TRIGGER}).scalar_one())
