"""The `cellsync` command line: options and output; the work is in `client.sheet_commands`."""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import rich.progress
import sqlalchemy
import typer
from rich.console import Console
from rich.table import Table

from client import sheet_commands
from client.csv_import import BadRow
from client.workspace import CommandError, Workspace
from persistence.database import CellsyncDatabaseError, check_connection, create_engine, safe_url
from persistence.demo import DEMO_TABLE, create_demo_database
from persistence.settings import ConfigError, load_settings
from persistence.store import migrate as store
from persistence.store import snapshots
from persistence.table import triggers
from persistence.table.db_errors import database_says
from persistence.table.schema import TableSchema, UnsupportedTableError
from persistence.tokens import READ, WRITE, mint

T = TypeVar("T")
USER_ERRORS = (CommandError, BadRow, ConfigError, CellsyncDatabaseError, UnsupportedTableError)
stderr = Console(stderr=True)

app = typer.Typer(
    help="Collaborative spreadsheets over your own SQL tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL [env CELLSYNC_DATABASE_URL; default sqlite:///./cellsync.db]",
    ),
]
Sheets = Annotated[
    list[str] | None,
    typer.Option("--sheet", help="Sheet NAME=TABLE (repeatable) [env CELLSYNC_SHEETS]"),
]
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Running server to edit through, so open tabs see it live; when none answers, "
        "the update log is edited directly [default ws://HOST:PORT from the settings]",
    ),
]
SheetName = Annotated[str, typer.Argument(help="Sheet name", show_default=False)]
Host = Annotated[str | None, typer.Option(help="Address to listen on [default 127.0.0.1]")]
Port = Annotated[int | None, typer.Option(help="Port to listen on [default 8000]")]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def start_server(options: dict) -> None:
    """Loads settings from every source and serves until interrupted."""
    from server.run import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # persistence.store says what it did
    try:
        settings = load_settings(options)
        if not settings.sheets:
            raise fail("no sheets to serve: pass --sheet NAME=TABLE (or set CELLSYNC_SHEETS)")
        for name in settings.sheets:
            typer.echo(f"sheet {name}: http://{settings.host}:{settings.port}/sheets/{name}")
        serve(settings)
    except (ConfigError, CellsyncDatabaseError, UnsupportedTableError) as exc:
        raise fail(str(exc)) from None


@app.command()
def serve(
    sheet: Annotated[
        list[str] | None,
        typer.Option("--sheet", help="Serve table TABLE as sheet NAME: NAME=TABLE (repeatable)"),
    ] = None,
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="redis://HOST:PORT/DB shared by several processes serving the same sheets on "
            "one PostgreSQL [env CELLSYNC_REDIS_URL; default none: one process per sheet]",
        ),
    ] = None,
) -> None:
    """Serve tables as live sheets at ws://HOST:PORT/ws/sheet/NAME."""
    options = {"sheets": sheet, "database_url": database_url, "host": host, "port": port}
    start_server(options | {"redis_url": redis_url})


@app.command()
def demo(
    path: Annotated[Path, typer.Option(help="SQLite file for the demo")] = Path("cellsync-demo.db"),
    rows: Annotated[int, typer.Option(min=1, help="Rows in the demo table")] = 3000,
    host: Host = None,
    port: Port = None,
) -> None:
    """Create a demo SQLite database with a typed `orders` table and serve it."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    if not sqlalchemy.inspect(engine).has_table(DEMO_TABLE):
        create_demo_database(url, rows=rows)
    engine.dispose()
    start_server({"sheets": [DEMO_TABLE], "database_url": url, "host": host, "port": port})


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it")] = False,
) -> None:
    """Bring Cellsync's own tables to this version (back up the database first)."""
    try:
        engine = create_engine(load_settings({"database_url": database_url}).database_url)
        try:
            check_connection(engine)
            if sql:
                typer.echo(store.upgrade_sql(engine), nl=False)
                return
            done = store.upgrade(engine)
        finally:
            engine.dispose()
    except (ConfigError, CellsyncDatabaseError) as exc:
        raise fail(str(exc)) from None
    url, before = safe_url(engine.url), done.before or "none"
    if done.before == done.after:
        typer.echo(f"{url}: Cellsync's tables are at revision {done.after}; nothing to do")
    else:
        typer.echo(f"{url}: migrated Cellsync's tables from revision {before} to {done.after}")


class Format(StrEnum):
    csv = "csv"
    json = "json"


def run_command(
    options: dict, server: str | None, command: Callable[[Workspace], Coroutine[Any, Any, T]]
) -> T:
    """Runs a sheet command; bad input ends it with a one-line message and exit status 1."""
    try:
        workspace = Workspace(load_settings(options), server)
        try:
            return asyncio.run(command(workspace))
        finally:
            workspace.close()
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None


def where(live: bool) -> str:
    return "through the running server" if live else "into the update log"


@app.command()
def snapshot(
    name: Annotated[str | None, typer.Argument(help="Sheet name", show_default=False)] = None,
    all_sheets: Annotated[
        bool, typer.Option("--all", help="Every sheet the settings list or the log holds")
    ] = False,
    label: Annotated[str | None, typer.Option(help="A label for the version")] = None,
    database_url: DatabaseUrl = None,
    sheet: Sheets = None,
    server: Server = None,
) -> None:
    """Write sheets' current documents into their tables now, and record them as versions."""
    if (name is None) == (not all_sheets):
        raise fail("give either a sheet NAME or --all")

    async def command(workspace: Workspace) -> list[sheet_commands.Snapshotted]:
        names = workspace.names() if name is None else [name]
        return [
            await sheet_commands.snapshot(workspace, each, label)
            for each in rich.progress.track(
                names, description="snapshot", console=stderr, transient=True
            )
        ]

    options = {"database_url": database_url, "sheets": sheet}
    for done in run_command(options, server, command):
        result = done.result
        typer.echo(
            f"{done.sheet}: version {done.version}; {result.inserted} rows inserted, "
            f"{result.updated} updated, {result.deleted} deleted, "
            f"{len(result.refusals)} refused"
        )
        for refusal in result.refusals:
            columns = ", ".join(refusal.columns)
            typer.echo(f"  refused: row {refusal.key} {columns}: {refusal.reason}", err=True)


@app.command("snapshots")
def list_snapshots(name: SheetName, database_url: DatabaseUrl = None, sheet: Sheets = None) -> None:
    """List a sheet's recorded versions."""

    async def command(workspace: Workspace) -> list[snapshots.Snapshot]:
        workspace.table(name)
        return await asyncio.to_thread(snapshots.versions, workspace.engine, name)

    versions = run_command({"database_url": database_url, "sheets": sheet}, None, command)
    if not versions:
        typer.echo(f"sheet {name} has no versions yet: `cellsync snapshot {name}` records one")
        return
    table = Table("version", "label", "rows", "created", title=f"versions of {name}")
    for version in versions:
        created = f"{version.created_at:%Y-%m-%d %H:%M:%S}" if version.created_at else ""
        table.add_row(str(version.version), version.label or "", str(version.rows), created)
    Console().print(table)


@app.command()
def restore(
    name: SheetName,
    version: Annotated[int, typer.Argument(help="Version number (see `cellsync snapshots`)")],
    database_url: DatabaseUrl = None,
    sheet: Sheets = None,
    server: Server = None,
) -> None:
    """Bring a version back as new edits (restoring the version it records undoes it)."""
    options = {"database_url": database_url, "sheets": sheet}
    done = run_command(options, server, lambda w: sheet_commands.restore(w, name, version))
    if done.undo_version is None:
        typer.echo(f"{name} already equals version {version}: nothing to do")
        return
    typer.echo(f"restored {name} to version {version} {where(done.live)}: {done.edits.summary()}")
    typer.echo(f"to undo: cellsync restore {name} {done.undo_version}")


@app.command("import")
def import_(
    name: SheetName,
    file: Annotated[Path, typer.Argument(help="CSV file with a header row of column names")],
    database_url: DatabaseUrl = None,
    sheet: Sheets = None,
    server: Server = None,
) -> None:
    """Append a CSV file's rows to a sheet: all of them, or none if any row is bad."""

    async def command(workspace: Workspace) -> sheet_commands.Imported:
        try:
            lines = rich.progress.open(
                file, "r", newline="", encoding="utf-8-sig", description="import",
                console=stderr, transient=True,
            )  # fmt: skip
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            with lines as text:
                return await sheet_commands.import_csv(workspace, name, text)
        except BadRow as exc:
            raise CommandError(f"{file}, {exc}; nothing was imported") from None

    options = {"database_url": database_url, "sheets": sheet}
    done = run_command(options, server, command)
    keys = "; the database gives them keys" if done.keys_from_database else ""
    typer.echo(f"imported {done.rows} rows into {name} {where(done.live)}{keys}")


@app.command()
def export(
    name: SheetName,
    format: Annotated[Format, typer.Option("--format", help="Output format")] = Format.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: stdout]")
    ] = None,
    database_url: DatabaseUrl = None,
    sheet: Sheets = None,
    server: Server = None,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="CSV: write text that starts like a formula as it is, without a '"
        ),
    ] = False,
) -> None:
    """Write a sheet's rows, in display order and typed by column, as CSV or JSON."""
    options = {"database_url": database_url, "sheets": sheet}
    text = run_command(options, server, lambda w: sheet_commands.export(w, name, format, raw))
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None


@app.command()
def watch(name: SheetName, database_url: DatabaseUrl = None, sheet: Sheets = None) -> None:
    """Install triggers so that writes other programs make to the sheet's table show up live
    (PostgreSQL: LISTEN/NOTIFY; SQLite: a change table the server polls)."""
    table = set_watch(name, triggers.watch, {"database_url": database_url, "sheets": sheet})
    typer.echo(f"watching table {table}: other programs' writes reach sheet {name} live")


@app.command()
def unwatch(name: SheetName, database_url: DatabaseUrl = None, sheet: Sheets = None) -> None:
    """Remove the triggers `cellsync watch` installed (the table is then compared by polling)."""
    table = set_watch(name, triggers.unwatch, {"database_url": database_url, "sheets": sheet})
    typer.echo(f"table {table} is no longer watched")


def set_watch(
    name: str, change: Callable[[sqlalchemy.Engine, TableSchema], None], options: dict
) -> str:
    """Installs or removes the sheet's triggers; returns its table."""

    async def command(workspace: Workspace) -> str:
        schema = workspace.schema(name)
        try:
            await asyncio.to_thread(change, workspace.engine, schema)
        except sqlalchemy.exc.DBAPIError as exc:
            raise CommandError(f"triggers on {schema.table}: {database_says(exc)}") from exc
        return schema.table

    return run_command(options, None, command)


@app.command()
def token(
    user: Annotated[str, typer.Option("--user", help="User id (the token's subject)")],
    sheet: Annotated[
        list[str], typer.Option("--sheet", help="Sheet name pattern, fnmatch style (repeatable)")
    ],
    name: Annotated[str | None, typer.Option(help="Display name [default: the user id]")] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Allow edits (default: read only)")
    ] = False,
    ttl: Annotated[str, typer.Option(help="Lifetime: 90s, 30m, 8h, 7d")] = "8h",
) -> None:
    """Mint an access token signed with CELLSYNC_SECRET (for tests and scripts; applications
    mint their own)."""
    try:
        settings = load_settings({})
        seconds = parse_duration(ttl)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    if not settings.secret:
        raise fail("no secret to sign with: set CELLSYNC_SECRET (or `secret` in cellsync.toml)")
    right = WRITE if write else READ
    sheets = dict.fromkeys(sheet, right)
    try:
        token = mint(
            settings.secret, user, name or user, sheets, seconds, rules=settings.token_rules
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(token)


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `8h`, `7d` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        return float(number) * units[unit]
    except ValueError:
        raise ValueError(f"bad duration {text!r}: expected e.g. 90s, 30m, 8h or 7d") from None
