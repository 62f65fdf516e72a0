"""The y-websocket wire protocol, decoded defensively.

Every frame a client sends is untrusted: decoding never reads past the end of the frame, never
accepts a varint longer than JavaScript can produce, and turns anything malformed into a
`ProtocolError` that names what was wrong, so the room can close that one connection.
"""

from dataclasses import dataclass
from enum import IntEnum

from pycrdt import YMessageType, YSyncMessageType, create_awareness_message, write_var_uint

MAX_VARINT_BYTES = 8  # 2**56 is past every integer a JavaScript client can encode


class ProtocolError(ValueError):
    """A frame that does not follow the y-websocket protocol."""


class MessageKind(IntEnum):
    SYNC_STEP1 = 0
    SYNC_STEP2 = 1
    SYNC_UPDATE = 2
    AWARENESS = 3
    QUERY_AWARENESS = 4


@dataclass(frozen=True, slots=True)
class Message:
    kind: MessageKind
    payload: bytes


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: str  # the JSON text exactly as sent; "null" (or "") means the client left


class Reader:
    """A cursor over one frame that refuses to run off its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        value = 0
        for shift in range(0, 7 * MAX_VARINT_BYTES, 7):
            if self.pos >= len(self.data):
                raise ProtocolError("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise ProtocolError("varint too long")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise ProtocolError(f"length {length} runs past the end of the frame")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc


_SYNC_KINDS: dict[int, MessageKind] = {
    YSyncMessageType.SYNC_STEP1: MessageKind.SYNC_STEP1,
    YSyncMessageType.SYNC_STEP2: MessageKind.SYNC_STEP2,
    YSyncMessageType.SYNC_UPDATE: MessageKind.SYNC_UPDATE,
}
_QUERY_AWARENESS = 3


def parse_message(data: bytes) -> Message:
    """Decodes one client frame into what it asks of the room."""
    reader = Reader(data)
    message_type = reader.var_uint()
    if message_type == YMessageType.SYNC:
        sync_type = reader.var_uint()
        kind = _SYNC_KINDS.get(sync_type)
        if kind is None:
            raise ProtocolError(f"unknown sync message type {sync_type}")
        return Message(kind, reader.var_bytes())
    if message_type == YMessageType.AWARENESS:
        return Message(MessageKind.AWARENESS, reader.var_bytes())
    if message_type == _QUERY_AWARENESS:
        return Message(MessageKind.QUERY_AWARENESS, b"")
    raise ProtocolError(f"unknown message type {message_type}")


def parse_awareness(update: bytes) -> list[AwarenessEntry]:
    """Decodes an awareness update: a count, then (client id, clock, JSON state) triples."""
    reader = Reader(update)
    count = reader.var_uint()
    if count > len(update):
        raise ProtocolError(f"awareness update claims {count} entries")
    return [
        AwarenessEntry(reader.var_uint(), reader.var_uint(), reader.var_string())
        for _ in range(count)
    ]


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    """Encodes entries as one awareness message, ready to send."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        state = entry.state.encode()
        parts += [write_var_uint(entry.client_id), write_var_uint(entry.clock)]
        parts += [write_var_uint(len(state)), state]
    return create_awareness_message(b"".join(parts))


def sync_message(kind: YSyncMessageType, payload: bytes) -> bytes:
    """Encodes a sync-protocol message (step 1, step 2 or update)."""
    return bytes([YMessageType.SYNC, kind]) + write_var_uint(len(payload)) + payload
