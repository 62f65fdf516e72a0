"""Reflect a user's table into the column description that the sheet document publishes.

Only what the grid needs survives: a small set of portable types, nullability, the primary key,
and the constraints a cell editor can check before the database refuses a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import sql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import NoSuchTableError

COLUMN_TYPES = (
    "integer",
    "number",
    "decimal",
    "text",
    "boolean",
    "date",
    "datetime",
    "time",
    "interval",
    "uuid",
    "json",
)

# (SQLAlchemy type, document type), most specific first: Enum is a String, Double is a Float.
_TYPE_MAP: tuple[tuple[type, str], ...] = (
    (sql.sqltypes.Boolean, "boolean"),
    (sql.sqltypes.Integer, "integer"),
    (sql.sqltypes.Float, "number"),
    (sql.sqltypes.Numeric, "decimal"),
    (sql.sqltypes.Uuid, "uuid"),
    (sql.sqltypes.JSON, "json"),
    (sql.sqltypes.String, "text"),
    (sql.sqltypes.DateTime, "datetime"),
    (sql.sqltypes.Date, "date"),
    (sql.sqltypes.Time, "time"),
    (sql.sqltypes._AbstractInterval, "interval"),  # PostgreSQL's INTERVAL is not an Interval
)

# A table name: `name` or `schema.name`, a part in double quotes when it holds a dot or a quote.
_NAME_PART = r'"(?:[^"]|"")*"|[^."]+'
_TABLE_NAME = re.compile(rf"^(?P<first>{_NAME_PART})(?:\.(?P<second>{_NAME_PART}))?$")

# A CHECK constraint that restricts one column to a list of string literals, as SQLite keeps it
# ("status IN ('a', 'b')") or as PostgreSQL rewrites it
# ("status::text = ANY (ARRAY['a'::character varying, 'b'::character varying]::text[])").
_CAST = re.compile(r"::[a-z ]+(?:\[\])?", re.IGNORECASE)
_LITERAL = r"'(?:[^']|'')*'"
_CHOICE_CHECK = re.compile(
    rf"""^[\s(]*"?(?P<column>\w+)"?[\s)]*(?:IN|=\s*ANY)\s*[\s(]*(?:ARRAY\s*\[)?\s*
    (?P<values>{_LITERAL}(?:\s*,\s*{_LITERAL})*)\s*[\s\])]*$""",
    re.IGNORECASE | re.VERBOSE,
)


class UnsupportedTableError(Exception):
    """The table cannot be shown as a sheet; the message names the table and the reason."""


class MissingTableError(UnsupportedTableError):
    """The table does not exist (yet: a migration may be creating it again)."""


@dataclass(frozen=True)
class TableName:
    """A table as a sheet names it: the one place a name becomes a schema and a table, which
    are matched exactly as the database stores them (case, spaces and reserved words kept)."""

    name: str
    schema: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableName:
        match = _TABLE_NAME.match(text)
        if match is None or not text.strip():
            raise UnsupportedTableError(
                f'table name "{text}" is not NAME or SCHEMA.NAME (quote a part holding a dot '
                'in double quotes: "my.schema".items)'
            )
        first, second = match["first"], match["second"]
        return cls(_unquote(first)) if second is None else cls(_unquote(second), _unquote(first))

    def clause(self) -> sqlalchemy.TableClause:
        """The bare table, for quoting its name in SQL the dialect's way."""
        return sqlalchemy.table(self.name, schema=self.schema)


def _unquote(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part


@dataclass(frozen=True)
class Column:
    """One column as the grid sees it."""

    name: str
    type: str
    nullable: bool
    readonly: bool
    choices: tuple[str, ...] | None = None
    max_length: int | None = None
    scale: int | None = None
    readonly_reason: str | None = None  # why a type Cellsync cannot edit is shown as text
    required: bool = False  # a new row needs a value: NOT NULL and the database fills none in

    def to_meta(self) -> dict[str, Any]:
        """The column entry of the document's `meta.columns` (optional keys only when set)."""
        meta: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "readonly": self.readonly,
        }
        if self.choices is not None:
            meta["choices"] = list(self.choices)
        if self.max_length is not None:
            meta["max_length"] = self.max_length
        if self.scale is not None:
            meta["scale"] = self.scale
        if self.readonly_reason is not None:
            meta["readonly_reason"] = self.readonly_reason
        if self.required:
            meta["required"] = True
        return meta


@dataclass(frozen=True)
class TableSchema:
    """A table with a single-column primary key, reduced to what a sheet needs."""

    table: str
    pk: str
    columns: tuple[Column, ...]
    autoincrement: bool
    # The database refuses a key given to it (PostgreSQL's GENERATED ALWAYS AS IDENTITY): a
    # deleted row brought back gets a new key.
    pk_always_generated: bool = False

    @property
    def name(self) -> TableName:
        return TableName.parse(self.table)

    def column(self, name: str) -> Column:
        """The column called `name`; KeyError if the table has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f'table "{self.table}" has no column "{name}"')


def load_table(engine: Engine, table: str) -> sqlalchemy.Table:
    """Reflect `table` (NAME or SCHEMA.NAME) so queries use SQLAlchemy's quoting and type
    processing, never strings. An empty json cell is SQL NULL, not JSON's null."""
    name = TableName.parse(table)
    try:
        reflected = sqlalchemy.Table(
            name.name, sqlalchemy.MetaData(), schema=name.schema, autoload_with=engine
        )
    except NoSuchTableError as exc:
        raise MissingTableError(f'table "{table}" does not exist') from exc
    for column in reflected.columns:
        if isinstance(column.type, sql.sqltypes.JSON):
            column.type.none_as_null = True
    return reflected


def unservable(engine: Engine, sheets: Mapping[str, str]) -> dict[str, str]:
    """Each sheet whose table cannot be served, with why: the server serves the others."""
    errors = {}
    for sheet, table in sheets.items():
        try:
            reflect_table(engine, table)
        except UnsupportedTableError as exc:
            errors[sheet] = str(exc)
    return errors


def reflect_table(engine: Engine, table: str) -> TableSchema:
    """Describe `table`, or raise UnsupportedTableError saying why it cannot be a sheet."""
    reflected = load_table(engine, table)
    pk = _single_pk(reflected, table)
    choices = _check_choices(reflected)
    return TableSchema(
        table=table,
        pk=pk.name,
        columns=tuple(
            _column(c, pk, choices.get(c.name), engine.dialect) for c in reflected.columns
        ),
        autoincrement=_is_autoincrement(reflected, pk, engine),
        pk_always_generated=pk.identity is not None and bool(pk.identity.always),
    )


def _single_pk(table: sqlalchemy.Table, name: str) -> sqlalchemy.Column:
    keys = list(table.primary_key.columns)
    if not keys:
        raise UnsupportedTableError(
            f'table "{name}" has no primary key; Cellsync needs a single-column primary key'
        )
    if len(keys) > 1:
        names = ", ".join(c.name for c in keys)
        raise UnsupportedTableError(
            f'table "{name}" has a composite primary key ({names}); '
            "Cellsync needs a single-column primary key"
        )
    if _column_type(keys[0]) is None:
        raise UnsupportedTableError(
            f'table "{name}" has a primary key of type {keys[0].type}, which Cellsync cannot '
            f"edit (keys: {', '.join(COLUMN_TYPES)})"
        )
    return keys[0]


def _column(
    column: sqlalchemy.Column,
    pk: sqlalchemy.Column,
    check_choices: tuple[str, ...] | None,
    dialect: sqlalchemy.Dialect,
) -> Column:
    kind = _column_type(column)
    type_ = column.type
    if kind is None:
        return Column(
            name=column.name,
            type="text",
            nullable=bool(column.nullable),
            readonly=True,
            readonly_reason=_readonly_reason(type_, dialect),
        )
    enums = getattr(type_, "enums", None)
    readonly = column is pk or column.computed is not None
    return Column(
        name=column.name,
        type=kind,
        nullable=bool(column.nullable),
        readonly=readonly,
        required=not column.nullable and not readonly and not filled_by_database(column),
        choices=tuple(enums) if enums else check_choices,
        # A native enum's `length` is SQLAlchemy's own computation, not a database limit.
        max_length=type_.length if isinstance(type_, sql.sqltypes.String) and not enums else None,
        scale=type_.scale
        if kind == "decimal" and isinstance(type_, sql.sqltypes.Numeric)
        else None,
    )


def filled_by_database(column: sqlalchemy.Column) -> bool:
    """Whether the database fills the column in when an INSERT leaves it out."""
    return (
        column is column.table.autoincrement_column
        or column.server_default is not None
        or column.identity is not None
        or column.computed is not None
    )


def _column_type(column: sqlalchemy.Column) -> str | None:
    """The document type of a column, or None for a type Cellsync cannot edit."""
    for sa_type, kind in _TYPE_MAP:
        if isinstance(column.type, sa_type):
            return kind
    return None


def _readonly_reason(type_: sqlalchemy.types.TypeEngine, dialect: sqlalchemy.Dialect) -> str:
    """Why the column is read-only, naming its type as the database does ("INTEGER[]")."""
    if isinstance(type_, sql.sqltypes.NullType):  # a type reflection did not recognise
        return "Cellsync does not know this column's type; shown as text, read-only"
    return f"Cellsync cannot edit {type_.compile(dialect=dialect)} values; shown as text, read-only"


def _check_choices(table: sqlalchemy.Table) -> dict[str, tuple[str, ...]]:
    """Choices per column from CHECK constraints that list allowed string values."""
    choices: dict[str, tuple[str, ...]] = {}
    for constraint in table.constraints:
        if isinstance(constraint, sqlalchemy.CheckConstraint):
            parsed = parse_choice_check(str(constraint.sqltext))
            if parsed is not None and parsed[0] in table.columns:
                choices[parsed[0]] = parsed[1]
    return choices


def parse_choice_check(sqltext: str) -> tuple[str, tuple[str, ...]] | None:
    """(column, choices) for `col IN ('a', ...)` or PostgreSQL's `col = ANY (ARRAY[...])`."""
    match = _CHOICE_CHECK.match(_CAST.sub("", sqltext))
    if match is None:
        return None
    values = re.findall(_LITERAL, match["values"])
    return match["column"], tuple(v[1:-1].replace("''", "'") for v in values)


def _is_autoincrement(table: sqlalchemy.Table, pk: sqlalchemy.Column, engine: Engine) -> bool:
    """Whether the database generates primary keys, so new rows may leave the pk empty."""
    if table.autoincrement_column is not pk:
        # A key of another type with a default: uuid's gen_random_uuid(), say.
        return pk.server_default is not None
    # SQLite generates keys only for a column declared exactly INTEGER PRIMARY KEY (rowid alias).
    return engine.dialect.name != "sqlite" or isinstance(pk.type, sql.sqltypes.INTEGER)
