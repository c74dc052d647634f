"""Case-file reads under row-level security, beside the same reads by the owner without
policies, on the 1M-incident county, in one run (issue 31: at most 1.2x).

Three reads, each as the server makes them: an incident with its case file, its audit trail,
and a town's open cases with their case files. The secured side runs them as the server's role
in a transaction that names the caller first (``people.caller.acting_as``: a town's
dispatcher); the owner's side runs the same statements, in the same transaction naming the
same caller, as the superuser that owns the tables (row security never applies to it), so
that the ratio (``ratio``, the issue's 1.2x) is what the policies cost. A third side runs
the owner's statement bare, in autocommit, and ``ratio_to_bare`` shows what the server path
costs in all (the transaction is two more round trips: BEGIN with the caller's settings, and
COMMIT).
Interleaved, many times each; the medians and their ratios are printed.

    .venv/bin/python -m bench.people                  # 2,000 rounds
    .venv/bin/python -m bench.people --rounds 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time

import psycopg
from psycopg import AsyncConnection

from bench.common import bench_database
from citybrain.db.connection import libpq_conninfo
from citybrain.people.caller import Area, Caller, acting_as
from citybrain.sql import load

OPEN_CASES = """
SELECT i.id, i.category, i.status, i.reported_at, f.description, f.reporter_phone
FROM citybrain.case_files f JOIN citybrain.incidents i ON i.id = f.incident_id
WHERE f.town_id = %(town)s AND i.status IN ('reported', 'dispatched', 'on_site', 'escalated')
ORDER BY i.reported_at DESC LIMIT 50
"""


async def _timed(run) -> float:
    t0 = time.perf_counter()
    await run()
    return (time.perf_counter() - t0) * 1000


async def main_async(rounds: int) -> dict:
    url = bench_database()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        town_id, town_code = conn.execute(
            "SELECT id, code FROM citybrain.towns ORDER BY code LIMIT 1"
        ).fetchone()
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT incident_id FROM citybrain.case_files WHERE town_id = %s "
                "ORDER BY incident_id",
                [town_id],
            )
        ]
    rng = random.Random(3)
    caller = Caller("dispatcher", Area(town_code, "town", town_id))
    owner = await AsyncConnection.connect(libpq_conninfo(url), autocommit=True)
    server = await AsyncConnection.connect(
        libpq_conninfo(url), autocommit=True, options="-c role=citybrain_server"
    )
    reads = {
        "an incident": (load("incidents/get"), lambda: {"id": rng.choice(ids)}),
        "its audit trail": (load("incidents/history"), lambda: {"id": rng.choice(ids)}),
        "a town's open cases": (OPEN_CASES, lambda: {"town": town_id}),
    }
    out = {}
    for name, (statement, params) in reads.items():
        secured, plain, bare = [], [], []

        async def as_server(p=None, statement=statement):
            async with acting_as(server, caller):
                await (await server.execute(statement, p)).fetchall()

        async def as_owner(p=None, statement=statement):
            async with acting_as(owner, caller):
                await (await owner.execute(statement, p)).fetchall()

        async def bare_owner(p=None, statement=statement):
            await (await owner.execute(statement, p)).fetchall()

        for _ in range(50):  # warm all three
            await as_server(params())
            await as_owner(params())
            await bare_owner(params())
        for _ in range(rounds):
            p = params()
            secured.append(await _timed(lambda p=p: as_server(p)))
            plain.append(await _timed(lambda p=p: as_owner(p)))
            bare.append(await _timed(lambda p=p: bare_owner(p)))
        a, b, c = (statistics.median(x) for x in (secured, plain, bare))
        out[name] = {
            "secured_ms": round(a, 3),
            "owner_ms": round(b, 3),
            "ratio": round(a / b, 2),
            "bare_owner_ms": round(c, 3),
            "ratio_to_bare": round(a / c, 2),
            "secured_p99_ms": round(statistics.quantiles(secured, n=100)[98], 3),
            "owner_p99_ms": round(statistics.quantiles(plain, n=100)[98], 3),
        }
    await owner.close()
    await server.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    result = asyncio.run(main_async(args.rounds))
    print(json.dumps({"machine": platform.node(), "rounds": args.rounds, **result}, indent=2))


if __name__ == "__main__":
    main()
