"""The server edits a sheet's document gets when it loads from the log: its rows follow the
table's columns and the table the sheet names, and `order` lists every row exactly once.

Pure over the doc passed in; the sheet store writes the edits to the log and the record of
written rows in one transaction. Reading every cell costs ~1.5 s at 100,000 x 10 cells, so the
rows are read only when `meta` or a sample of rows shows that the columns changed.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from pycrdt import Array, Doc, Map

from persistence.document import (
    ORDER,
    REFUSALS,
    ROWS,
    Scalar,
    append_order,
    order_keys,
    publish_meta,
    read_meta,
    row_key,
    rows_from_json,
)
from persistence.refusals import drop_deleted_rows
from persistence.table.schema import TableSchema

Cells = dict[str, Scalar]
TableRows = dict[str, Cells]  # row key (str of the primary key) -> the table's cells

_SAMPLE = 20  # rows checked for cells of columns the table no longer has


@dataclass
class Repair:
    """What loading changed: for the log line and for the record of written rows."""

    new_table: TableRows | None = None  # the sheet now shows another table: all of its rows
    dropped: set[str] = field(default_factory=set)  # columns whose cells were removed
    filled: dict[str, Cells] = field(default_factory=dict)  # row key -> cells from the table
    order_fixed: int = 0  # entries of `order` removed or added
    meta_changed: bool = False
    refusals_dropped: int = 0  # entries of rows deleted, which earlier versions kept

    @property
    def rows_changed(self) -> bool:
        return bool(self.new_table is not None or self.dropped or self.filled)

    def summary(self) -> str:
        parts = []
        if self.new_table is not None:
            parts.append(f"rows replaced by the {len(self.new_table)} rows of its new table")
        if self.dropped:
            parts.append(f"cells of dropped columns {', '.join(sorted(self.dropped))} removed")
        if self.filled:
            parts.append(f"new columns filled in {len(self.filled)} rows")
        if self.meta_changed:
            parts.append("column descriptions updated")
        if self.refusals_dropped:
            parts.append(f"{self.refusals_dropped} refusals of deleted rows removed")
        if self.order_fixed:
            parts.append(f"{self.order_fixed} order entries repaired")
        return "; ".join(parts)


def repair(doc: Doc, schema: TableSchema, read_table: Callable[[], TableRows]) -> Repair:
    """Makes the loaded document follow `schema` and fixes `order`; `read_table` is called
    only when the table's columns or the sheet's table changed."""
    previous = read_meta(doc)
    result = Repair()
    if previous.get("table") not in (None, schema.table):
        result.new_table = read_table()
        _replace_rows(doc, result.new_table)
    else:
        _follow_columns(doc, schema, previous, read_table, result)
    result.meta_changed = publish_meta(doc, schema)
    result.order_fixed = repair_order(doc)
    with doc.transaction():
        result.refusals_dropped = drop_deleted_rows(
            doc.get(REFUSALS, type=Map), doc.get(ROWS, type=Map)
        )
    return result


def repair_order(doc: Doc) -> int:
    """Removes duplicate keys and keys of no row from `order`, and lists rows it lacked;
    returns how many entries changed."""
    rows = set(doc.get(ROWS, type=Map))  # only maps: the guard refuses any other row
    listed = order_keys(doc)
    seen: set[str] = set()
    extra = []
    for index, key in enumerate(listed):
        if isinstance(key, str) and key in rows and key not in seen:
            seen.add(key)
        else:
            extra.append(index)
    missing = sorted((key for key in rows if key not in seen), key=lambda k: (len(k), k))
    if extra or missing:
        order = doc.get(ORDER, type=Array)
        with doc.transaction():
            for index in reversed(extra):
                del order[index]
            order.extend(missing)
    return len(extra) + len(missing)


def _follow_columns(
    doc: Doc,
    schema: TableSchema,
    previous: dict[str, Any],
    read_table: Callable[[], TableRows],
    result: Repair,
) -> None:
    names = [column.name for column in schema.columns]
    published = [column.get("name") for column in previous.get("columns", [])]
    rows_map = doc.get(ROWS, type=Map)
    sample = [rows_map.get(key) for key in islice(rows_map, _SAMPLE)]
    sample = [row for row in sample if isinstance(row, Map)]
    if published == names and all(set(row.keys()) <= set(names) for row in sample):
        return
    rows = rows_from_json(str(rows_map))
    result.dropped = {c for cells in rows.values() for c in cells.keys() - set(names)}
    table = read_table()
    for key, cells in rows.items():
        pk = cells.get(schema.pk)
        stored = table.get(row_key(pk) if pk is not None else key)
        if stored is not None:
            filled = {c: stored[c] for c in names if c not in cells}
            if filled:
                result.filled[key] = filled
    with doc.transaction():
        for key, cells in rows.items():
            row = rows_map[key]
            for column in cells:
                if column in result.dropped:
                    del row[column]
            for column, value in result.filled.get(key, {}).items():
                row[column] = value


def _replace_rows(doc: Doc, table: TableRows) -> None:
    """The rows, order and refusals of another table: every row is the table's."""
    rows_map = doc.get(ROWS, type=Map)
    order = doc.get(ORDER, type=Array)
    refusals = doc.get(REFUSALS, type=Map)
    with doc.transaction():
        for key in [key for key in rows_map if key not in table]:
            del rows_map[key]
        for key, cells in table.items():
            rows_map[key] = Map(cells)
        del order[0 : len(order)]
        for key in list(refusals):
            del refusals[key]
    append_order(doc, list(table))
