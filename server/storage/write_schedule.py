"""When a sheet's table is next written: `debounce` seconds after the last change, at most
`max_delay` after the first one under a continuous stream, and never before a failed write's
backoff runs out. One write at a time; a change during a write re-arms the timer after it.
"""

import asyncio
import time
from collections.abc import Callable

from server.database_health import Backoff


class WriteSchedule:
    def __init__(self, debounce: float, max_delay: float, start_write: Callable[[], None]):
        self.debounce = debounce
        self.max_delay = max_delay
        self._start_write = start_write
        self.first_change: float | None = None  # monotonic time of the oldest change not taken
        self.last_change = 0.0
        self.writing = False
        self.backoff = Backoff()
        self.retry_at = 0.0  # monotonic time before which a failed write is not retried
        self._timer: asyncio.TimerHandle | None = None

    def changed(self) -> None:
        now = time.monotonic()
        self.last_change = now
        if self.first_change is None:
            self.first_change = now
        self.arm()

    def taken(self) -> float:
        """A write takes every change so far: returns the oldest one's time."""
        oldest = self.first_change or time.monotonic()
        self.first_change = None
        return oldest

    def failed(self, oldest: float) -> None:
        """The write failed: its changes are pending again, retried after a backoff."""
        self.first_change = min(oldest, self.first_change or oldest)
        self.retry_at = time.monotonic() + self.backoff.delay()

    def succeeded(self) -> None:
        self.backoff.reset()
        self.retry_at = 0.0

    def arm(self) -> None:
        if self.writing or self.first_change is None:
            return  # re-armed when the write under way ends
        due = min(self.last_change + self.debounce, self.first_change + self.max_delay)
        due = max(due, self.retry_at)
        self.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, due - time.monotonic())
        self._timer = loop.call_at(loop.time() + delay, self._due)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        self._start_write()
