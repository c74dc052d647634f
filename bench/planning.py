"""Planners' solves on the 1M-incident county: how long the exact location models take and what
the greedy answer beside them gives up.

* cameras (雪亮工程): ``camera_siting.mclp`` against ``greedy_mclp`` on the county's candidate
  sites (road vertices and compound gates, 8 headings each) for the last 30 days' incidents no
  camera sees;
* service sites (文化礼堂): ``location.mclp`` / ``greedy_mclp`` (micro-grids newly within 15
  minutes' walk of a hall) and ``location.pmedian`` / ``greedy_pmedian`` (total walking minutes,
  residents gathered into H3 cells of resolution 8), candidates each village's centre of
  population, today's halls kept;
* not here: the max-p grid re-division, benchmarked by ``bench/regions.py``. Max-p has no
  exact solve to set a greedy answer against (why: ``citybrain.analysis.regions``), so it does
  not fit these rows of exact time, greedy time and gap; ``bench/regions.py`` sets it beside a
  greedy baseline and today's grids instead.

    .venv/bin/python -m bench.planning
    .venv/bin/python -m bench.planning --ns 10 25 --time-limit 120 --only service

Seconds are wall time of one solve (model build included; the exact solve is CBC through PuLP,
one thread); gap as each module defines it (MCLP: share of the exact answer's gain the greedy
one misses; p-median: share of resident-minutes it adds). An exact row that hit the time limit
says so (``optimal`` False): its gap is then against the best answer found, not the optimum.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bench.common import bench_database
from citybrain.analysis import camera_siting, load, location, travel
from citybrain.db.connection import get_engine

WINDOW = timedelta(days=30)
LIMIT_MIN = 15.0  # the 15-minute cultural life circle, on foot
H3_RES = 8

Section = Callable[[Engine, argparse.Namespace], list[dict]]


def camera_section(engine: Engine, args: argparse.Namespace) -> list[dict]:
    latest = load.query("SELECT max(reported_at) AS t FROM citybrain.incidents", engine)["t"][0]
    t0 = time.perf_counter()
    recent = load.incidents(since=(latest - WINDOW).isoformat(), con=engine)
    cameras = load.table("cameras", con=engine)
    demand = camera_siting.unseen(recent, cameras)
    sites = load.camera_candidates(engine)
    opts = camera_siting.options(sites, demand, headings=8, fov=90, range_m=100)
    prepared = time.perf_counter() - t0
    size = (
        f"{len(recent):,} incidents in 30 days, {len(demand):,} unseen; {len(sites):,} sites, "
        f"{len(opts.frame):,} site-headings (prepared in {prepared:.0f} s)"
    )
    print("cameras:", size, flush=True)
    rows = []
    for n in args.ns:
        t0 = time.perf_counter()
        exact = camera_siting.mclp(opts, n, time_limit=args.time_limit)
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = camera_siting.greedy_mclp(opts, n)
        greedy_s = time.perf_counter() - t0
        rows.append(
            {
                "problem": "camera MCLP",
                "size": size,
                "N": n,
                "exact s": exact_s,
                "optimal": exact.optimal,
                "greedy s": greedy_s,
                "exact objective": f"{exact.seen:,.0f} incidents seen",
                "greedy objective": f"{greedy.seen:,.0f}",
                "gap": camera_siting.gap(exact, greedy),
            }
        )
        print(rows[-1], flush=True)
    return rows


def service_section(engine: Engine, args: argparse.Namespace) -> list[dict]:
    people = load.people(engine)
    halls = load.table("facilities", where="kind = :k", con=engine, k="cultural_hall")
    halls["lon"], halls["lat"] = halls.geometry.x, halls.geometry.y
    walk = travel.road_router(*load.road_network(engine), kmh=travel.WALK_KMH)
    candidates = people.sort_values("population").groupby("village_id").tail(1)
    cells = location.demand_cells(people, H3_RES)

    def demand(points: pd.DataFrame) -> location.Demand:
        return location.Demand(
            points["population"].to_numpy(float),
            travel.nearest_minutes(travel.travel_minutes(walk, points, halls, travel.WALK_KMH)),
            travel.travel_minutes(walk, points, candidates, travel.WALK_KMH),
            LIMIT_MIN,
        )

    problems = (
        ("hall MCLP", demand(people), location.mclp, location.greedy_mclp, "micro-grids"),
        ("hall p-median", demand(cells), location.pmedian, location.greedy_pmedian, "H3 r8 cells"),
    )
    rows = []
    for name, d, exact_fn, greedy_fn, unit in problems:
        size = (
            f"{len(d.weights):,} {unit} x {d.minutes.shape[1]} candidates, {len(halls)} halls kept"
        )
        print(name, size, flush=True)
        for n in args.ns:
            exact, greedy = exact_fn(d, n, time_limit=args.time_limit), greedy_fn(d, n)
            mclp = name.endswith("MCLP")
            rows.append(
                {
                    "problem": name,
                    "size": size,
                    "N": n,
                    "exact s": exact.seconds,
                    "optimal": exact.optimal,
                    "greedy s": greedy.seconds,
                    "exact objective": (
                        f"+{exact.reached - d.reached([]):,.0f} residents within 15 min"
                        if mclp
                        else f"{exact.resident_minutes / d.total:.3f} mean min"
                    ),
                    "greedy objective": (
                        f"+{greedy.reached - d.reached([]):,.0f}"
                        if mclp
                        else f"{greedy.resident_minutes / d.total:.3f}"
                    ),
                    "gap": location.gap(d, exact, greedy),
                }
            )
            print(rows[-1], flush=True)
    return rows


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.to_numpy()]
    return "\n".join(lines)


SECTIONS: dict[str, Section] = {
    "cameras": camera_section,
    "service": service_section,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per exact solve")
    parser.add_argument("--only", choices=list(SECTIONS), nargs="+", default=list(SECTIONS))
    args = parser.parse_args()
    engine = get_engine(bench_database(1_000_000))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    t0 = time.perf_counter()
    for name in args.only:
        rows += SECTIONS[name](engine, args)
    print(f"load average at end {os.getloadavg()[0]:.1f}; {time.perf_counter() - t0:.0f} s in all")
    if rows:
        table = pd.DataFrame(rows)
        table["gap"] = [f"{g:.2%}" for g in table["gap"]]
        for c in ("exact s", "greedy s"):
            table[c] = np.round(table[c], 2)
        for size, part in table.groupby("size", sort=False):
            print(f"\n{part['problem'].iat[0]}: {size}\n")
            print(markdown(part.drop(columns=["size"])))


if __name__ == "__main__":
    main()
