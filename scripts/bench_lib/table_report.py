"""Report lines, table rows and ratios of the scenarios that vary something other than the
server: the table (4: "worker", 5: "external") and the browser (6: "browser")."""

from __future__ import annotations

import math
from typing import Any

KINDS = ("worker", "external", "browser")
TARGET_P99_MS = 1000.0
TARGET_RENDER_ROWS = 10_000  # scenario 6: the warm first render of this size...
TARGET_RENDER_S = 1.0  # ...takes less than this
LONG_FRAME_MS = 50.0  # scenario 6's scroll: frames longer than this count as long
# After it, every row drawn (about 28 visible at the bottom, and Tabulator's buffer of a
# screenful above them) is among the sheet's last TAIL_ROWS.
TAIL_ROWS = 200


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def one_line(r: dict[str, Any]) -> str:
    if "cold_s" in r:
        return (
            f"first render cold {_f(r['cold_s'])} s, after a restart {_f(r['restart_s'])} s, "
            f"warm median {_f(r['warm_median_s'])} s "
            f"({_f(r['warm_min_s'])}-{_f(r['warm_max_s'])}, {r['samples']} samples; every row "
            f"{_f(r['warm_every_row_median_s'])} s), reload "
            f"median {_f(r['reload_median_s'])} s; {r['edits']} remote edits shown in "
            f"{_f(r['edits_shown_s'])} s, grid reloads {r['grid_reloads']}; scroll "
            f"{r['scroll_frames']} frames, {_scroll_frames(r)} ms, {r['scroll_long_frames']} "
            f"long, end drawn {_f(r['scroll_end_drawn_ms'], 0)} ms, at end "
            f"{_f(r['scroll_at_end'])} (idle frame {_f(r['scroll_idle_frame_ms'], 1)} ms)"
        )
    if "lag_p50_ms" in r:
        return (
            f"{r['edits_sent']} edits at {_f(r['edit_rate'], 0)}/s; table lag p50 "
            f"{_f(r['lag_p50_ms'], 0)} ms p99 {_f(r['lag_p99_ms'], 0)} ms max "
            f"{_f(r['lag_max_ms'], 0)} ms ({r['sampled_seen']}/{r['sampled_edits']} sampled); "
            f"status lag p50 {_f(r['status_lag_p50_s'])} s p99 {_f(r['status_lag_p99_s'])} s; "
            f"{_f(r['rows_written'], 0)} rows written, {_f(r['rows_per_s'], 0)}/s, "
            f"{_f(r['flushes'], 0)} flushes of {_f(r['flush_mean_ms'], 0)} ms "
            f"({_f(r['rows_per_flush_s'], 0)} rows per flush-second); table complete "
            f"{_f(r['table_complete'])}"
        )
    return (
        f"{r['arrived']}/{r['commits']} arrived; p50 {_f(r['latency_p50_ms'], 0)} ms p99 "
        f"{_f(r['latency_p99_ms'], 0)} ms max {_f(r['latency_max_ms'], 0)} ms; commit "
        f"{_f(r['commit_median_ms'], 1)} ms; triggers {_f(r['triggers_installed'])}"
    )


WORKER_HEADERS = [
    "database / settings",
    "edits/s",
    "lag p50 ms",
    "lag p99 ms",
    "lag max ms",
    "p99<1s",
    "status p50 s",
    "status p99 s",
    "pending max",
    "rows/s",
    "flushes",
    "flush ms",
    "rows/flush-s",
    "srv cores",
    "table ok",
]

EXTERNAL_HEADERS = [
    "database / watch",
    "arrived",
    "p50 ms",
    "p99 ms",
    "max ms",
    "p99<1s",
    "commit ms",
    "srv CPU s",
]


BROWSER_HEADERS = [
    "sheet",
    "cold s",
    "restart s",
    "warm s median (min-max)",
    "every row s",
    "reload s median",
    "edits",
    "edits shown s",
    "grid reloads",
    "10k warm<1s",
    "scroll frame ms p50/p95/max",
    "long frames",
    "end drawn ms",
    "at end",
]


def headers(kind: str) -> list[str]:
    return {"worker": WORKER_HEADERS, "external": EXTERNAL_HEADERS}.get(kind, BROWSER_HEADERS)


def _meets_render_target(m: dict[str, Any]) -> bool | None:
    """Scenario 6's target, for the size it is set for (None for the others)."""
    if m.get("rows") != TARGET_RENDER_ROWS or m.get("warm_median_s") is None:
        return None
    return m["warm_median_s"] < TARGET_RENDER_S


def _scroll_frames(m: dict[str, Any]) -> str:
    """Scenario 6's frame intervals while scrolling, "p50/p95/max"."""
    keys = ("scroll_frame_p50_ms", "scroll_frame_p95_ms", "scroll_frame_max_ms")
    return "/".join(_f(m.get(key), 1) for key in keys)


def row(kind: str, name: str, m: dict[str, Any]) -> list[str]:
    if kind == "browser":
        return [
            name,
            _f(m.get("cold_s")),
            _f(m.get("restart_s")),
            f"{_f(m.get('warm_median_s'))} ({_f(m.get('warm_min_s'))}-{_f(m.get('warm_max_s'))})",
            _f(m.get("warm_every_row_median_s")),
            _f(m.get("reload_median_s")),
            _f(m.get("edits"), 0),
            _f(m.get("edits_shown_s")),
            _f(m.get("grid_reloads"), 0),
            _f(_meets_render_target(m)),
            _scroll_frames(m),
            _f(m.get("scroll_long_frames"), 0),
            _f(m.get("scroll_end_drawn_ms"), 0),
            _f(m.get("scroll_at_end")),
        ]
    if kind == "worker":
        return [
            name,
            _f(m.get("edit_rate"), 0),
            _f(m.get("lag_p50_ms"), 0),
            _f(m.get("lag_p99_ms"), 0),
            _f(m.get("lag_max_ms"), 0),
            _f(m.get("p99_under_1s")),
            _f(m.get("status_lag_p50_s")),
            _f(m.get("status_lag_p99_s")),
            _f(m.get("status_pending_max"), 0),
            _f(m.get("rows_per_s"), 0),
            _f(m.get("flushes"), 0),
            _f(m.get("flush_mean_ms"), 0),
            _f(m.get("rows_per_flush_s"), 0),
            _f(m.get("server_cores")),
            _f(m.get("table_complete")),
        ]
    return [
        name,
        f"{_f(m.get('arrived'), 0)}/{_f(m.get('commits'), 0)}",
        _f(m.get("latency_p50_ms"), 0),
        _f(m.get("latency_p99_ms"), 0),
        _f(m.get("latency_max_ms"), 0),
        _f(m.get("p99_under_1s")),
        _f(m.get("commit_median_ms"), 1),
        _f(m.get("server_cpu_s")),
    ]


def ratios(kind: str, per_server: dict[str, Any]) -> dict[str, float]:
    """Ratios between runs made in the same invocation (so they share the machine's noise)."""
    medians = {name: data["median"] for name, data in per_server.items() if data["median"]}
    out: dict[str, float] = {}
    if kind == "browser":
        for name, m in medians.items():
            if _meets_render_target(m) is not None:
                out[f"{name}: warm first render median / {TARGET_RENDER_S:g} s target"] = (
                    m["warm_median_s"] / TARGET_RENDER_S
                )
            base = medians.get(f"{name} base", {})
            for key in ("warm_median_s", "cold_s"):
                if m.get(key) and base.get(key):
                    out[f"{name}: {key} / base"] = m[key] / base[key]
        return out
    if kind == "external":
        for name, m in medians.items():
            if not name.endswith(" watched"):
                continue
            database = name.removesuffix(" watched")
            other = medians.get(f"{database} unwatched", {})
            ours, theirs = m.get("latency_p99_ms"), other.get("latency_p99_ms")
            if ours and theirs:
                out[f"{database}: p99 unwatched / watched"] = theirs / ours
        return out
    names = list(medians)
    for name in names:
        p99 = medians[name].get("lag_p99_ms")
        if p99:
            out[f"{name}: lag p99 / 1 s target"] = p99 / TARGET_P99_MS
    sqlite = [n for n in names if n.startswith("sqlite ")]
    for name in sqlite:
        pg = "postgresql " + name.removeprefix("sqlite ")
        ours, theirs = (
            medians[name].get("rows_per_flush_s"),
            medians.get(pg, {}).get("rows_per_flush_s"),
        )
        if ours and theirs:
            label = name.removeprefix("sqlite ")
            out[f"{label}: rows per flush-second, postgresql / sqlite"] = theirs / ours
    return out


def note(kind: str) -> str:
    if kind == "browser":
        return (
            "first render = navigation -> the grid shows rows; cold = the first page, while the "
            "server builds the sheet from its table (once in a sheet's life); restart = the first "
            "page after a server restart, while the server loads the sheet from its update log "
            "(every later open of an unloaded sheet); warm = a fresh browser context, sheet "
            "loaded, once the "
            "previous page has gone quiet; reload = that context reloads (IndexedDB holds the "
            "sheet); every row = the warm page's grid holds every row (it shows the first ones "
            "before); edits shown = first edit written in another page -> the grid shows the last; "
            "grid reloads expected 0; scroll = another warm, quiet page: mouse-wheel steps of a "
            "screenful, then jumps to 25/50/75/100% of the grid's height; frame = interval "
            f"between requestAnimationFrame callbacks meanwhile (long > {LONG_FRAME_MS:g} ms; "
            "idle ~16.7 ms); end drawn = last jump -> the last row in the DOM; at end = every "
            f"row drawn is among the last {TAIL_ROWS}. Target: warm median of "
            f"{TARGET_RENDER_ROWS} rows < {TARGET_RENDER_S:g} s."
        )
    if kind == "worker":
        return (
            "lag = send of an edit -> first probe read (every 20 ms, own connection) that sees it "
            "in the table, over the sampled rows; status = /api/sheets/NAME/status lag_seconds "
            "sampled every 0.1 s; rows/s = rows written / time until caught up; rows/flush-s = "
            "rows written per second spent flushing (the worker's capacity)."
        )
    return (
        "latency = commit returned in the committer -> the value arrives at a WebSocket "
        "subscriber; unwatched tables are compared every CELLSYNC_TABLE_POLL_SECONDS (5 s)."
    )
