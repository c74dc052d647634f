"""Early warning measured: the scan, the EARS baseline and a naive fixed threshold replayed
side by side over the same weeks of the 1M-incident county, once with injected outbreaks
(``seed --outbreaks``, ground truth in the ``outbreaks`` table) and once without (the same
county: outbreaks have a random generator of their own), then the cost of one scan.

    .venv/bin/python -m bench.early_warning
    .venv/bin/python -m bench.early_warning --outbreaks 40 --days 60 --step-hours 6

For each detector: the share of outbreaks detected (an alert of the outbreak's category whose
area holds its compound, raised between its start and a week after its end), the median delay
from an outbreak's start to that alert, and false alerts (new alerts on the county without
outbreaks) per year, county-wide and per area. The naive threshold (N or more of a category in
one compound within 24 h: ``rule: count``) and EARS C3 are swept over their thresholds, so they
can be read at the false-alert rate of the scan.

The replay is ``citybrain.analysis.early_warning`` (the code the server runs, on arrays read
once from the database; nothing written); the two counties run side by side, one core each.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg

from bench.common import END, bench_database
from citybrain.alerts import Run, load_detectors
from citybrain.analysis.early_warning import DAY, Replay, load_history, replay, score
from citybrain.db.connection import libpq_conninfo

ALERTS = Path(__file__).resolve().parents[1] / "alerts"


def run(url: str, days: int, step_hours: float) -> tuple[Replay, list]:
    detectors = load_detectors(ALERTS)
    sc, ea = detectors["scan_compounds"], detectors["ears_villages"]
    lookback = max(sc.study_days, 3 + ea.baseline_weeks * 7)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        history = load_history(conn, END - timedelta(days=days + lookback), END)
    end = END.timestamp()
    result = replay(history, sc, ea, end - days * DAY, end, step_hours)
    return result, history.outbreaks


def cost_of_one_scan(url: str) -> tuple[float, float]:
    """Seconds of the shipped scan as the server runs it (every category, from the database)
    at the county's last hour; and of one category with every replicate run (no early stop:
    what a run costs when a cluster is significant)."""
    detector = load_detectors(ALERTS)["scan_compounds"]
    every_replicate = detector.model_copy(
        update={"categories": ["民生诉求"], "min_recurrence_days": 1e-9}
    )
    with psycopg.connect(libpq_conninfo(url)) as conn:
        started = time.perf_counter()
        Run(conn, detector, END).findings()
        shipped = time.perf_counter() - started
        started = time.perf_counter()
        Run(conn, every_replicate, END).findings()
        return shipped, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--outbreaks", type=int, default=40)
    parser.add_argument("--days", type=int, default=60, help="weeks replayed, in days")
    parser.add_argument("--step-hours", type=float, default=6.0)
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="only the cost of one scan (a county of its own for other sizes, e.g. 10000000)",
    )
    args = parser.parse_args()
    if args.cost_only:
        millions = args.incidents // 1_000_000
        suffix = "_bench" if args.incidents == 1_000_000 else f"_bench_{millions}m"
        shipped, full = cost_of_one_scan(bench_database(args.incidents, suffix=suffix))
        print(
            f"{args.incidents:,} incidents: the shipped scan from the database (10 categories, "
            f"quiet hour) {shipped:.2f} s; one category with all its replicates {full:.2f} s"
        )
        return
    quiet = bench_database(args.incidents)
    loud = bench_database(args.incidents, suffix="_bench_outbreaks", outbreaks=args.outbreaks)
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:  # the two counties side by side, one core each
        loud_run = pool.submit(run, loud, args.days, args.step_hours)
        quiet_run = pool.submit(run, quiet, args.days, args.step_hours)
        (with_outbreaks, truth), (without, _) = loud_run.result(), quiet_run.result()
    print(
        f"{args.incidents:,} incidents, {len(truth)} outbreaks; {args.days} days replayed every "
        f"{args.step_hours:g} h ({with_outbreaks.steps} runs of every detector; the scan with "
        f"{with_outbreaks.replications} replicates) in {time.perf_counter() - started:.0f} s"
    )
    areas = {
        "ears": len(load_areas(quiet, "villages")),
        "other": len(load_areas(quiet, "compounds")),
    }
    print()
    print(
        "| detector | outbreaks detected | median delay (h) | false alerts / year "
        "| per area / year |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, raised in with_outbreaks.tracks.items():
        share, delay, _ = score(name, raised, truth)
        false = len(without.tracks[name]) / without.years
        per_area = false / areas["ears" if name.startswith("ears") else "other"]
        delay_text = f"{delay:.1f}" if delay is not None else "–"
        print(f"| {name} | {share:.0%} | {delay_text} | {false:,.0f} | {per_area:.4f} |")
    print()
    sizes = sorted({o.size for o in truth})
    print("| detected (median delay) | " + " | ".join(f"size {s}" for s in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name in ("scan", "naive>=4", "naive>=6", "ears C3>=2", "ears C3>=4"):
        cells = []
        for s in sizes:
            share, delay, _ = score(
                name, with_outbreaks.tracks[name], [o for o in truth if o.size == s]
            )
            cells.append(f"{share:.0%}" + (f" ({delay:.0f} h)" if delay is not None else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    shipped, full = cost_of_one_scan(quiet)
    print()
    print(
        f"the shipped scan, from the database (10 categories, quiet hour): {shipped:.2f} s; one "
        f"category with all its replicates (a significant cluster): {full:.2f} s; one replay "
        f"step (every detector, 10 categories): {with_outbreaks.step_seconds:.2f} s"
    )


def load_areas(url: str, level: str):
    from citybrain.alerts import level_areas

    with psycopg.connect(libpq_conninfo(url)) as conn:
        return level_areas(conn, level)


if __name__ == "__main__":
    main()
