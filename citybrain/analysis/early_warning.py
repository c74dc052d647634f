"""Replaying early warning over past weeks, for measuring and tuning detectors (notebook 06 and
``bench/early_warning.py``).

The scan, EARS C3 and the naive fixed threshold (N or more of a category in one compound
within 24 h, ``rule: count``) run side by side at every step of a replay, on arrays read once
from the database, with the code the server runs (``citybrain.alerts``); alerts are
de-duplicated as ``citybrain.alerts.store`` does (a finding that shares an area with an active
alert of the same detector and category updates it; an alert a run no longer sees has passed).
EARS and the naive threshold are swept over several thresholds at once, so each can be read at
the false-alert rate of the scan. Nothing is written.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import psycopg

from citybrain import sql as sql_files
from citybrain.alerts import Areas, Cases, Ears, Scan, Zones, count_rule, ears, level_areas
from citybrain.alerts.scan import scan
from citybrain.domain import CATEGORIES

DAY = 86_400.0
NAIVE = (3, 4, 5, 6, 8, 10)
EARS_THRESHOLDS = (2.0, 3.0, 4.0, 6.0, 8.0)


@dataclass
class Alert:
    areas: set[int]  # positions in the level's Areas
    first: float  # seconds since the epoch
    last: float


@dataclass
class Track:
    """The alerts of one detector (at one threshold)."""

    active: dict[str, list[Alert]] = field(default_factory=dict)
    raised: list[tuple[str, Alert]] = field(default_factory=list)  # (category, alert)

    def see(self, category: str, found: list[set[int]], now: float) -> None:
        before = self.active.get(category, [])
        kept: list[Alert] = []
        for areas in found:
            same = next((a for a in before if a not in kept and a.areas & areas), None)
            if same is None:
                same = Alert(set(areas), now, now)
                self.raised.append((category, same))
            else:
                same.areas, same.last = set(areas), now
            kept.append(same)
        self.active[category] = kept


@dataclass(frozen=True)
class Outbreak:
    category: str
    start: float
    end: float
    compound: int  # position in the compounds' Areas
    village: int  # position in the villages' Areas
    size: int


@dataclass
class History:
    """Incidents per category, sorted by time: report time, compound and village positions, id."""

    compounds: Areas
    villages: Areas
    t: dict[str, np.ndarray]
    compound: dict[str, np.ndarray]
    village: dict[str, np.ndarray]
    ids: dict[str, np.ndarray]
    outbreaks: list[Outbreak]

    def add(self, category: str, t: np.ndarray, compound: int, village: int) -> None:
        """Plant incidents (an outbreak of one's own, in memory only)."""
        first_id = max(int(v.max(initial=0)) for v in self.ids.values()) + 1
        merged = {
            "t": np.concatenate([self.t[category], t]),
            "compound": np.concatenate([self.compound[category], np.full(len(t), compound)]),
            "village": np.concatenate([self.village[category], np.full(len(t), village)]),
            "ids": np.concatenate([self.ids[category], np.arange(first_id, first_id + len(t))]),
        }
        order = np.argsort(merged["t"], kind="stable")
        for name, values in merged.items():
            getattr(self, name)[category] = values[order]
        self.outbreaks.append(
            Outbreak(category, float(t.min()), float(t.max()), compound, village, len(t))
        )


def load_history(conn: psycopg.Connection, start: datetime, end: datetime) -> History:
    """Every incident reported in [start, end), and the outbreaks recorded by the seed."""
    compounds = level_areas(conn, "compounds")
    villages = level_areas(conn, "villages")
    rows = conn.execute(
        sql_files.load("analysis/history_incidents"), {"start": start, "end": end}
    ).fetchall()
    truth = conn.execute(sql_files.load("analysis/history_outbreaks")).fetchall()
    category = np.array([r[0] for r in rows], dtype=object)
    columns = {
        "t": np.array([r[1] for r in rows], dtype=float),
        "compound": compounds.index(np.array([r[2] for r in rows], dtype=np.int64)),
        "village": villages.index(np.array([r[3] for r in rows], dtype=np.int64)),
        "ids": np.array([r[4] for r in rows], dtype=np.int64),
    }
    split = {
        name: {c.name: values[category == c.name] for c in CATEGORIES}
        for name, values in columns.items()
    }
    outbreaks = [
        Outbreak(c, s, e, int(compounds.index(np.array([cp]))[0]),
                 int(villages.index(np.array([v]))[0]), n)
        for c, s, e, cp, v, n in truth
    ]  # fmt: skip
    return History(compounds, villages, **split, outbreaks=outbreaks)


@dataclass(frozen=True)
class Replay:
    tracks: dict[str, list[tuple[str, Alert]]]  # detector → its raised alerts
    steps: int
    years: float
    replications: int
    step_seconds: float  # median time of one step (every detector, every category)


def replay(
    history: History,
    scan_detector: Scan,
    ears_detector: Ears,
    first: float,
    last: float,
    step_hours: float,
) -> Replay:
    """Run the detectors every ``step_hours`` from ``first`` to ``last`` (epoch seconds). The
    scan's recurrence interval is for that cadence."""
    # The scan as if it ran every step: its p-value threshold for that cadence, and the fewest
    # replicates that can reach it (p = 1/(R+1) when no replicate is as extreme).
    sc = scan_detector.model_copy(update={"every": timedelta(hours=step_hours)})
    ea = ears_detector
    p_report = sc.p_report
    replications = int(np.ceil(1 / p_report - 1e-9)) - 1
    compounds, villages = history.compounds, history.villages
    zones = Zones.circles(compounds, sc.max_radius_m, sc.max_areas)
    windows = [h * 3600.0 for h in sc.windows_hours]
    tracks = {"scan": Track()} | {f"naive>={n}": Track() for n in NAIVE}
    tracks |= {f"ears C3>={x:g}": Track() for x in EARS_THRESHOLDS}
    seconds: list[float] = []
    steps = np.arange(first + step_hours * 3600, last + 1, step_hours * 3600)
    for now in steps:
        rng = np.random.default_rng(int(now))
        started = time.perf_counter()
        for c in CATEGORIES:
            t, cp, vl, ids = (
                getattr(history, f)[c.name] for f in ("t", "compound", "village", "ids")
            )
            lo, hi = np.searchsorted(t, [now - sc.study_days * DAY, now])
            totals = np.bincount(cp[lo:hi], minlength=len(compounds))
            r_lo = np.searchsorted(t, now - max(windows))
            recent = Cases(cp[r_lo:hi], t[r_lo:hi], ids[r_lo:hi])
            found = scan(
                compounds, zones, totals, recent, now, windows, replications, rng,
                sc.min_cases, p_report=p_report,
            )  # fmt: skip
            tracks["scan"].see(c.name, [set(f.areas.tolist()) for f in found], now)
            d_lo = np.searchsorted(t, now - DAY)
            day = Cases(cp[d_lo:hi], t[d_lo:hi], ids[d_lo:hi])
            for n in NAIVE:
                hits = count_rule(day, len(compounds), now, DAY, n)
                tracks[f"naive>={n}"].see(c.name, [{a} for a, _ in hits], now)
            e_lo = np.searchsorted(t, now - 3 * DAY - ea.baseline_weeks * 7 * DAY)
            e_cases = Cases(vl[e_lo:hi], t[e_lo:hi], ids[e_lo:hi])
            for x in EARS_THRESHOLDS:
                hits = ears.detect(
                    e_cases, len(villages), now, ea.window_hours * 3600.0, ea.baseline_weeks,
                    "C3", x, ea.min_sd, ea.min_cases,
                )  # fmt: skip
                tracks[f"ears C3>={x:g}"].see(c.name, [{h.area} for h in hits], now)
        seconds.append(time.perf_counter() - started)
    return Replay(
        {name: track.raised for name, track in tracks.items()},
        len(steps),
        (last - first) / (365 * DAY),
        replications,
        statistics.median(seconds) if seconds else 0.0,
    )


def score(
    detector: str, raised: list[tuple[str, Alert]], outbreaks: list[Outbreak]
) -> tuple[float, float | None, list[float | None]]:
    """(share of outbreaks detected, median delay in hours from their start, each one's delay or
    None): detected by an alert of its category whose area holds its compound (EARS: its
    village), raised between its start and a week after its end."""
    village_level = detector.startswith("ears")
    delays: list[float | None] = []
    for o in outbreaks:
        place = o.village if village_level else o.compound
        hits = [
            a.first
            for category, a in raised
            if category == o.category and place in a.areas and o.start <= a.first <= o.end + 7 * DAY
        ]
        delays.append((min(hits) - o.start) / 3600 if hits else None)
    found = [d for d in delays if d is not None]
    share = len(found) / len(outbreaks) if outbreaks else 0.0
    return share, (statistics.median(found) if found else None), delays
