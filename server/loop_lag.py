"""Measures how late the event loop runs a timer: the time every client waits on top of its own.

Anything that blocks the loop (a database call, a big encode) delays every room at once, and
shows here before users feel it: `cellsync_event_loop_lag_seconds` in `/metrics`, and one
warning per stall longer than `STALL_SECONDS`.
"""

import asyncio
import logging

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger(__name__)

STALL_SECONDS = 1.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLag:
    def __init__(self, registry: CollectorRegistry, interval: float = 0.05) -> None:
        self.interval = interval
        self.lag = Histogram(
            "cellsync_event_loop_lag_seconds",
            "How late the event loop ran a timer, measured every 50 ms",
            buckets=BUCKETS,
            registry=registry,
        )

    async def run(self) -> None:
        """Runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            late = max(0.0, loop.time() - due)
            self.lag.observe(late)
            if late > STALL_SECONDS:
                log.warning("the event loop stalled for %.1fs: every client waited", late)
