"""A sheet's live document: the pycrdt `Doc`, its validation guard, and where its changes go.

Every change goes through `edit(origin)` (or `receive` for a client's update), in one
transaction whose origin says who made it (`persistence/origins.py`). Once it is made, its
update goes with that origin to each of the sheet's hooks, declared together in `Hooks`:
the broadcast to this process's clients, the update log, the table, other processes. Nothing
else changes the document, so nothing else needs to say where a change came from.
"""

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pycrdt import Doc, Map, TransactionEvent

from persistence.document import ROWS
from persistence.origins import REPAIR, Client, Origin
from persistence.store.table_record import RecordLookup
from persistence.table.schema import TableSchema
from server.sheets.document_guard import DocumentGuard, Violation

log = logging.getLogger(__name__)

Hook = Callable[[bytes, Origin], None]
RecordReader = Callable[[set[str]], Awaitable[RecordLookup]]  # runs off the event loop


def _nowhere(update: bytes, origin: Origin) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """Where each change of a sheet's document goes, in this order."""

    broadcast: Hook = _nowhere  # to this process's clients (`Room.broadcast`)
    log: Hook = _nowhere  # to the update log (`LogAppender`)
    table: Hook = _nowhere  # to the table (`TableSync`)
    processes: Hook = _nowhere  # to the same sheet in other processes (`fanout`)

    def __call__(self, update: bytes, origin: Origin) -> None:
        for hook in (self.broadcast, self.log, self.table, self.processes):
            hook(update, origin)


class SheetDocument:
    def __init__(
        self,
        name: str,
        doc: Doc,
        schema: TableSchema,
        read_record: RecordReader,
        logged: tuple[bytes, ...] = (),
        logged_state: bytes = b"\x00",
    ) -> None:
        """`doc` becomes this sheet's document (not copied): change it only through here.
        `logged` are the log rows it was loaded from (or built as) and `logged_state` their
        state vector: a fresh client is sent them as they are (`missing_for`)."""
        self.name = name
        self.schema = schema
        self.hooks = Hooks()
        self._read_record = read_record
        self._doc = doc
        self._columns = {column.name for column in schema.columns}
        self._guard = DocumentGuard(self._doc, schema)
        self._made: list[bytes] = []  # updates of the transactions not yet handed to the hooks
        self._logged = logged
        self._logged_state = logged_state
        self._beyond_log: bytes | None = None
        self._subscription = self._doc.observe(self._on_transaction)

    @property
    def doc(self) -> Doc:
        """The document, to read (on the event loop: it is the server's only copy, which the
        table sync's `DirtyRows` observes too); change it only through `edit`."""
        return self._doc

    @contextmanager
    def edit(self, origin: Origin) -> Iterator[Doc]:
        """One transaction of `origin`'s; its update then goes to every hook."""
        try:
            with self._doc.transaction(origin=origin):
                yield self._doc
        finally:
            self._hand_over(self._take(), origin)

    def apply(self, update: bytes, origin: Origin) -> None:
        """Applies an update that needs no checking (another process checked it)."""
        with self.edit(origin):
            self._doc.apply_update(update)

    async def receive(self, update: bytes, client: Client) -> list[Violation]:
        """Applies a client's update and puts back what it broke. Both reach the hooks only
        together, so nobody else ever sees the invalid values. Raises what pycrdt raises for
        an update it cannot apply."""
        error: BaseException | None = None
        try:
            with self._doc.transaction(origin=client):
                self._doc.apply_update(update)
        except BaseException as exc:  # yrs panics are BaseExceptions; re-raised below
            error = exc
        made = self._take()
        found = self._guard.take()
        violations: list[Violation] = []
        if found:
            record = await self._record(found.lookups) if found.lookups else RecordLookup()
            with self._doc.transaction(origin=REPAIR):
                violations = self._guard.repair(found, record, client.user)
        self._hand_over(made, client)
        self._hand_over(self._take(), REPAIR)
        if error is not None:
            raise error
        return violations

    def state_vector(self) -> bytes:
        return self._doc.get_state()

    def missing_for(self, state: bytes) -> list[bytes]:
        """What a peer with this state vector lacks, as updates to apply in this order. A fresh
        peer gets the log rows the document was loaded from (or the chunks it was built in: a
        client shows their first rows before the rest arrives), then what the document holds
        beyond them: nothing to encode on the event loop but that (0.26 s for the whole
        document at 200,000 rows)."""
        if state != b"\x00":
            return [self._doc.get_update(state)]
        return [*self._logged, self.beyond_log()]

    def beyond_log(self) -> bytes:
        """What the document holds beyond the log rows it was loaded from, cached between
        changes: every fresh client is sent it after them."""
        if self._beyond_log is None:
            self._beyond_log = self._doc.get_update(self._logged_state)
        return self._beyond_log

    def is_cell(self, row: str, column: str) -> bool:
        """Whether (row key, column) names a cell of this sheet."""
        return column in self._columns and row in self._doc.get(ROWS, type=Map)

    def close(self) -> None:
        self._guard.close()
        self._doc.unobserve(self._subscription)

    async def _record(self, keys: set[str]) -> RecordLookup:
        """The record of those rows; without it (the database is down) nothing a client sent
        is taken on the record's word."""
        try:
            return await self._read_record(keys)
        except Exception as exc:
            log.warning("sheet %s: the record of %d rows cannot be read (%s); refusing what "
                        "depends on it", self.name, len(keys), exc)  # fmt: skip
            return RecordLookup()

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._beyond_log = None
        self._made.append(event.update)

    def _take(self) -> list[bytes]:
        made, self._made = self._made, []
        return made

    def _hand_over(self, updates: list[bytes], origin: Origin) -> None:
        for update in updates:
            self.hooks(update, origin)
