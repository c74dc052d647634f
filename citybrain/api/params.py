"""Typed request parameters shared by several routers (titiler-style dependency classes)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from citybrain.api.deps import NowDep, SettingsDep
from citybrain.crs import CRS, to_wgs84
from citybrain.errors import InvalidInput
from citybrain.services import cql, refcrs
from citybrain.services.cql import Filter
from citybrain.services.window import Window, window


@dataclass
class Point:
    """A WGS84 point, converted from the coordinate system the caller used. Subnormal
    coordinates (|x| < 2.2e-308 degrees: far less than a nanometre from zero) are zero: the
    database refuses to read them."""

    lon: float
    lat: float

    def __post_init__(self) -> None:
        self.lon, self.lat = (
            0.0 if abs(v) < sys.float_info.min else v for v in (self.lon, self.lat)
        )


async def point_query(
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude in `crs`")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude in `crs`")],
    crs: Annotated[
        CRS, Query(description="wgs84 (GPS, default), gcj02 (Amap/Tencent) or bd09 (Baidu)")
    ] = CRS.wgs84,
) -> Point:
    return Point(*to_wgs84(lon, lat, crs))


PointDep = Annotated[Point, Depends(point_query)]


class PointIn(BaseModel):
    """A location in a request body."""

    lon: float = Field(ge=-180, le=180, description="longitude in `crs`")
    lat: float = Field(ge=-90, le=90, description="latitude in `crs`")
    crs: CRS = Field(CRS.wgs84, description="wgs84 (default), gcj02 or bd09")

    def wgs84(self) -> Point:
        return Point(*to_wgs84(self.lon, self.lat, self.crs))


# --- times and windows: the rule is services.window's; these read it from a query string ----

BBoxQ = Annotated[
    str | None,
    Query(description="minlon,minlat,maxlon,maxlat in CRS84 (or six numbers, with heights)"),
]
StartQ = Annotated[str | None, Query(description="ISO 8601; without a zone: local time")]
EndQ = Annotated[str | None, Query(description="ISO 8601, exclusive; default now")]
LastQ = Annotated[str | None, Query(description="instead of start: 24h, 7d, 30d, 365d ...")]
CategoryQ = Annotated[list[str] | None, Query(description="repeatable, e.g. 治安")]
StatusQ = Annotated[list[str] | None, Query(description="repeatable, e.g. reported")]


def window_dependency(default_last: str):
    """A dependency reading ``start``, ``end``, ``last``, ``category`` and ``status``."""

    async def read(
        settings: SettingsDep,
        now: NowDep,
        start: StartQ = None,
        end: EndQ = None,
        last: LastQ = None,
        category: CategoryQ = None,
        status: StatusQ = None,
    ) -> Window:
        return window(
            ZoneInfo(settings.timezone), start, end, last, category, status, default_last, now
        )

    return Depends(read)


# --- OGC API – Features beyond Core: filter (Part 3), sortby, properties, crs (Part 2) -------

FilterQ = Annotated[
    str | None,
    Query(
        alias="filter",
        description="a CQL2 filter on the collection's queryables, e.g. "
        "category = '治安' AND severity >= 3 (see /collections/{id}/queryables)",
    ),
]
FilterLangQ = Annotated[
    str | None,
    Query(
        alias="filter-lang",
        description="cql2-text (default) or cql2-json; cql-text: cql2-text's draft name, "
        "which GDAL before 3.7 sends",
        json_schema_extra={"enum": ["cql2-text", "cql2-json", "cql-text"]},
    ),
]
FilterCrsQ = Annotated[
    str | None,
    Query(alias="filter-crs", description="CRS of the filter's geometries (default CRS84)"),
]


def read_filter(text: str | None, lang: str | None, crs: str | None, tz: ZoneInfo) -> Filter | None:
    """The ``filter`` of a request (None without one); 400 with the parser's message."""
    if text is None:
        if lang is not None or crs is not None:
            raise InvalidInput("filter-lang and filter-crs go with a filter")
        return None
    return cql.parse(text, lang, refcrs.parse(crs, "filter-crs"), tz)


async def filter_query(
    settings: SettingsDep, filter_: FilterQ = None, lang: FilterLangQ = None, crs: FilterCrsQ = None
) -> Filter | None:
    return read_filter(filter_, lang, crs, ZoneInfo(settings.timezone))


FilterDep = Annotated[Filter | None, Depends(filter_query)]


def names(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of names (``properties``), None when not given."""
    if text is None:
        return None
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))  # once each


def sort_keys(text: str | None) -> tuple[tuple[str, bool], ...]:
    """``sortby``: names, each with ``+`` (ascending, the default) or ``-`` (descending)."""
    keys = []
    for item in names(text) or ():
        descending = item.startswith("-")
        keys.append((item.lstrip("+-").strip(), descending))
    return tuple(keys)
