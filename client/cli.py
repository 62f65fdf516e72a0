"""The `cellsync` command line."""

import logging
from pathlib import Path
from typing import Annotated

import sqlalchemy
import typer

from persistence.database import CellsyncDatabaseError, create_engine
from persistence.demo import DEMO_TABLE, create_demo_database
from persistence.schema import UnsupportedTableError

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
Host = Annotated[str | None, typer.Option(help="Address to listen on [default 127.0.0.1]")]
Port = Annotated[int | None, typer.Option(help="Port to listen on [default 8000]")]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def start_server(options: dict) -> None:
    """Loads settings from every source and serves until interrupted."""
    from server.config import ConfigError, load_settings
    from server.run import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
) -> None:
    """Serve tables as live sheets at ws://HOST:PORT/ws/sheet/NAME."""
    start_server({"sheets": sheet, "database_url": database_url, "host": host, "port": port})


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
