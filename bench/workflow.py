"""The workflow's steps through the API, on the 1M-incident county: how many steps (each one
transition with its audit row, answered with the case as the caller sees it) the server takes
per second.

New cases are reported first (not timed). Then ``--clients`` concurrent clients each walk
their share of the cases through the closed loop, one step after another per case as a
dispatcher's and a checker's screens would: 立案 register, 派遣 dispatch (to the town's
platform for the category), 处置 handle, 反馈 report_done, 核查 verify (by an admin's key: the
dispatcher's key took the handling steps), 结案 close, 评价 evaluate. Afterwards every case is
checked to be closed with seven steps in its audit trail.

    .venv/bin/python -m bench.workflow                   # 1,000 cases (7,000 steps), 16 clients
    .venv/bin/python -m bench.workflow --cases 2000 --clients 32 --workers 3

Half the cases are walked with each step answered with the case as the caller now sees it
(what a screen wants), half with ``Prefer: return=minimal`` (the new status only: what a
dispatch system calling in bulk wants).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time

import httpx
import numpy as np
import psycopg

from bench.common import BENCH_KEY, bench_database, random_points, serve
from citybrain.db.connection import libpq_conninfo
from tests.utils.photos import jpeg

ADMIN_KEY = "admin:bench-admin-key-0000001"
CATEGORIES = ["矛盾纠纷", "治安", "环境", "城市管理", "民生诉求", "出租房屋"]
STEPS = ("register", "dispatch", "handle", "report_done", "verify", "close", "evaluate")


def _bearer(pair: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair.split(':', 1)[1]}"}


def _body(step: str, department: int, photos: dict[str, str]) -> dict:
    return {
        "dispatch": {"department_id": department},
        "report_done": {"note": "已处置", "photos": [photos["report_done"]]},
        "verify": {"photos": [photos["verify"]]},
        "evaluate": {"satisfaction": "satisfied"},
    }.get(step, {})


def _photos(base: str) -> dict[str, str]:
    """A photo for 反馈 (sent by the dispatcher's key, which takes it) and one for 核查 (the
    admin's): a step carries only its taker's photos."""
    out = {}
    for step, key in (("report_done", BENCH_KEY), ("verify", ADMIN_KEY)):
        r = httpx.post(
            f"{base}/photos",
            content=jpeg(f"bench {step}"),
            headers={**_bearer(key), "Content-Type": "image/jpeg"},
        )
        r.raise_for_status()
        out[step] = r.json()["id"]
    return out


async def _report(base: str, points: np.ndarray, categories: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, headers=_bearer(BENCH_KEY), timeout=60) as c:
        ids = []
        for (lon, lat), category in zip(points, categories, strict=True):
            r = await c.post(
                "/incidents", json={"lon": lon, "lat": lat, "category": category, "severity": 1}
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        return ids


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads whole answers:
    a load generator's client, whose cost per request is a small fraction of the server's (an
    httpx client on the same two cores took as much CPU as the server it measured)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.host = ""

    @classmethod
    async def open(cls, base: str) -> Connection:
        host, port = base.removeprefix("http://").split(":")
        conn = cls(*await asyncio.open_connection(host, int(port)))
        conn.host = f"{host}:{port}"
        return conn

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _walk(
    base: str, cases: list[tuple[int, int]], clients: int, minimal: bool, photos: dict[str, str]
) -> tuple[float, list]:
    """Walk every case through STEPS with ``clients`` concurrent clients, each answered with
    the case (or, ``minimal``, its new status only); (seconds, latencies)."""
    queue: asyncio.Queue = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    latencies: list[float] = []
    dispatcher, admin = _bearer(BENCH_KEY), _bearer(ADMIN_KEY)
    if minimal:
        dispatcher, admin = ({**h, "Prefer": "return=minimal"} for h in (dispatcher, admin))

    async def client() -> None:
        conn = await Connection.open(base)
        try:
            while not queue.empty():
                incident, department = queue.get_nowait()
                for step in STEPS:
                    headers = admin if step == "verify" else dispatcher
                    body = json.dumps(_body(step, department, photos)).encode()
                    t = time.perf_counter()
                    code, text = await conn.post(
                        f"/incidents/{incident}/steps/{step}", body, headers
                    )
                    latencies.append(time.perf_counter() - t)
                    if code != 200:
                        raise RuntimeError(f"{step} of {incident}: {code} {text[:300]!r}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - t0, latencies


def main(cases: int, clients: int, workers: int) -> dict:
    url = bench_database()
    rng = np.random.default_rng(7)
    points = random_points(url, cases, seed=11)
    categories = [CATEGORIES[k] for k in rng.integers(0, len(CATEGORIES), cases)]
    keys = f"{BENCH_KEY},{ADMIN_KEY}"
    with serve(url, workers=workers, CITYBRAIN_API_KEYS=keys) as base:
        ids = asyncio.run(_report(base, points, categories))
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            # The platform of each case's town that handles its category.
            department = dict(
                conn.execute(
                    "SELECT i.id, d.id FROM citybrain.incidents i "
                    "JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id "
                    "JOIN citybrain.departments d ON d.town_id = ch.town_id "
                    "AND i.category = ANY (d.categories) WHERE i.id = ANY (%s)",
                    [ids],
                ).fetchall()
            )
        cases = [(i, department[i]) for i in ids]
        half = len(cases) // 2
        photos = _photos(base)
        runs = {
            "whole_case": asyncio.run(_walk(base, cases[:half], clients, False, photos)),
            "return_minimal": asyncio.run(_walk(base, cases[half:], clients, True, photos)),
        }
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        done = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'closed' AND satisfaction IS NOT NULL), "
            "(SELECT count(*) FROM citybrain.incident_events e WHERE e.incident_id = ANY (%s) "
            " AND e.action <> 'report') FROM citybrain.incidents WHERE id = ANY (%s)",
            [ids, ids],
        ).fetchone()
        incidents = conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
        # (the county goes back to its million, which bench_database checks)
        conn.execute("DELETE FROM citybrain.idempotency_keys WHERE incident_id = ANY (%s)", [ids])
        conn.execute("DELETE FROM citybrain.incidents WHERE id = ANY (%s)", [ids])
    steps = len(ids) * len(STEPS)
    assert done == (len(ids), steps), f"cases closed and steps recorded: {done}"
    out = {
        "machine": platform.node(),
        "incidents": incidents,
        "cases": len(ids),
        "clients": clients,
        "server_workers": workers,
        "steps": steps,
    }
    for name, (seconds, latencies) in runs.items():
        ms = sorted(1000 * x for x in latencies)
        out[name] = {
            "steps": len(latencies),
            "seconds": round(seconds, 2),
            "steps_per_second": round(len(latencies) / seconds, 1),
            "latency_ms": {
                "median": round(statistics.median(ms), 1),
                "p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
                "p99": round(ms[int(0.99 * (len(ms) - 1))], 1),
            },
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(main(args.cases, args.clients, args.workers), ensure_ascii=False, indent=2))
