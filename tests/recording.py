"""A stand-in for a client's socket, for tests that drive a `Room` directly."""

from persistence.origins import Client


class RecordingConnection:
    """Keeps every frame the room writes to it; never limited, always allowed to write."""

    can_write = True
    user = None
    sent_log = False

    def __init__(self, name: str) -> None:
        self.peer = name
        self.origin = Client(name)
        self.frames: list[bytes] = []

    def count_message(self) -> None:
        pass

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def send_sync(self, frame: bytes) -> None:
        self.frames.append(frame)

    def drop_write(self) -> None:
        pass
