"""Typed request parameters shared by several routers (titiler-style dependency classes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from citybrain.crs import CRS, to_wgs84


@dataclass
class Point:
    """A WGS84 point, converted from the coordinate system the caller used."""

    lon: float
    lat: float


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
