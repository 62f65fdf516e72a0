"""A demo `orders` table with every column type a sheet supports, for trying Cellsync out."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy
from sqlalchemy import Boolean, Date, Enum, Integer, Numeric, String, Text

from persistence.database import create_engine

DEMO_TABLE = "orders"
DEMO_SEED = 20240601
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")

_FIRST_NAMES = (
    "Ada", "Amara", "Bruno", "Chen", "Diego", "Elena", "Farah", "Grace", "Hiro", "Ines",
    "Jonas", "Kavya", "Lars", "Maya", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven",
    "Tariq", "Uma", "Viktor", "Wen", "Yusuf", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Urban", "Varga", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
_DOMAINS = ("example.com", "mail.test", "shop.example", "acme.test")
_NOTES = (
    "Gift wrap, please.",
    "Leave at the front desk.",
    "Customer asked for an invoice by email.",
    "Deliver after 5 pm.",
    "Fragile: glassware.",
    "Repeat customer; add a thank-you card.",
)
_FIRST_ORDER = date(2024, 1, 1)


def demo_table(metadata: sqlalchemy.MetaData) -> sqlalchemy.Table:
    """The `orders` table definition (status is a non-native enum: a VARCHAR with a CHECK)."""
    return sqlalchemy.Table(
        DEMO_TABLE,
        metadata,
        sqlalchemy.Column("id", Integer, primary_key=True, autoincrement=True),
        sqlalchemy.Column("customer", String(80), nullable=False),
        sqlalchemy.Column("email", String(120), nullable=True),
        sqlalchemy.Column("quantity", Integer, nullable=False),
        sqlalchemy.Column("unit_price", Numeric(10, 2), nullable=False),
        sqlalchemy.Column("paid", Boolean, nullable=False),
        sqlalchemy.Column("order_date", Date, nullable=False),
        sqlalchemy.Column(
            "status",
            Enum(*STATUSES, name="order_status", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sqlalchemy.Column("notes", Text, nullable=True),
    )


def create_demo_database(url: str, rows: int = 3000) -> str:
    """(Re)create the demo table at `url` with `rows` deterministic orders; returns its name."""
    engine = create_engine(url)
    try:
        table = demo_table(sqlalchemy.MetaData())
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
            table.create(connection)
            if rows:
                connection.execute(table.insert(), demo_rows(rows))
    finally:
        engine.dispose()
    return DEMO_TABLE


def demo_rows(count: int, seed: int = DEMO_SEED) -> list[dict[str, Any]]:
    """`count` plausible orders, the same for the same seed."""
    rng = random.Random(seed)
    return [_demo_row(rng) for _ in range(count)]


def _demo_row(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    status = rng.choices(STATUSES, weights=(2, 3, 3, 6, 1))[0]
    return {
        "customer": f"{first} {last}",
        "email": (
            f"{first}.{last}@{rng.choice(_DOMAINS)}".lower() if rng.random() < 0.85 else None
        ),
        "quantity": rng.randint(1, 12),
        "unit_price": Decimal(rng.randint(199, 49_999)) / 100,
        "paid": status in ("paid", "shipped", "delivered"),
        "order_date": _FIRST_ORDER + timedelta(days=rng.randint(0, 364)),
        "status": status,
        "notes": rng.choice(_NOTES) if rng.random() < 0.2 else None,
    }
