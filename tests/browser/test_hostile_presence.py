"""A hostile presence sender against another user's page: nothing it sends runs as CSS or HTML
there, and the page sends no request anywhere because of it."""

import json

from playwright.async_api import expect
from rawclient import RawClient
from sheetpage import PAGE_ONLY

from server.websocket.protocol import AwarenessEntry, encode_awareness

pytestmark = PAGE_ONLY

LEAK = "/leak-through-presence"
CSS_ESCAPE = (
    f"red; }} body {{ background: url(http://127.0.0.1:9/{LEAK}) !important; }} "
    f".cellsync-page {{ visibility:hidden }} x {{ background: url({LEAK})"
)
HTML_NAME = f'<img src="{LEAK}" onerror="document.title=\'pwned\'">Eve'
QTY_3 = '.tabulator-row[data-key="3"] .tabulator-cell[tabulator-field="qty"]'


async def page_is_untouched(page) -> None:
    assert await page.title() != "pwned"
    assert await page.evaluate("getComputedStyle(document.body).backgroundImage") == "none"
    visibility = "getComputedStyle(document.querySelector('.cellsync-page')).visibility"
    assert await page.evaluate(visibility) == "visible"


async def test_a_hostile_presence_reaches_another_page_as_text_only(open_sheet, server, artifacts):
    victim = await open_sheet("Vic")
    requests: list[str] = []
    victim.page.on("request", lambda request: requests.append(request.url))
    await victim.page.evaluate(
        "window.__violations = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI))"
    )
    attacker = await RawClient.connect(server.url, "items")
    await attacker.synced.wait()
    state = {
        "user": {"name": HTML_NAME, "colour": CSS_ESCAPE},
        "cursor": {"row": "3", "column": "qty"},
        "style": "body { display: none }",
    }
    await attacker.send(encode_awareness([AwarenessEntry(31337, 1, json.dumps(state))]))

    people = victim.page.get_by_test_id("people")
    await expect(people).to_contain_text(HTML_NAME)  # the name, as text
    outlined = "(s) => getComputedStyle(document.querySelector(s)).boxShadow.includes('inset')"
    await victim.page.wait_for_function(outlined, arg=QTY_3)
    await victim.page.screenshot(path=artifacts / "hostile-presence.png")
    await page_is_untouched(victim.page)
    assert await people.locator("img").count() == 0

    # Defence in depth: even a state the server let through is only drawn once checked.
    await victim.page.evaluate(
        "([colour, name]) => window.cellsync.grid.marks.showPresence("
        "[{id: 7, name, colour, cursor: {row: '3', column: 'qty'}}])",
        [CSS_ESCAPE, HTML_NAME],
    )
    await victim.page.wait_for_function(outlined, arg=QTY_3)
    await page_is_untouched(victim.page)
    assert not [url for url in requests if LEAK in url], requests
    assert await victim.page.evaluate("window.__violations") == []
    await attacker.close()
