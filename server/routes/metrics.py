"""Prometheus metrics of one app, in a registry of its own (several apps in one process, as in
tests, never collide).

Rooms count their traffic in plain integers (no work per frame sent beyond an addition), and
table writes are counted from `TableSync.on_write`. Traffic and everything that is state rather
than a count (connections, rooms, log rows, table lag, database errors, the link to other
processes) is read from the rooms, `TableSync`, the database health and the fan-out when
Prometheus scrapes, so no hook can miss it.
"""

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from persistence.table.write_result import WriteResult
from server.sheets.rooms import Rooms

TRAFFIC = {
    "updates_in": ("cellsync_updates_received", "Updates received from clients"),
    "bytes_in": ("cellsync_received_bytes", "Bytes received from clients"),
    "updates_out": ("cellsync_updates_sent", "Update frames sent to clients"),
    "bytes_out": ("cellsync_sent_bytes", "Bytes sent to clients"),
}


class Metrics:
    def __init__(self, rooms: Rooms) -> None:
        self.registry = CollectorRegistry()
        series: dict[str, Any] = {"labelnames": ["sheet"], "registry": self.registry}
        self.flush_seconds = Histogram(
            "cellsync_flush_duration_seconds", "Time to write a sheet's changes to its table",
            **series,
        )  # fmt: skip
        self.rows_written = Counter("cellsync_rows_written", "Table rows written", **series)
        self.refused = Counter("cellsync_refused_writes", "Writes the database refused", **series)
        self.last_flush = Gauge(
            "cellsync_last_flush_timestamp_seconds", "When the table was last written", **series
        )
        for sheet in rooms.sheets:  # made up front: unknown sheet names must not create series
            self.flush_seconds.labels(sheet)
            self.rows_written.labels(sheet)
            self.refused.labels(sheet)
        self.registry.register(_LiveState(rooms))
        rooms.table_sync.on_write.append(self._written)

    def flush_totals(self, sheet: str) -> tuple[int, int, float | None]:
        """Rows written, refused writes, and the time of the last flush (None if none yet)."""
        sample = self.registry.get_sample_value
        labels = {"sheet": sheet}
        return (
            int(sample("cellsync_rows_written_total", labels) or 0),
            int(sample("cellsync_refused_writes_total", labels) or 0),
            sample("cellsync_last_flush_timestamp_seconds", labels),
        )

    def _written(self, sheet: str, result: WriteResult, seconds: float) -> None:
        self.flush_seconds.labels(sheet).observe(seconds)
        self.rows_written.labels(sheet).inc(result.rows_written)
        self.refused.labels(sheet).inc(len(result.refusals))
        self.last_flush.labels(sheet).set(time.time())


class _LiveState:
    """Gauges read from the rooms and `TableSync` at scrape time."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def collect(self) -> Iterator[Metric]:
        for field, (name, documentation) in TRAFFIC.items():
            counter = CounterMetricFamily(name, documentation, labels=["sheet"])
            for sheet, traffic in self.rooms.traffic.items():
                counter.add_metric([sheet], getattr(traffic, field))
            yield counter
        loaded = self.rooms.loaded()
        yield GaugeMetricFamily(
            "cellsync_connections",
            "Open sheet connections",
            value=sum(len(room.connections) for room in loaded),
        )
        yield GaugeMetricFamily("cellsync_rooms", "Sheets loaded in memory", value=len(loaded))
        log_rows = GaugeMetricFamily(
            "cellsync_log_rows", "Update log rows per sheet (until compacted)", labels=["sheet"]
        )
        for sheet, rows in self.rooms.log_appender.log_rows().items():
            log_rows.add_metric([sheet], rows)
        yield log_rows
        lag = GaugeMetricFamily(
            "cellsync_table_lag_seconds",
            "Age of the oldest change not in the table",
            labels=["sheet"],
        )
        pending = GaugeMetricFamily(
            "cellsync_table_pending_rows", "Rows changed but not yet in the table", labels=["sheet"]
        )
        stuck = GaugeMetricFamily(
            "cellsync_table_stuck_rows",
            "New rows the database refused, waiting for a fix",
            labels=["sheet"],
        )
        for room in loaded:
            state = self.rooms.table_sync.lag(room.name)
            if state is not None:
                lag.add_metric([room.name], state.lag_seconds)
                pending.add_metric([room.name], state.pending_rows)
                stuck.add_metric([room.name], state.stuck_rows)
        yield lag
        yield pending
        yield stuck
        health = self.rooms.health
        errors = CounterMetricFamily(
            "cellsync_database_errors",
            "Database operations that failed (and are retried)",
            labels=["operation"],
        )
        for operation, count in health.errors.items():
            errors.add_metric([operation], count)
        yield errors
        yield GaugeMetricFamily(
            "cellsync_database_up", "1 while every part of the server reaches the database",
            value=int(health.up),
        )  # fmt: skip
        yield from self._cross_process()

    def _cross_process(self) -> Iterator[Metric]:
        """Processes sharing sheets through Redis: this process's link and what it writes."""
        shared = self.rooms.fanout.state()
        if shared is None:
            return
        process = ["process"]
        families: list[GaugeMetricFamily | CounterMetricFamily] = [
            GaugeMetricFamily("cellsync_redis_up", "1 while Redis answers", labels=process),
            CounterMetricFamily(
                "cellsync_cross_process_updates_received", "Updates from other processes",
                labels=process,
            ),
            CounterMetricFamily(
                "cellsync_cross_process_updates_sent", "Updates sent to other processes",
                labels=process,
            ),
            GaugeMetricFamily(
                "cellsync_cross_process_held_bytes", "Updates waiting for Redis", labels=process
            ),
        ]  # fmt: skip
        values = [int(shared.up), shared.updates_in, shared.updates_out, shared.held_bytes]
        for family, value in zip(families, values, strict=True):
            family.add_metric([shared.process], value)
            yield family
        lag = GaugeMetricFamily(
            "cellsync_stream_lag_seconds",
            "Age of the last entry from another process, when it was applied",
            labels=["sheet"],
        )
        for sheet, seconds in shared.lag.items():
            lag.add_metric([sheet], seconds)
        yield lag
        writer = GaugeMetricFamily(
            "cellsync_table_writer", "1 for each sheet whose table this process writes",
            labels=["sheet"],
        )  # fmt: skip
        for room in self.rooms.loaded():
            writer.add_metric([room.name], int(self.rooms.election.writes(room.name)))
        yield writer
