"""Typed request parameters shared by several routers (titiler-style dependency classes)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from citybrain.api.deps import SettingsDep
from citybrain.crs import CRS, to_wgs84
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
        start: StartQ = None,
        end: EndQ = None,
        last: LastQ = None,
        category: CategoryQ = None,
        status: StatusQ = None,
    ) -> Window:
        return window(ZoneInfo(settings.timezone), start, end, last, category, status, default_last)

    return Depends(read)
