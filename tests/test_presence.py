"""Presence has a schema: what one client sends as its awareness state reaches the others only
as fields the page uses, each checked, under the token's identity."""

import asyncio
import contextlib
import json

import pytest
from rawclient import RawClient
from test_hostile import attacker, awareness_frame
from test_trust import SECRET, token
from waiting import eventually

from server.websocket.protocol import AwarenessEntry, encode_awareness

CSS_ESCAPE = (
    "red; } body { background: url(http://127.0.0.1:1/leak) !important; } "
    ".cellsync-page { visibility:hidden } x {"
)


def seen(watcher: RawClient, client_id: int) -> dict | None:
    """The latest state the watcher got for a client (None: removed or never seen)."""
    states = {e.client_id: e.state for e in watcher.awareness_entries()}
    return json.loads(states[client_id]) if client_id in states else None


async def state_seen(server, state: dict) -> dict:
    """What another client receives when one client sends `state`."""
    watcher = await attacker(server)
    sender = await attacker(server)
    await sender.send(encode_awareness([AwarenessEntry(5151, 1, json.dumps(state))]))
    await eventually(lambda: seen(watcher, 5151) is not None, timeout=5, what="the state")
    received = seen(watcher, 5151)
    await asyncio.gather(watcher.close(), sender.close())
    return received


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        pytest.param(
            {"user": {"name": "Ann", "colour": "#12abEF"}, "cursor": {"row": "3", "column": "qty"}},
            {"user": {"name": "Ann", "colour": "#12abEF"}, "cursor": {"row": "3", "column": "qty"}},
            id="the page's own state",
        ),
        pytest.param(
            {"user": {"name": "Eve", "colour": CSS_ESCAPE}},
            {"user": {"name": "Eve"}},
            id="a colour that escapes into CSS",
        ),
        pytest.param(
            {"user": {"name": "x" * 5000, "colour": "red", "style": "*{}"}, "html": "<b>"},
            {"user": {"name": "x" * 80}},
            id="a long name and fields the page does not use",
        ),
        pytest.param(
            {"user": "Mallory", "cursor": {"row": "404", "column": "qty"}},
            {},
            id="a user that is not an object, a row that does not exist",
        ),
        pytest.param(
            {"cursor": {"row": "1", "column": "password"}, "selection": [1, 2]},
            {},
            id="an unknown column, a selection that is not a range",
        ),
        pytest.param(
            {
                "cursor": {"row": "1", "column": {"a": 1}},
                "selection": {"start": {"row": "1", "column": "qty"}, "end": {"row": "2"}},
            },
            {},
            id="a column that is not text, a range with half a cell",
        ),
        pytest.param(
            {
                "selection": {
                    "start": {"row": "1", "column": "name"},
                    "end": {"row": "4", "column": "qty"},
                    "colour": "x",
                }
            },
            {
                "selection": {
                    "start": {"row": "1", "column": "name"},
                    "end": {"row": "4", "column": "qty"},
                }
            },
            id="a range of cells",
        ),
    ],
)
async def test_a_state_keeps_only_the_checked_fields_the_page_uses(server, sent, received):
    assert await state_seen(server, sent) == received


@pytest.mark.parametrize("state", ["[1, 2]", '"a string"', "42", "true"])
async def test_a_state_that_is_not_an_object_closes_its_sender(server, state):
    watcher = await attacker(server)
    bad = await attacker(server)
    good = (777, 1, '{"user": {"name": "after"}}')
    await bad.send(awareness_frame((424242, 1, state), good))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(bad.websocket.wait_closed(), 5)
    assert bad.websocket.close_code == 4400
    other = await attacker(server)
    await other.send(awareness_frame((888, 1, '{"user": {"name": "still served"}}')))
    await eventually(lambda: seen(watcher, 888) is not None, timeout=5, what="a later state")
    assert seen(watcher, 424242) is None and seen(watcher, 777) is None
    await asyncio.gather(watcher.close(), bad.close(), other.close())


async def test_a_token_user_keeps_the_tokens_identity_and_a_checked_colour(server_factory):
    server = await server_factory(CELLSYNC_SECRET=SECRET)
    watcher = await RawClient.connect(server.url, "items", token=token({"*": "write"}))
    sender = await RawClient.connect(server.url, "items", token=token({"items": "read"}, user="r1"))
    state = {"user": {"id": "admin", "name": "Admin", "colour": CSS_ESCAPE}}
    await sender.send(encode_awareness([AwarenessEntry(99, 1, json.dumps(state))]))
    await eventually(lambda: seen(watcher, 99) is not None, timeout=5, what="the reader's presence")
    assert seen(watcher, 99) == {"user": {"id": "r1", "name": "Ann"}}
    await asyncio.gather(watcher.close(), sender.close())
