"""Dispatch benchmark: HTTP load on loopback for ``/locate``, ``/nearest`` and
``/dispatch/recommend`` (16 concurrent connections, fixed time, random points in the county),
on the 1M-incident county; plus the KNN SQL's own execution time.

    .venv/bin/python -m bench.dispatch                  # 20 s per endpoint, 2 server workers
    .venv/bin/python -m bench.dispatch --seconds 60 --workers 3

Load comes from wrk (installed with apt when missing); the server runs as ``citybrain serve``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg

from bench.common import BENCH_KEY, bench_database, need, random_points, serve
from citybrain.db.connection import libpq_conninfo
from citybrain.sql import load

CATEGORIES = ["矛盾纠纷", "治安", "消防", "环境", "交通", "民生诉求", "城市管理"]


def lua_script(requests: list[tuple[str, str, str | None]]) -> str:
    """A wrk script cycling through (method, path, body) requests."""
    rows = ",\n".join(
        "{{{}, {}, {}}}".format(
            json.dumps(m), json.dumps(p), json.dumps(b, ensure_ascii=False) if b else "nil"
        )
        for m, p, b in requests
    )
    key = BENCH_KEY.split(":", 1)[1]  # dispatch advice needs a key, as dispatch callers hold
    auth = f'["Authorization"] = "Bearer {key}"'
    return f"""
local reqs = {{
{rows}
}}
local i = 0
request = function()
  i = (i % #reqs) + 1
  local r = reqs[i]
  if r[3] then
    return wrk.format(r[1], r[2], {{["Content-Type"] = "application/json", {auth}}}, r[3])
  end
  return wrk.format(r[1], r[2], {{{auth}}})
end
"""


def run_wrk(wrk: str, base: str, requests, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua_script(requests))
    subprocess.run(
        [wrk, "-t2", f"-c{connections}", "-d3s", "-s", fh.name, base],
        check=True,
        capture_output=True,
    )  # warm-up
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, base],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    Path(fh.name).unlink()

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def knn_sql_ms(url: str, points: np.ndarray) -> tuple[float, float]:
    """Server-side execution time of the KNN query for 5 teams, median and p99 (ms)."""
    times = []
    with psycopg.connect(libpq_conninfo(url)) as conn:
        for lon, lat in points:
            plan = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + load("dispatch/nearest_teams"),
                {"lon": lon, "lat": lat, "n": 21, "box": None, "available": False, "skill": None},
            ).fetchone()[0][0]
            times.append(plan["Execution Time"])
    return float(np.median(times)), float(np.percentile(times, 99))


def endpoint_requests(pts: np.ndarray) -> dict[str, list[tuple[str, str, str | None]]]:
    """The requests wrk cycles through, per endpoint, at the points ``pts``."""
    rng = np.random.default_rng(4)
    kinds = rng.choice(["teams", "cameras", "facilities"], len(pts))
    return {
        "/locate": [("GET", f"/locate?lon={x:.6f}&lat={y:.6f}", None) for x, y in pts],
        "/nearest": [
            ("GET", f"/nearest?lon={x:.6f}&lat={y:.6f}&kind={k}&k=5", None)
            for (x, y), k in zip(pts, kinds, strict=True)
        ],
        "/dispatch/recommend": [
            (
                "POST",
                "/dispatch/recommend",
                json.dumps(
                    {
                        "lon": x,
                        "lat": y,
                        "category": CATEGORIES[i % len(CATEGORIES)],
                        "severity": 1 + i % 4,
                    },
                    ensure_ascii=False,
                ),
            )
            for i, (x, y) in enumerate(pts)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    wrk = need("wrk")
    url = bench_database(1_000_000)
    pts = random_points(url, 2000, seed=3)
    endpoints = endpoint_requests(pts)
    results = {}
    with serve(url, workers=args.workers) as base:
        for name, reqs in endpoints.items():
            print(f"loading {name} for {args.seconds} s ...", flush=True)
            results[name] = run_wrk(wrk, base, reqs, args.seconds, args.connections)
    knn_median, knn_p99 = knn_sql_ms(url, pts[:300])

    print(
        f"\n1,000,000 incidents, {platform.node()}, {datetime.now():%Y-%m-%d}, "
        f"{args.workers} server workers, {args.connections} connections, {args.seconds} s each\n"
    )
    print("| endpoint | req/s | p50 ms | p99 ms | requests | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| `{name}` | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['requests']:,} | {r['errors']} |"
        )
    print(
        f"\nKNN SQL (5 nearest teams, EXPLAIN ANALYZE, 300 points): median {knn_median:.3f} ms, "
        f"p99 {knn_p99:.3f} ms"
    )


if __name__ == "__main__":
    main()
