"""Detectors in declarative files: one YAML file per detector in ``alerts/``
(``CITYBRAIN_ALERTS_DIR``), validated when the server starts, with the file and field named.

Three kinds:

- ``scan``: the prospective space-time permutation scan over areas (``compounds``, ``grids``,
  ``villages``, ``towns`` or H3 cells ``h3_<res>``): circles of neighbouring areas × recent
  windows, Monte-Carlo p-values, alerts when a cluster's recurrence interval reaches
  ``min_recurrence_days``.
- ``ears``: EARS C2/C3 per area against the same hours of the ``baseline_weeks`` weeks before.
- ``rule``: ``count`` (``at_least`` cases in one area within ``window_hours``, the naive fixed
  threshold), ``overdue`` (``at_least`` open cases past their dispatch time limit in one grid,
  named by its teams) or ``cameras_offline`` (more than ``above_percent`` of a town's cameras
  offline).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from citybrain.domain import ALERT_LEVELS, CATEGORIES_BY_NAME, HEAT_RESOLUTIONS, AlertKind
from citybrain.errors import CitybrainError
from citybrain.yamlfiles import Title, read_dir

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class DetectorConfigError(CitybrainError):
    code = "detector_config"


def duration(value: str | int | float) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``2d`` (or a number of seconds)."""
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 90s, 15m, 1h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _level(value: str) -> str:
    if value in ALERT_LEVELS:
        return value
    match = re.fullmatch(r"h3_(\d+)", value)
    if match and int(match.group(1)) in HEAT_RESOLUTIONS:
        return value
    raise ValueError(
        f"{value!r} is not an area level: one of {', '.join(ALERT_LEVELS)} or h3_<res> with res "
        f"in {HEAT_RESOLUTIONS.start}..{HEAT_RESOLUTIONS.stop - 1}"
    )


class Detector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    kind: AlertKind
    enabled: bool = True
    every: timedelta = Field(timedelta(hours=1), description="how often it runs")
    on_change: bool = Field(
        False, description="also run within seconds of a new incident (rules that must fire fast)"
    )
    categories: list[str] | None = Field(None, description="None: every category")
    by_category: bool = Field(True, description="one analysis per category, or all together")
    areas: str = "compounds"
    min_cases: int = Field(3, ge=1, description="fewer cases than this never alert")
    # scan
    study_days: int = Field(90, ge=7, le=730, description="scan: the history compared against")
    windows_hours: list[int] = Field([24, 72, 168], description="scan: recent windows")
    max_radius_m: float = Field(1500, gt=0, le=20_000, description="scan: largest circle")
    max_areas: int = Field(20, ge=1, le=200, description="scan: most areas in one circle")
    replications: int = Field(999, ge=9, le=99_999, description="scan: Monte-Carlo replicates")
    min_recurrence_days: float = Field(
        100,
        gt=0,
        description="scan: alert when a cluster this unusual would arise by chance "
        "less often than once in this many days",
    )
    # ears and rules
    window_hours: int = Field(24, ge=1, le=24 * 31)
    # ears
    method: Literal["C2", "C3"] = "C3"
    baseline_weeks: int = Field(8, ge=3, le=52)
    threshold: float | None = Field(None, description="ears: default 3 for C2, 2 for C3")
    min_sd: float = Field(1.0, gt=0, description="ears: floor of the baseline's spread")
    # rules
    rule: Literal["count", "overdue", "cameras_offline"] | None = None
    at_least: int = Field(3, ge=1)
    above_percent: float = Field(20, ge=0, le=100)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value):
        return duration(value) if isinstance(value, str) else value

    @field_validator("categories")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if name not in CATEGORIES_BY_NAME:
                raise ValueError(
                    f"unknown category {name!r}; one of {', '.join(CATEGORIES_BY_NAME)}"
                )
        return value

    @field_validator("areas")
    @classmethod
    def _areas(cls, value: str) -> str:
        return _level(value)

    @field_validator("windows_hours")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(h < 1 or h > 24 * 31 for h in value):
            raise ValueError("give one or more windows of 1 to 744 hours")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Detector:
        if self.kind == AlertKind.rule and self.rule is None:
            raise ValueError("a rule needs rule: count, overdue or cameras_offline")
        if self.kind != AlertKind.rule and self.rule is not None:
            raise ValueError(f"rule: only for kind rule, not {self.kind}")
        if self.kind == AlertKind.scan and max(self.windows_hours) > self.study_days * 24 / 2:
            raise ValueError("scan: the longest window must be at most half the study period")
        if self.every <= timedelta(0):
            raise ValueError("every must be a positive duration, such as 15m or 1h")
        if self.kind == AlertKind.scan:
            need = int(np.ceil(1 / self.p_report - 1e-9)) - 1
            if self.replications < need:
                raise ValueError(
                    f"scan: {self.replications} replications can never show a recurrence "
                    f"interval of {self.min_recurrence_days:g} days for {len(self.analyses())} "
                    f"analyses every {self.every}: give at least {need} (or run it less often)"
                )
        if self.rule == "overdue" and self.areas != "grids":
            raise ValueError("rule overdue: areas must be grids (each grid's team)")
        if self.rule == "cameras_offline" and self.areas.startswith("h3_"):
            raise ValueError("rule cameras_offline: areas must be a level of the hierarchy")
        return self

    @property
    def longest_window(self) -> timedelta:
        hours = max(self.windows_hours) if self.kind == AlertKind.scan else self.window_hours
        return timedelta(hours=hours)

    @property
    def p_report(self) -> float:
        """scan: the largest p-value that alerts. The recurrence interval is the detector's as a
        whole: with K analyses (categories) every run, a cluster with p-value p in one of them
        arises by chance about once in ``every / (p · K)``."""
        return (
            self.every.total_seconds() / 86_400 / (self.min_recurrence_days * len(self.analyses()))
        )

    def recurrence_days(self, p_value: float) -> float:
        return self.every.total_seconds() / 86_400 / (p_value * len(self.analyses()))

    @property
    def statistic_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 3.0 if self.method == "C2" else 2.0

    def analyses(self) -> list[tuple[str | None, list[str] | None]]:
        """Each analysis: the category its alerts carry (None: several together) and the
        categories it counts (None: every one)."""
        if self.rule in ("overdue", "cameras_offline"):
            return [(None, self.categories)]
        if not self.by_category:
            only = self.categories
            return [(only[0] if only and len(only) == 1 else None, only)]
        return [(c, [c]) for c in self.categories or CATEGORIES_BY_NAME]


def load_detectors(directory: Path) -> dict[str, Detector]:
    """Every enabled detector in ``directory`` (an empty or missing directory: none)."""
    if not directory.is_dir():
        return {}
    found = read_dir(directory, Detector, DetectorConfigError, "CITYBRAIN_ALERTS_DIR")
    return {k: d for k, d in found.items() if d.enabled}
