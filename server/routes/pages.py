"""The browser's pages: `/` lists the sheets, `/sheets/{name}` shows one as a grid, and the
built bundles (client/web/dist, committed) are served under `/static/`.

The list comes from `/api/sheets`, read by the page with the tab's token, so with a secret set
the pages show nothing a token does not cover: `/` lists no sheet without one, and
`/sheets/{name}` answers alike whether the sheet exists or not (the page then asks the server,
with the token, and says why it may not open it).

`/sheets/{name}?grid=handsontable` is the Handsontable example page; Handsontable is
proprietary, so that page asks for the user's licence key (`&license=KEY`).
"""

import hashlib
import logging
from collections.abc import Mapping
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

log = logging.getLogger(__name__)

DIST = Path(__file__).resolve().parents[2] / "client" / "web" / "dist"
GRIDS = {"tabulator": "sheet", "handsontable": "handsontable"}
SERVICE_WORKER = "/service-worker.js"
IMMUTABLE = "public, max-age=31536000, immutable"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Cellsync</title>
<link rel="icon" href="data:,">
{head}
</head>
<body>
{body}
</body>
</html>
"""

SHEET_BODY = """<div class="cellsync-page" data-cellsync-sheet="{name}" data-grid="{grid}"
     data-service-worker="{service_worker}">
  <header>
    <a href="/">Cellsync</a> / <h1>{name}</h1>
    <button type="button" class="cellsync-panel-toggle" data-testid="panel-toggle"
            aria-controls="cellsync-panel" aria-expanded="true">People &amp; refusals</button>
  </header>
  <div data-slot="toolbar"></div>
  <div data-slot="view"></div>
  <div data-slot="grid" data-testid="grid"></div>
  <aside id="cellsync-panel" data-testid="panel" aria-label="People and refusals">
    <h2>On this sheet</h2>
    <div data-slot="people"></div>
    <h2>Refused</h2>
    <div data-slot="refusals"></div>
  </aside>
</div>"""


INDEX_BODY = """<main class="cellsync-home">
  <header><h1>Cellsync</h1></header>
  <h2 id="sheets-title">Sheets</h2>
  <table class="cellsync-sheets" data-testid="sheet-table" aria-labelledby="sheets-title" hidden>
    <thead><tr><th scope="col">Sheet</th><th scope="col">Table</th>
      <th scope="col" class="cellsync-number">Rows</th><th scope="col">On it now</th>
      <th scope="col">Status</th></tr></thead>
    <tbody data-testid="sheets"></tbody>
  </table>
  <p data-testid="sheets-message" role="status" hidden></p>
</main>"""


def page_routes(sheets: Mapping[str, str], secured: bool = False) -> list[BaseRoute]:
    """The HTTP routes of the browser client for the sheets served (name -> table); with
    `secured`, the pages tell nothing about which sheets exist."""
    versions = {path.name: _digest(path) for path in DIST.glob("*") if path.is_file()}
    if not versions:
        log.error("no browser bundle in %s: the sheet pages cannot load (reinstall cellsync)", DIST)

    def asset(name: str) -> str:
        return f"/static/{name}?v={versions.get(name, 'missing')}"

    async def index(request: Request) -> HTMLResponse:
        head = (
            f'<link rel="stylesheet" href="{asset("index.css")}">\n'
            f'<script type="module" src="{asset("index.js")}"></script>'
        )
        return HTMLResponse(PAGE.format(title="Sheets", head=head, body=INDEX_BODY))

    async def sheet(request: Request) -> HTMLResponse:
        name = request.path_params["name"]
        if name not in sheets and not secured:
            body = f"<main><h1>No sheet called {escape(name)}</h1><a href='/'>All sheets</a></main>"
            return HTMLResponse(PAGE.format(title="Not found", head="", body=body), 404)
        grid = request.query_params.get("grid", "tabulator")
        bundle = GRIDS.get(grid, GRIDS["tabulator"])
        head = (
            f'<link rel="stylesheet" href="{asset(bundle + ".css")}">\n'
            f'<script type="module" src="{asset(bundle + ".js")}"></script>'
        )
        body = SHEET_BODY.format(
            name=escape(name), grid=escape(grid), service_worker=SERVICE_WORKER
        )
        return HTMLResponse(PAGE.format(title=escape(name), head=head, body=body))

    async def service_worker(request: Request) -> FileResponse:
        return FileResponse(
            DIST / "service-worker.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    return [
        Route("/", index),
        Route("/sheets/{name}", sheet),
        Route(SERVICE_WORKER, service_worker),
        Mount("/static", VersionedFiles(DIST, versions), name="static"),
    ]


class VersionedFiles(StaticFiles):
    """The bundles, kept by browsers for good when asked for by their digest (`?v=`, as the
    pages link them): caching the page for offline use then takes them from the browser's
    cache instead of downloading them again."""

    def __init__(self, directory: Path, versions: Mapping[str, str]) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.versions = versions

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        asked = Request(scope).query_params.get("v")
        if response.status_code == 200 and asked and asked == self.versions.get(path):
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
