"""Scaling benchmark: how citybrain's costs grow with the incident history, 1M to 10M incidents,
measured in one run on this machine.

    .venv/bin/python -m bench.scaling --import-rows 10000   # 1M, 5M and 10M incidents
    .venv/bin/python -m bench.scaling --sizes 1000000       # one size
    .venv/bin/python -m bench.scaling --quick               # smoke run: 100k incidents, short
    .venv/bin/python -m bench.scaling --seed-only           # seed what is missing, measure nothing
    .venv/bin/python -m bench.scaling --only server,unshared  # some measures again (merged)
    .venv/bin/python -m bench.scaling --table               # CSV, plot and table from the results

For each size, a benchmark database of its own (``<name>_scale1m``, ``_scale5m``, ``_scale10m``,
the same synthetic county as every benchmark, seeded by ``bench.common.bench_database``, i.e.
``citybrain seed``'s ``build_county``), and:

* **seed**: seconds to build the county with that many incidents (timed when this script
  seeds it; a database already holding the right count keeps the time of the run that seeded
  it, from the results file),
* **database**: ``pg_database_size``, the incidents table, its indexes, ``tile_versions``,
* **heat index**: what loading it costs one process (``bench.heatmap.index_costs``),
* **server**: two public workers started (seconds until the first answers ``/healthz``; the
  largest RSS any process reached meanwhile), warmed up, then **memory per worker process**
  (RSS, USS and PSS, psutil) and the shared heat index file's size; the same again with
  ``CITYBRAIN_HEAT_SHARED=false`` (``unshared``: each process its own index),
* **heatmap**: ``GET /heatmap/incidents`` at resolution 9 over 24 h / 7 d / 30 d / 365 d
  (``bench.heatmap.citybrain_ms``: median at the client and server-side),
* **tiles**: ``/tiles/incidents`` at z10-12 around the nine town seats (``bench.tiles.tiles``, a
  year's window), cold (a fresh server process: its tile cache empty), warm (the same tiles
  again) and after a write into each tile (``bench.tiles.after_writes``),
* **dispatch**: ``/dispatch/recommend``, ``/nearest`` and ``/locate`` under wrk, 16
  connections (``bench.dispatch``'s requests and ``run_wrk``), 10 s each,
* **import** (optional, ``--import-rows``): ``citybrain import incidents`` of a CSV of new
  incidents into the full table, then those rows deleted again.

``os.getloadavg()`` is recorded before and after every measurement: the machine has two cores
and other work may be running. Results go to ``bench/results/scaling.json`` (every size's latest
figures, merged run after run) and ``scaling.csv`` (one row per figure), the curves to
``docs/scaling.png``; ``--quick`` writes ``scaling-quick.*`` there instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil
import psycopg

from bench.common import END, bench_database, bench_url, need, random_points, serving
from bench.dispatch import CATEGORIES, endpoint_requests, run_wrk
from bench.heatmap import WINDOWS, citybrain_ms, index_costs
from bench.tiles import after_writes, incident_urls, run_pass, tiles
from citybrain.db.connection import libpq_conninfo
from citybrain.services.incident_index import shared_directory
from citybrain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PLOT = ROOT / "docs" / "scaling.png"
DEFAULT_SIZES = "1000000,5000000,10000000"
TILE_ZOOMS = range(10, 13)
TILE_PASSES = ("cold", "warm", "after_write")
PARTS = ("database", "heat_index", "server", "heatmap", "tiles", "dispatch", "unshared", "import")
START_S = 900  # the longest a server may take to start (10M incidents on a busy machine)


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def suffix(size: int) -> str:
    return f"_scale{label(size)}"


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def measured(record: dict, name: str):
    """Times the block and records the load averages around it, under ``record[name]``."""
    entry = record.setdefault(name, {})
    entry["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    entry["load_before"] = loadavg()
    t0 = time.perf_counter()
    try:
        yield entry
    finally:
        entry["wall_s"] = round(time.perf_counter() - t0, 2)
        entry["load_after"] = loadavg()


def incident_count(url: str) -> int | None:
    """Incidents in the database at ``url``; None when it does not exist or holds no county."""
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None


def seed(size: int, earlier: dict) -> tuple[str, dict]:
    """The database for ``size``, seeded when missing; its seed time (this run's or an
    earlier run's)."""
    url = bench_url(suffix(size))
    if incident_count(url) == size:
        then = earlier.get("seed", {"seconds": None, "note": "seeded before this script ran"})
        print(f"{size:,}: already seeded ({then['seconds']} s then)", flush=True)
        return bench_database(size, suffix=suffix(size)), {**then, "reused": True}
    record: dict = {}
    with measured(record, "seed") as entry:
        bench_database(size, suffix=suffix(size))
    entry["seconds"] = entry.pop("wall_s")
    entry["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{size:,}: seeded in {entry['seconds']:.0f} s", flush=True)
    return url, entry


def database_size(url: str) -> dict:
    """Bytes on disk: the database, the incidents table (heap + TOAST) and its indexes, and
    the tile versions every write keeps."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT pg_database_size(current_database()), "
            "pg_table_size('citybrain.incidents'), pg_indexes_size('citybrain.incidents'), "
            "pg_total_relation_size('citybrain.tile_versions')"
        ).fetchone()
        indexes = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = 'citybrain.incidents'::regclass ORDER BY 2 DESC"
        ).fetchall()
    keys = ("database", "incidents_table", "incidents_indexes", "tile_versions")
    return {**dict(zip(keys, row, strict=True)), "indexes": dict(indexes)}


def workers_memory(server: subprocess.Popen) -> list[dict]:
    """RSS, USS and PSS (MiB) of each worker process of the server (the supervisor's
    children, multiprocessing's resource tracker left out)."""
    out = []
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            if any("resource_tracker" in part for part in child.cmdline()):
                continue
            mem = child.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        out.append({k: round(getattr(mem, k) / 2**20, 1) for k in ("rss", "uss", "pss")})
    return out


@contextmanager
def peak_rss() -> Iterator[dict]:
    """The largest RSS (MiB) any one process below this one reached, and the largest sum over
    all of them, sampled every 0.2 s while the block runs (a server's start: loading the heat
    index holds more than the index itself)."""
    peak = {"process_mib": 0.0, "total_mib": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            rss = []
            for child in psutil.Process().children(recursive=True):
                try:
                    rss.append(child.memory_info().rss / 2**20)
                except psutil.NoSuchProcess:
                    continue
            if rss:
                peak["process_mib"] = round(max(peak["process_mib"], max(rss)), 1)
                peak["total_mib"] = round(max(peak["total_mib"], sum(rss)), 1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def heat_shared_mib(url: str) -> float | None:
    """MiB of this database's shared heat index files (``services.incident_index``), held once
    per machine whatever the number of processes; None when none exist."""
    settings = Settings()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        path = shared_directory(conn, settings.heat_shared_dir)
    if not path.is_dir():
        return None
    files = [f for f in path.iterdir() if f.is_file() and not f.is_symlink()]
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def unshared_memory(url: str, end: datetime, workers: int) -> dict:
    """The same server with ``CITYBRAIN_HEAT_SHARED=false`` (each process its own index), warmed
    up alike: memory per worker to set beside the shared figures."""
    t0 = time.perf_counter()
    with (
        peak_rss() as peak,
        serving(url, workers, START_S, CITYBRAIN_HEAT_SHARED="false") as (base, server),
    ):
        start_s = round(time.perf_counter() - t0, 2)
        start_peak = dict(peak)
        warm_up(base, end)
        return {"start_s": start_s, "start_peak_rss": start_peak, "memory": workers_memory(server)}


def warm_up(base: str, end: datetime) -> None:
    """Heatmaps of every window from many fresh connections: the kernel spreads connections
    over the workers (SO_REUSEPORT), so every worker has answered before memory is read."""
    for _ in range(12):
        with httpx.Client(base_url=base, timeout=300) as client:
            for span in WINDOWS.values():
                params = {"res": 9, "start": (end - span).isoformat(), "end": end.isoformat()}
                client.get("/heatmap/incidents", params=params).raise_for_status()


def heatmaps(base: str, end: datetime, repeat: int) -> dict:
    out = {}
    with httpx.Client(base_url=base, timeout=300) as client:
        for name, span in WINDOWS.items():
            params = {"res": 9, "start": (end - span).isoformat(), "end": end.isoformat()}
            client_ms, server_ms, cells = citybrain_ms(client, params, repeat)
            out[name] = {"client_ms": client_ms, "server_ms": server_ms, "cells": cells}
    return out


def summary(times: list[float]) -> dict:
    return {
        "median_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "max_ms": max(times),
        "tiles": len(times),
    }


def tile_passes(base: str, url: str, quick: bool) -> dict:
    """Cold (this process's first asks), warm (the same again), after a write into each."""
    todo = [t for t in tiles() if t.z in TILE_ZOOMS]
    if quick:
        todo = todo[:: max(1, len(todo) // 12)]
    urls = incident_urls(todo)
    out = {}
    out["cold"] = summary(run_pass(base, urls))
    out["warm"] = summary(run_pass(base, urls))
    out["after_write"] = summary(after_writes(base, url, todo, urls))
    return out


def dispatch(base: str, pts: np.ndarray, seconds: int, connections: int) -> dict:
    wrk = need("wrk")
    requests = endpoint_requests(pts)
    return {
        name: run_wrk(wrk, base, requests[name], seconds, connections)
        for name in ("/dispatch/recommend", "/nearest", "/locate")
    }


def import_incidents(url: str, rows: int) -> dict:
    """``citybrain import incidents`` of ``rows`` new incidents (a CSV, points inside the
    county) into the full table, timed with the command's start-up; the rows are deleted again
    afterwards so that the database keeps its size."""
    rng = np.random.default_rng(5)
    pts = random_points(url, rows, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "incidents.csv"
        with source.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["external_id", "category", "reported_at", "lon", "lat"])
            for i in range(rows):
                lon, lat = pts[i]
                at = END - timedelta(minutes=int(rng.integers(1, 60 * 24 * 30)))
                w.writerow(
                    [f"scale-{i}", CATEGORIES[i % len(CATEGORIES)], at.isoformat(), lon, lat]
                )
        env = dict(os.environ, CITYBRAIN_DATABASE_URL=url)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "citybrain.cli", "import", "incidents", str(source)],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t0
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        deleted = conn.execute(
            "DELETE FROM citybrain.incidents WHERE external_id LIKE 'scale-%'"
        ).rowcount
    if done.returncode != 0 or deleted != rows:
        output = (done.stdout + done.stderr)[-2000:]
        return {"rows": rows, "error": f"{deleted} written, exit {done.returncode}: {output}"}
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def measure(url: str, args: argparse.Namespace) -> dict:
    """The figures of ``args.only`` (default: all of PARTS) on the database at ``url``."""
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    if args.no_unshared:
        parts.discard("unshared")
    record: dict = {}
    if "database" in parts:
        with measured(record, "database") as entry:
            entry.update(database_size(url))
    if "heat_index" in parts:
        with measured(record, "heat_index") as entry:
            try:
                entry.update(index_costs(url))
            except Exception as exc:  # (the index's internals change: the rest still measured)
                entry["error"] = repr(exc)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        end = conn.execute("SELECT max(reported_at) FROM citybrain.incidents").fetchone()[0]
    end += timedelta(seconds=1)
    pts = random_points(url, 2000, seed=3)
    repeat = 3 if args.quick else args.repeat
    if parts & {"server", "heatmap", "tiles", "dispatch"}:
        t0 = time.perf_counter()
        with peak_rss() as peak, serving(url, args.workers, START_S) as (base, server):
            start_s = round(time.perf_counter() - t0, 2)
            start_peak = dict(peak)
            with measured(record, "warm_up"):
                warm_up(base, end)
            if "server" in parts:
                record["server"] = {
                    "start_s": start_s,
                    "workers": args.workers,
                    "start_peak_rss": start_peak,
                }
                record["memory_warm"] = workers_memory(server)
                record["heat_shared_mib"] = heat_shared_mib(url)
            if "heatmap" in parts:
                with measured(record, "heatmap") as entry:
                    entry.update(heatmaps(base, end, repeat))
            if "tiles" in parts:
                with measured(record, "tiles") as entry:
                    entry.update(tile_passes(base, url, args.quick))
            if "dispatch" in parts:
                with measured(record, "dispatch") as entry:
                    entry.update(dispatch(base, pts, 3 if args.quick else args.seconds, 16))
            if "server" in parts:
                record["memory_after_load"] = workers_memory(server)
    if "unshared" in parts:
        with measured(record, "unshared") as entry:
            entry.update(unshared_memory(url, end, args.workers))
    if "import" in parts and args.import_rows:
        with measured(record, "import") as entry:
            entry.update(import_incidents(url, args.import_rows))
    return record


def read_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"sizes": {}}


def write_results(path: Path, results: dict) -> None:
    """Merged into what the file holds (per size, per measure): a run of some sizes or some
    measures keeps the others' figures."""
    merged = read_results(path)
    for size, entry in results["sizes"].items():
        merged["sizes"].setdefault(size, {}).update(entry)
    results.update({**merged, **{k: v for k, v in results.items() if k != "sizes"}})
    results["sizes"] = merged["sizes"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")


def flat_rows(results: dict) -> list[list]:
    """One row per figure: size, measure, value, unit, and the load averages around it."""
    rows = []
    for size, r in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        if "database" not in r:
            continue

        def add(measure: str, value: float, unit: str, part: str, r=r, size=size) -> None:
            lb, la = r.get(part, {}).get("load_before"), r.get(part, {}).get("load_after")
            rows.append([size, measure, round(value, 3), unit, lb and lb[0], la and la[0]])

        if r["seed"]["seconds"] is not None:
            add("seed", r["seed"]["seconds"], "s", "seed")
        db = r["database"]
        for key in ("database", "incidents_table", "incidents_indexes", "tile_versions"):
            add(f"size {key}", db[key] / 2**20, "MiB", "database")
        if "error" not in r["heat_index"]:
            add("heat index load", r["heat_index"]["load_s"], "s", "heat_index")
            add("heat index arrays", r["heat_index"]["mib"], "MiB", "heat_index")
        add("server start (first worker ready)", r["server"]["start_s"], "s", "warm_up")
        for when in ("memory_warm", "memory_after_load"):
            for kind in ("rss", "uss", "pss"):
                values = [m[kind] for m in r[when]]
                add(f"{when} per worker {kind} (mean)", statistics.mean(values), "MiB", "heatmap")
        if r.get("heat_shared_mib") is not None:
            add("heat index shared file (once per machine)", r["heat_shared_mib"], "MiB", "heatmap")
        if "memory" in r.get("unshared", {}):
            for kind in ("rss", "uss", "pss"):
                values = [m[kind] for m in r["unshared"]["memory"]]
                add(
                    f"unshared index: per worker {kind} (mean)",
                    statistics.mean(values),
                    "MiB",
                    "unshared",
                )
        for window in WINDOWS:
            h = r["heatmap"][window]
            add(f"heatmap res 9 {window} client", h["client_ms"], "ms", "heatmap")
            add(f"heatmap res 9 {window} server", h["server_ms"], "ms", "heatmap")
        for what in TILE_PASSES:
            t = r["tiles"][what]
            for stat in ("median_ms", "p95_ms", "max_ms"):
                add(f"tiles z10-12 {what} {stat[:-3]}", t[stat], "ms", "tiles")
        for name, d in r["dispatch"].items():
            if isinstance(d, dict) and "rps" in d:
                add(f"{name} throughput", d["rps"], "req/s", "dispatch")
                add(f"{name} p99", d["p99"], "ms", "dispatch")
        if "rows_per_s" in r.get("import", {}):
            add("import rows/s", r["import"]["rows_per_s"], "rows/s", "import")
    return rows


def table_rows(r: dict) -> dict[str, float | None]:
    """The figures docs/scaling.md tabulates, for one size's results."""

    def get(*keys):
        value = r
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def pss(memory: list[dict] | None, fn) -> float | None:
        return fn(m["pss"] for m in memory) if memory else None

    n = get("heat_index", "incidents")
    mib = get("heat_index", "mib")
    db = r.get("database", {})
    rows = {
        "seed (s)": get("seed", "seconds"),
        "`citybrain import incidents`, new rows (s)": get("import", "seconds"),
        "database (GiB)": db.get("database", 0) / 2**30 or None,
        "incidents table (GiB)": db.get("incidents_table", 0) / 2**30 or None,
        "incidents indexes (GiB)": db.get("incidents_indexes", 0) / 2**30 or None,
        "heat index load, one process (s)": get("heat_index", "load_s"),
        "heat index arrays, one process (MiB)": mib,
        "heat index bytes per incident": mib * 2**20 / n if mib and n else None,
        "shared heat index file (MiB)": r.get("heat_shared_mib"),
        "server start, 2 workers (s)": get("server", "start_s"),
        "start: largest worker RSS, shared index (MiB)": get(
            "server", "start_peak_rss", "process_mib"
        ),
        "start: largest worker RSS, index per process (MiB)": get(
            "unshared", "start_peak_rss", "process_mib"
        ),
        "worker PSS, shared index: smallest (MiB)": pss(r.get("memory_after_load"), min),
        "worker PSS, shared index: largest (MiB)": pss(r.get("memory_after_load"), max),
        "worker PSS, index per process: mean (MiB)": pss(
            get("unshared", "memory"), statistics.mean
        ),
    }
    for window in WINDOWS:
        rows[f"heatmap res 9 {window}, server (ms)"] = get("heatmap", window, "server_ms")
    rows["heatmap res 9 365d, client (ms)"] = get("heatmap", "365d", "client_ms")
    for what in TILE_PASSES:
        for stat in ("median_ms", "p95_ms"):
            rows[f"tiles z10-12 {what.replace('_', ' ')} {stat[:-3]} (ms)"] = get(
                "tiles", what, stat
            )
    for name in ("/dispatch/recommend", "/nearest", "/locate"):
        rows[f"`{name}` (req/s)"] = get("dispatch", name, "rps")
    rows["`/dispatch/recommend` p99 (ms)"] = get("dispatch", "/dispatch/recommend", "p99")
    loads = [
        v[0]
        for name, part in r.items()
        if isinstance(part, dict) and name != "seed"
        for key in ("load_before", "load_after")
        if isinstance(v := part.get(key), list)
    ]
    rows["load average (1 min) while seeding, at the end"] = (get("seed", "load_after") or [None])[
        0
    ]
    rows["load average (1 min) while measuring, lowest"] = min(loads) if loads else None
    rows["load average (1 min) while measuring, highest"] = max(loads) if loads else None
    return rows


def markdown(results: dict) -> str:
    """The table of docs/scaling.md: one column per size, and the largest over the smallest."""
    sizes = sorted(int(k) for k, v in results["sizes"].items() if "database" in v)
    columns = [table_rows(results["sizes"][str(n)]) for n in sizes]
    head = "| measure | " + " | ".join(f"{n / 1e6:g}M" for n in sizes)
    head += f" | {sizes[-1] / 1e6:g}M / {sizes[0] / 1e6:g}M |" if len(sizes) > 1 else " |"
    lines = [head, "|---|" + "---:|" * (len(sizes) + (len(sizes) > 1))]
    for name in columns[0]:
        values = [c[name] for c in columns]
        cells = ["—" if v is None else f"{v:,.3g}" if v < 10 else f"{v:,.0f}" for v in values]
        if len(sizes) > 1:
            first, last = values[0], values[-1]
            cells.append(f"{last / first:.2f}" if first and last is not None else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: Path, results: dict) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["incidents", "measure", "value", "unit", "load1_before", "load1_after"])
        w.writerows(flat_rows(results))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted(
        (int(k), v) for k, v in results["sizes"].items() if "database" in v and "heatmap" in v
    )
    if not done:
        return
    xs = [n for n, _ in done]
    rs = [r for _, r in done]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8.5))
    panels = axes.ravel()

    def panel(ax, title: str, unit: str, series: dict[str, list[float]]) -> None:
        for name, ys in series.items():
            ax.plot(xs, ys, marker="o", label=name)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x / 1e6:g}M" for x in xs])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)

    panel(
        panels[0],
        "seed (build_county) and citybrain import incidents",
        "s",
        {
            "seed": [r["seed"]["seconds"] or float("nan") for r in rs],
            **(
                {f"import {rs[0]['import']['rows']:,} rows": [r["import"]["seconds"] for r in rs]}
                if all("seconds" in r.get("import", {}) for r in rs)
                else {}
            ),
        },
    )
    panel(
        panels[1],
        "database size",
        "GiB",
        {
            k.replace("_", " "): [r["database"][k] / 2**30 for r in rs]
            for k in ("database", "incidents_table", "incidents_indexes")
        },
    )
    mem = {
        f"worker PSS, shared index: {which}": [
            fn(m["pss"] for m in r["memory_after_load"]) for r in rs
        ]
        for which, fn in (("largest", max), ("smallest", min))
    }
    if all("start_peak_rss" in r.get("server", {}) for r in rs):
        mem["start: largest process RSS"] = [
            r["server"]["start_peak_rss"]["process_mib"] for r in rs
        ]
    if all("memory" in r.get("unshared", {}) for r in rs):
        mem["worker PSS, index not shared"] = [
            statistics.mean(m["pss"] for m in r["unshared"]["memory"]) for r in rs
        ]
    if all(r.get("heat_shared_mib") is not None for r in rs):
        mem["shared heat index file (once)"] = [r["heat_shared_mib"] for r in rs]
    if all("mib" in r["heat_index"] for r in rs):
        mem["heat index arrays (one process)"] = [r["heat_index"]["mib"] for r in rs]
    panel(panels[2], "memory per server process (after warm-up; at start)", "MiB", mem)
    start = {"server start (first worker ready)": [r["server"]["start_s"] for r in rs]}
    if all("load_s" in r["heat_index"] for r in rs):
        start["heat index load (one process alone)"] = [r["heat_index"]["load_s"] for r in rs]
    panel(panels[3], "start-up", "s", start)
    panel(
        panels[4],
        "GET /heatmap/incidents res 9 (median, server-side)",
        "ms",
        {w: [r["heatmap"][w]["server_ms"] for r in rs] for w in WINDOWS},
    )
    panel(
        panels[5],
        "incident tiles z10-12, nine town seats (median / p95)",
        "ms",
        {
            f"{what} {stat[:-3]}": [r["tiles"][what][stat] for r in rs]
            for what in TILE_PASSES
            for stat in ("median_ms", "p95_ms")
        },
    )
    panel(
        panels[6],
        "dispatch API under wrk (16 connections)",
        "req/s",
        {
            name: [r["dispatch"][name]["rps"] for r in rs]
            for name in rs[0]["dispatch"]
            if isinstance(rs[0]["dispatch"][name], dict) and "rps" in rs[0]["dispatch"][name]
        },
    )
    panel(
        panels[7],
        "dispatch API p99 latency",
        "ms",
        {
            name: [r["dispatch"][name]["p99"] for r in rs]
            for name in rs[0]["dispatch"]
            if isinstance(rs[0]["dispatch"][name], dict) and "p99" in rs[0]["dispatch"][name]
        },
    )
    lows = [table_rows(r)["load average (1 min) while measuring, lowest"] for r in rs]
    highs = [table_rows(r)["load average (1 min) while measuring, highest"] for r in rs]
    machine = results.get("machine", {})
    fig.suptitle(
        f"citybrain scaling: python -m bench.scaling, {results.get('measured_at', '')[:10]}, "
        f"{machine.get('cpus')} cores, {machine.get('memory_gib')} GiB, other work running "
        f"(load average {min(lows):.0f}-{max(highs):.0f} while measuring): latencies are upper "
        "bounds",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def code_state() -> dict:
    """The commit measured, how many files others had changed in the checkout, and whether the
    heat index is shared between processes (``CITYBRAIN_HEAT_SHARED``, where it exists)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--short"], capture_output=True, text=True)
    return {
        "head": head.stdout.strip(),
        "uncommitted_files": len(dirty.stdout.splitlines()),
        "heat_shared": getattr(Settings(), "heat_shared", None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--quick", action="store_true", help="100k incidents, short runs")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=7, help="heatmap runs per window")
    parser.add_argument("--seconds", type=int, default=10, help="wrk run per endpoint")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-unshared", action="store_true", help="skip the server without the shared index"
    )
    parser.add_argument(
        "--only", default="", help=f"measure only these (comma-separated): {','.join(PARTS)}"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="from the results file, write the CSV and the plot and print the table; no run",
    )
    parser.add_argument("--import-rows", type=int, default=0, help="0: no import measured")
    args = parser.parse_args()
    name = "scaling-quick" if args.quick else "scaling"
    path = RESULTS / f"{name}.json"
    if args.table:  # the CSV, the plot and the table again from the results file
        results = read_results(path)
        write_csv(RESULTS / f"{name}.csv", results)
        plot(results, PLOT if not args.quick else RESULTS / f"{name}.png")
        print(markdown(results))
        return
    sizes = [100_000] if args.quick and args.sizes == DEFAULT_SIZES else None
    sizes = sizes or [int(s) for s in args.sizes.split(",")]
    results = read_results(path)
    results["machine"] = {
        "node": platform.node(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }
    results["code"] = code_state()
    for size in sizes:
        earlier = results["sizes"].get(str(size), {})
        url, seeded = seed(size, earlier)
        results["sizes"].setdefault(str(size), {})["seed"] = seeded
        write_results(path, results)
        if args.seed_only:
            continue
        record = measure(url, args)
        record["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        record["code"] = results["code"]
        results["sizes"][str(size)].update(record)
        results["measured_at"] = record["measured_at"]
        write_results(path, results)
        print(json.dumps({size: record}, indent=1, default=str)[:3000], flush=True)
    if not args.seed_only:
        write_csv(RESULTS / f"{name}.csv", results)
        plot(results, PLOT if not args.quick else RESULTS / f"{name}.png")
        for row in flat_rows(results):
            print(*row, sep="\t")


if __name__ == "__main__":
    main()
