"""Tables as Django makes them: the test app's own migrations create them, on SQLite and
PostgreSQL, and the real `cellsync serve` serves both."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_worker import document_rows, equal, execute, table_rows
from waiting import eventually

from client.sheet import Sheet, open_sheet
from persistence.document import row_key

TESTS = Path(__file__).resolve().parent
SHEETS = {"customers": "djangoapp_customer", "orders": "djangoapp_order"}


def migrate(url: str) -> None:
    """Django's `migrate` for the test app, in a process of its own (settings are global)."""
    result = subprocess.run(
        [sys.executable, "-m", "djangoapp.manage", url, "migrate", "--verbosity", "0"],
        cwd=TESTS,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def django_tables(database_url: str) -> str:
    migrate(database_url)
    execute(
        database_url,
        # Keys from the database, as Django makes them: ids 1 and 2, then 1 to 3.
        "INSERT INTO djangoapp_customer (name, email) VALUES ('Ada', 'ada@example.com'),"
        " ('Grace', NULL)",
        "INSERT INTO djangoapp_order (customer_id, quantity, unit_price, paid, order_date,"
        " created_at, status, notes) VALUES"
        " (1, 2, 9.99, TRUE, '2024-05-01', '2024-05-01 10:00:00', 'paid', NULL),"
        " (1, 1, 120.00, FALSE, '2024-05-02', '2024-05-02 11:30:00', 'new', 'gift'),"
        " (2, 5, 3.50, FALSE, '2024-05-03', '2024-05-03 09:15:00', 'new', NULL)",
    )
    return database_url


async def _follows(url: str, sheet: Sheet, table: str) -> None:
    await eventually(
        lambda: equal(table_rows(url, table), document_rows(sheet)),
        timeout=15,
        what=f"{table} equal to the document",
    )


async def test_django_tables_are_served(server_factory, django_tables):
    url = django_tables
    server = await server_factory(SHEETS)
    async with (
        open_sheet(server.url, "orders") as orders,
        open_sheet(server.url, "customers") as customers,
    ):
        kinds = {column["name"]: column["type"] for column in orders.meta["columns"]}
        assert kinds == {
            "id": "integer",
            "quantity": "integer",
            "unit_price": "decimal",
            "paid": "boolean",
            "order_date": "date",
            "created_at": "datetime",
            "status": "text",
            "notes": "text",
            "customer_id": "integer",
        }
        first = orders.row("1")
        assert (first["quantity"], first["unit_price"], first["paid"]) == (2, 9.99, True)
        assert first["order_date"] == "2024-05-01"
        assert first["created_at"].startswith("2024-05-01T10:00:00")
        assert first["notes"] is None and orders.row("2")["notes"] == "gift"
        assert customers.row("2")["email"] is None

        orders.update("2", {"quantity": 4, "unit_price": 2.5, "paid": True, "notes": None})
        orders.set("3", "order_date", "2024-06-30")
        orders.delete_row("1")
        new_order = orders.add_row(
            {
                "customer_id": 2,
                "quantity": 7,
                "unit_price": 1.25,
                "paid": False,
                "order_date": "2024-07-01",
                "created_at": "2024-07-01T08:00:00+00:00",
                "status": "new",
                "notes": "added in the sheet",
            }
        )
        new_customer = customers.add_row({"name": "Linus", "email": None})
        await orders.wait_for(lambda s: s.row(new_order).get("id") is not None)
        await customers.wait_for(lambda s: s.row(new_customer).get("id") is not None)
        await _follows(url, orders, "djangoapp_order")
        await _follows(url, customers, "djangoapp_customer")
        stored = table_rows(url, "djangoapp_order")
        assert "1" not in stored
        assert (stored["2"]["quantity"], stored["2"]["unit_price"], stored["2"]["paid"]) == (
            4,
            2.5,
            True,
        )
        assert stored["3"]["order_date"] == "2024-06-30"
        added = stored[row_key(orders.row(new_order)["id"])]
        assert added["notes"] == "added in the sheet" and added["customer_id"] == 2
        linus = row_key(customers.row(new_customer)["id"])
        assert table_rows(url, "djangoapp_customer")[linus]["name"] == "Linus"
    await server.stop()
    await server.start()
    for name, table in SHEETS.items():
        async with open_sheet(server.url, name) as fresh:
            assert equal(table_rows(url, table), document_rows(fresh))
            assert len(fresh.rows()) == len(table_rows(url, table))
