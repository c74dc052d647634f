"""One run of one detector: read what it needs, run it, say what it found (``Finding``s, one
per unusual area or cluster, strongest first). Storing them as alerts is
``citybrain.services.alerts``'s job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import psycopg

from citybrain.brain import ears
from citybrain.brain.config import Detector
from citybrain.brain.data import (
    Areas,
    Cases,
    area_column,
    h3_areas,
    level_areas,
    load_cases,
    load_totals,
)
from citybrain.brain.scan import Zones, scan
from citybrain.domain import AWAITING_DISPATCH, AlertKind
from citybrain.sql import compose, load


@dataclass(frozen=True)
class Finding:
    detector: str
    kind: str
    category: str | None
    level: str
    area_ids: list[int]  # ids of the level's table, or H3 cells
    observed: int
    expected: float | None
    statistic: float
    window_start: datetime
    window_end: datetime
    summary: str
    p_value: float | None = None
    recurrence_days: float | None = None
    incident_ids: list[int] = field(default_factory=list)


def count_rule(cases: Cases, n_areas: int, now: float, window_s: float, at_least: int):
    """Areas with at least ``at_least`` incidents in the window ending now: (area, ids)."""
    inside = (cases.t >= now - window_s) & (cases.t < now)
    per_area = np.bincount(cases.area[inside], minlength=n_areas)
    hits = np.flatnonzero(per_area >= at_least)
    hits = hits[np.argsort(-per_area[hits], kind="stable")]
    return [(int(a), np.sort(cases.id[inside & (cases.area == a)])) for a in hits]


def _what(category: str | None) -> str:
    return category or "incidents"


class Run:
    """The data one run of one detector reads, cached per level (one run may analyse several
    categories)."""

    def __init__(self, conn: psycopg.Connection, detector: Detector, now: datetime):
        self.conn, self.d, self.now = conn, detector, now
        self._areas: Areas | None = None
        self._zones: Zones | None = None

    def areas(self) -> Areas:
        if self._areas is None and not self.d.areas.startswith("h3_"):
            self._areas = level_areas(self.conn, self.d.areas)
        assert self._areas is not None
        return self._areas

    def zones(self, areas: Areas) -> Zones:
        """The scan's circles: a level's are the same for every category of the run (H3 cells
        are those the category's incidents hold)."""
        if areas.is_h3:
            return Zones.circles(areas, self.d.max_radius_m, self.d.max_areas)
        if self._zones is None:
            self._zones = Zones.circles(areas, self.d.max_radius_m, self.d.max_areas)
        return self._zones

    def cases(self, categories: list[str] | None, start: datetime, areas: Areas | None = None):
        """(areas, cases) from ``start`` to now: H3 cells are the ones the cases (or the given
        ``areas``) hold; a level's areas are all of its areas."""
        ids, t, incident_ids = load_cases(self.conn, self.d.areas, categories, start, self.now)
        if areas is None:
            areas = h3_areas(self.d.areas, ids) if self.d.areas.startswith("h3_") else self.areas()
        return areas, Cases(areas.index(ids), t, incident_ids)

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        if self.d.kind == AlertKind.rule and self.d.rule != "count":
            return self._sql_rule()
        for label, categories in self.d.analyses():
            out += {
                AlertKind.scan: self._scan,
                AlertKind.ears: self._ears,
                AlertKind.rule: self._count,
            }[self.d.kind](label, categories)
        return out

    def _finding(self, areas: Areas, members, label, **values) -> Finding:
        return Finding(
            detector=self.d.id,
            kind=str(self.d.kind),
            category=label,
            level=self.d.areas,
            area_ids=[int(areas.ids[a]) for a in np.atleast_1d(members)],
            **values,
        )

    def _scan(self, label, categories) -> list[Finding]:
        d, now = self.d, self.now
        start = now - timedelta(days=d.study_days)
        total_ids, total_n = load_totals(self.conn, d.areas, categories, start, now)
        longest = timedelta(hours=max(d.windows_hours))
        areas = h3_areas(d.areas, total_ids) if d.areas.startswith("h3_") else self.areas()
        totals = np.zeros(len(areas), dtype=np.int64)
        totals[areas.index(total_ids)] = total_n
        _, recent = self.cases(categories, now - longest, areas)
        zones = self.zones(areas)
        rng = np.random.default_rng(int(now.timestamp()))  # replayable: same data, same answer
        found = scan(
            areas,
            zones,
            totals,
            recent,
            now.timestamp(),
            [h * 3600.0 for h in d.windows_hours],
            d.replications,
            rng,
            d.min_cases,
            p_report=d.p_report,  # the detector's threshold over all its analyses
        )
        out = []
        for c in found:
            recurrence = d.recurrence_days(c.p_value)
            hours = c.window_s / 3600
            out.append(
                self._finding(
                    areas,
                    c.areas,
                    label,
                    observed=c.observed,
                    expected=c.expected,
                    statistic=c.llr,
                    p_value=c.p_value,
                    recurrence_days=recurrence,
                    window_start=now - timedelta(seconds=c.window_s),
                    window_end=now,
                    incident_ids=c.incident_ids.tolist(),
                    summary=f"{c.observed} {_what(label)} in {hours:g} h where {c.expected:.1f} "
                    f"were expected; by chance about once in {recurrence:,.0f} days",
                )
            )
        return out

    def _ears(self, label, categories) -> list[Finding]:
        d, now = self.d, self.now
        window = timedelta(hours=d.window_hours)
        areas, cases = self.cases(categories, now - 3 * window - timedelta(weeks=d.baseline_weeks))
        found = ears.detect(
            cases,
            len(areas),
            now.timestamp(),
            window.total_seconds(),
            d.baseline_weeks,
            d.method,
            d.statistic_threshold,
            d.min_sd,
            d.min_cases,
        )
        return [
            self._finding(
                areas,
                a.area,
                label,
                observed=a.observed,
                expected=a.expected,
                statistic=a.statistic,
                window_start=now - window,
                window_end=now,
                incident_ids=a.incident_ids.tolist(),
                summary=f"{a.observed} {_what(label)} in {d.window_hours} h where the same hours "
                f"of the last {d.baseline_weeks} weeks averaged {a.expected:.1f} "
                f"({d.method} = {a.statistic:.1f})",
            )
            for a in found
        ]

    def _count(self, label, categories) -> list[Finding]:
        d, now = self.d, self.now
        window = timedelta(hours=d.window_hours)
        areas, cases = self.cases(categories, now - window)
        hits = count_rule(cases, len(areas), now.timestamp(), window.total_seconds(), d.at_least)
        return [
            self._finding(
                areas,
                a,
                label,
                observed=len(ids),
                expected=None,
                statistic=float(len(ids)),
                window_start=now - window,
                window_end=now,
                incident_ids=ids.tolist(),
                summary=f"{len(ids)} {_what(label)} within {d.window_hours} h "
                f"(the rule: {d.at_least} or more)",
            )
            for a, ids in hits
        ]

    def _sql_rule(self) -> list[Finding]:
        d, now = self.d, self.now
        base = {
            "detector": d.id,
            "kind": str(d.kind),
            "level": d.areas,
            "window_start": now,
            "window_end": now,
        }
        if d.rule == "overdue":
            rows = self.conn.execute(
                load("alerts/overdue"),
                {
                    "waiting": [str(s) for s in AWAITING_DISPATCH],
                    "now": now,
                    "categories": d.categories,
                    "at_least": d.at_least,
                },
            ).fetchall()
            return [
                Finding(
                    **base | {"window_start": oldest},
                    category=None,
                    area_ids=[area],
                    observed=n,
                    expected=None,
                    statistic=float(n),
                    incident_ids=list(ids),
                    summary=f"{n} cases past their dispatch time limit, waiting since "
                    f"{oldest:%m-%d %H:%M}; team: {teams or 'none'}",
                )
                for area, n, ids, oldest, teams in rows
            ]
        rows = self.conn.execute(
            compose("alerts/cameras_offline", area=area_column(d.areas)),
            {"above": d.above_percent, "at_least": max(d.at_least, 1)},
        ).fetchall()
        return [
            Finding(
                **base,
                category=None,
                area_ids=[area],
                observed=offline,
                expected=float(cameras),
                statistic=100.0 * offline / cameras,
                summary=f"{offline} of {cameras} cameras offline "
                f"({100.0 * offline / cameras:.0f} %, the rule: above {d.above_percent:g} %)",
            )
            for area, offline, cameras in rows
        ]
