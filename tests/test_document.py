"""The sheet document (layout version 1): cell conversion, populate, reading back."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

import pytest
from pycrdt import Array, Doc, Map

from persistence.database import create_engine
from persistence.demo import create_demo_database
from persistence.document import (
    META,
    ORDER,
    ROWS,
    SCHEMA_VERSION,
    from_cell,
    iter_rows,
    new_row_key,
    populate,
    publish_meta,
    read_meta,
    read_rows,
    row_cells,
    row_key,
    to_cell,
)
from persistence.table.rows import fetch_rows
from persistence.table.schema import Column, TableSchema, reflect_table

INTEGER = Column("qty", "integer", nullable=False, readonly=False)
NUMBER = Column("ratio", "number", nullable=True, readonly=False)
DECIMAL = Column("price", "decimal", nullable=True, readonly=False, scale=2)
TEXT = Column("title", "text", nullable=True, readonly=False, max_length=5)
CHOICE = Column("status", "text", nullable=False, readonly=False, choices=("new", "paid"))
BOOLEAN = Column("active", "boolean", nullable=False, readonly=False)
DATE = Column("due", "date", nullable=True, readonly=False)
DATETIME = Column("at", "datetime", nullable=True, readonly=False)

TYPED_ROWS = [
    {
        "id": 1,
        "title": "Spoon",
        "body": "Stainless steel, 'quoted' and \"double\"",
        "quantity": 3,
        "price": Decimal("19.99"),
        "ratio": 0.25,
        "active": True,
        "due": date(2024, 2, 29),
        "updated_at": datetime(2024, 3, 1, 12, 30, 5),
        "status": "it's done",
    },
    {
        "id": 2,
        "title": "Fork",
        "body": None,
        "quantity": 0,
        "price": Decimal("0.10"),
        "ratio": None,
        "active": False,
        "due": None,
        "updated_at": None,
        "status": None,
    },
    {
        "id": 10,
        "title": "Ünïcødé ✓",
        "body": "",
        "quantity": -7,
        "price": Decimal("12345678.90"),
        "ratio": -1.5e-3,
        "active": True,
        "due": date(1999, 12, 31),
        "updated_at": datetime(2000, 1, 1),
        "status": "draft",
    },
]


def _small_schema() -> TableSchema:
    columns = (
        Column("id", "integer", nullable=False, readonly=True),
        Column("name", "text", nullable=True, readonly=False),
    )
    return TableSchema(table="things", pk="id", columns=columns, autoincrement=True)


# --- to_cell / from_cell -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "column", "cell"),
    [
        (None, INTEGER, None),
        (12, INTEGER, 12),
        (2**62, INTEGER, 2**62),
        (1.5, NUMBER, 1.5),
        (Decimal("19.99"), DECIMAL, 19.99),
        ("abc", TEXT, "abc"),
        (True, BOOLEAN, True),
        (date(2024, 2, 29), DATE, "2024-02-29"),
        (datetime(2024, 2, 29, 23, 59, 1, 5), DATETIME, "2024-02-29T23:59:01.000005"),
    ],
)
def test_to_cell(value, column, cell):
    result = to_cell(value, column)
    assert result == cell
    assert type(result) is type(cell)


def test_to_cell_refuses_integers_beyond_64_bits():
    with pytest.raises(ValueError, match=r'column "qty" holds .* does not fit in 64 bits'):
        to_cell(2**64, INTEGER)


def test_to_cell_names_the_column_of_a_bad_stored_value():
    with pytest.raises(ValueError, match=r'^column "qty" \(integer\) holds \'abc\''):
        to_cell("abc", INTEGER)


@pytest.mark.parametrize(
    ("cell", "column", "value"),
    [
        (3.0, INTEGER, 3),
        (3, INTEGER, 3),
        (-0.0, INTEGER, 0),
        (2**53 + 1, INTEGER, 2**53 + 1),
        (2, NUMBER, 2.0),
        (0.1, DECIMAL, Decimal("0.10")),
        (19.99, DECIMAL, Decimal("19.99")),
        (1234567.895, DECIMAL, Decimal("1234567.90")),
        (0.125, DECIMAL, Decimal("0.13")),
        (7, DECIMAL, Decimal("7.00")),
        ("it's", TEXT, "it's"),
        ("paid", CHOICE, "paid"),
        (False, BOOLEAN, False),
        ("2024-02-29", DATE, date(2024, 2, 29)),
        ("2024-02-29T23:59:01", DATETIME, datetime(2024, 2, 29, 23, 59, 1)),
        (None, NUMBER, None),
    ],
)
def test_from_cell(cell, column, value):
    result = from_cell(cell, column)
    assert result == value
    assert type(result) is type(value)
    if isinstance(value, Decimal):
        assert result.as_tuple() == value.as_tuple()


def test_decimal_without_scale_keeps_the_shortest_repr():
    column = replace(DECIMAL, scale=None)
    assert from_cell(0.1, column).as_tuple() == Decimal("0.1").as_tuple()


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        (3.5, INTEGER, r'^column "qty" \(integer\) cannot take 3.5: expected a whole number$'),
        (True, INTEGER, "expected a number, got bool"),
        ("3", INTEGER, "expected a number, got str"),
        (float("nan"), NUMBER, "expected a finite number"),
        (None, INTEGER, '^column "qty" cannot be empty$'),
        (None, CHOICE, '^column "status" cannot be empty$'),
        ("toolong", TEXT, '^column "title" takes at most 5 characters, got 7$'),
        ("gone", CHOICE, "^column \"status\" cannot take 'gone': choose one of new, paid$"),
        (1, BOOLEAN, "expected true or false, got int"),
        (5, TEXT, "expected text, got int"),
        ("2024-02-30", DATE, r'^column "due" \(date\) cannot take \'2024-02-30\''),
        ("yesterday", DATETIME, r'^column "at" \(datetime\)'),
        (20240229, DATE, "expected text, got int"),
    ],
)
def test_from_cell_refuses(cell, column, message):
    with pytest.raises(ValueError, match=message):
        from_cell(cell, column)


TIME = Column("starts", "time", nullable=True, readonly=False)
INTERVAL = Column("lasts", "interval", nullable=True, readonly=False)
UUID = Column("ref", "uuid", nullable=True, readonly=False)
JSON = Column("doc", "json", nullable=True, readonly=False)
BYTES = Column("data", "text", nullable=True, readonly=True, readonly_reason="cannot edit BYTEA")


@pytest.mark.parametrize(
    ("value", "column", "cell"),
    [
        (dt_time(8, 30), TIME, "08:30:00"),
        (dt_time(8, 30, 0, 5, tzinfo=UTC), TIME, "08:30:00.000005+00:00"),
        (timedelta(days=1, hours=2, minutes=30), INTERVAL, "P1DT2H30M"),
        (timedelta(0), INTERVAL, "P0D"),
        (-timedelta(seconds=1.5), INTERVAL, "-PT1.5S"),
        (uuid.UUID(int=1), UUID, "00000000-0000-0000-0000-000000000001"),
        ({"a": [1, "é"]}, JSON, '{"a": [1, "é"]}'),
        (b"\x01\xff", BYTES, "\\x01ff"),
        (["x", None], BYTES, '["x", null]'),
    ],
)
def test_new_types_round_trip(value, column, cell):
    assert to_cell(value, column) == cell
    if column is not BYTES:
        assert from_cell(cell, column) == value


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("{not json", JSON, r'^column "doc" \(json\) cannot take .*: invalid JSON'),
        (3, JSON, "expected text, got int"),
        ("1 day", INTERVAL, "expected an ISO-8601 duration"),
        ("P1M", INTERVAL, "expected an ISO-8601 duration"),
        ("PT", INTERVAL, "expected an ISO-8601 duration"),
        ("25:00", TIME, r'^column "starts" \(time\)'),
        ("nope", UUID, r'^column "ref" \(uuid\)'),
        ("\\x02", BYTES, '^column "data" is read-only: cannot edit BYTEA$'),
    ],
)
def test_new_types_refuse(cell, column, message):
    with pytest.raises(ValueError, match=message):
        from_cell(cell, column)


def test_row_keys():
    assert row_key(12) == "12"
    assert row_key(12.0) == "12"
    assert row_key("abc") == "abc"
    first, second = new_row_key(), new_row_key()
    assert first != second
    assert len(first) == 32
    int(first, 16)


# --- populate / read ---------------------------------------------------------------------------


def test_populate_and_read_back_a_typed_table(engine, typed_table):
    table = typed_table(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), TYPED_ROWS)
    schema = reflect_table(engine, "items")
    doc = Doc()
    populate(doc, schema, fetch_rows(engine, schema))

    assert read_meta(doc) == {
        "schema": SCHEMA_VERSION,
        "table": "items",
        "pk": "id",
        "columns": [column.to_meta() for column in schema.columns],
    }
    assert doc.get(ORDER, type=Array).to_py() == ["1", "2", "10"]
    keys = [key for key, _ in iter_rows(doc)]
    assert keys == ["1", "2", "10"]
    back = [{c.name: from_cell(row[c.name], c) for c in schema.columns} for row in read_rows(doc)]
    assert back == TYPED_ROWS
    assert read_rows(doc)[0]["due"] == "2024-02-29"


def test_populate_survives_an_update_round_trip():
    """The doc built through pycrdt's integrated types syncs like any other."""
    doc = Doc()
    populate(doc, _small_schema(), [{"id": 1, "name": "a"}, {"id": 2, "name": None}])
    copy = Doc()
    copy.apply_update(doc.get_update())
    assert list(iter_rows(copy)) == [
        ("1", {"id": 1.0, "name": "a"}),
        ("2", {"id": 2, "name": None}),
    ]
    assert read_meta(copy)["columns"][1] == {
        "name": "name",
        "type": "text",
        "nullable": True,
        "readonly": False,
    }


def test_populate_lists_every_row_in_table_order():
    """`order` is written in several transactions; none of them loses or reorders a key."""
    doc = Doc()
    populate(doc, _small_schema(), [{"id": n, "name": str(n)} for n in range(250, 0, -1)])
    copy = Doc()
    copy.apply_update(doc.get_update())
    assert copy.get(ORDER, type=Array).to_py() == [str(n) for n in range(250, 0, -1)]
    assert [cells["name"] for _, cells in iter_rows(copy)] == [str(n) for n in range(250, 0, -1)]


def test_populate_refuses_a_non_empty_doc():
    doc = Doc()
    populate(doc, _small_schema(), [{"id": 1, "name": "a"}])
    with pytest.raises(ValueError, match="empty document"):
        populate(doc, _small_schema(), [])


def test_iter_rows_skips_duplicates_and_missing_rows():
    doc = Doc()
    rows, order = doc.get(ROWS, type=Map), doc.get(ORDER, type=Array)
    with doc.transaction():
        rows["a"] = Map({"name": "A"})
        rows["b"] = Map({"name": "B"})
        rows["scalar"] = "not a row"
        rows["hidden"] = Map({"name": "never listed"})
        order.extend(["b", "ghost", "a", "b", "scalar", 7, "a"])
    assert list(iter_rows(doc)) == [("b", {"name": "B"}), ("a", {"name": "A"})]
    assert read_rows(doc) == [{"name": "B"}, {"name": "A"}]


def test_reading_an_empty_doc():
    doc = Doc()
    assert read_meta(doc) == {}
    assert read_rows(doc) == []


def test_publish_meta_writes_only_changes():
    doc = Doc()
    schema = _small_schema()
    populate(doc, schema, [])
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    assert publish_meta(doc, schema) is False
    assert updates == []

    renamed = replace(schema, columns=(schema.columns[0], replace(schema.columns[1], name="n")))
    assert publish_meta(doc, renamed) is True
    assert read_meta(doc)["columns"][1]["name"] == "n"
    assert publish_meta(doc, renamed) is False
    assert len(updates) == 1


def test_publish_meta_on_an_empty_doc():
    doc = Doc()
    assert publish_meta(doc, _small_schema()) is True
    assert read_meta(doc)["pk"] == "id"
    assert doc.get(META, type=Map)["schema"] == SCHEMA_VERSION


def test_populate_from_the_demo_database(database_url):
    create_demo_database(database_url, rows=200)
    engine = create_engine(database_url)
    schema = reflect_table(engine, "orders")
    doc = Doc()
    populate(doc, schema, fetch_rows(engine, schema))
    engine.dispose()
    rows = read_rows(doc)
    assert len(rows) == 200
    assert [row_key(row["id"]) for row in rows] == [str(n) for n in range(1, 201)]
    for row in rows:
        for column in schema.columns:
            from_cell(row[column.name], column)  # every stored value is valid for its column


def test_populate_ten_thousand_rows():
    columns = tuple(
        Column(f"c{n}", kind, nullable=True, readonly=n == 0)
        for n, kind in enumerate(["integer", "text", "number", "boolean", "date"] * 2)
    )
    schema = TableSchema(table="big", pk="c0", columns=columns, autoincrement=True)
    values = {"text": "some text", "number": 1.25, "boolean": True, "date": "2024-01-01"}
    rows = [
        {c.name: n if c.type == "integer" else values[c.type] for c in columns}
        for n in range(10_000)
    ]
    doc = Doc()
    started = time.perf_counter()
    populate(doc, schema, rows)
    elapsed = time.perf_counter() - started
    print(f"populate 10,000 x 10: {elapsed:.3f} s")
    assert len(doc.get(ORDER, type=Array)) == 10_000
    assert len(doc.get(ROWS, type=Map)) == 10_000
    assert doc.get(ROWS, type=Map)["9999"]["c9"] == "2024-01-01"


def test_fetch_rows_streams(engine, typed_table):
    table = typed_table(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), TYPED_ROWS)
    rows = fetch_rows(engine, reflect_table(engine, "items"))
    assert next(rows)["price"] == 19.99
    assert [row["id"] for row in rows] == [2, 10]


def test_row_cells_reads_what_to_py_reads_types_and_all():
    doc = Doc()
    rows = doc.get(ROWS, type=Map)
    rows["1"] = Map({"qty": 3, "ratio": 3.0, "title": "x", "note": None, "active": True})
    rows["2"] = Map({"qty": 1, "nested": Map({"a": 1})})  # only a broken client writes one
    cells, expected = row_cells(rows["1"]), rows["1"].to_py()
    assert cells == expected
    assert {k: type(v) for k, v in cells.items()} == {k: type(v) for k, v in expected.items()}
    assert row_cells(rows["2"]) == {"qty": 1, "nested": {"a": 1}}
