"""Heat index memory with 1, 2 and 4 worker processes, its base shared between them
(``CITYBRAIN_HEAT_SHARED=true``: one file under /dev/shm mapped by every worker) or held by
each (``false``), on the 1M-incident benchmark county.

Each server is started (``citybrain serve --workers N``, no dispatch process), every worker is
made to answer the year's heatmap at every resolution (so that it has touched every page of
the index it reads: the steady state of a busy server), then each worker's USS (memory no other
process shares), PSS (shared pages divided among their sharers) and RSS are read by psutil
(``memory_full_info``, from /proc/<pid>/smaps). The same is measured on a county with no
incidents (``<name>_bench_heat0``, built on first use): the difference of the workers' total
PSS, divided by the incidents, is what an incident costs across all workers.

    .venv/bin/python -m bench.heat_memory
    .venv/bin/python -m bench.heat_memory --workers 1 2 4
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import psycopg

from bench.common import END, bench_database, serving
from citybrain.db.connection import libpq_conninfo

RESOLUTIONS = range(5, 12)
MB = 2**20


def workers_of(proc) -> list[psutil.Process]:
    children = psutil.Process(proc.pid).children()
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())] or [
        psutil.Process(proc.pid)  # (one worker: the server process serves itself)
    ]


def warm(base: str, workers: int) -> None:
    """Every worker answers the year at every resolution: new connections, spread by the
    kernel over the workers (SO_REUSEPORT), many more than the workers."""
    params = {"start": (END - timedelta(days=365)).isoformat(), "end": END.isoformat()}
    for res in RESOLUTIONS:
        for _ in range(6 * workers):
            r = httpx.get(
                f"{base}/heatmap/incidents",
                params=params | {"res": res},
                headers={"Connection": "close"},
                timeout=120,
            )
            r.raise_for_status()


def measure(url: str, workers: int, shared: bool) -> dict:
    shm = tempfile.mkdtemp(prefix="bench-heat-", dir="/dev/shm")
    env = {"CITYBRAIN_HEAT_SHARED": str(shared).lower(), "CITYBRAIN_HEAT_SHARED_DIR": shm}
    try:
        started = time.perf_counter()
        with serving(url, workers, **env) as (base, proc):
            ready = time.perf_counter() - started
            warm(base, workers)
            time.sleep(1)
            rows = []
            for p in workers_of(proc):
                m = p.memory_full_info()
                rows.append({"pid": p.pid, "uss": m.uss, "pss": m.pss, "rss": m.rss})
        files = sum(f.stat().st_size for f in Path(shm).rglob("*.heat"))
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    return {
        "workers": workers,
        "shared": shared,
        "ready_s": ready,
        "procs": rows,
        "uss": sum(r["uss"] for r in rows),
        "pss": sum(r["pss"] for r in rows),
        "file": files,
    }


def incidents(url: str) -> int:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    url = bench_database(1_000_000)
    empty = bench_database(0, suffix="_bench_heat0")
    n = incidents(url)
    print(f"# {n:,} incidents; {platform.processor() or platform.machine()}, python")
    print(
        "| base | workers | per worker USS / PSS (MB) | total USS (MB) | total PSS (MB) | "
        "shared file (MB) | total PSS, empty county (MB) | bytes per incident, all workers | "
        "ready (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for shared in (False, True):
        for workers in args.workers:
            full = measure(url, workers, shared)
            zero = measure(empty, workers, shared)
            per = ", ".join(f"{r['uss'] / MB:.0f} / {r['pss'] / MB:.0f}" for r in full["procs"])
            extra = (full["pss"] - zero["pss"]) / n
            print(
                f"| {'shared' if shared else 'per process'} | {workers} | {per} | "
                f"{full['uss'] / MB:.0f} | {full['pss'] / MB:.0f} | {full['file'] / MB:.0f} | "
                f"{zero['pss'] / MB:.0f} | {extra:.0f} | {full['ready_s']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
