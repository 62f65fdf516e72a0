"""The tables tests create in a fresh database."""

import sqlalchemy
from sqlalchemy import Boolean, Integer, Numeric, String, Text

from persistence.database import create_engine


def create_items_table(url: str, rows: int = 10, name: str = "items") -> None:
    """The sheet most server tests edit: `items`, ten rows, keys "1" to "10"."""
    engine = create_engine(url)
    table = sqlalchemy.Table(
        name,
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", Integer, primary_key=True),
        sqlalchemy.Column("name", String(80)),
        sqlalchemy.Column("qty", Integer),
        sqlalchemy.Column("price", Numeric(10, 2)),
        sqlalchemy.Column("done", Boolean),
        sqlalchemy.Column("notes", Text),
    )
    table.create(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    {"name": f"item {i}", "qty": i, "price": i * 1.5, "done": False}
                    for i in range(1, rows + 1)
                ],
            )
    engine.dispose()
