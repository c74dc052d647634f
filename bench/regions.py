"""Grid re-division benchmark: max-p (spopt's heuristic, then the cut to the ceilings) against
the greedy region-growing baseline on the 1M-incident county's compounds, households alone and
with the incidents bound, today's grids beside them.

Both methods run on every village of the county (a grid stays in its village: one problem a
village) with the notebook's bounds: 300 households a grid worker, teams of the county's
median size, floor half the ceiling, the last 90 days' incidents and, with the incidents bound,
at most ``--incident-factor`` (default ``regions.INCIDENT_FACTOR``) times today's median
incidents per member. ``--by town_id`` solves a town at a time instead (compounds may then
cross village lines: a larger problem per solve).

    .venv/bin/python -m bench.regions
    .venv/bin/python -m bench.regions --by town_id --methods maxp --incidents off
    .venv/bin/python -m bench.regions --town 魏塘街道

Wall-clock and CPU seconds of one run (the machine is shared: CPU time is the steadier figure).
Max-p gives no optimality gap: there is no exact solve to compare with (see
``citybrain.analysis.regions``).
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timedelta

import numpy as np

from bench.common import bench_database
from citybrain.analysis import load, regions
from citybrain.db.connection import get_engine

ROUNDED = ("grids", "workers", "over bound", "over incidents bound")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--by", default="village_id", choices=["village_id", "town_id"])
    parser.add_argument("--methods", nargs="+", default=["greedy", "maxp"])
    parser.add_argument("--per-worker", type=float, default=regions.PER_WORKER)
    parser.add_argument("--incident-factor", type=float, default=regions.INCIDENT_FACTOR)
    parser.add_argument("--incidents", choices=["off", "on", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--town", help="one town (its name), not the whole county")
    args = parser.parse_args()
    url = bench_database(1_000_000)
    con = get_engine(url)
    end = load.query("SELECT max(reported_at) AS t FROM citybrain.incidents", con)["t"].iloc[0]
    frame = regions.compounds(end - timedelta(days=90), con)
    sizes = regions.team_sizes(load.query("SELECT grid_id, members FROM citybrain.teams", con))
    # The median team and member's load are the county's, whichever compounds are divided (as
    # in notebook 05).
    workers, members = (int(np.median(sizes[c])) for c in ("workers", "members"))
    county = regions.grids(frame, frame["grid_id"], sizes["workers"], sizes["members"])
    per_member = regions.incident_bound(county, args.incident_factor)
    if args.town:
        towns = load.query("SELECT id, name FROM citybrain.towns", con).set_index("name")["id"]
        frame = frame[frame["town_id"] == towns[args.town]]
    ceiling = args.per_worker * workers
    today = regions.grids(frame, frame["grid_id"], sizes["workers"], sizes["members"])
    groups = frame[args.by].nunique()
    print(
        f"{len(frame):,} compounds, {frame['households'].sum():,} households, "
        f"{frame['incidents'].sum():,} incidents in 90 days, {groups} problems ({args.by}); "
        f"teams of {workers} grid workers / {members} members: ceiling {ceiling:,.0f}, "
        f"floor {ceiling / 2:,.0f} households; incidents bound {per_member:,.1f} a member, "
        f"{per_member * members:,.0f} a grid",
        flush=True,
    )
    bounds = {"off": [False], "on": [True], "both": [False, True]}[args.incidents]
    columns = {"today": regions.spread(today, args.per_worker, per_member)}
    runs = {}
    for bounded in bounds:
        for method in args.methods:
            name = f"{method} + incidents" if bounded else method
            wall, cpu = time.perf_counter(), time.process_time()
            division = regions.redivide(
                frame,
                ceiling,
                by=args.by,
                method=method,
                seed=args.seed,
                incident_ceiling=per_member * members if bounded else None,
            )
            runs[name] = (time.perf_counter() - wall, time.process_time() - cpu, division)
            table = regions.grids(frame, division.labels, workers, members)
            columns[name] = regions.spread(table, args.per_worker, per_member)
            print(name, f"{runs[name][0]:.1f} s", division.regions, "regions", flush=True)

    print(f"\n{platform.node()}, {datetime.now():%Y-%m-%d}, one run\n")
    print(
        "| method | wall s | CPU s | grids | cut to the ceilings | under the floor "
        "| compounds alone over a ceiling |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (wall, cpu, d) in runs.items():
        print(
            f"| {name} | {wall:,.1f} | {cpu:,.1f} | {d.regions:,} | {d.split} | {len(d.below)} "
            f"| {len(d.over)} |"
        )
    print("\n| | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for row in columns["today"].index:
        cells = []
        for stats in columns.values():
            v = stats[row]
            cells.append(f"{v:,.0f}" if row in ROUNDED else f"{v:,.2f}")
        print(f"| {row} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
