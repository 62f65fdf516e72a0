"""Medians over repeated runs, ratios against the baselines, the table and the JSON."""

from __future__ import annotations

import math
import platform
import statistics
from importlib import metadata
from typing import Any

import psutil

from bench_lib import big_tables, table_report
from bench_lib.servers import LABELS

TARGET = "node"  # the target: at or below the Node server's CPU per 1,000 edits


def _median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    if all(isinstance(v, bool) for v in values):
        return all(values)
    if all(isinstance(v, int | float) for v in values):
        return statistics.median(values)
    return values[-1]


def scenario_kind_of(scenario: Any) -> str:
    """ "edits" (1, 2), "sync" (3), "worker" (4), "external" (5) or "browser" (6)."""
    return getattr(scenario, "kind", "sync" if hasattr(scenario, "runs") else "edits")


def summarize(runs: list[dict[str, Any]], plan: dict[int, Any], skipped: dict[str, str]) -> dict:
    scenarios: dict[str, Any] = {}
    for number in sorted({r["scenario"] for r in runs}):
        per_server: dict[str, Any] = {}
        for kind in dict.fromkeys(r["server"] for r in runs if r["scenario"] == number):
            mine = [r for r in runs if r["scenario"] == number and r["server"] == kind]
            good = [r for r in mine if "error" not in r]
            keys = dict.fromkeys(k for r in good for k in r if k not in ("runs", "attempt"))
            median = {k: _median([r.get(k) for r in good]) for k in keys}
            if good:
                median["all_delivered"] = all(r.get("all_delivered", True) for r in good)
            per_server[kind] = {
                "median": median,
                "runs": mine,
                "errors": [r["error"] for r in mine if "error" in r],
            }
        scenario_kind = scenario_kind_of(plan[number])
        ratios = {}
        if scenario_kind in table_report.KINDS:
            ratios = table_report.ratios(scenario_kind, per_server)
        elif scenario_kind == "big":
            ratios = big_tables.ratios(per_server)
        ours = per_server.get("cellsync", {}).get("median", {}).get("server_cpu_per_1k_edits")
        for kind, data in per_server.items():
            theirs = data["median"].get("server_cpu_per_1k_edits")
            if kind != "cellsync" and ours and theirs:
                ratios[f"cpu_per_1k_cellsync_over_{kind}"] = ours / theirs
        scenarios[str(number)] = {
            "title": plan[number].title,
            "kind": scenario_kind,
            "servers": per_server,
            "ratios": ratios,
        }
    return {
        "machine": {
            "cpus": psutil.cpu_count(),
            "python": platform.python_version(),
            "pycrdt": _version("pycrdt"),
            "pycrdt-websocket": _version("pycrdt-websocket"),
            "uvicorn": _version("uvicorn"),
        },
        "skipped": skipped,
        "scenarios": scenarios,
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def one_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return "ERROR " + r["error"].strip().splitlines()[-1][:200]
    if r.get("scenario") == 7:
        return big_tables.one_line(r)
    if r.get("scenario") in (4, 5, 6):
        return table_report.one_line(r)
    if "edits_sent" in r:
        return (
            f"edits {r['edits_sent']}, delivered/sub min {r['delivered_min']} "
            f"max {r['delivered_max']} ({r['subscribers_complete']}/{r['subscribers']} complete), "
            f"p50 {_f(r['latency_p50_ms'], 1)} ms p99 {_f(r['latency_p99_ms'], 1)} ms, "
            f"CPU {_f(r['server_cpu_per_1k_edits'])} s/1k edits, "
            f"RSS {_f(r['server_peak_rss_mb'], 0)} MB, gen max {_f(r['generator_max_cores'])} "
            f"cores, window {_f(r['window_s'], 1)} s" + _per_process(r)
        )
    return (
        f"first {_f(r['first_received_s'], 3)} s, median {_f(r['received_median_s'], 3)} s "
        f"(applied {_f(r['applied_median_s'], 3)} s), {r['sync_bytes'] / 1e6:.2f} MB"
    )


def _per_process(r: dict[str, Any]) -> str:
    """p50/p99 of the subscribers on each process, when there are several."""
    p50s, p99s = r.get("latency_p50_ms_by_process") or [], r.get("latency_p99_ms_by_process") or []
    if len(p50s) < 2:
        return ""
    each = ", ".join(f"{_f(a, 1)}/{_f(b, 1)}" for a, b in zip(p50s, p99s, strict=True))
    return f", p50/p99 ms per process {each}"


def _render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def table(summary: dict[str, Any]) -> str:
    parts = []
    for number, data in summary["scenarios"].items():
        parts.append(f"Scenario {number}: {data['title']} (medians)")
        rows = []
        edit = data["kind"] == "edits"
        table_kind = data["kind"] in table_report.KINDS
        big = data["kind"] == "big"
        for kind, s in data["servers"].items():
            m = s["median"]
            name = LABELS.get(kind, kind)
            if not m:
                rows.append(
                    [name, "ERROR: " + (s["errors"] or ["?"])[-1].strip().splitlines()[-1][:60]]
                )
                continue
            if big:
                rows.append(big_tables.row(name, m))
            elif table_kind:
                rows.append(table_report.row(data["kind"], name, m))
            elif edit:
                rows.append(
                    [
                        name,
                        _f(m.get("edits_sent")),
                        f"{_f(m.get('delivered_min'))}..{_f(m.get('delivered_max'))}",
                        "yes" if m.get("all_delivered") else "NO",
                        _f(m.get("latency_p50_ms"), 1),
                        _f(m.get("latency_p99_ms"), 1),
                        _f(m.get("server_cpu_per_1k_edits")),
                        _f(m.get("server_cores")),
                        _f(m.get("server_peak_rss_mb"), 0),
                        _f(m.get("generator_max_cores")),
                        _f(m.get("machine_busy_cores")),
                        _f(m.get("window_s"), 1),
                    ]
                )
            else:
                rows.append(
                    [
                        name,
                        _f(m.get("rows")),
                        _f(m.get("first_received_s"), 3),
                        _f(m.get("received_median_s"), 3),
                        _f(m.get("applied_median_s"), 3),
                        _f((m.get("sync_bytes") or 0) / 1e6),
                        _f(m.get("server_cpu_s")),
                        _f(m.get("server_peak_rss_mb"), 0),
                    ]
                )
        if big:
            headers = big_tables.HEADERS
        elif table_kind:
            headers = table_report.headers(data["kind"])
        elif edit:
            headers = ["server", "edits", "per-sub delivered", "all", "p50 ms", "p99 ms"]
            headers += ["CPU-s/1k edits", "srv cores", "RSS MB", "gen cores", "busy cores"]
            headers += ["window s"]
        else:
            headers = ["server", "rows", "first sync s", "median sync s", "+apply s", "payload MB"]
            headers += ["server CPU s", "RSS MB"]
        rows = [r + [""] * (len(headers) - len(r)) for r in rows]
        parts.append(_render(headers, rows))
        for name, ratio in data["ratios"].items():
            parts.append(f"  {name}: {ratio:.2f}")
        if big:
            parts.append("  " + big_tables.NOTE)
        elif table_kind:
            parts.append("  " + table_report.note(data["kind"]))
        elif edit:
            parts.append(
                "  gen cores = busiest load-generator process (1.0 = saturated); busy cores = "
                f"whole machine, of {summary['machine']['cpus']}. Target: cellsync CPU-s/1k "
                f"edits <= {TARGET}'s."
            )
        parts.append("")
    for kind, why in summary["skipped"].items():
        parts.append(f"skipped {kind}: {why}")
    return "\n".join(parts)
