"""Detectors in declarative files, and the registry of their kinds.

A detector is one YAML file in ``alerts/`` (``CITYBRAIN_ALERTS_DIR``), validated when the server
starts with the file and field named. Its ``kind:`` (and for the rules, ``rule:``) names a class
registered with ``@register``: the class holds the fields of its kind and says what one run
finds. ``Detector.model_validate`` picks the class, so adding a kind is adding one class — in
``citybrain.alerts.kinds`` or in a module named in ``CITYBRAIN_ALERTS_MODULES`` (recipe:
docs/architecture.md). ``Run`` is what one run of one detector reads; ``Finding`` what it found.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from citybrain.alerts.data import Areas, Cases, h3_areas, level_areas, load_cases
from citybrain.domain import ALERT_LEVELS, CATEGORIES_BY_NAME, HEAT_RESOLUTIONS, AlertKind
from citybrain.errors import CitybrainError
from citybrain.yamlfiles import Title, read_dir

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MODULES_SETTING = "CITYBRAIN_ALERTS_MODULES"


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


# --- the registry -------------------------------------------------------------------------------

Key = tuple[str, str | None]  # (kind, rule): rule only for the kinds that have rules
KINDS: dict[Key, type[Detector]] = {}
D = TypeVar("D", bound="type[Detector]")


def _spelled(key: Key) -> str:
    return key[0] if key[1] is None else f"{key[0]} (rule: {key[1]})"


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _rules_of(kind: str) -> list[str]:
    return [r for k, r in KINDS if k == kind and r is not None]


def register(kind: str, rule: str | None = None) -> Callable[[D], D]:
    """Class decorator: the detector files whose ``kind:`` is ``kind`` (and ``rule:`` is
    ``rule``, for a kind that has rules) are of the decorated class. A kind has rules or none;
    a name is one class's (the same class again — its module imported a second time, under
    another name — takes its place)."""

    def add(cls: D) -> D:
        if not isinstance(getattr(cls, "family", None), AlertKind):
            raise TypeError(
                f"{cls.__qualname__}: set family, what its alerts are called (alerts.kind): "
                f"one of {', '.join(AlertKind)}"
            )
        key = (kind, rule)
        held = KINDS.get(key)
        if held is not None and _origin(held) != _origin(cls):
            raise ValueError(
                f"kind {_spelled(key)} is already {held.__module__}.{held.__qualname__}'s"
            )
        if any(k == kind and (r is None) != (rule is None) for k, r in KINDS):
            raise ValueError(f"kind {kind} {'has' if rule is None else 'has no'} rules")
        cls.key = key
        KINDS[key] = cls
        return cls

    return add


def _origin(cls: type) -> tuple[str | None, str]:
    """(the file that defines the class, its name)."""
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None), cls.__qualname__


def import_kinds(modules: Iterable[str]) -> None:
    """Import the modules that register kinds of a deployment's own."""
    for name in (m.strip() for m in modules):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise DetectorConfigError(f"{MODULES_SETTING}: cannot import {name}: {exc}") from exc


class _Which(BaseModel):
    """Which class a detector file is of: its ``kind`` (and ``rule``), checked first so that a
    file of an unknown kind is told so rather than about fields it lacks."""

    model_config = ConfigDict(extra="ignore")
    kind: str
    rule: str | None = Field(None, validate_default=True)

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        kinds = list(dict.fromkeys(k for k, _ in KINDS))
        if value not in kinds:
            raise ValueError(
                f"unknown kind {value!r}: one of {_or(kinds)} (a kind of one's own: a class "
                f"registered by a module named in {MODULES_SETTING})"
            )
        return value

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is None:  # (the kind's own error says it)
            return value
        rules = _rules_of(kind)
        if rules and value is None:
            raise ValueError(f"a {kind} needs rule: {_or(rules)}")
        if not rules and value is not None:
            having = list(dict.fromkeys(k for k, r in KINDS if r is not None))
            raise ValueError(f"rule: only for kind {_or(having)}, not {kind}")
        if rules and value not in rules:
            raise ValueError(f"unknown rule {value!r}: one of {_or(rules)}")
        return value


# --- the model ----------------------------------------------------------------------------------


class Detector(BaseModel):
    """What every detector file has. A kind is a subclass with the fields of its own, its
    ``family``, and ``analyse`` (one analysis: a category, or several together) or ``find``
    (the whole run), registered with ``@register``."""

    model_config = ConfigDict(extra="forbid")
    family: ClassVar[AlertKind]  # what its alerts are called (alerts.kind, the API's filter)
    key: ClassVar[Key | None] = None  # (kind, rule) it is registered under

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    kind: str = Field(description="the registered kind: scan, ears, rule or one's own")
    rule: str | None = Field(None, description="which rule, for kind rule")
    enabled: bool = True
    every: timedelta = Field(timedelta(hours=1), description="how often it runs")
    on_change: bool = Field(
        False, description="also run within seconds of a new incident (rules that must fire fast)"
    )
    categories: list[str] | None = Field(None, description="None: every category")
    by_category: bool = Field(True, description="one analysis per category, or all together")
    areas: str = "compounds"
    min_cases: int = Field(3, ge=1, description="fewer cases than this never alert")

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As pydantic's; on ``Detector`` itself, a detector of the class that ``obj``'s
        ``kind`` (and ``rule``) names."""
        if cls is Detector and not isinstance(obj, Detector):
            which = _Which.model_validate(obj)
            cls = KINDS[(which.kind, which.rule)]
        return super().model_validate(obj, **kwargs)

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration(value) if isinstance(value, str) else value

    @field_validator("every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("every must be a positive duration, such as 15m or 1h")
        return value

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

    @model_validator(mode="after")
    def _registered(self) -> Detector:
        if (self.kind, self.rule) != type(self).key:
            raise ValueError(
                f"kind {_spelled((self.kind, self.rule))} is not {type(self).__name__} "
                "(Detector.model_validate picks the class a file names)"
            )
        return self

    @property
    def longest_window(self) -> timedelta:
        """How far back a run looks: an alert not closed and seen within it is the one a new
        finding in its area continues (by default, one interval between runs)."""
        return self.every

    def analyses(self) -> list[tuple[str | None, list[str] | None]]:
        """Each analysis: the category its alerts carry (None: several together) and the
        categories it counts (None: every one)."""
        if not self.by_category:
            only = self.categories
            return [(only[0] if only and len(only) == 1 else None, only)]
        return [(c, [c]) for c in self.categories or CATEGORIES_BY_NAME]

    def find(self, run: Run) -> list[Finding]:
        """What one run finds: every analysis's findings."""
        return [f for label, cats in self.analyses() for f in self.analyse(run, label, cats)]

    def analyse(self, run: Run, label: str | None, categories: list[str] | None) -> list[Finding]:
        raise NotImplementedError(f"{type(self).__name__}: define analyse() or find()")


def load_detectors(directory: Path, modules: Iterable[str] = ()) -> dict[str, Detector]:
    """Every enabled detector in ``directory`` (an empty or missing directory: none), once
    ``modules`` (``CITYBRAIN_ALERTS_MODULES``) have registered their kinds."""
    import_kinds(modules)
    if not directory.is_dir():
        return {}
    found = read_dir(directory, Detector, DetectorConfigError, "CITYBRAIN_ALERTS_DIR")
    return {k: d for k, d in found.items() if d.enabled}


# --- one run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    detector: str
    kind: str  # the detector's family
    category: str | None
    level: str
    area_ids: list[int]  # ids of the level's table, or H3 cells
    observed: int
    expected: float | None
    statistic: float
    window_start: datetime
    window_end: datetime
    summary: str  # what is unusual, in Chinese (texts.said: from the kind's template)
    summary_en: str | None = None  # the same in English (None: the detector wrote one text)
    p_value: float | None = None
    recurrence_days: float | None = None
    incident_ids: list[int] = field(default_factory=list)


class Run:
    """One run of one detector as of ``now``: its connection (inside the run's snapshot) and
    what it reads, kept for the run's analyses (one run may analyse several categories)."""

    def __init__(self, conn: psycopg.Connection, detector: Detector, now: datetime):
        self.conn, self.detector, self.now = conn, detector, now
        self._kept: dict[Any, Any] = {}

    def findings(self) -> list[Finding]:
        return self.detector.find(self)

    def keep(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per run for ``key``."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    def areas(self) -> Areas:
        """Every area of the detector's level of the hierarchy."""
        level = self.detector.areas
        if level.startswith("h3_"):
            raise ValueError("H3 cells are the ones the data holds: Run.cases finds them")
        return self.keep(("areas", level), lambda: level_areas(self.conn, level))

    def cases(
        self, categories: list[str] | None, start: datetime, areas: Areas | None = None
    ) -> tuple[Areas, Cases]:
        """(areas, cases) from ``start`` to now: H3 cells are the ones the cases (or the given
        ``areas``) hold; a level's areas are all of its areas."""
        level = self.detector.areas
        ids, t, incident_ids = load_cases(self.conn, level, categories, start, self.now)
        if areas is None:
            areas = h3_areas(level, ids) if level.startswith("h3_") else self.areas()
        return areas, Cases(areas.index(ids), t, incident_ids)

    def finding(self, category: str | None, area_ids: Iterable[int], **values: Any) -> Finding:
        """A finding of this run's detector in the areas ``area_ids`` (of its level)."""
        d = self.detector
        return Finding(
            detector=d.id,
            kind=str(d.family),
            category=category,
            level=d.areas,
            area_ids=[int(a) for a in area_ids],
            **values,
        )
