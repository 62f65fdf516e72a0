"""How sheets cross processes in Redis: the key names and what a stream entry holds.

Each sheet has a stream of entries, each made by one process: an update of the sheet's
document (`u`), presence states (`a`), or a request that its table writer write the table now
(`f`, answered in a list of its own, `answer_key`). Beside it, a hash holds, for each process,
the id of its oldest entry not yet in the update log: the stream may be trimmed below the
lowest of them.
The sheet name is the keys' hash tag, so a Redis Cluster keeps a sheet's keys on one node.
"""

import json
from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT, FieldT

from server.websocket.protocol import AwarenessEntry

UPDATE = b"u"
PRESENCE = b"a"
WRITE_REQUEST = b"f"

StreamId = bytes  # b"<milliseconds>-<sequence>", as Redis makes them


def stream_key(sheet: str) -> str:
    return f"cellsync:{{{sheet}}}:updates"


def pending_key(sheet: str) -> str:
    return f"cellsync:{{{sheet}}}:pending"


def answer_key(sheet: str, request: str) -> str:
    return f"cellsync:{{{sheet}}}:answer:{request}"


def alive_key(process: str) -> str:
    return f"cellsync:process:{process}"


@dataclass(frozen=True)
class Entry:
    id: StreamId
    process: str
    kind: bytes
    data: bytes


def parse_entries(reply: Any) -> list[Entry]:
    """The entries of an XRANGE reply, or of one stream in an XREAD reply."""
    return [Entry(i, f[b"p"].decode(), f[b"k"], f[b"d"]) for i, f in reply or ()]


def entry_fields(process: str, kind: bytes, data: bytes) -> dict[FieldT, EncodableT]:
    return {"p": process, "k": kind, "d": data}


def id_order(entry_id: StreamId) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence), not as text."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def encode_presence(entries: list[AwarenessEntry]) -> bytes:
    return json.dumps([[e.client_id, e.clock, e.state] for e in entries]).encode()


def decode_presence(data: bytes) -> list[AwarenessEntry]:
    return [
        AwarenessEntry(int(cid), int(clock), str(state)) for cid, clock, state in json.loads(data)
    ]


@dataclass(frozen=True)
class Backlog:
    """A sheet's stream as read before its log: applied when the room is built, then read on
    from `last_id`."""

    entries: list[Entry]
    last_id: StreamId
