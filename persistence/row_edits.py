"""Row-level edits to a sheet document: set cells, add rows, delete rows, reorder.

Import and restore both end here: each computes the edits it wants, and `apply` makes them in
one transaction, so every client receives them as one update (one step to undo) and the worker
writes them like any other client's edits.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pycrdt import Array, Doc, Map

from persistence.document import (
    ORDER,
    ROWS,
    Scalar,
    iter_rows,
    new_row_key,
    order_keys,
    row_cells,
    same,
)
from persistence.table.schema import TableSchema

Cells = dict[str, Scalar]


@dataclass
class RowEdits:
    cells: dict[str, Cells] = field(default_factory=dict)  # existing row -> cells to set
    added: dict[str, Cells] = field(default_factory=dict)  # new row -> its cells, in order
    deleted: set[str] = field(default_factory=set)
    order: list[str] | None = None  # the whole display order, when it must change

    def __bool__(self) -> bool:
        return bool(self.cells or self.added or self.deleted or self.order is not None)

    def summary(self) -> str:
        cells = sum(len(c) for c in self.cells.values())
        text = f"{cells} cells set, {len(self.added)} rows added, {len(self.deleted)} deleted"
        return text + (", rows reordered" if self.order is not None else "")


def appending(rows: Iterable[Mapping[str, Scalar]]) -> RowEdits:
    """New rows at the end, under fresh random keys (the worker gives them primary keys)."""
    return RowEdits(added={new_row_key(): dict(row) for row in rows})


def matching(
    doc: Doc,
    target: Iterable[tuple[str, Mapping[str, Scalar]]],
    schema: TableSchema,
    deleted: Mapping[str, Scalar] | None = None,
) -> RowEdits:
    """The edits that make `doc`'s rows and order equal to `target` (rows in display order).
    Primary keys are the database's: a row that exists keeps its own, and a row added again
    gets a new one when the database generates them (the server refuses any other), unless
    `deleted` (the record's tombstones: row key -> the primary key it had) says the table
    deleted that very row, which then comes back with its own, as an undo brings it back."""
    pk = schema.pk
    rows = doc.get(ROWS, type=Map)
    current = {key: row_cells(row) for key, row in rows.items() if isinstance(row, Map)}
    wanted = dict(target)
    tombstones = deleted or {}
    edits = RowEdits(deleted=set(current) - set(wanted))
    for key, cells in wanted.items():
        if key not in current:
            comes_back = (
                key in tombstones
                and same(tombstones[key], cells.get(pk))
                and not schema.pk_always_generated
            )
            drop = pk if schema.autoincrement and not comes_back else None
            edits.added[key] = {column: v for column, v in cells.items() if column != drop}
            continue
        changed = {
            column: value
            for column, value in cells.items()
            if column != pk
            and (column not in current[key] or not same(current[key][column], value))
        }
        if changed:
            edits.cells[key] = changed
    shown = [key for key, _ in iter_rows(doc) if key not in edits.deleted] + list(edits.added)
    if shown != list(wanted):
        edits.order = list(wanted)
    return edits


def apply(doc: Doc, edits: RowEdits) -> None:
    """Makes the edits in one transaction."""
    rows = doc.get(ROWS, type=Map)
    order = doc.get(ORDER, type=Array)
    with doc.transaction():
        for key in edits.deleted:
            del rows[key]
        for key, cells in edits.cells.items():
            row = rows[key]
            for column, value in cells.items():
                row[column] = value
        for key, cells in edits.added.items():
            rows[key] = Map(cells)
        if edits.order is not None:
            del order[0 : len(order)]
            order.extend(edits.order)
            return
        if edits.deleted:
            listed = order_keys(doc)
            for index in reversed([i for i, key in enumerate(listed) if key in edits.deleted]):
                del order[index]
        if edits.added:
            order.extend(list(edits.added))
