"""A dispatcher's latency while the wire is attacked: ``GET /teams/{id}`` and ``/locate`` with a
dispatcher's key on the dispatch port, at a steady rate, alone and while four clients send
1 MB headers and twenty hold slow sockets (one header byte every two seconds) on both ports,
on the 1M-incident county, in one run (issue 29: the p99 under attack within 2x of the quiet
p99; before the wire limits a 48 MB header took a dispatcher's request from 12 ms to 1.97 s).

    .venv/bin/python -m bench.wire                   # 30 s per phase
    .venv/bin/python -m bench.wire --seconds 60 --rate 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import threading
import time

import httpx
import numpy as np

from bench.common import BENCH_KEY, bench_database, free_port, random_points, serve

HEADERS = {"Authorization": "Bearer " + BENCH_KEY.split(":", 1)[1]}


def _huge(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Sends 1 MB headers, one after another, until told to stop."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /teams/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
                for _ in range(256):
                    s.sendall(b"x" * 4096)
        except OSError:
            pass
        sent[0] += 1


def _slow(port: int, stop: threading.Event) -> None:
    """Holds a socket open by one header byte every two seconds (slowloris), reconnecting when
    the server cuts it off."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /livez HTTP/1.1\r\n")
                while not stop.is_set():
                    s.sendall(b"X")
                    stop.wait(2)
        except OSError:
            stop.wait(0.5)


async def _measure(base: str, points: np.ndarray, seconds: float, rate: float) -> list[float]:
    """Open loop: a request every 1/rate s whatever the answers take; milliseconds each."""
    took: list[float] = []
    failed = 0
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=30) as client:

        async def one(i: int) -> None:
            nonlocal failed
            lon, lat = points[i % len(points)]
            path = f"/teams/{1 + i % 900}" if i % 2 else f"/locate?lon={lon}&lat={lat}"
            t0 = time.perf_counter()
            r = await client.get(path)
            took.append((time.perf_counter() - t0) * 1000)
            failed += r.status_code != 200

        tasks = []
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    if failed:
        raise SystemExit(f"{failed} of the dispatcher's requests failed")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=40, help="dispatcher requests a second")
    args = ap.parse_args()
    url = bench_database()
    points = random_points(url, 2000, seed=3)
    dispatch_port = free_port()
    with serve(url, workers=2, CITYBRAIN_DISPATCH_PORT=str(dispatch_port)) as base:
        public_port = int(base.rsplit(":", 1)[1])
        dispatch = f"http://127.0.0.1:{dispatch_port}"
        asyncio.run(_measure(dispatch, points, 5, args.rate))  # warm
        quiet = asyncio.run(_measure(dispatch, points, args.seconds, args.rate))
        stop, sent = threading.Event(), [0]
        attackers = [
            threading.Thread(target=_huge, args=(port, stop, sent), daemon=True)
            for port in (dispatch_port, public_port, dispatch_port, public_port)
        ] + [
            threading.Thread(target=_slow, args=(port, stop), daemon=True)
            for port in [dispatch_port, public_port] * 10
        ]
        for t in attackers:
            t.start()
        time.sleep(2)
        attacked = asyncio.run(_measure(dispatch, points, args.seconds, args.rate))
        stop.set()
    q, a = np.percentile(quiet, [50, 99]), np.percentile(attacked, [50, 99])
    result = {
        "machine": platform.node(),
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "quiet_ms": {"p50": round(q[0], 2), "p99": round(q[1], 2)},
        "attacked_ms": {"p50": round(a[0], 2), "p99": round(a[1], 2)},
        "p99_ratio": round(a[1] / q[1], 2),
        "huge_headers_sent": sent[0],
        "slow_sockets": 20,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
