"""Nothing a client sends blocks the event loop: the guard reads the record off the loop."""

import asyncio
import re

import httpx
from pycrdt import Map
from rawclient import RawClient
from tables import create_items_table
from waiting import eventually

ROWS = 3000
BATCH = 100


async def lag_buckets(server) -> dict[str, float]:
    """`cellsync_event_loop_lag_seconds` buckets (le -> observations), with "count"."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http}/metrics")).text
    bucket = r'^cellsync_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$'
    buckets = {le: float(n) for le, n in re.findall(bucket, text, re.MULTILINE)}
    count = re.search(r"^cellsync_event_loop_lag_seconds_count (\S+)$", text, re.MULTILINE)
    assert count is not None, "the server reports its event loop's lag"
    return buckets | {"count": float(count[1])}


async def received_all(server, updates: int) -> bool:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.http}/metrics")).text
    match = re.search(r'^cellsync_updates_received_total\{sheet="many"\} (\S+)$', text, re.M)
    return match is not None and float(match[1]) >= updates


async def test_a_flood_of_rows_the_guard_must_look_up_never_stalls_the_loop(
    server_factory, database_url
):
    create_items_table(database_url, rows=ROWS, name="many")
    server = await server_factory(sheets={"many": "many"})
    client = await RawClient.connect(server.url, "many")
    await asyncio.wait_for(client.synced.wait(), 30)
    rows = client.doc.get("rows", type=Map)
    await eventually(lambda: len(rows) == ROWS, 30, "every row synced")
    before = await lag_buckets(server)

    # Each row's key sent again, as a client that kept the server's write-back of it does:
    # the guard accepts it only after reading the row's record.
    keys = list(rows.keys())
    for start in range(0, ROWS, BATCH):
        state = client.doc.get_state()
        with client.doc.transaction():
            for key in keys[start : start + BATCH]:
                rows[key]["id"] = int(key)
        await client.send_update(client.doc.get_update(state))
    await eventually(lambda: received_all(server, ROWS // BATCH), 60, "updates taken")
    probe = await RawClient.connect(server.url, "many")  # served after the flood: all applied
    await asyncio.wait_for(probe.synced.wait(), 30)
    assert not probe.doc.get("refusals", type=Map).to_py(), "every key was the recorded one"

    after = await lag_buckets(server)
    measured = after["count"] - before["count"]
    late = measured - (after["0.1"] - before["0.1"])
    assert measured >= 2, "the loop was measured during the flood"
    assert late == 0, f"{late:g} of {measured:g} timers ran more than 100 ms late"
