"""Reads a CSV file into typed sheet rows, refusing the whole file at its first bad row.

The header names the columns. Each value is parsed by its column's type (integers, decimals,
booleans true/false/1/0/yes/no, ISO dates; empty is null) and checked as the table would check
it, so a file is either imported whole or not at all, and a bad value is reported with its line
and column instead of turning into a refused write minutes later.
"""

import csv
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from persistence.document import Scalar, from_cell
from persistence.table.schema import Column, TableSchema

Cells = dict[str, Scalar]

_EXPECTED = {
    "integer": "an integer",
    "number": "a number",
    "decimal": "a decimal number",
    "boolean": "a boolean (true/false, 1/0, yes/no)",
    "date": "an ISO date (YYYY-MM-DD)",
    "datetime": "an ISO date and time",
    "text": "text",
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class BadRow(ValueError):
    """A value or line the import cannot take; nothing of the file is imported."""

    def __init__(self, line: int, reason: str, column: str | None = None) -> None:
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {reason}")


def read_rows(lines: Iterable[str], schema: TableSchema) -> list[Cells]:
    """Every row of the CSV text, typed; raises BadRow for the first problem."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise BadRow(1, "expected a header row of column names")
    columns = _header(header, schema)
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(columns):
            raise BadRow(reader.line_num, f"expected {len(columns)} values, got {len(values)}")
        rows.append(
            {
                column.name: _checked(text, column, schema, reader.line_num)
                for column, text in zip(columns, values, strict=True)
            }
        )
    return rows


def parse_value(text: str, column: Column) -> Scalar:
    """A CSV value as a document cell of the column's type; ValueError if it is not one."""
    text = text.strip()
    if not text:
        return None
    if column.type == "integer":
        return int(text)
    if column.type in ("number", "decimal"):
        number = Decimal(text)
        if not number.is_finite():
            raise ValueError("expected a finite number")
        return float(number)
    if column.type == "boolean":
        if text.lower() not in _BOOLEANS:
            raise ValueError("expected true/false, 1/0 or yes/no")
        return _BOOLEANS[text.lower()]
    if column.type == "date":
        return date.fromisoformat(text).isoformat()
    if column.type == "datetime":
        return datetime.fromisoformat(text).isoformat()
    return text


def _header(names: list[str], schema: TableSchema) -> list[Column]:
    known = {column.name: column for column in schema.columns}
    for name in names:
        if name not in known:
            raise BadRow(1, f'table "{schema.table}" has no such column', name)
        if known[name].readonly and name != schema.pk:
            raise BadRow(1, "the database computes this column", name)
    for column in schema.columns:
        needed = not column.nullable and not (column.name == schema.pk and schema.autoincrement)
        if needed and column.name not in names:
            raise BadRow(1, "missing, and the column cannot be empty", column.name)
    return [known[name] for name in names]


def _checked(text: str, column: Column, schema: TableSchema, line: int) -> Scalar:
    try:
        value = parse_value(text, column)
    except (ValueError, InvalidOperation):
        raise BadRow(
            line, f"{text.strip()!r} is not {_EXPECTED[column.type]}", column.name
        ) from None
    if value is None and column.name == schema.pk and schema.autoincrement:
        return value  # the database gives the key
    try:
        from_cell(value, column)
    except ValueError as exc:
        raise BadRow(line, str(exc), column.name) from None
    return value
