"""Fuzzing the room's message handler, without a server.

Whatever a client sends, `Room.receive` either handles it or raises `ProtocolError` (or
`LimitExceeded`): the socket layer turns those into a 4400/4429 close of that one connection,
and anything else would be a 1011 and a stack trace. Afterwards the room's document still
encodes, a fresh document can load it, and what the room sent to the other clients parses.
"""

import asyncio
import json
import re
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, YSyncMessageType, write_var_uint
from recording import RecordingConnection

from persistence.document import ORDER, ROWS, new_doc, populate
from persistence.store.table_record import RecordLookup
from persistence.table.schema import Column, TableSchema
from server.sheets.room import Room
from server.sheets.sheet_document import Hooks, SheetDocument
from server.websocket.connection import LimitExceeded
from server.websocket.protocol import MessageKind, ProtocolError, parse_awareness, parse_message

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SCHEMA = TableSchema(
    table="items",
    pk="id",
    columns=(
        Column("id", "integer", nullable=False, readonly=True),
        Column("name", "text", nullable=True, readonly=False, max_length=80),
        Column("qty", "integer", nullable=True, readonly=False),
        Column("done", "boolean", nullable=True, readonly=False),
        Column("notes", "text", nullable=True, readonly=False),
    ),
    autoincrement=True,
)
DIGITS = re.compile(r"\d+")
ROWS_AT_START = [
    {"id": i, "name": f"item {i}", "qty": i, "done": False, "notes": None} for i in (1, 2, 3)
]


def seeded_update() -> bytes:
    """The document a room starts from: meta, three rows and their order."""
    doc = Doc(client_id=1)
    populate(doc, SCHEMA, ROWS_AT_START)
    return doc.get_update()


SEED = seeded_update()


async def no_record(keys: set[str]) -> RecordLookup:
    return RecordLookup()


def new_room() -> Room:
    doc = new_doc()
    doc.apply_update(SEED)
    room = Room(SheetDocument("items", doc, SCHEMA, no_record), merge_window=0.0)
    room.document.hooks = Hooks(broadcast=room.broadcast)
    return room


async def feed(frames: list[bytes]) -> None:
    room = new_room()
    sender, watcher = RecordingConnection("sender"), RecordingConnection("watcher")
    room.join(sender)
    room.join(watcher)
    watcher.frames.clear()
    for frame in frames:
        try:
            await room.receive(sender, frame)
        except (ProtocolError, LimitExceeded) as exc:
            # the socket layer closes this one connection, with 4400 or 4429
            event("refused: " + DIGITS.sub("N", str(exc))[:40])
        else:
            event("handled")
        await asyncio.sleep(0)  # let the room flush what it accepted
    await asyncio.sleep(0)

    fresh = Doc()
    fresh.apply_update(room.document.doc.get_update())
    for frame in watcher.frames:
        check_sent(frame)

    # and the room still takes a legitimate edit from a client that synced just now
    honest = Doc()  # a client id of its own: mutated frames may claim any small one
    honest.apply_update(room.document.doc.get_update())
    before = honest.get_state()
    honest.get(ROWS, type=Map)["honest"] = Map({"name": "still editable"})
    await room.receive(
        sender, bytes([0, YSyncMessageType.SYNC_UPDATE]) + var_bytes(honest.get_update(before))
    )
    assert room.document.doc.get(ROWS, type=Map)["honest"]["name"] == "still editable"
    room.close()


def is_yrs_panic(exc: BaseException) -> bool:
    """pycrdt's `pyo3_runtime.PanicException` (a BaseException, not importable by name)."""
    return type(exc).__name__ == "PanicException"


def check_sent(frame: bytes) -> None:
    """A frame the room wrote (a WebSocket header, then a message) is a valid message."""
    length = frame[1] & 0x7F
    message = parse_message(frame[2 if length < 126 else 4 if length == 126 else 10 :])
    if message.kind in (MessageKind.SYNC_STEP2, MessageKind.SYNC_UPDATE):
        Doc().apply_update(message.payload)
    elif message.kind is MessageKind.AWARENESS:
        parse_awareness(message.payload)


def run(frames: list[bytes]) -> None:
    asyncio.run(feed(frames))


# (a) arbitrary bytes


@FUZZ
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_arbitrary_bytes(frames):
    run(frames)


# (b) structurally valid y-websocket frames with random payloads


def var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
awareness_states = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.just("null"),
    st.just(""),
)


@st.composite
def awareness_payloads(draw) -> bytes:
    entries = draw(
        st.lists(
            st.tuples(st.integers(0, 2**53), st.integers(0, 2**32), awareness_states),
            max_size=4,
        )
    )
    body = write_var_uint(len(entries))
    for client_id, clock, state in entries:
        body += write_var_uint(client_id) + write_var_uint(clock) + var_bytes(state.encode())
    return body


@st.composite
def framed(draw) -> bytes:
    kind = draw(st.sampled_from(["sync", "awareness", "query", "other"]))
    if kind == "sync":
        sync_type = draw(st.sampled_from([0, 1, 2]))
        payload = draw(st.binary(max_size=200))
        return bytes([0, sync_type]) + var_bytes(payload)
    if kind == "awareness":
        payload = draw(awareness_payloads() | st.binary(max_size=100))
        return bytes([1]) + var_bytes(payload)
    if kind == "query":
        return bytes([3]) + draw(st.binary(max_size=10))
    return write_var_uint(draw(st.integers(0, 2**40))) + draw(st.binary(max_size=50))


@FUZZ
@given(st.lists(framed(), min_size=1, max_size=6))
def test_well_framed_messages_with_random_payloads(frames):
    run(frames)


# (c) real updates from a pycrdt document, some of them mutated

cell_values = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=30)
edits = st.lists(
    st.tuples(
        st.sampled_from(["set", "add_row", "delete_row", "replace_row", "meta"]),
        st.sampled_from(["1", "2", "3", "new"]),
        st.sampled_from(["name", "qty", "done", "notes", "id", "bogus"]),
        cell_values,
    ),
    min_size=1,
    max_size=6,
)


def client_updates(ops: list[tuple[str, str, str, Any]]) -> list[bytes]:
    """What a client that synced the seeded document sends for each edit (a fixed client id
    keeps the updates, and so the draws that mutate them, the same from run to run)."""
    doc = Doc(client_id=2)
    doc.apply_update(SEED)
    rows = doc.get(ROWS, type=Map)
    order = doc.get(ORDER, type=Array)
    out = []
    for op, key, column, value in ops:
        before = doc.get_state()
        with doc.transaction():
            row = rows.get(key)
            if op == "set" and isinstance(row, Map):
                row[column] = value
            elif op == "add_row":
                rows[key] = Map({column: value})
                order.append(key)
            elif op == "delete_row":
                rows.pop(key, None)
            elif op == "replace_row":
                rows[key] = value
            elif op == "meta":
                doc.get("meta", type=Map)[column] = value
        out.append(doc.get_update(before))
    return out


@st.composite
def mutated(draw, update: bytes) -> bytes:
    how = draw(st.sampled_from(["keep", "flip", "truncate", "insert", "splice"]))
    data = bytearray(update)
    if how == "keep" or not data:
        return bytes(data)
    index = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        data[index] ^= 1 << draw(st.integers(0, 7))
    elif how == "truncate":
        del data[index:]
    elif how == "insert":
        data[index:index] = draw(st.binary(min_size=1, max_size=8))
    else:
        data[index : index + draw(st.integers(1, 8))] = b"\xff" * draw(st.integers(1, 10))
    return bytes(data)


@st.composite
def update_frames(draw) -> list[bytes]:
    frames = []
    for update in client_updates(draw(edits)):
        payload = draw(mutated(update))
        sync_type = draw(
            st.sampled_from([YSyncMessageType.SYNC_UPDATE, YSyncMessageType.SYNC_STEP2])
        )
        frame = bytes([0, sync_type]) + var_bytes(payload)
        if draw(st.booleans()):
            frame = draw(mutated(frame))
        frames.append(frame)
    return frames


@FUZZ
@given(update_frames())
def test_real_updates_mixed_with_mutations(frames):
    run(frames)


@FUZZ
@given(st.binary(max_size=60))
def test_any_state_vector_in_sync_step_1(state):
    run([bytes([0, 0]) + var_bytes(state)])


# found by the fuzz test above


def panicking_update(client: int) -> bytes:
    """One client entry with no structs, naming a client the document holds items of, then
    an empty delete set: yrs 0.28 (pycrdt 0.14.13) panics at update.rs:85 ("called
    `Option::unwrap()` on a `None` value") instead of refusing it."""
    return write_var_uint(1) + write_var_uint(0) + write_var_uint(client) + b"\x00\x00"


async def test_an_update_that_makes_yrs_panic_is_a_protocol_error():
    room = new_room()
    sender = RecordingConnection("sender")
    room.join(sender)
    frame = bytes([0, YSyncMessageType.SYNC_UPDATE]) + var_bytes(panicking_update(1))
    try:
        await room.receive(sender, frame)
    except ProtocolError:
        pass
    except BaseException as exc:
        assert not is_yrs_panic(exc), "pycrdt's PanicException escaped Room.receive"
        raise
    else:
        raise AssertionError("the update was accepted")
    Doc().apply_update(room.document.doc.get_update())
    room.close()
