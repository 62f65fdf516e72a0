"""Engines and table reflection, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
import sqlalchemy
from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.dialects import postgresql

from persistence.database import CellsyncDatabaseError, check_connection, create_engine
from persistence.demo import STATUSES, create_demo_database
from persistence.table.schema import (
    Column,
    TableName,
    UnsupportedTableError,
    load_table,
    parse_choice_check,
    reflect_table,
)


def _create(engine: sqlalchemy.Engine, name: str, *columns: sqlalchemy.Column) -> None:
    sqlalchemy.Table(name, sqlalchemy.MetaData(), *columns).create(engine)


# --- database.py -------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_use_psycopg(scheme):
    engine = create_engine(f"{scheme}://postgres@127.0.0.1/test")
    assert engine.url.drivername == "postgresql+psycopg"


def test_default_url_is_a_local_sqlite_file():
    assert str(create_engine(None).url) == "sqlite:///./cellsync.db"


def test_sqlite_connections_are_configured(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        pragmas = [
            connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        ]
    engine.dispose()
    assert pragmas == ["wal", 1, 10_000]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "malformed database URL 'not a url'"),
        ("mysql://root@localhost/shop", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://x/y", "database driver 'postgresql+nosuchdriver'"),
    ],
)
def test_bad_urls_are_refused_in_one_line(url, message):
    with pytest.raises(CellsyncDatabaseError, match="^" + re.escape(message)) as raised:
        create_engine(url)
    assert "\n" not in str(raised.value)


def test_unreachable_database_message_hides_the_password():
    engine = create_engine("postgresql://postgres:s3cret@127.0.0.1:1/test")
    with pytest.raises(CellsyncDatabaseError) as raised:
        check_connection(engine)
    assert str(raised.value) == (
        "cannot reach database postgresql+psycopg://postgres@127.0.0.1:1/test: connection refused"
    )


def test_check_connection_passes_on_a_live_database(database_url):
    engine = create_engine(database_url)
    check_connection(engine)
    engine.dispose()


# --- schema.py ---------------------------------------------------------------------------------


def test_reflects_every_type(engine, typed_table):
    typed_table(engine)
    schema = reflect_table(engine, "items")
    assert schema.table == "items"
    assert schema.pk == "id"
    assert schema.autoincrement
    assert schema.columns == (
        Column("id", "integer", nullable=False, readonly=True),
        Column("title", "text", nullable=False, readonly=False, max_length=40, required=True),
        Column("body", "text", nullable=True, readonly=False),
        Column("quantity", "integer", nullable=False, readonly=False, required=True),
        Column("price", "decimal", nullable=True, readonly=False, scale=2),
        Column("ratio", "number", nullable=True, readonly=False),
        Column("active", "boolean", nullable=False, readonly=False, required=True),
        Column("due", "date", nullable=True, readonly=False),
        Column("updated_at", "datetime", nullable=True, readonly=False),
        Column(
            "status",
            "text",
            nullable=True,
            readonly=False,
            choices=("draft", "active", "it's done"),
            max_length=9,
        ),
    )


def test_column_lookup(engine, typed_table):
    typed_table(engine)
    schema = reflect_table(engine, "items")
    assert schema.column("ratio").type == "number"
    with pytest.raises(KeyError, match='table "items" has no column "nope"'):
        schema.column("nope")


def test_to_meta_includes_optional_keys_only_when_set():
    assert Column("a", "text", True, False).to_meta() == {
        "name": "a",
        "type": "text",
        "nullable": True,
        "readonly": False,
    }
    meta = Column("s", "text", False, False, choices=("x", "y"), max_length=3).to_meta()
    assert meta["choices"] == ["x", "y"]
    assert meta["max_length"] == 3
    assert "scale" not in meta
    assert Column("p", "decimal", True, False, scale=2).to_meta()["scale"] == 2
    assert Column("r", "text", False, False, required=True).to_meta()["required"] is True


def test_a_not_null_column_with_a_default_is_not_required(engine):
    sqlalchemy.Table(
        "t",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("a", String(5), nullable=False),
        sqlalchemy.Column("b", String(5), nullable=False, server_default="x"),
    ).create(engine)
    required = {c.name: c.required for c in reflect_table(engine, "t").columns}
    assert required == {"id": False, "a": True, "b": False}


def test_native_enum_choices_on_postgresql(postgresql_url):
    engine = create_engine(postgresql_url)
    mood = postgresql.ENUM("sad", "ok", "happy", name="mood")
    _create(
        engine,
        "people",
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("mood", mood, nullable=False),
    )
    column = reflect_table(engine, "people").column("mood")
    engine.dispose()
    assert column == Column(
        "mood", "text", False, False, choices=("sad", "ok", "happy"), required=True
    )


@pytest.mark.parametrize(
    ("sqltext", "expected"),
    [
        ("status IN ('a', 'b''c')", ("status", ("a", "b'c"))),
        ("\"Status\" IN ('x')", ("Status", ("x",))),
        (
            "status::text = ANY (ARRAY['new'::character varying, 'paid'::character varying]"
            "::text[])",
            ("status", ("new", "paid")),
        ),
        ("status IN ('a') OR quantity > 1", None),
        ("quantity > 0", None),
    ],
)
def test_parse_choice_check(sqltext, expected):
    assert parse_choice_check(sqltext) == expected


def test_other_check_constraints_give_no_choices(engine):
    _create(
        engine,
        "stock",
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("code", String(5)),
        sqlalchemy.CheckConstraint("length(code) > 1"),
    )
    assert reflect_table(engine, "stock").column("code").choices is None


def test_refuses_composite_primary_key(engine):
    _create(
        engine,
        "lines",
        sqlalchemy.Column("a", Integer, primary_key=True),
        sqlalchemy.Column("b", Integer, primary_key=True),
    )
    with pytest.raises(UnsupportedTableError) as raised:
        reflect_table(engine, "lines")
    assert str(raised.value) == (
        'table "lines" has a composite primary key (a, b); '
        "Cellsync needs a single-column primary key"
    )


def test_refuses_table_without_primary_key(engine):
    _create(engine, "loose", sqlalchemy.Column("a", Integer))
    with pytest.raises(UnsupportedTableError, match=r'^table "loose" has no primary key'):
        reflect_table(engine, "loose")


def test_refuses_missing_table(engine):
    with pytest.raises(UnsupportedTableError, match=r'^table "ghost" does not exist$'):
        reflect_table(engine, "ghost")
    with pytest.raises(UnsupportedTableError):
        load_table(engine, "ghost")


def test_a_type_cellsync_cannot_edit_is_read_only_text(engine):
    _create(
        engine,
        "files",
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("blob", LargeBinary),
    )
    column = reflect_table(engine, "files").column("blob")
    assert (column.type, column.readonly) == ("text", True)
    assert re.fullmatch(r"Cellsync cannot edit (BLOB|BYTEA) values; shown as text, read-only",
                        column.readonly_reason)  # fmt: skip
    assert column.to_meta()["readonly_reason"] == column.readonly_reason


def test_a_key_of_a_type_cellsync_cannot_edit_is_refused(engine):
    _create(engine, "files", sqlalchemy.Column("id", LargeBinary, primary_key=True))
    with pytest.raises(UnsupportedTableError, match=r'^table "files" has a primary key of type'):
        reflect_table(engine, "files")


def test_schema_qualified_and_quoted_names(postgresql_url):
    engine = create_engine(postgresql_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text('CREATE SCHEMA "Sales Dept"'))
        conn.execute(sqlalchemy.text('CREATE TABLE "Sales Dept"."order" ("Id" serial PRIMARY KEY)'))
    schema = reflect_table(engine, '"Sales Dept".order')
    engine.dispose()
    assert (schema.table, schema.pk, schema.autoincrement) == ('"Sales Dept".order', "Id", True)
    assert schema.name == TableName("order", "Sales Dept")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("items", TableName("items")),
        ("app.items", TableName("items", "app")),
        ("My Table", TableName("My Table")),
        ('"a.b"."say ""hi"""', TableName('say "hi"', "a.b")),
    ],
)
def test_table_names(text, expected):
    assert TableName.parse(text) == expected


@pytest.mark.parametrize("text", ["", "a.b.c", 'a"b'])
def test_bad_table_names_are_refused(text):
    with pytest.raises(UnsupportedTableError, match=r"is not NAME or SCHEMA\.NAME"):
        TableName.parse(text)


def test_text_primary_key_is_not_autoincrement(engine):
    _create(engine, "tags", sqlalchemy.Column("slug", String(20), primary_key=True))
    schema = reflect_table(engine, "tags")
    assert (schema.pk, schema.autoincrement) == ("slug", False)
    assert schema.column("slug").readonly


# --- demo.py -----------------------------------------------------------------------------------


def test_demo_database(database_url):
    assert create_demo_database(database_url, rows=50) == "orders"
    assert create_demo_database(database_url, rows=120) == "orders"  # recreated, not appended
    engine = create_engine(database_url)
    schema = reflect_table(engine, "orders")
    table = load_table(engine, "orders")
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(table))
        assert count.scalar_one() == 120
        first = connection.execute(table.select().order_by(table.c.id).limit(1)).one()
    engine.dispose()
    assert schema.autoincrement
    assert [(c.name, c.type, c.nullable) for c in schema.columns] == [
        ("id", "integer", False),
        ("customer", "text", False),
        ("email", "text", True),
        ("quantity", "integer", False),
        ("unit_price", "decimal", False),
        ("paid", "boolean", False),
        ("order_date", "date", False),
        ("status", "text", False),
        ("notes", "text", True),
    ]
    assert schema.column("status").choices == STATUSES
    assert schema.column("customer").max_length == 80
    assert schema.column("unit_price").scale == 2
    assert first.id == 1
    assert " " in first.customer
