"""Protective headers on every route, and pages that tell nothing without a token."""

import httpx
import pytest
from test_trust import SECRET, token

ROUTES = [
    "/",
    "/sheets/items",
    "/sheets/nope",
    "/static/sheet.js",
    "/static/index.js",
    "/service-worker.js",
    "/healthz",
    "/metrics",
    "/nope",
    "/api/sheets",
    "/api/sheets/items",
    "/api/sheets/items.csv",
    "/api/sheets/items/status",
    "/api/sheets/nope",
]
PAGE_POLICY = ("script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'")


async def responses(server, headers: dict | None = None) -> dict[str, httpx.Response]:
    async with httpx.AsyncClient(base_url=server.http, headers=headers) as http:
        return {route: await http.get(route) for route in ROUTES}


@pytest.mark.parametrize("secured", [False, True], ids=["open", "with a secret"])
async def test_every_route_has_the_protective_headers(server_factory, secured):
    server = await server_factory(**({"CELLSYNC_SECRET": SECRET} if secured else {}))
    bearer = {"Authorization": f"Bearer {token({'*': 'read'})}"} if secured else None
    for route, response in (await responses(server, bearer)).items():
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        assert all(directive in policy for directive in PAGE_POLICY), (route, policy)
        assert "frame-ancestors 'none'" in policy, route
        assert headers.get("x-frame-options") == "DENY", route
        assert headers.get("x-content-type-options") == "nosniff", route
        assert headers.get("referrer-policy") == "no-referrer", route
        if route.startswith("/api/"):
            assert headers.get("cache-control") == "no-store", route


async def test_frame_ancestors_follow_the_setting(server_factory):
    server = await server_factory(CELLSYNC_FRAME_ANCESTORS="https://app.example")
    async with httpx.AsyncClient(base_url=server.http) as http:
        headers = (await http.get("/sheets/items")).headers
    assert "frame-ancestors https://app.example" in headers["content-security-policy"]
    assert "x-frame-options" not in headers


async def test_with_a_secret_the_pages_tell_nothing_about_the_sheets(server_factory):
    server = await server_factory(sheets={"payroll-2026": "items"}, CELLSYNC_SECRET=SECRET)
    async with httpx.AsyncClient(base_url=server.http) as http:
        home = await http.get("/")
        existing = await http.get("/sheets/payroll-2026")
        missing = await http.get("/sheets/payroll-2027")
        listed = await http.get("/api/sheets")
    assert home.status_code == 200 and "payroll" not in home.text and "items" not in home.text
    assert existing.status_code == missing.status_code == 200
    assert existing.text.replace("2026", "2027") == missing.text
    assert listed.status_code == 401


async def test_without_a_secret_a_missing_sheet_page_is_a_404(server):
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/sheets/items")).status_code == 200
        assert (await http.get("/sheets/nope")).status_code == 404
