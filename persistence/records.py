"""A sheet document's rows as typed records, and as CSV or JSON text.

The HTTP API and `cellsync export` show the same rows the same way: the table's columns in
order, rows in display order, values typed by column (JavaScript's 3.0 in an integer column is
3 again; dates stay ISO strings).

CSV is written safe to open in a spreadsheet: a text cell that a spreadsheet would run as a
formula gets a leading `'` (OWASP's rule for CSV injection), unless the caller asks for raw text.
"""

import csv
import io
import json
from typing import Any

from pycrdt import Doc

from persistence.document import Scalar, iter_rows, new_doc, read_meta

Record = dict[str, Scalar]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def columns(doc: Doc) -> list[str]:
    return [column["name"] for column in read_meta(doc).get("columns", [])]


def integer_columns(doc: Doc) -> list[str]:
    return [
        column["name"]
        for column in read_meta(doc).get("columns", [])
        if column["type"] == "integer"
    ]


def with_integers(cells: dict[str, Scalar], integers: list[str]) -> dict[str, Scalar]:
    """`cells` with JavaScript's whole numbers (3.0) in integer columns as ints (3) again."""
    for name in integers:
        value = cells.get(name)
        if isinstance(value, float) and value.is_integer():
            cells[name] = int(value)
    return cells


def records(doc: Doc) -> list[Record]:
    """Every row in display order, with exactly the table's columns."""
    names, integers = columns(doc), integer_columns(doc)
    return [
        with_integers({name: cells.get(name) for name in names}, integers)
        for _, cells in iter_rows(doc)
    ]


def records_of(update: bytes) -> tuple[list[str], list[Record]]:
    """Columns and records of a document given as an update (a Doc of this thread's own)."""
    doc = new_doc()
    doc.apply_update(update)
    return columns(doc), records(doc)


def to_csv(names: list[str], rows: list[Record], raw: bool = False) -> str:
    """A header row, then one line per record: empty for null, true/false for booleans; with
    `raw`, text exactly as the cells hold it, formulas included."""
    cell = _csv_value if raw else _safe_csv_value
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: a cell with a CR is quoted too
    writer.writerow([cell(name) for name in names])
    writer.writerows([cell(row.get(name)) for name in names] for row in rows)
    return out.getvalue()


def to_json(rows: list[Record]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def _safe_csv_value(value: Any) -> str:
    text = _csv_value(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
