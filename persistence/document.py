"""The shared sheet document, layout version 1 (docs/sheet-document.md).

Map `meta` describes the table, Map `rows` holds row key -> Map(column -> scalar), Array `order`
lists row keys in display order. JavaScript reads and writes the same layout, so cells hold only
JSON scalars: numbers are doubles, dates are ISO strings. Functions here are pure over the doc
passed in: a pycrdt Doc must stay on the thread that created it.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

from pycrdt import Array, Doc, Map, Transaction

if TYPE_CHECKING:  # the Python client reads documents without SQLAlchemy installed
    from persistence.table.schema import Column, TableSchema

SCHEMA_VERSION = 1
META = "meta"
ROWS = "rows"
ORDER = "order"
REFUSALS = "refusals"  # "row key\x00column" -> {reason, value, at}; written by the server only

Scalar = None | bool | int | float | str

ORDER_CHUNK = 100  # keys appended to `order` per transaction (`append_order`)
# Cells per chunk of a sheet built from its table (`populate`): 10,000 rows of 8 columns, an
# update of ~2.3 MB that applies in ~0.1 s.
CHUNK_CELLS = 80_000

_SCALARS = (str, int, float, bool, type(None))

# pycrdt panics (PanicException, not an Exception) on ints outside int64.
_INT64 = range(-(2**63), 2**63)

# An interval cell: an ISO-8601 duration of weeks, days, hours, minutes and seconds.
_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<H>\d+)H)?(?:(?P<M>\d+)M)?(?:(?P<S>\d+)(?:[.,](?P<f>\d{1,6}))?S)?)?$"
)


def new_doc() -> Doc:
    """A document whose own edits carry a random 32-bit client id, as Yjs makes them: pycrdt's
    default is wider, and clients on older pycrdt (0.12) misread such ids."""
    return Doc(client_id=secrets.randbits(32))


def to_cell(value: Any, column: Column) -> Scalar:
    """A value read from the table as a document scalar (Decimal -> float, dates -> ISO)."""
    if value is None:
        return None
    if column.readonly_reason is not None:
        return _shown_as_text(value)
    try:
        cell = _TO_CELL[column.type](value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'column "{column.name}" ({column.type}) holds {value!r}: {exc}') from exc
    if isinstance(cell, int) and not isinstance(cell, bool) and cell not in _INT64:
        raise ValueError(f'column "{column.name}" holds {value!r}, which does not fit in 64 bits')
    return cell


def cell_reader(column: Column) -> Callable[[Any], Scalar]:
    """`to_cell` for one column, decided once: values the driver already gives as the cell's
    type pass as they are (the first open of a big table converts millions of cells)."""
    native = _NATIVE.get(column.type) if column.readonly_reason is None else None

    def read(value: Any) -> Scalar:
        if value is None or (type(value) is native and (native is not int or value in _INT64)):
            return cast(Scalar, value)
        return to_cell(value, column)

    return read


def from_cell(value: Scalar, column: Column) -> Any:
    """A document scalar as a value for the table; ValueError if the column cannot take it."""
    if value is None:
        if not column.nullable:
            raise ValueError(f'column "{column.name}" cannot be empty')
        return None
    if column.readonly_reason is not None:
        raise ValueError(f'column "{column.name}" is read-only: {column.readonly_reason}')
    try:
        result = _FROM_CELL[column.type](value, column)
    except ValueError as exc:
        raise ValueError(
            f'column "{column.name}" ({column.type}) cannot take {value!r}: {exc}'
        ) from exc
    _check_text(result, column)
    return result


def same(a: Any, b: Any) -> bool:
    """Cell equality where JavaScript's 3.0 equals 3 but True does not equal 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def row_key(pk_value: Any) -> str:
    """The row key of an existing row: str(pk), with integral floats from JavaScript as ints."""
    if isinstance(pk_value, float) and pk_value.is_integer():
        pk_value = int(pk_value)
    return str(pk_value)


def refusal_key(row: str, column: str) -> str:
    """The `refusals` key of a cell; column "" stands for the whole row."""
    return f"{row}\x00{column}"


def new_row_key() -> str:
    """A key for a row created in a client: random, because concurrent counters collide."""
    return uuid.uuid4().hex


def build_meta(schema: TableSchema) -> dict[str, Any]:
    """The content of the `meta` map for `schema`."""
    return {
        "schema": SCHEMA_VERSION,
        "table": schema.table,
        "pk": schema.pk,
        "columns": [column.to_meta() for column in schema.columns],
    }


def populate(doc: Doc, schema: TableSchema, rows: Iterable[Mapping[str, Scalar]]) -> list[bytes]:
    """Fill a new, empty doc with the table's rows (before anyone observes it) and return each
    chunk's update (`built_chunks`)."""
    return [chunk.update for chunk in built_chunks(doc, schema, rows)]


@dataclass(frozen=True)
class Chunk:
    rows: list[Mapping[str, Scalar]]
    update: bytes  # these rows and their places in `order`; `meta` too in the first chunk


def built_chunks(
    doc: Doc, schema: TableSchema, rows: Iterable[Mapping[str, Scalar]], resumed: bool = False
) -> Iterator[Chunk]:
    """Fills a new, empty doc (or, `resumed`, one holding the chunks a stopped build made)
    with the table's rows, `chunk_rows` at a time, yielding each chunk once it is in the doc:
    the first open records and commits a chunk before it builds the next, so that clients get
    it at once. Applied in turn, each chunk needs only those before it, so a client can show
    the first rows before the rest has arrived, and a server applying them lets go of the GIL
    in between."""
    meta, rows_map, order = _roots(doc)
    if not resumed and (len(rows_map) or len(order)):
        raise ValueError("populate needs an empty document")
    remaining = iter(rows)
    size = chunk_rows(len(schema.columns))
    first = not resumed
    while True:
        batch = list(islice(remaining, size))
        before = doc.get_state()
        with doc.transaction() as txn:
            if first:
                _write_meta(meta, build_meta(schema))
            keys = _insert_rows(txn, rows_map, schema, batch)
        append_order(doc, keys)
        if keys or first:
            yield Chunk(batch, doc.get_update(before))
        if len(keys) < size:
            return
        first = False


def chunk_rows(columns: int) -> int:
    """Rows per chunk of a table with that many columns: `CHUNK_CELLS` cells, so that a wide
    table's chunks are no bigger than a narrow one's."""
    return max(1, CHUNK_CELLS // max(1, columns))


def append_order(doc: Doc, keys: list[str]) -> None:
    """Appends `keys` to `order`, `ORDER_CHUNK` per transaction: yrs merges appended items
    into one block when their transaction commits, quadratically in their number (~3 s for 10k
    at once, 0.02 s a hundred at a time). One block instead of one per row is what a browser
    integrates fastest: a 10k-row sheet's first sync applies ~20% faster in yjs, and is 130 KB
    smaller."""
    order = _roots(doc)[2]
    for start in range(0, len(keys), ORDER_CHUNK):
        with doc.transaction():
            order.extend(keys[start : start + ORDER_CHUNK])


def publish_meta(doc: Doc, schema: TableSchema) -> bool:
    """Write `meta` for `schema` only where it differs from the doc, and drop any key it does
    not have (a client may have added one); True if anything changed."""
    meta = _roots(doc)[0]
    wanted = build_meta(schema)
    with doc.transaction():
        current = meta.to_py() or {}
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        _write_meta(meta, changed)
        extra = [key for key in current if key not in wanted]
        for key in extra:
            del meta[key]
    return bool(changed or extra)


def read_meta(doc: Doc) -> dict[str, Any]:
    """The `meta` map as a plain dict (numbers written by JavaScript come back as floats)."""
    return _roots(doc)[0].to_py() or {}


def order_keys(doc: Doc) -> list[Any]:
    """The entries of `order`, one per position. Read through yrs's JSON: 15 times faster than
    `to_py()`, which builds every entry in Python (20 ms instead of 0.3 s at 100,000 rows)."""
    return json.loads(str(_roots(doc)[2]))


def row_cells(row: Map) -> dict[str, Any]:
    """A row's cells, read through pycrdt's integrated map in one transaction: 8x faster than
    `to_py()`, which opens three transactions per cell (6 us instead of 50 for 10 cells). A row
    holding a shared type (only a broken client writes one) is read by `to_py()`."""
    with row.doc.transaction() as txn:
        raw, raw_txn = row.integrated, txn._txn
        cells = {key: raw.get(raw_txn, key) for key in raw.keys(raw_txn)}
        if all(isinstance(value, _SCALARS) for value in cells.values()):
            return cells
        return row.to_py() or {}


def rows_from_json(text: str) -> dict[str, dict[str, Scalar]]:
    """Every row's cells from `str(rows)`, yrs's JSON of the `rows` map, made in one read: 3x
    faster than a to_py() per row. JSON blurs 3.0 and 3, which `same` does not tell apart."""
    return {key: cells for key, cells in json.loads(text).items() if isinstance(cells, dict)}


def iter_rows(doc: Doc) -> Iterator[tuple[str, dict[str, Scalar]]]:
    """(row key, cells) in display order, skipping duplicate keys and keys with no row."""
    _, rows_map, _ = _roots(doc)
    seen: set[str] = set()
    for key in order_keys(doc):
        row = rows_map.get(key) if isinstance(key, str) and key not in seen else None
        if isinstance(row, Map):
            seen.add(key)
            yield key, row_cells(row)


def read_rows(doc: Doc) -> list[dict[str, Scalar]]:
    """All rows in display order, read in one transaction so they are consistent."""
    with doc.transaction():
        return [cells for _, cells in iter_rows(doc)]


def _roots(doc: Doc) -> tuple[Map, Map, Array]:
    return doc.get(META, type=Map), doc.get(ROWS, type=Map), doc.get(ORDER, type=Array)


def _write_meta(meta: Map, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        meta[key] = value


def _insert_rows(
    txn: Transaction, rows_map: Map, schema: TableSchema, rows: Iterable[Mapping[str, Scalar]]
) -> list[str]:
    """Insert row Maps through pycrdt's integrated types: 4x faster than `Map({...})`, which
    wraps every cell in its own nested transaction (0.08 s instead of 0.33 s for 10k x 10)."""
    raw_txn, raw_rows = txn._txn, rows_map.integrated
    names = [column.name for column in schema.columns]
    keys = []
    for row in rows:
        key = row_key(row[schema.pk])
        raw_row = raw_rows.insert_map_prelim(raw_txn, key)
        for name in names:
            raw_row.insert(raw_txn, name, row[name])
        keys.append(key)
    return keys


def _check_text(value: Any, column: Column) -> None:
    if column.max_length is not None and len(value) > column.max_length:
        raise ValueError(
            f'column "{column.name}" takes at most {column.max_length} characters, got {len(value)}'
        )
    if column.choices is not None and value not in column.choices:
        raise ValueError(
            f'column "{column.name}" cannot take {value!r}: choose one of '
            + ", ".join(column.choices)
        )


def _iso(value: date | time) -> str:
    return value.isoformat()


def _iso_duration(value: timedelta) -> str:
    """An interval as an ISO-8601 duration: P1DT2H30M, -PT0.5S (PostgreSQL reads both)."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}".rstrip("0").rstrip(".") + "S"
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}T{clock}" if clock else f"{sign}P{days or '0D'}"


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _shown_as_text(value: Any) -> str:
    """A value of a type Cellsync cannot edit, as read-only text: bytes in PostgreSQL's hex
    form, arrays and documents as JSON, anything else as Python prints it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


_TO_CELL: dict[str, Callable[[Any], Scalar]] = {
    "integer": int,
    "number": float,
    "decimal": float,
    "text": str,
    "boolean": bool,
    "date": _iso,
    "datetime": _iso,
    "time": _iso,
    "interval": _iso_duration,
    "uuid": str,
    "json": _json_text,
}


# column types whose cells are the driver's values when they are exactly of this Python type
_NATIVE: dict[str, type] = {"integer": int, "number": float, "text": str, "boolean": bool}


def _number(value: Scalar) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _to_integer(value: Scalar, _column: Column) -> int:
    number = _number(value)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError("expected a whole number")
    return int(number)


def _to_float(value: Scalar, _column: Column) -> float:
    return float(_number(value))


def _to_decimal(value: Scalar, column: Column) -> Decimal:
    number = _number(value)
    # repr() is the shortest round-tripping string: 0.1 -> Decimal("0.1"), not 0.1000000000000000055
    result = Decimal(number) if isinstance(number, int) else Decimal(repr(number))
    if column.scale is None:
        return result
    return result.quantize(Decimal(1).scaleb(-column.scale), rounding=ROUND_HALF_UP)


def _to_text(value: Scalar, _column: Column) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _to_boolean(value: Scalar, _column: Column) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def _to_date(value: Scalar, column: Column) -> date:
    return date.fromisoformat(_to_text(value, column))


def _to_datetime(value: Scalar, column: Column) -> datetime:
    return datetime.fromisoformat(_to_text(value, column))


def _to_time(value: Scalar, column: Column) -> time:
    return time.fromisoformat(_to_text(value, column))


def _to_interval(value: Scalar, column: Column) -> timedelta:
    match = _DURATION.match(_to_text(value, column).strip().upper())
    if match is None or match.group(0).rstrip("T").endswith("P"):
        raise ValueError("expected an ISO-8601 duration of days and time, such as P1DT2H30M")
    parts = {unit: int(match[unit] or 0) for unit in "WDHMS"}
    micro = int((match["f"] or "").ljust(6, "0"))
    result = timedelta(
        weeks=parts["W"],
        days=parts["D"],
        hours=parts["H"],
        minutes=parts["M"],
        seconds=parts["S"],
        microseconds=micro,
    )
    return -result if match["sign"] == "-" else result


def _to_uuid(value: Scalar, column: Column) -> uuid.UUID:
    return uuid.UUID(_to_text(value, column))


def _to_json(value: Scalar, column: Column) -> Any:
    try:
        return json.loads(_to_text(value, column))
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc


_FROM_CELL: dict[str, Callable[[Scalar, Column], Any]] = {
    "integer": _to_integer,
    "number": _to_float,
    "decimal": _to_decimal,
    "text": _to_text,
    "boolean": _to_boolean,
    "date": _to_date,
    "datetime": _to_datetime,
    "time": _to_time,
    "interval": _to_interval,
    "uuid": _to_uuid,
    "json": _to_json,
}
