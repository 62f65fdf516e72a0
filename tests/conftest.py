"""Shared fixtures: a fresh database per test, on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import sqlalchemy
from nodeclient import ensure_node_modules
from serverprocess import ServerProcess
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Numeric,
    String,
    Text,
)
from tables import create_items_table

from persistence.database import create_engine

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ITEM_STATUSES = ("draft", "active", "it's done")


def _start_postgresql() -> None:
    """Start the local cluster with pg_ctlcluster if it stopped (not through systemctl: test
    machines may run without systemd)."""
    for version in os.listdir("/etc/postgresql"):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
        )


def _wait_for(engine: sqlalchemy.Engine, seconds: float) -> Exception | None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with engine.connect():
                return None
        except sqlalchemy.exc.OperationalError as exc:
            if time.monotonic() > deadline:
                return exc
            time.sleep(0.2)


@pytest.fixture(scope="session")
def postgresql_admin() -> Iterator[sqlalchemy.Engine]:
    """An AUTOCOMMIT engine on the `postgres` database; starts the cluster if needed."""
    engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    if _wait_for(engine, 0) is not None:
        _start_postgresql()
        error = _wait_for(engine, 20)
        if error is not None:
            pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: {error}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_url(postgresql_admin: sqlalchemy.Engine) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"cellsync_test_{secrets.token_hex(6)}"
    with postgresql_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with postgresql_admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite file of its own for one test."""
    return f"sqlite:///{tmp_path / 'cellsync.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses this runs once per supported database."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[sqlalchemy.Engine]:
    """A Cellsync engine on `database_url`, disposed after the test."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def create_typed_table(engine: sqlalchemy.Engine, name: str = "items") -> sqlalchemy.Table:
    """A table with one column of every type a sheet supports."""
    table = sqlalchemy.Table(
        name,
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("title", String(40), nullable=False),
        sqlalchemy.Column("body", Text),
        sqlalchemy.Column("quantity", Integer, nullable=False),
        sqlalchemy.Column("price", Numeric(10, 2)),
        sqlalchemy.Column("ratio", Float),
        sqlalchemy.Column("active", Boolean, nullable=False),
        sqlalchemy.Column("due", Date),
        sqlalchemy.Column("updated_at", DateTime),
        sqlalchemy.Column(
            "status",
            Enum(*ITEM_STATUSES, name="item_status", native_enum=False, create_constraint=True),
        ),
    )
    table.create(engine)
    return table


@pytest.fixture
def typed_table() -> Callable[..., sqlalchemy.Table]:
    """`create_typed_table` as a fixture, for tests that prefer injection to imports."""
    return create_typed_table


@pytest.fixture(scope="session", autouse=True)
def node_modules() -> None:
    """The Node test client's packages, installed once from the lockfile."""
    ensure_node_modules()


@pytest.fixture
async def server_factory(database_url: str, tmp_path) -> AsyncIterator[Callable]:
    """Starts real `cellsync serve` processes over the `items` table; kills any left running."""
    create_items_table(database_url)
    servers: list[ServerProcess] = []

    async def start(sheets: dict[str, str] | None = None, **settings: str) -> ServerProcess:
        sheets = {"items": "items", **(sheets or {})}
        server = ServerProcess.serving(database_url, sheets, tmp_path / "server.log", **settings)
        servers.append(server)
        return await server.start()

    yield start
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
async def server(server_factory: Callable) -> ServerProcess:
    return await server_factory()


@pytest.fixture
async def large_server(sqlite_url: str, tmp_path) -> AsyncIterator[ServerProcess]:
    """A server over a 10,000-row x 10-column table named `big`."""
    engine = create_engine(sqlite_url)
    columns = [sqlalchemy.Column(f"c{j}", String(40)) for j in range(1, 10)]
    table = sqlalchemy.Table(
        "big", sqlalchemy.MetaData(), sqlalchemy.Column("id", Integer, primary_key=True), *columns
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(), [{f"c{j}": f"r{i}c{j}" for j in range(1, 10)} for i in range(1, 10_001)]
        )
    engine.dispose()
    server = ServerProcess.serving(sqlite_url, {"big": "big"}, tmp_path / "server.log")
    yield await server.start(timeout=60)
    server.kill()
