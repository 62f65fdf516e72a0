"""The scenarios: one server process, one room, load from separate processes, and the numbers.

With `processes` > 1 (`scripts/bench --processes N`), scenarios 1 and 2 run on N Cellsync
processes sharing the sheet through a Redis of the run's own, on a fresh PostgreSQL database:
the writers connect to the first, the subscribers are spread over all of them, and the server
CPU is summed over the processes; `process_variants` pits that against one process on the same
kind of database, alternating.

An edit scenario goes: fresh SQLite file -> server -> writers connect and sync (on a baseline
server the first writer uploads the table's document, built by Cellsync's own code) ->
subscribers connect and sync -> "go" -> writers edit on schedule -> wait until every subscriber
holds every edit (or nothing arrives for `quiet` seconds) -> "stop" -> results.

The measured window runs from "go" to the last observed delivery. Server CPU is the user+system
time of the server's process over that window; peak RSS is the larger of the sampled RSS and
the kernel's VmHWM.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import shutil
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from bench_lib import databases, loadgen, redis_server
from bench_lib.servers import PROCESSES, Server, make_server

CTX = multiprocessing.get_context("spawn")
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
CHILDREN: list[BaseProcess] = []
SUBSCRIBERS_PER_PROCESS = 250
TABLE = "bench"
COLUMNS = 10  # id + 9 text columns
SYNC_TIMEOUT = 120.0


@dataclass(frozen=True)
class EditScenario:
    number: int
    subscribers: int
    writers: int
    rate: float  # edits per second per writer
    edits: int  # per writer
    rows: int = 1000
    quiet: float = 5.0  # give up after this long without a delivery once writers are done

    @property
    def title(self) -> str:
        return (
            f"{self.subscribers} subscribers, {self.writers} writer(s) x "
            f"{self.rate:g} edits/s, {self.writers * self.edits} edits"
        )


@dataclass(frozen=True)
class SyncScenario:
    number: int
    rows: int
    runs: int

    @property
    def title(self) -> str:
        return f"fresh client sync of {self.rows} rows x {COLUMNS} columns, {self.runs} runs"


def scenarios(quick: bool) -> dict[int, EditScenario | SyncScenario]:
    if quick:
        return {
            1: EditScenario(1, subscribers=50, writers=1, rate=50, edits=100),
            2: EditScenario(2, subscribers=20, writers=5, rate=200, edits=200, quiet=3),
            3: SyncScenario(3, rows=2000, runs=3),
        }
    return {
        1: EditScenario(1, subscribers=500, writers=1, rate=50, edits=1000),
        2: EditScenario(2, subscribers=100, writers=5, rate=200, edits=1500),
        3: SyncScenario(3, rows=10_000, runs=7),
    }


# setup


def create_table(path: Path, rows: int) -> str:
    """A fresh SQLite file with `bench(id, c1..c9)` of plain text; returns its URL."""
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    columns = [sa.Column(f"c{i}", sa.Text, nullable=True) for i in range(1, COLUMNS)]
    table = sa.Table(TABLE, metadata, sa.Column("id", sa.Integer, primary_key=True), *columns)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"id": r, **{f"c{i}": f"row {r} col {i} {r * i % 997:03d}" for i in range(1, 10)}}
                for r in range(1, rows + 1)
            ],
        )
    engine.dispose()
    return url


def table_document(url: str) -> bytes:
    """The document Cellsync builds for the table, for baseline servers (which start empty)."""
    from pycrdt import Doc

    from persistence.database import create_engine
    from persistence.document import populate
    from persistence.table.rows import fetch_rows
    from persistence.table.schema import reflect_table

    engine = create_engine(url)
    try:
        schema = reflect_table(engine, TABLE)
        doc = Doc()
        populate(doc, schema, fetch_rows(engine, schema))
        return doc.get_update()
    finally:
        engine.dispose()


class Child:
    """A load-generator process and its pipe."""

    def __init__(self, name: str, main: Any, *args: Any) -> None:
        self.name = name
        self.conn, child_conn = CTX.Pipe()
        self.process = CTX.Process(
            target=loadgen.run_child, args=(child_conn, main, *args), name=name, daemon=True
        )
        self.process.start()
        CHILDREN.append(self.process)
        child_conn.close()

    def send(self, kind: str, value: Any = None) -> None:
        self.conn.send((kind, value))

    def poll(self) -> tuple[str, Any] | None:
        if not self.conn.poll():
            return None
        message = self.conn.recv()
        if message[0] == "error":
            raise RuntimeError(f"{self.name} failed:\n{message[1]}")
        return message

    def expect(self, kind: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.conn.poll(0.1):
                got = self.poll()
                assert got is not None
                if got[0] != kind:
                    raise RuntimeError(f"{self.name}: expected {kind!r}, got {got[0]!r}")
                return got[1]
            if not self.process.is_alive():
                raise RuntimeError(f"{self.name} died (exit code {self.process.exitcode})")
        raise TimeoutError(f"{self.name}: no {kind!r} within {timeout:.0f}s")

    def stop(self) -> None:
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def stop_children() -> None:
    for process in CHILDREN:
        if process.is_alive():
            process.kill()
        process.join(5)
    CHILDREN.clear()


class PySpy:
    """Optional: py-spy records the server during the measured window (raw collapsed stacks)."""

    def __init__(self, out_dir: Path | None, server: Server, name: str) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.path: Path | None = None
        if out_dir is None or server.kind == "node":
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / f"{name}.txt"
        self.process = subprocess.Popen(
            [
                *(PY_SPY, "record", "--pid", str(server.pid), "--format", "raw"),
                *("--rate", "200", "--nonblocking", "-o", str(self.path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        PROCESSES.append(self.process)

    def stop(self) -> Path | None:
        if self.process is None:
            return None
        self.process.send_signal(2)  # SIGINT: py-spy writes its output and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(20)
        return self.path


# measurement


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def busy_cores(before: Any, after: Any, seconds: float) -> float:
    """How many cores of the whole machine were busy on average over the window."""
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    total = sum(after) - sum(before)
    return (total - idle) / total * psutil.cpu_count() if total > 0 else math.nan


@contextlib.contextmanager
def serving(
    kind: str, scenario: EditScenario, work: Path, cellsync_env: dict, processes: int, database: str
) -> Iterator[tuple[list[Server], str]]:
    """The run's servers and its database URL: one server on a fresh SQLite file, or
    `processes` of them on a fresh database (several share the sheet through Redis)."""
    with contextlib.ExitStack() as stack:
        if database == "sqlite":
            url = create_table(work / f"{kind}-s{scenario.number}.db", scenario.rows)
        else:
            url = stack.enter_context(databases.fresh(database, work, scenario.rows)).url
        env = dict(cellsync_env)
        if processes > 1:
            env["CELLSYNC_REDIS_URL"] = stack.enter_context(redis_server.own(work))
        group: list[Server] = []
        stack.callback(lambda: [server.stop() for server in group])  # before the database goes
        for _ in range(processes):
            group.append(make_server(kind, url, "bench", TABLE, work, env).start())
        yield group, url


def process_variants(
    scenario: EditScenario, processes: int, py_spy: Path | None
) -> list[tuple[str, Callable[[Path, dict], dict[str, Any]]]]:
    """Cellsync on one process, then on `processes` sharing the sheet, both on PostgreSQL."""
    return [
        (
            f"cellsync x{n}" + (" (redis)" if n > 1 else ""),
            lambda work, env, n=n: run_edit_scenario(
                "cellsync", scenario, work, env, py_spy, processes=n, database="postgresql"
            ),
        )
        for n in (1, processes)
    ]


def run_edit_scenario(
    kind: str,
    scenario: EditScenario,
    work: Path,
    cellsync_env: dict,
    py_spy: Path | None,
    processes: int = 1,
    database: str = "sqlite",
) -> dict[str, Any]:
    with serving(kind, scenario, work, cellsync_env, processes, database) as (group, url):
        result = _measure_edits(kind, scenario, group, url, py_spy)
    return result | {"processes": processes, "database": database}


def _measure_edits(
    kind: str, scenario: EditScenario, group: list[Server], url: str, py_spy: Path | None
) -> dict[str, Any]:
    """Writers on the first server, subscribers spread over every one; CPU summed over them."""
    server = group[0]
    targets = [loadgen.Target("127.0.0.1", s.port, s.path) for s in group]
    target = targets[0]
    seed = None if kind == "cellsync" else table_document(url)
    children: list[Child] = []

    def cpu() -> float:
        return sum(s.cpu() for s in group)

    def cpu_split() -> tuple[float, float]:
        splits = [s.cpu_split() for s in group]
        return sum(u for u, _ in splits), sum(k for _, k in splits)

    try:
        writers = Child(
            "writers",
            loadgen.writers_main,
            target,
            scenario.writers,
            scenario.rate,
            scenario.edits,
            seed,
            SYNC_TIMEOUT,
        )
        children.append(writers)
        writer_info = writers.expect("ready", SYNC_TIMEOUT)
        procs = max(len(group), math.ceil(scenario.subscribers / SUBSCRIBERS_PER_PROCESS))
        shares = [
            scenario.subscribers // procs + (i < scenario.subscribers % procs) for i in range(procs)
        ]
        progress = [CTX.RawValue("q", 0) for _ in shares]
        subs = [
            Child(
                f"subscribers-{i}",
                loadgen.subscribers_main,
                progress[i],
                targets[i % len(group)],
                share,
                SYNC_TIMEOUT,
            )
            for i, share in enumerate(shares)
        ]
        children += subs
        connect_info = [s.expect("ready", SYNC_TIMEOUT * 3) for s in subs]
        time.sleep(1.0)  # let the joins settle before the window opens

        expected_total = scenario.subscribers * scenario.writers * scenario.edits
        spy = PySpy(py_spy, server, f"{kind}-s{scenario.number}")
        machine_before = psutil.cpu_times()
        cpu_start = cpu()
        split_start = split_at_change = cpu_split()
        started = time.monotonic()
        start_ns = time.monotonic_ns() + 200_000_000
        for child in children:
            child.send("go", start_ns)

        sent: dict[int, int] | None = None
        writer_done: dict[str, Any] = {}
        last_progress, last_change, cpu_at_change = -1, started, cpu_start
        machine_at_change = machine_before
        deadline = started + scenario.edits / scenario.rate + 120
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            cpu_now = cpu()
            for s in group:
                s.sample_rss()
            for child in subs:
                child.poll()  # surfaces a crashed subscriber process at once
            if sent is None and (message := writers.poll()) is not None:
                writer_done = message[1]
                sent = {int(k): v for k, v in writer_done["sent"].items()}
                last_change, cpu_at_change, machine_at_change = now, cpu_now, psutil.cpu_times()
                split_at_change = cpu_split()
            total = sum(p.value for p in progress)
            if total != last_progress:
                last_progress, last_change, cpu_at_change = total, now, cpu_now
                split_at_change = cpu_split()
                machine_at_change = psutil.cpu_times()
            if sent is not None:
                if total >= scenario.subscribers * sum(sent.values()):
                    break
                if now - last_change > scenario.quiet:
                    break
            if now > deadline:
                break
            for s in group:
                if s.process is not None and s.process.poll() is not None:
                    raise RuntimeError(f"{kind} server died:\n{s.log_tail()}")
        window = last_change - started
        server_cpu = cpu_at_change - cpu_start
        profile = spy.stop()

        if sent is None:
            writers.send("stop")
            writer_done = writers.expect("done", 30)
            sent = {int(k): v for k, v in writer_done["sent"].items()}
        for child in subs:
            child.send("stop", sent)
        writers.send("stop")
        results = [s.expect("result", 120) for s in subs]
        writer_result = writers.expect("result", 30)
        for child in children:
            child.stop()

        edits = sum(sent.values())
        delivered = [n for r in results for n in r["delivered"]]
        latencies = array("q")
        for r in results:
            latencies.frombytes(r["latencies_ns"])
        ordered = sorted(latencies)
        rss = max(max(s.sample_rss(), s.vm_hwm()) for s in group)
        by_process = [
            sorted(
                n
                for i, r in enumerate(results)
                if i % len(group) == p
                for n in array("q", r["latencies_ns"])
            )
            for p in range(len(group))
        ]
        return {
            "server": kind,
            "scenario": scenario.number,
            "subscribers": scenario.subscribers,
            "writers": scenario.writers,
            "rows": writer_info["rows"],
            "columns": writer_info["columns"],
            "initial_sync_bytes": connect_info[0]["sync_bytes"],
            "connect_s": max(c["connect_s"] for c in connect_info),
            "edits_sent": edits,
            "expected_total": expected_total,
            "delivered_total": sum(delivered),
            "delivered_min": min(delivered),
            "delivered_median": statistics.median(delivered),
            "delivered_max": max(delivered),
            "subscribers_complete": sum(1 for n in delivered if n == edits),
            "all_delivered": all(n == edits for n in delivered)
            and edits == expected_total // scenario.subscribers,
            "duplicates": sum(r["duplicates"] for r in results),
            "unexpected": sum(r["unexpected"] for r in results),
            "disconnected": sum(r["disconnected"] for r in results),
            "latency_p50_ms": percentile(ordered, 0.50) / 1e6,
            "latency_p99_ms": percentile(ordered, 0.99) / 1e6,
            "latency_max_ms": (ordered[-1] / 1e6) if ordered else math.nan,
            "latency_p50_ms_by_process": [percentile(o, 0.50) / 1e6 for o in by_process],
            "latency_p99_ms_by_process": [percentile(o, 0.99) / 1e6 for o in by_process],
            "window_s": window,
            "server_cpu_s": server_cpu,
            "server_cpu_per_1k_edits": server_cpu / (edits / 1000) if edits else math.nan,
            "server_cpu_user_s": split_at_change[0] - split_start[0],
            "server_cpu_system_s": split_at_change[1] - split_start[1],
            "server_cores": server_cpu / window if window > 0 else math.nan,
            "server_peak_rss_mb": rss / 2**20,
            "writer_max_lag_ms": writer_done.get("max_lag_ms", math.nan),
            "generator_cpu_s": [writer_result["cpu_s"]] + [r["cpu_s"] for r in results],
            "generator_max_cores": max([writer_result["cpu_s"]] + [r["cpu_s"] for r in results])
            / max(window, 1e-9),
            "machine_busy_cores": busy_cores(machine_before, machine_at_change, window),
            "profile": str(profile) if profile else None,
        }
    finally:
        for child in children:
            if child.process.is_alive():
                child.process.kill()
            child.process.join(5)


def run_sync_scenario(
    kind: str, scenario: SyncScenario, work: Path, cellsync_env: dict
) -> dict[str, Any]:
    url = create_table(work / f"{kind}-s{scenario.number}.db", scenario.rows)
    server = make_server(kind, url, "bench", TABLE, work, cellsync_env).start()
    target = loadgen.Target("127.0.0.1", server.port, server.path)
    holder: Child | None = None
    try:
        if kind != "cellsync":
            # A baseline room starts empty and is dropped when empty: a peer uploads the
            # document and stays connected while the fresh clients sync.
            holder = Child(
                "holder", loadgen.writers_main, target, 1, 1.0, 0, table_document(url), SYNC_TIMEOUT
            )
            holder.expect("ready", SYNC_TIMEOUT)
        cpu_start = server.cpu()
        probe = Child("sync-probe", loadgen.sync_probe_main, target, scenario.runs, SYNC_TIMEOUT)
        while probe.process.is_alive() and not probe.conn.poll(0.05):
            server.sample_rss()
        runs = probe.expect("result", SYNC_TIMEOUT * scenario.runs)["runs"]
        server_cpu = server.cpu() - cpu_start
        probe.stop()
        if holder is not None:
            holder.send("go", time.monotonic_ns())
            holder.expect("done", 10)
            holder.send("stop")
            holder.expect("result", 10)
            holder.stop()
        # With Cellsync the first run opens the sheet (room load from the table): report it apart.
        warm = runs[1:] if kind == "cellsync" and len(runs) > 1 else runs
        return {
            "server": kind,
            "scenario": scenario.number,
            "rows": runs[0]["rows"],
            "columns": COLUMNS,
            "runs": runs,
            "first_received_s": runs[0]["received_s"],
            "received_median_s": statistics.median(r["received_s"] for r in warm),
            "applied_median_s": statistics.median(r["applied_s"] for r in warm),
            "sync_bytes": runs[-1]["bytes"],
            "server_cpu_s": server_cpu,
            "server_peak_rss_mb": max(server.sample_rss(), server.vm_hwm()) / 2**20,
        }
    finally:
        if holder is not None and holder.process.is_alive():
            holder.process.kill()
        server.stop()
