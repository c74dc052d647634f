"""The detector kinds citybrain ships, each a registered class holding its fields and its run:

- ``kind: scan``: the prospective space-time permutation scan over areas (``compounds``,
  ``grids``, ``villages``, ``towns`` or H3 cells ``h3_<res>``): circles of neighbouring areas ×
  recent windows, Monte-Carlo p-values, alerts when a cluster's recurrence interval reaches
  ``min_recurrence_days``.
- ``kind: ears``: EARS C2/C3 per area against the same hours of the ``baseline_weeks`` weeks
  before.
- ``kind: rule``: ``rule: count`` (``at_least`` cases in one area within ``window_hours``, the
  naive fixed threshold), ``overdue`` (``at_least`` open cases past their dispatch time limit in
  one grid, named by its teams) or ``cameras_offline`` (more than ``above_percent`` of a town's
  cameras offline).

The statistics are pure functions of arrays (``scan``, ``ears``, ``count_rule``), so the server,
``citybrain alerts run`` and the planners' replays run the same code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from citybrain.alerts import ears, texts
from citybrain.alerts.data import Areas, Cases, area_column, h3_areas, load_totals
from citybrain.alerts.detector import Detector, Finding, Run, register
from citybrain.alerts.queries import compose, load
from citybrain.alerts.scan import Zones, scan
from citybrain.domain import AWAITING_DISPATCH, AlertKind


def _ids(areas: Areas, members) -> list[int]:
    return [int(areas.ids[a]) for a in np.atleast_1d(members)]


@register("scan")
class Scan(Detector):
    family: ClassVar[AlertKind] = AlertKind.scan
    study_days: int = Field(90, ge=7, le=730, description="the history compared against")
    windows_hours: list[int] = Field([24, 72, 168], description="recent windows")
    max_radius_m: float = Field(1500, gt=0, le=20_000, description="largest circle")
    max_areas: int = Field(20, ge=1, le=200, description="most areas in one circle")
    replications: int = Field(999, ge=9, le=99_999, description="Monte-Carlo replicates")
    min_recurrence_days: float = Field(
        100,
        gt=0,
        description="alert when a cluster this unusual would arise by chance less often than "
        "once in this many days",
    )

    @field_validator("windows_hours")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(h < 1 or h > 24 * 31 for h in value):
            raise ValueError("give one or more windows of 1 to 744 hours")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Scan:
        if max(self.windows_hours) > self.study_days * 24 / 2:
            raise ValueError("scan: the longest window must be at most half the study period")
        need = int(np.ceil(1 / self.p_report - 1e-9)) - 1
        if self.replications < need:
            raise ValueError(
                f"scan: {self.replications} replications can never show a recurrence "
                f"interval of {self.min_recurrence_days:g} days for {len(self.analyses())} "
                f"analyses every {self.every}: give at least {need} (or run it less often)"
            )
        return self

    @property
    def longest_window(self) -> timedelta:
        return timedelta(hours=max(self.windows_hours))

    @property
    def p_report(self) -> float:
        """The largest p-value that alerts. The recurrence interval is the detector's as a
        whole: with K analyses (categories) every run, a cluster with p-value p in one of them
        arises by chance about once in ``every / (p · K)``."""
        return (
            self.every.total_seconds() / 86_400 / (self.min_recurrence_days * len(self.analyses()))
        )

    def recurrence_days(self, p_value: float) -> float:
        return self.every.total_seconds() / 86_400 / (p_value * len(self.analyses()))

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        now, level = run.now, self.areas
        start = now - timedelta(days=self.study_days)
        total_ids, total_n = load_totals(run.conn, level, categories, start, now)
        areas = h3_areas(level, total_ids) if level.startswith("h3_") else run.areas()
        totals = np.zeros(len(areas), dtype=np.int64)
        totals[areas.index(total_ids)] = total_n
        _, recent = run.cases(categories, now - self.longest_window, areas)
        found = scan(
            areas,
            self._zones(run, areas),
            totals,
            recent,
            now.timestamp(),
            [h * 3600.0 for h in self.windows_hours],
            self.replications,
            np.random.default_rng(int(now.timestamp())),  # replayable: same data, same answer
            self.min_cases,
            p_report=self.p_report,  # the detector's threshold over all its analyses
        )
        out = []
        for c in found:
            recurrence = self.recurrence_days(c.p_value)
            hours = c.window_s / 3600
            out.append(
                run.finding(
                    label,
                    _ids(areas, c.areas),
                    observed=c.observed,
                    expected=c.expected,
                    statistic=c.llr,
                    p_value=c.p_value,
                    recurrence_days=recurrence,
                    window_start=now - timedelta(seconds=c.window_s),
                    window_end=now,
                    incident_ids=c.incident_ids.tolist(),
                    **texts.said(
                        "scan",
                        hours=hours,
                        observed=c.observed,
                        expected=c.expected,
                        recurrence=recurrence,
                        **texts.what(label),
                    ),
                )
            )
        return out

    def _zones(self, run: Run, areas: Areas) -> Zones:
        """The circles: a level's are the same for every category of the run (H3 cells are
        those the category's incidents hold)."""
        if areas.is_h3:
            return Zones.circles(areas, self.max_radius_m, self.max_areas)
        return run.keep("zones", lambda: Zones.circles(areas, self.max_radius_m, self.max_areas))


@register("ears")
class Ears(Detector):
    family: ClassVar[AlertKind] = AlertKind.ears
    window_hours: int = Field(24, ge=1, le=24 * 31)
    method: Literal["C2", "C3"] = "C3"
    baseline_weeks: int = Field(8, ge=3, le=52)
    threshold: float | None = Field(None, description="default 3 for C2, 2 for C3")
    min_sd: float = Field(1.0, gt=0, description="floor of the baseline's spread")

    @property
    def longest_window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    @property
    def statistic_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 3.0 if self.method == "C2" else 2.0

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        now, window = run.now, self.longest_window
        start = now - 3 * window - timedelta(weeks=self.baseline_weeks)
        areas, cases = run.cases(categories, start)
        found = ears.detect(
            cases,
            len(areas),
            now.timestamp(),
            window.total_seconds(),
            self.baseline_weeks,
            self.method,
            self.statistic_threshold,
            self.min_sd,
            self.min_cases,
        )
        return [
            run.finding(
                label,
                _ids(areas, a.area),
                observed=a.observed,
                expected=a.expected,
                statistic=a.statistic,
                window_start=now - window,
                window_end=now,
                incident_ids=a.incident_ids.tolist(),
                **texts.said(
                    "ears",
                    hours=self.window_hours,
                    observed=a.observed,
                    weeks=self.baseline_weeks,
                    expected=a.expected,
                    method=self.method,
                    statistic=a.statistic,
                    **texts.what(label),
                ),
            )
            for a in found
        ]


class Rule(Detector):
    """A condition the command centre writes (``kind: rule``, each rule a class registered
    under its ``rule:``)."""

    family: ClassVar[AlertKind] = AlertKind.rule
    rule: str
    window_hours: int = Field(24, ge=1, le=24 * 31)
    at_least: int = Field(3, ge=1)

    @property
    def longest_window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


def count_rule(cases: Cases, n_areas: int, now: float, window_s: float, at_least: int):
    """Areas with at least ``at_least`` incidents in the window ending now: (area, ids)."""
    inside = (cases.t >= now - window_s) & (cases.t < now)
    per_area = np.bincount(cases.area[inside], minlength=n_areas)
    hits = np.flatnonzero(per_area >= at_least)
    hits = hits[np.argsort(-per_area[hits], kind="stable")]
    return [(int(a), np.sort(cases.id[inside & (cases.area == a)])) for a in hits]


@register("rule", "count")
class Count(Rule):
    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        now, window = run.now, self.longest_window
        areas, cases = run.cases(categories, now - window)
        hits = count_rule(cases, len(areas), now.timestamp(), window.total_seconds(), self.at_least)
        return [
            run.finding(
                label,
                _ids(areas, a),
                observed=len(ids),
                expected=None,
                statistic=float(len(ids)),
                window_start=now - window,
                window_end=now,
                incident_ids=ids.tolist(),
                **texts.said(
                    "count",
                    hours=self.window_hours,
                    observed=len(ids),
                    at_least=self.at_least,
                    **texts.what(label),
                ),
            )
            for a, ids in hits
        ]


@register("rule", "overdue")
class Overdue(Rule):
    @model_validator(mode="after")
    def _grids(self) -> Overdue:
        if self.areas != "grids":
            raise ValueError("rule overdue: areas must be grids (each grid's team)")
        return self

    def analyses(self) -> list[tuple[str | None, list[str] | None]]:
        return [(None, self.categories)]

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        rows = run.conn.execute(
            load("overdue"),
            {
                "waiting": [str(s) for s in AWAITING_DISPATCH],
                "now": run.now,
                "categories": categories,
                "at_least": self.at_least,
            },
        ).fetchall()
        return [
            run.finding(
                label,
                [area],
                window_start=oldest,
                window_end=run.now,
                observed=n,
                expected=None,
                statistic=float(n),
                incident_ids=list(ids),
                **texts.said(
                    "overdue",
                    observed=n,
                    oldest=oldest,
                    teams_zh=teams or "无",
                    teams_en=teams or "none",
                ),
            )
            for area, n, ids, oldest, teams in rows
        ]


@register("rule", "cameras_offline")
class CamerasOffline(Rule):
    above_percent: float = Field(20, ge=0, le=100)

    @model_validator(mode="after")
    def _hierarchy(self) -> CamerasOffline:
        if self.areas.startswith("h3_"):
            raise ValueError("rule cameras_offline: areas must be a level of the hierarchy")
        return self

    def analyses(self) -> list[tuple[str | None, list[str] | None]]:
        return [(None, self.categories)]

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        rows = run.conn.execute(
            compose("cameras_offline", area=area_column(self.areas)),
            {"above": self.above_percent, "at_least": max(self.at_least, 1)},
        ).fetchall()
        return [
            run.finding(
                label,
                [area],
                window_start=run.now,
                window_end=run.now,
                observed=offline,
                expected=float(cameras),
                statistic=100.0 * offline / cameras,
                **texts.said(
                    "cameras_offline",
                    offline=offline,
                    cameras=cameras,
                    percent=100.0 * offline / cameras,
                    above=self.above_percent,
                ),
            )
            for area, offline, cameras in rows
        ]
