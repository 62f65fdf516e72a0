"""The `cellsync` command line, run as a user runs it."""

import subprocess
import sys

import pytest
import sqlalchemy as sa
from serverprocess import ROOT, ServerProcess, free_port

from client.sheet import open_sheet
from persistence.database import create_engine


def cellsync(*args: str, cwd=ROOT, env=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "client", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_table(url: str, ddl: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(ddl))
    engine.dispose()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_every_command_has_help(command):
    result = cellsync(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_no_sheets_is_an_error():
    result = cellsync("serve")
    assert result.returncode == 1
    assert "--sheet" in result.stderr


async def test_settings_come_from_cellsync_toml_and_the_environment(sqlite_url, tmp_path):
    make_table(sqlite_url, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    make_table(sqlite_url, "INSERT INTO notes (body) VALUES ('from the table')")
    port = free_port()
    (tmp_path / "cellsync.toml").write_text(
        f'database_url = "{sqlite_url}"\nport = {port}\n[sheets]\nmemo = "notes"\n'
    )
    server = ServerProcess(["serve"], tmp_path / "server.log", port=port, cwd=tmp_path)
    await server.start()
    try:
        async with open_sheet(server.url, "memo") as sheet:
            assert [row["body"] for row in sheet.rows()] == ["from the table"]
    finally:
        await server.stop()


async def test_demo_creates_and_serves_a_typed_sheet(tmp_path):
    db = tmp_path / "demo.db"
    port = free_port()
    args = ["demo", "--path", str(db), "--port", str(port)]
    server = ServerProcess(args, tmp_path / "server.log", port=port)
    await server.start(timeout=60)
    try:
        assert f"http://127.0.0.1:{server.port}/sheets/orders" in server.log()
        async with open_sheet(server.url, "orders") as sheet:
            rows = sheet.rows()
            types = {c["name"]: c["type"] for c in sheet.meta["columns"]}
        assert len(rows) == 3000
        assert types["unit_price"] == "decimal" and types["order_date"] == "date"
        assert types["paid"] == "boolean" and types["quantity"] == "integer"
        status = next(c for c in sheet.meta["columns"] if c["name"] == "status")
        assert set(status["choices"]) == {"new", "paid", "shipped", "delivered", "cancelled"}
    finally:
        await server.stop()
