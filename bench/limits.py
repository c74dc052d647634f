"""What counting time limits in working hours costs, on the 1M-incident county, in one run.

Each statement runs two ways on one connection, interleaved, as the owner: as the product runs
it (``citybrain.step_card`` / ``step_due``: the working calendar where a category's limit says
so) and as it was before migration 0021 (every limit on the clock, from the categories' own
columns, here a temporary copy of them), so that the ratio is what the calendar costs.

- ``towns``: the big screen's per-town on-time shares over the last 30 days (``stats/towns``;
  ``/stats`` recomputes it at most once per 5 s per server process);
- ``area_month``: one town's last 30 days (``areas/month``, what a click on the map asks);
- ``due_100k``: the resolution due time of 100,000 incidents.

    .venv/bin/python -m bench.limits               # 7 rounds
    .venv/bin/python -m bench.limits --rounds 15
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import timedelta

import psycopg

from bench.common import END, bench_database
from citybrain.db.connection import libpq_conninfo
from citybrain.sql import compose, load

# The statements as they were before migration 0021 (every limit on the clock, read from the
# categories' own columns), on a temporary copy of those columns made from time_limits.
BEFORE = """
CREATE TEMP TABLE categories_before AS
SELECT d.category AS name, d.minutes AS dispatch_minutes, r.minutes / 60 AS resolve_hours
FROM citybrain.time_limits d
JOIN citybrain.time_limits r ON r.category = d.category AND r.step = 'resolve'
WHERE d.step = 'dispatch';
ALTER TABLE categories_before ADD PRIMARY KEY (name);
ANALYZE categories_before
"""
ON_THE_CLOCK = """
WITH per_town AS (
    SELECT ch.town_id, count(*) AS incidents,
           count(*) FILTER (WHERE i.status IN ('reported', 'dispatched', 'on_site', 'escalated'))
               AS open,
           round(100.0 * count(*) FILTER (
               WHERE i.dispatched_at <= i.reported_at + make_interval(mins => c.dispatch_minutes))
               / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
           round(100.0 * count(*) FILTER (
               WHERE i.resolved_at <= i.reported_at + make_interval(hours => c.resolve_hours))
               / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
    FROM citybrain.incidents i
    JOIN categories_before c ON c.name = i.category
    JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
    WHERE i.reported_at >= %(since)s
    GROUP BY ch.town_id
)
SELECT t.code, t.name, coalesce(p.incidents, 0) AS incidents, coalesce(p.open, 0) AS open,
       p.dispatched_on_time_pct, p.resolved_on_time_pct
FROM citybrain.towns t
LEFT JOIN per_town p ON p.town_id = t.id
ORDER BY t.code
"""
AREA_ON_THE_CLOCK = """
SELECT count(*) AS incidents,
       round(100.0 * count(*) FILTER (
           WHERE i.dispatched_at <= i.reported_at + make_interval(mins => c.dispatch_minutes))
           / nullif(count(i.dispatched_at), 0), 1) AS dispatched_on_time_pct,
       round(100.0 * count(*) FILTER (
           WHERE i.resolved_at <= i.reported_at + make_interval(hours => c.resolve_hours))
           / nullif(count(i.resolved_at), 0), 1) AS resolved_on_time_pct
FROM citybrain.incidents i
JOIN categories_before c ON c.name = i.category
WHERE i.micro_grid_id IN (
    SELECT m.id
    FROM citybrain.micro_grid_chain ch
    JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
    WHERE ch.town_id = %(id)s
)
AND i.reported_at >= %(since)s
"""
DUE = """
SELECT count(citybrain.step_due(category, 'resolve', reported_at))
FROM (SELECT category, reported_at FROM citybrain.incidents ORDER BY id LIMIT 100000) x
"""
DUE_ON_THE_CLOCK = """
SELECT count(x.reported_at + make_interval(hours => c.resolve_hours))
FROM (SELECT category, reported_at FROM citybrain.incidents ORDER BY id LIMIT 100000) x
JOIN categories_before c ON c.name = x.category
"""


def _ms(conn: psycopg.Connection, statement, params: dict) -> float:
    t0 = time.perf_counter()
    conn.execute(statement, params).fetchall()
    return (time.perf_counter() - t0) * 1000


def main(rounds: int) -> dict:
    url = bench_database()
    since = END - timedelta(days=30)
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        town = conn.execute(
            "SELECT ch.town_id FROM citybrain.incidents i JOIN citybrain.micro_grid_chain ch "
            "ON ch.micro_grid_id = i.micro_grid_id WHERE i.reported_at >= %s "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
            [since],
        ).fetchone()[0]
        in_window = conn.execute(
            "SELECT count(*) FROM citybrain.incidents WHERE reported_at >= %s", [since]
        ).fetchone()[0]
        conn.execute(BEFORE)
        month = compose("areas/month", table="citybrain.towns", member="town_id")
        pairs = {
            "towns": ((load("stats/towns"), ON_THE_CLOCK), {"since": since}),
            "area_month": ((month, AREA_ON_THE_CLOCK), {"id": town, "since": since}),
            "due_100k": ((DUE, DUE_ON_THE_CLOCK), {}),
        }
        times: dict[str, dict[str, list[float]]] = {k: {"working": [], "clock": []} for k in pairs}
        for (working, clock), params in pairs.values():  # (warm both: plans, caches)
            _ms(conn, working, params), _ms(conn, clock, params)
        for _ in range(rounds):
            for name, ((working, clock), params) in pairs.items():
                times[name]["working"].append(_ms(conn, working, params))
                times[name]["clock"].append(_ms(conn, clock, params))
    out = {
        "machine": platform.node(),
        "rounds": rounds,
        "incidents_in_30_days": in_window,
        "medians_ms": {},
    }
    for name, sides in times.items():
        w, c = statistics.median(sides["working"]), statistics.median(sides["clock"])
        out["medians_ms"][name] = {
            "working_hours": round(w, 1),
            "clock": round(c, 1),
            "ratio": round(w / c, 2),
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    print(json.dumps(main(parser.parse_args().rounds), ensure_ascii=False, indent=2))
