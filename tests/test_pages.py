"""The browser pages' bundles: kept by browsers for good when asked for by their digest."""

import re

import httpx
from starlette.applications import Starlette

from server.routes.pages import IMMUTABLE, page_routes


async def test_a_bundle_linked_by_its_digest_is_cached_for_good() -> None:
    app = Starlette(routes=page_routes({"items": "items"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as client:
        page = (await client.get("/sheets/items")).text
        linked = re.search(r'src="(/static/sheet\.js\?v=\w+)"', page)
        assert linked
        assert (await client.get(linked.group(1))).headers["cache-control"] == IMMUTABLE
        assert "cache-control" not in (await client.get("/static/sheet.js")).headers
        assert "cache-control" not in (await client.get("/static/sheet.js?v=stale")).headers
