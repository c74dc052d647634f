"""The assessment (考核) of a month on the 1M-incident county: ``GET /reports/assessment`` for
each level through the API (a viewer's key: the county's whole assessment), and the files
``citybrain report assessment`` writes (XLSX and PDF, all five levels).

    .venv/bin/python -m bench.assessment                 # October 2026, 7 rounds
    .venv/bin/python -m bench.assessment --period 2026-09 --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.common import BENCH_KEY, bench_database, serve
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import ASSESSMENT_LEVELS

VIEWER_KEY = "viewer:bench-viewer-key-000001"


def main(period: str, rounds: int) -> dict:
    url = bench_database()
    with psycopg.connect(libpq_conninfo(url)) as conn:
        incidents = conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    keys = f"{BENCH_KEY},{VIEWER_KEY}"
    headers = {"Authorization": f"Bearer {VIEWER_KEY.split(':', 1)[1]}"}
    times: dict[str, list[float]] = {level: [] for level in ASSESSMENT_LEVELS}
    received = {}
    with (
        serve(url, workers=2, CITYBRAIN_API_KEYS=keys) as base,
        httpx.Client(base_url=base, headers=headers, timeout=120) as c,
    ):
        for level in ASSESSMENT_LEVELS:  # (warm: plans, caches)
            r = c.get("/reports/assessment", params={"period": period, "level": level})
            r.raise_for_status()
            received[level] = r.json()["total"]["received"]
        for _ in range(rounds):
            for level in ASSESSMENT_LEVELS:
                t = time.perf_counter()
                c.get("/reports/assessment", params={"period": period, "level": level})
                times[level].append(time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "assessment"
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "citybrain.cli",
                "report",
                "assessment",
                "--period",
                period,
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            env=dict(os.environ, CITYBRAIN_DATABASE_URL=url),
        )
        files_s = time.perf_counter() - t
        sizes = {p.suffix: p.stat().st_size for p in Path(tmp).iterdir()}
    return {
        "machine": platform.node(),
        "incidents": incidents,
        "period": period,
        "cases_in_period": received["town"],
        "rounds": rounds,
        "api_median_ms": {
            level: round(1000 * statistics.median(ts), 1) for level, ts in times.items()
        },
        "api_max_ms": {level: round(1000 * max(ts), 1) for level, ts in times.items()},
        "report_files_s": round(files_s, 2),
        "report_file_bytes": sizes,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(main(args.period, args.rounds), ensure_ascii=False, indent=2))
