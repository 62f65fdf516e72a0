"""Scenario 7: sheets as big as the user's table, on each database and size.

For every --big-rows size (default 50,000 and 200,000 rows of 8 columns) on a fresh database:
the first open ever (the server builds the sheet from its table) until a fresh client has
every row; a second client while the sheet is loaded; the first open after a server restart
(the sheet comes from its update log). Each client is a process of its own that syncs from an
empty state vector and applies the update into a pycrdt Doc; it reports its time, the sync
bytes and its own peak RSS. The server's peak RSS is the kernel's (VmHWM), per process: the
first one serves the first open and the second client, the second one the restart. With
--base-tree, every run is made against that tree too, alternating, for ratios that share
the machine's noise; CPU seconds of the server are reported beside the wall-clock times,
since they are less sensitive to other load on the machine.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench_lib import databases
from bench_lib.loadgen import Commands, Target
from bench_lib.scenarios import Child
from bench_lib.servers import Server, make_server
from bench_lib.wire import EMPTY_STATE_VECTOR, STEP1, STEP2, SYNC, UPDATE, YClient, sync_payload

SHEET = "big"
TABLE = "big"
SYNC_TIMEOUT = 600.0
TARGETS_200K = {  # issue 15: for 200,000 rows
    "first_open_s": 8.0,
    "restart_open_s": 3.0,
    "second_client_s": 1.5,
    "server_peak_rss_mb": 1200.0,
}
INSERT_BATCH = 5000


@dataclass(frozen=True)
class BigScenario:
    number: int
    sizes: tuple[int, ...]
    kind: str = "big"

    @property
    def title(self) -> str:
        sizes = ", ".join(f"{rows:,}" for rows in self.sizes)
        return (
            f"big tables ({sizes} rows x 8 columns): first open ever, a second client, the "
            "first open after a restart, until a fresh client has every row"
        )


def plan(quick: bool, sizes: tuple[int, ...] | None) -> dict[int, BigScenario]:
    return {7: BigScenario(7, sizes or ((5_000,) if quick else (50_000, 200_000)))}


Run = Callable[[Path, dict[str, str]], dict[str, Any]]


def variants(
    scenario: BigScenario, kinds: list[str], base_tree: Path | None
) -> list[tuple[str, Run]]:
    """(label, run) for every size, database and tree, the trees alternating."""
    trees: list[tuple[str, Path | None]] = [("", None)]
    if base_tree is not None:
        trees.append((" base", base_tree))
    out: list[tuple[str, Run]] = []
    for rows in scenario.sizes:
        for kind in kinds:
            for suffix, tree in trees:
                out.append(
                    (
                        f"{kind} {rows // 1000}k{suffix}",
                        lambda work, env, r=rows, k=kind, t=tree: run(r, k, t, work, env),
                    )
                )
    return out


def create_big_table(url: str, rows: int) -> None:
    """`big(id, name, email, city, status, qty, price, note)`: 8 columns, ~100 bytes a row."""
    from persistence.database import create_engine

    engine = create_engine(url)
    try:
        metadata = sa.MetaData()
        table = sa.Table(
            TABLE,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            *(sa.Column(name, sa.Text) for name in ("name", "email", "city", "status")),
            sa.Column("qty", sa.Integer),
            sa.Column("price", sa.Float),
            sa.Column("note", sa.Text),
        )
        metadata.create_all(engine)
        with engine.begin() as conn:
            for start in range(1, rows + 1, INSERT_BATCH):
                conn.execute(
                    table.insert(),
                    [_row(r) for r in range(start, min(rows + 1, start + INSERT_BATCH))],
                )
    finally:
        engine.dispose()


def _row(r: int) -> dict[str, Any]:
    return {
        "id": r,
        "name": f"customer {r}",
        "email": f"c{r}@example.com",
        "city": ("Paris", "Lyon", "Oslo", "Rome")[r % 4],
        "status": ("open", "paid", "sent")[r % 3],
        "qty": r % 50,
        "price": round(r * 0.37 % 1000, 2),
        "note": f"order {r * 7 % 9973}",
    }


def run(rows: int, kind: str, tree: Path | None, work: Path, env: dict[str, str]) -> dict[str, Any]:
    with databases.fresh(kind, work, rows, create_big_table) as database:
        result: dict[str, Any] = {"scenario": 7, "database": kind, "rows": rows}
        server = _server(database.url, tree, work, env)
        try:
            clients = [_measured(server, step, rows, result) for step in ("first", "second")]
            for client in clients:
                client.close()
            result["server_peak_rss_mb"] = server.vm_hwm() / 2**20
        finally:
            server.stop(timeout=120)
        server = _server(database.url, tree, work, env)
        try:
            _measured(server, "restart", rows, result).close()
            result["restart_peak_rss_mb"] = server.vm_hwm() / 2**20
        finally:
            server.stop(timeout=120)
    result["first_open_s"] = result["first_applied_s"]
    result["second_client_s"] = result["second_applied_s"]
    result["restart_open_s"] = result["restart_applied_s"]
    return result


def _server(url: str, tree: Path | None, work: Path, env: dict[str, str]) -> Server:
    return make_server("cellsync", url, SHEET, TABLE, work, env, tree=tree).start()


@dataclass
class _Client:
    child: Child
    result: dict[str, Any]

    def close(self) -> None:
        self.child.send("stop")
        self.child.stop()


def _client(server: Server) -> _Client:
    """A fresh client process, synced and holding the sheet open until closed."""
    child = Child("big-client", big_client_main, Target("127.0.0.1", server.port, server.path))
    child.expect("ready", 60)
    child.send("go")
    return _Client(child, child.expect("synced", SYNC_TIMEOUT))


def _measured(server: Server, step: str, rows: int, result: dict[str, Any]) -> _Client:
    """A fresh client's open of the sheet, its figures and the server's CPU meanwhile put in
    `result` under `step`; the client stays connected until closed."""
    cpu = server.cpu()
    client = _client(server)
    result.update(_prefixed(step, client.result, rows))
    result[f"{step}_server_cpu_s"] = server.cpu() - cpu
    return client


def _prefixed(prefix: str, client: dict[str, Any], rows: int) -> dict[str, Any]:
    out = {f"{prefix}_{key}": value for key, value in client.items()}
    out[f"{prefix}_complete"] = client["rows"] == rows
    return out


async def big_client_main(conn: Connection, target: Target) -> None:
    """Connects on "go", syncs from nothing, applies the document, counts its rows; stays
    connected (the room stays loaded) until "stop"."""
    from pycrdt import Doc, Map

    commands = Commands(conn)
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    doc = Doc()
    received = {"bytes": 0, "apply_cpu_s": 0.0}

    def on_message(_client: YClient, message: bytes, now: int) -> None:
        """Applies every update as it arrives, as y-websocket does: a server may send the
        document as updates before its answer to the state vector (sync step 2)."""
        if message[0] != SYNC or message[1] not in (STEP2, UPDATE) or done.done():
            return
        cpu = time.thread_time()
        doc.apply_update(sync_payload(message))
        received["apply_cpu_s"] += time.thread_time() - cpu
        received["bytes"] += len(message)
        if message[1] == STEP2:
            done.set_result(now)

    conn.send(("ready", {}))
    await commands.expect("go")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic_ns()
    client = await YClient.connect(target.host, target.port, target.path, on_message)
    client.send_sync(STEP1, EMPTY_STATE_VECTOR)
    arrived = await asyncio.wait_for(done, SYNC_TIMEOUT)
    count = len(doc.get("rows", type=Map))
    applied = time.monotonic_ns()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send(
        (
            "synced",
            {
                "received_s": (arrived - started) / 1e9,
                "applied_s": (applied - started) / 1e9,
                "sync_bytes": received["bytes"],
                "apply_cpu_s": received["apply_cpu_s"],  # the client's CPU applying it
                "rows": count,
                "client_peak_rss_mb": peak_kb / 1024,
                "client_growth_mb": (peak_kb - rss_before) / 1024,
            },
        )
    )
    await commands.expect("stop")
    client.close()
    commands.close()


# report


def one_line(r: dict[str, Any]) -> str:
    return (
        f"first open {_f(r['first_open_s'])} s (CPU {_f(r['first_server_cpu_s'])} s), second "
        f"client {_f(r['second_client_s'])} s, after a restart {_f(r['restart_open_s'])} s "
        f"(CPU {_f(r['restart_server_cpu_s'])} s); server peak {_f(r['server_peak_rss_mb'], 0)} "
        f"MB, after a restart {_f(r['restart_peak_rss_mb'], 0)} MB; sync "
        f"{r['first_sync_bytes'] / 1e6:.1f} MB; client peak {_f(r['first_client_peak_rss_mb'], 0)}"
        f" MB; complete {r['first_complete'] and r['second_complete'] and r['restart_complete']}"
    )


HEADERS = [
    "database size tree",
    "first open s",
    "CPU s",
    "2nd client s",
    "restart s",
    "CPU s",
    "srv peak MB",
    "restart peak MB",
    "sync MB",
    "client MB",
]


def row(name: str, m: dict[str, Any]) -> list[str]:
    return [
        name,
        _f(m.get("first_open_s")),
        _f(m.get("first_server_cpu_s")),
        _f(m.get("second_client_s")),
        _f(m.get("restart_open_s")),
        _f(m.get("restart_server_cpu_s")),
        _f(m.get("server_peak_rss_mb"), 0),
        _f(m.get("restart_peak_rss_mb"), 0),
        _f((m.get("first_sync_bytes") or 0) / 1e6, 1),
        _f(m.get("first_client_peak_rss_mb"), 0),
    ]


RATIO_KEYS = (
    "first_open_s",
    "first_server_cpu_s",
    "second_client_s",
    "restart_open_s",
    "restart_server_cpu_s",
    "server_peak_rss_mb",
    "restart_peak_rss_mb",
)


def ratios(per_server: dict[str, Any]) -> dict[str, float]:
    """This tree over the base tree, per figure; and each 200k figure over its target."""
    medians = {name: data["median"] for name, data in per_server.items() if data["median"]}
    out: dict[str, float] = {}
    for name, m in medians.items():
        base = medians.get(f"{name} base")
        for key in RATIO_KEYS if base else ():
            if m.get(key) and base.get(key):
                out[f"{name}: {key} / base"] = m[key] / base[key]
        if m.get("rows") == 200_000 and not name.endswith(" base"):
            peak = max(m.get("server_peak_rss_mb") or 0, m.get("restart_peak_rss_mb") or 0)
            for key, target in TARGETS_200K.items():
                value = peak if key == "server_peak_rss_mb" else m.get(key)
                if value:
                    out[f"{name}: {key} / target {target:g}"] = value / target
    return out


NOTE = (
    "first open = a fresh client's connect -> it has applied every row, while the server "
    "builds the sheet from its table; 2nd client = the same with the sheet loaded; restart = "
    "the same after a server restart (the sheet loads from its update log); CPU = the "
    "server's user+system seconds meanwhile; peaks are the server's VmHWM (the first process: "
    "first open and 2nd client; the second: the restart); client MB = the first client's "
    "peak RSS. Targets at 200k: 8 s, 1.5 s, 3 s, 1200 MB."
)


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
