"""Scenarios 4 and 5: the user's table behind the live document, and the other way round.

4. Worker throughput and table lag: a 10,000-row sheet, 1,000 cell edits/s spread over every
   row from four WebSocket peers (250/s each: one peer alone would pass the server's 500
   messages/s limit). A probe polls a sample of rows (every 20th) from its own connection;
   an edit's lag is from its send to the first poll that sees its value in the table. The
   server's own view (`/api/sheets/NAME/status`: lag seconds, pending rows) is sampled every
   0.1 s, and `/metrics` gives rows written and flush times. Run with the server's settings,
   and again with a shorter CELLSYNC_FLUSH_MAX_DELAY for comparison.
5. External-change latency: another connection commits single-cell UPDATEs to the table; a
   subscriber notes when each value arrives over its WebSocket. The table is watched
   (`cellsync watch`: LISTEN/NOTIFY on PostgreSQL, a polled change table on SQLite), and for
   comparison not watched (compared whole every CELLSYNC_TABLE_POLL_SECONDS).

Each run gets a fresh database (see `databases`) and a fresh server process.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from bench_lib import databases, table_load
from bench_lib.loadgen import MARKER, Target
from bench_lib.scenarios import CTX, SYNC_TIMEOUT, Child, busy_cores, percentile
from bench_lib.servers import Server, make_server

SHEET = "bench"
STATUS_EVERY = 0.1  # seconds between samples of /api/sheets/NAME/status
PROBE_EVERY = 0.02  # seconds between the probe's reads of the sampled rows
CATCH_UP_TIMEOUT = 30.0
COMPARISON_MAX_DELAY = "0.5"  # scenario 4's second run: CELLSYNC_FLUSH_MAX_DELAY


@dataclass(frozen=True)
class WorkerScenario:
    number: int
    rows: int
    writers: int
    rate: float  # edits per second per writer
    seconds: float
    sample_every: int = 20  # the probe reads rows whose id is a multiple of this
    kind: str = "worker"

    @property
    def edits(self) -> int:
        """Per writer; never more than the rows, so no writer edits a row twice."""
        return min(self.rows, int(self.rate * self.seconds))

    @property
    def title(self) -> str:
        return (
            f"persistence worker: {self.writers * self.rate:g} edits/s over {self.rows} rows "
            f"({self.writers} peers), {self.seconds:g} s; table lag from send to visible"
        )


@dataclass(frozen=True)
class ExternalScenario:
    number: int
    rows: int
    commits: int
    interval: float  # seconds between commits
    kind: str = "external"

    @property
    def title(self) -> str:
        return (
            f"external commits to a {self.rows}-row table: {self.commits} single-cell UPDATEs, "
            f"one every {self.interval * 1000:g} ms; latency from commit to a client"
        )


def plan(quick: bool) -> dict[int, WorkerScenario | ExternalScenario]:
    if quick:
        return {
            4: WorkerScenario(4, rows=2000, writers=4, rate=250, seconds=5),
            5: ExternalScenario(5, rows=1000, commits=50, interval=0.02),
        }
    return {
        4: WorkerScenario(4, rows=10_000, writers=4, rate=250, seconds=15),
        5: ExternalScenario(5, rows=1000, commits=200, interval=0.02),
    }


Run = Callable[[Path, dict[str, str]], dict[str, Any]]


def variants(
    scenario: WorkerScenario | ExternalScenario, kinds: list[str], cellsync_env: dict[str, str]
) -> list[tuple[str, Run]]:
    """(label, run) for every database and variant of the scenario, in running order."""
    out: list[tuple[str, Run]] = []
    for kind in kinds:
        if isinstance(scenario, WorkerScenario):
            settings = (
                f"max_delay {cellsync_env.get('CELLSYNC_FLUSH_MAX_DELAY', 'default')}",
                f"max_delay {COMPARISON_MAX_DELAY}",
            )
            for label, extra in zip(
                settings, ({}, {"CELLSYNC_FLUSH_MAX_DELAY": COMPARISON_MAX_DELAY}), strict=True
            ):
                out.append(
                    (
                        f"{kind} {label}",
                        lambda work, env, k=kind, e=extra, s=scenario: run_worker(
                            s, k, work, {**env, **e}
                        ),
                    )
                )
        else:
            for watched in (True, False):
                out.append(
                    (
                        f"{kind} {'watched' if watched else 'unwatched'}",
                        lambda work, env, k=kind, w=watched, s=scenario: run_external(
                            s, k, w, work, env
                        ),
                    )
                )
    return out


# the server's own figures


def get_json(server: Server, path: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=timeout) as r:
        return json.load(r)


def _wait_until_written(server: Server, timeout: float = 30) -> None:
    """Until the server reports nothing pending for the table (the unsampled edits sent last
    may still be in a flush when the sampled ones are all visible)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get_json(server, f"/api/sheets/{SHEET}/status")
        if status["pending_rows"] == 0 and status["lag_seconds"] == 0:
            time.sleep(0.3)  # the metrics count a flush just after its commit
            return
        time.sleep(0.05)
    raise RuntimeError(f"the table was still behind after {timeout}s")


def scrape(server: Server) -> dict[str, float]:
    """The sheet's samples from /metrics, by sample name (`cellsync_rows_written_total`...)."""
    url = f"http://127.0.0.1:{server.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("sheet") == SHEET and "le" not in sample.labels:
                values[sample.name] = sample.value
    return values


def _ms(values: list[float], fraction: float) -> float:
    return percentile(sorted(values), fraction) if values else math.nan


def _check_alive(server: Server) -> None:
    if server.process is not None and server.process.poll() is not None:
        raise RuntimeError(f"the server died:\n{server.log_tail()}")


# scenario 4


def run_worker(
    scenario: WorkerScenario, kind: str, work: Path, env: dict[str, str]
) -> dict[str, Any]:
    columns = [table_load.edit_column(w) for w in range(scenario.writers)]
    sample_ids = list(range(scenario.sample_every, scenario.rows + 1, scenario.sample_every))
    with databases.fresh(kind, work, scenario.rows) as database:
        server = make_server("cellsync", database.url, SHEET, databases.TABLE, work, env).start()
        children: list[Child] = []
        try:
            target = Target("127.0.0.1", server.port, server.path)
            writers = Child(
                "spread-writers",
                table_load.spread_writers_main,
                target,
                scenario.writers,
                scenario.rate,
                scenario.edits,
                SYNC_TIMEOUT,
            )
            children.append(writers)
            rows = writers.expect("ready", SYNC_TIMEOUT)["rows"]
            seen_count = CTX.RawValue("q", 0)
            probe = Child(
                "table-probe",
                table_load.table_probe_main,
                seen_count,
                database.url,
                sample_ids,
                columns,
                PROBE_EVERY,
            )
            children.append(probe)
            probe.expect("ready", 30)
            _settle(server)

            before = scrape(server)
            cpu_start, machine_before = server.cpu(), psutil.cpu_times()
            go_ns = time.monotonic_ns() + 200_000_000
            for child in children:
                child.send("go", go_ns)
            lag_samples: list[float] = []
            pending_samples: list[int] = []
            done: dict[str, Any] | None = None
            done_at = math.inf
            cpu_stream = machine_stream = math.nan
            expected: set[int] | None = None
            deadline = time.monotonic() + scenario.seconds + 60
            while True:
                time.sleep(STATUS_EVERY)
                _check_alive(server)
                probe.poll()
                if done is None and (message := writers.poll()) is not None:
                    done, done_at = message[1], time.monotonic()
                    expected = _sampled(scenario, rows, done["sent"], set(sample_ids))
                    cpu_stream = server.cpu() - cpu_start
                    machine_stream = busy_cores(
                        machine_before, psutil.cpu_times(), (time.monotonic_ns() - go_ns) / 1e9
                    )
                if time.monotonic_ns() < go_ns:
                    continue
                if done is None:
                    status = get_json(server, f"/api/sheets/{SHEET}/status")
                    lag_samples.append(status["lag_seconds"])
                    pending_samples.append(status["pending_rows"])
                elif expected is not None and seen_count.value >= len(expected):
                    break  # every sampled edit is in the table
                if time.monotonic() > min(deadline, done_at + CATCH_UP_TIMEOUT):
                    break
            caught_up_s = (time.monotonic_ns() - go_ns) / 1e9
            if done is None:
                raise RuntimeError("the writers did not finish in time")
            _wait_until_written(server)
            after = scrape(server)
            sent: list[int] = done["sent"]
            # Before the server stops: its shutdown writes whatever is still pending.
            table_ok, table_missing = _verify_table(database.url, scenario, rows, sent)
            probe.send("stop")
            seen = probe.expect("result", 30)
            writers.send("stop")
            writers.expect("result", 30)
            for child in children:
                child.stop()
        finally:
            for child in children:
                if child.process.is_alive():
                    child.process.kill()
                child.process.join(5)
            server.stop()

    expected = _sampled(scenario, rows, sent, set(sample_ids))
    lags = [
        (seen_ns - sent_ns) / 1e6
        for key, sent_ns, seen_ns in zip(
            table_load.unpack(seen["keys"]),
            table_load.unpack(seen["sent_ns"]),
            table_load.unpack(seen["seen_ns"]),
            strict=True,
        )
        if key in expected
    ]
    stream_s = sum(sent) / (scenario.writers * scenario.rate)
    rows_written = after.get("cellsync_rows_written_total", 0) - before.get(
        "cellsync_rows_written_total", 0
    )
    flushes = after.get("cellsync_flush_duration_seconds_count", 0) - before.get(
        "cellsync_flush_duration_seconds_count", 0
    )
    flush_s = after.get("cellsync_flush_duration_seconds_sum", 0) - before.get(
        "cellsync_flush_duration_seconds_sum", 0
    )
    return {
        "server": "",  # set by the caller: database and variant
        "scenario": scenario.number,
        "database": kind,
        "settings": {k: v for k, v in env.items() if k.startswith("CELLSYNC_")},
        "rows": rows,
        "edits_sent": sum(sent),
        "edit_rate": sum(sent) / stream_s if stream_s else math.nan,
        "writer_max_behind_ms": done["max_behind_ms"],
        "sampled_edits": len(expected),
        "sampled_seen": len(lags),
        "lag_p50_ms": _ms(lags, 0.50),
        "lag_p99_ms": _ms(lags, 0.99),
        "lag_max_ms": max(lags) if lags else math.nan,
        "p99_under_1s": bool(lags) and _ms(lags, 0.99) < 1000 and len(lags) == len(expected),
        "status_lag_p50_s": _ms(lag_samples, 0.50),
        "status_lag_p99_s": _ms(lag_samples, 0.99),
        "status_lag_max_s": max(lag_samples) if lag_samples else math.nan,
        "status_pending_max": max(pending_samples) if pending_samples else None,
        "status_samples": len(lag_samples),
        "rows_written": rows_written,
        "rows_per_s": rows_written / caught_up_s if caught_up_s > 0 else math.nan,
        "flushes": flushes,
        "flush_mean_ms": flush_s / flushes * 1000 if flushes else math.nan,
        "rows_per_flush_s": rows_written / flush_s if flush_s else math.nan,
        "caught_up_s": caught_up_s,
        "table_complete": table_ok,
        "table_missing": table_missing,
        "server_cpu_s": cpu_stream,
        "server_cores": cpu_stream / stream_s if stream_s else math.nan,
        "machine_busy_cores": machine_stream,
        "probe_polls": seen["polls"],
        "probe_poll_median_ms": seen["poll_median_ms"],
    }


def _sampled(scenario: WorkerScenario, rows: int, sent: list[int], sample: set[int]) -> set[int]:
    """The marker keys of the edits made to sampled rows."""
    return {
        table_load.marker_key(w, s)
        for w in range(scenario.writers)
        for s in range(sent[w])
        if table_load.row_index(w, s, scenario.writers, rows) + 1 in sample
    }


def _settle(server: Server, timeout: float = 30) -> None:
    """Waits until the freshly opened sheet has nothing pending (its first flush is done)."""
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        status = get_json(server, f"/api/sheets/{SHEET}/status")
        if status["loaded"] and status["pending_rows"] == 0 and status["lag_seconds"] == 0:
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise TimeoutError("the sheet did not settle after opening")


def _verify_table(
    url: str, scenario: WorkerScenario, rows: int, sent: list[int]
) -> tuple[bool, int]:
    """Whether every edit's value is in the table at the end (each cell was edited once)."""
    from persistence.database import create_engine

    engine = create_engine(url)
    try:
        table = sa.Table(databases.TABLE, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            cells = {row.id: row for row in conn.execute(sa.select(table))}
    finally:
        engine.dispose()
    missing = 0
    for writer in range(scenario.writers):
        column = table_load.edit_column(writer)
        for seq in range(sent[writer]):
            row = cells.get(table_load.row_index(writer, seq, scenario.writers, rows) + 1)
            value = getattr(row, column, None) if row is not None else None
            match = MARKER.fullmatch(value.encode()) if isinstance(value, str) else None
            if match is None or (int(match[1]), int(match[2])) != (writer, seq):
                missing += 1
    return missing == 0, missing


# scenario 5


def run_external(
    scenario: ExternalScenario, kind: str, watched: bool, work: Path, env: dict[str, str]
) -> dict[str, Any]:
    with databases.fresh(kind, work, scenario.rows) as database:
        if watched:
            databases.install_watch(database.url)
        server = make_server("cellsync", database.url, SHEET, databases.TABLE, work, env).start()
        children: list[Child] = []
        try:
            target = Target("127.0.0.1", server.port, server.path)
            progress = CTX.RawValue("q", 0)
            subscriber = Child(
                "subscriber", table_load.arrivals_main, progress, target, SYNC_TIMEOUT
            )
            children.append(subscriber)
            subscriber.expect("ready", SYNC_TIMEOUT)
            _settle(server)
            committer = Child(
                "committer",
                table_load.committer_main,
                database.url,
                scenario.commits,
                scenario.interval,
                scenario.rows,
                "c1",
            )
            children.append(committer)
            committer.expect("ready", 30)

            poll_s = float(env.get("CELLSYNC_TABLE_POLL_SECONDS", "5"))
            cpu_start = server.cpu()
            go_ns = time.monotonic_ns() + 200_000_000
            for child in children:
                child.send("go", go_ns)
            done_at = math.inf
            deadline = time.monotonic() + scenario.commits * scenario.interval + 60
            while time.monotonic() < deadline:
                time.sleep(0.05)
                _check_alive(server)
                subscriber.poll()
                if done_at == math.inf and committer.poll() is not None:
                    done_at = time.monotonic()
                if progress.value >= scenario.commits:
                    break
                if time.monotonic() > done_at + 2 * poll_s + 5:
                    break  # nothing more is coming
            server_cpu = server.cpu() - cpu_start
            committer.send("stop")
            commits = committer.expect("result", 30)
            subscriber.send("stop")
            arrivals = subscriber.expect("result", 30)
            for child in children:
                child.stop()
            watched_by_server = _is_watched(database.url)
        finally:
            for child in children:
                if child.process.is_alive():
                    child.process.kill()
                child.process.join(5)
            server.stop()

    arrived = dict(
        zip(
            table_load.unpack(arrivals["keys"]),
            table_load.unpack(arrivals["arrived_ns"]),
            strict=True,
        )
    )
    committed = table_load.unpack(commits["committed_ns"])
    latencies = [
        (arrived[table_load.marker_key(0, seq)] - at) / 1e6
        for seq, at in enumerate(committed)
        if table_load.marker_key(0, seq) in arrived
    ]
    return {
        "server": "",
        "scenario": scenario.number,
        "database": kind,
        "watched": watched,
        "triggers_installed": watched_by_server,
        "settings": {k: v for k, v in env.items() if k.startswith("CELLSYNC_")},
        "commits": len(committed),
        "arrived": len(latencies),
        "all_arrived": len(latencies) == len(committed) == scenario.commits,
        "latency_p50_ms": _ms(latencies, 0.50),
        "latency_p99_ms": _ms(latencies, 0.99),
        "latency_max_ms": max(latencies) if latencies else math.nan,
        "latency_min_ms": min(latencies) if latencies else math.nan,
        "latency_mean_ms": statistics.fmean(latencies) if latencies else math.nan,
        "p99_under_1s": len(latencies) == len(committed) and _ms(latencies, 0.99) < 1000,
        "commit_median_ms": commits["commit_ms"],
        "committer_max_behind_ms": commits["max_behind_ms"],
        "subscriber_disconnected": arrivals["disconnected"],
        "server_cpu_s": server_cpu,
    }


def _is_watched(url: str) -> bool:
    from persistence.database import create_engine
    from persistence.table.schema import reflect_table
    from persistence.table.triggers import is_watched

    engine = create_engine(url)
    try:
        return is_watched(engine, reflect_table(engine, databases.TABLE))
    finally:
        engine.dispose()
