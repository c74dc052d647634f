"""Dispatch under public load: ``/locate`` and ``/dispatch/recommend`` latency at a dispatch
centre's steady rate, alone and while 16 anonymous clients hammer the heaviest public reads
(a year's heatmap at res 11 as GeoJSON, heatmap and incident tiles at county zoom that no cache
holds, OGC pages of incidents, Gi* hotspots), on the 1M-incident county, in one run.

    .venv/bin/python -m bench.isolation                       # 30 s per phase
    .venv/bin/python -m bench.isolation --seconds 60 --rate 40 --layouts split,shared

Two layouts of the same ``citybrain serve --workers 2``: ``split`` (the default deployment:
dispatch callers on the dispatch port, served by their own process) and ``shared`` (dispatch
callers on the public port, as without ``CITYBRAIN_DISPATCH_PORT``). The measuring client sends
requests at a fixed rate (open loop: a slow answer does not slow the next request) through one
keep-alive connection pool; load comes from wrk (installed with apt when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import subprocess
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

from bench.common import BENCH_KEY, bench_database, free_port, need, random_points, serve
from bench.dispatch import CATEGORIES

HEAVY_CLIENTS = 16


KINDS = ("heatmap", "heatmap-tile", "incident-tile", "items", "hotspots")


def heavy_requests(n: int, seed: int = 5, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """Anonymous public reads of ``kinds``, each defeating the caches (a window ending at a
    random minute, a random page)."""
    rng = random.Random(seed)
    county_tiles = [(9, 427, 209), (9, 428, 209), (10, 855, 419), (10, 856, 419), (11, 1711, 839)]
    paths = []
    for i in range(n):
        day, hour, minute = rng.randint(2, 31), rng.randint(0, 23), rng.randint(0, 59)
        end = f"2026-10-{day:02d}T{hour:02d}:{minute:02d}:00Z"
        z, x, y = county_tiles[i % len(county_tiles)]
        year = f"start=2025-11-01T00:00:00Z&end={end}"
        path = {
            "heatmap": f"/heatmap/incidents?res=11&{year}&format=geojson",
            "heatmap-tile": f"/tiles/heatmap/{z}/{x}/{y}.mvt?{year}",
            "incident-tile": f"/tiles/incidents/{z}/{x}/{y}.mvt?{year}",
            "items": f"/collections/incidents/items?limit=1000&offset={rng.randint(0, 90_000)}",
            "hotspots": f"/hotspots/incidents?res=9&{year}",
        }
        paths.append(path[kinds[i % len(kinds)]])
    return paths


def wrk_script(paths: list[str], log: str) -> str:
    rows = ",\n".join(json.dumps(p) for p in paths)
    return f"""
local paths = {{
{rows}
}}
local i = 0
request = function()
  i = (i % #paths) + 1
  return wrk.format("GET", paths[i])
end
local codes = {{}}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
done = function(summary, latency, requests)
  local f = io.open("{log}", "w")
  f:write(string.format("requests %d\\n", summary.requests))
  f:close()
end
"""


async def measure(base: str, points: np.ndarray, rate: float, seconds: float) -> dict:
    """``rate`` requests a second, alternating ``/locate`` and ``/dispatch/recommend``, each
    sent on schedule whether or not earlier ones have answered; latency per endpoint."""
    key = BENCH_KEY.split(":", 1)[1]
    times: dict[str, list[float]] = {"/locate": [], "/dispatch/recommend": []}
    served: dict[str, list[float]] = {"/locate": [], "/dispatch/recommend": []}
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as client:

        async def one(i: int) -> None:
            lon, lat = points[i % len(points)]
            start = time.perf_counter()
            if i % 2:
                r = await client.get("/locate", params={"lon": lon, "lat": lat})
                name = "/locate"
            else:
                body = {"lon": lon, "lat": lat, "category": CATEGORIES[i % 7], "severity": 2}
                r = await client.post("/dispatch/recommend", json=body)
                name = "/dispatch/recommend"
            times[name].append((time.perf_counter() - start) * 1000)
            served[name].append(float(r.headers["server-timing"].split("dur=")[1]))
            statuses[r.status_code] += 1

        for i in range(20):  # warm the connections
            await one(i)
        for v in (*times.values(), *served.values()):
            v.clear()
        statuses.clear()
        tasks, t0 = [], time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    out = {
        name: {
            "n": len(v),
            "p50": float(np.percentile(v, 50)),
            "p99": float(np.percentile(v, 99)),
            "max": float(np.max(v)),
            "server_p99": float(np.percentile(served[name], 99)),  # Server-Timing: in the app
        }
        for name, v in times.items()
    }
    out["statuses"] = dict(statuses)
    return out


def phase(base: str, dispatch_base: str, points, args, wrk: str | None) -> dict:
    """One measurement, with the heavy public load running beside it when ``wrk`` is given."""
    load = None
    if wrk is not None:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        log = Path(tempfile.mkstemp(suffix=".log")[1])
        script.write_text(wrk_script(heavy_requests(500, kinds=args.kinds), str(log)))
        load = subprocess.Popen(
            [
                wrk,
                "-t2",
                f"-c{HEAVY_CLIENTS}",
                f"-d{args.seconds + 10}s",
                "--timeout",
                "60s",
                "-s",
                str(script),
                base,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(5)  # the load has reached its steady state
    result = asyncio.run(measure(dispatch_base, points, args.rate, args.seconds))
    if load is not None:
        out = load.communicate()[0]
        result["load"] = _load_summary(out)
        script.unlink()
        log.unlink()
    return result


def _load_summary(wrk_out: str) -> dict:
    import re

    requests = int(re.search(r"(\d+) requests in", wrk_out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_out)
    mb = re.search(r"Transfer/sec:\s+([\d.]+)(KB|MB|GB)", wrk_out)
    return {
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "transfer": f"{mb.group(1)} {mb.group(2)}/s" if mb else "?",
    }


def check_heavy(base: str) -> dict[str, int]:
    """What each heavy request answers (it must be work the server does, not a refusal)."""
    with httpx.Client(base_url=base, timeout=120) as client:
        return {p.split("?")[0]: client.get(p).status_code for p in heavy_requests(5)}


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base} did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rate", type=float, default=40, help="dispatch requests a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layouts", default="split,shared")
    parser.add_argument("--load", default=",".join(KINDS), help="heavy reads in the load")
    args = parser.parse_args()
    args.kinds = tuple(args.load.split(","))
    assert set(args.kinds) <= set(KINDS), f"--load: choose among {', '.join(KINDS)}"
    wrk = need("wrk")
    url = bench_database(1_000_000)
    points = random_points(url, 2000, seed=7)
    rows = []
    for layout in args.layouts.split(","):
        dispatch_port = free_port()
        env = {"CITYBRAIN_DISPATCH_PORT": str(dispatch_port) if layout == "split" else "0"}
        with serve(url, workers=args.workers, **env) as base:
            dispatch_base = f"http://127.0.0.1:{dispatch_port}" if layout == "split" else base
            _wait_ready(dispatch_base)
            print(f"{layout}: heavy requests answer {check_heavy(base)}", flush=True)
            print(f"{layout}: dispatch alone for {args.seconds} s ...", flush=True)
            quiet = phase(base, dispatch_base, points, args, None)
            print(f"{layout}: dispatch beside {HEAVY_CLIENTS} heavy clients ...", flush=True)
            loaded = phase(base, dispatch_base, points, args, wrk)
            rows.append((layout, quiet, loaded))
            print(json.dumps({"quiet": quiet, "loaded": loaded}, indent=1), flush=True)

    print(
        f"\n1,000,000 incidents, {platform.node()}, {datetime.now():%Y-%m-%d}, "
        f"{args.workers} public workers, dispatch at {args.rate:g} req/s for {args.seconds} s, "
        f"{HEAVY_CLIENTS} heavy anonymous clients\n"
    )
    print(
        "| layout | endpoint | p50 alone | p99 alone | p50 loaded | p99 loaded | p99 ratio "
        "| dispatch errors | heavy answers (non-2xx) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for layout, quiet, loaded in rows:
        for name in ("/locate", "/dispatch/recommend"):
            q, lo = quiet[name], loaded[name]
            errors = sum(n for s, n in loaded["statuses"].items() if s >= 400)
            print(
                f"| {layout} | `{name}` | {q['p50']:.1f} | {q['p99']:.1f} | {lo['p50']:.1f} "
                f"| {lo['p99']:.1f} | {lo['p99'] / q['p99']:.2f} | {errors} "
                f"| {loaded['load']['requests']:,} ({loaded['load']['non2xx']:,}) |"
            )


if __name__ == "__main__":
    main()
