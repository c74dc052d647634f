"""``/heatmap/incidents``, ``/hotspots/incidents`` and ``/tiles/heatmap/{z}/{x}/{y}.mvt``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import h3
import numpy as np
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from citybrain.api.deps import ConnDep, CountyDep, HeatDep, SettingsDep
from citybrain.api.responses import JSON, GeoJSON
from citybrain.errors import InvalidInput
from citybrain.services import heatmap as svc
from citybrain.services.heatindex import hexes
from citybrain.sql import load
from citybrain.tiles import BUFFER, EXTENT, Tile

router = APIRouter(tags=["heatmap"])
LAST = re.compile(r"^(\d{1,5})([hd])$")


class Metric(StrEnum):
    count = "count"
    per_1k = "per_1k"
    change = "change"


class Format(StrEnum):
    json = "json"
    geojson = "geojson"


def _when(value: str, tz: ZoneInfo, name: str) -> datetime:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            t = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {value!r} is not an ISO 8601 date or time") from exc
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError as exc:
        raise InvalidInput(f"bbox {value!r}: four numbers minlon,minlat,maxlon,maxlat") from exc
    if len(parts) != 4 or not all(np.isfinite(parts)):
        raise InvalidInput(f"bbox {value!r}: four numbers minlon,minlat,maxlon,maxlat")
    return parts  # type: ignore[return-value]


@dataclass
class Filters:
    """The filters every incident heatmap endpoint takes."""

    start: datetime
    end: datetime
    categories: list[str] | None
    statuses: list[str] | None
    bbox: tuple[float, float, float, float] | None
    area: str | None

    def query(self, res: int) -> svc.Query:
        q = svc.Query(
            res, self.start, self.end, self.categories, self.statuses, self.bbox, self.area
        )
        q.validate()
        return q


async def filters(
    settings: SettingsDep,
    start: Annotated[str | None, Query(description="ISO 8601; without a zone: local time")] = None,
    end: Annotated[str | None, Query(description="ISO 8601, exclusive; default now")] = None,
    last: Annotated[
        str | None, Query(description="instead of start: 24h, 7d, 30d, 365d ...")
    ] = None,
    category: Annotated[list[str] | None, Query(description="repeatable, e.g. 治安")] = None,
    status: Annotated[list[str] | None, Query(description="repeatable, e.g. reported")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")] = None,
    area: Annotated[str | None, Query(description="code of a town, village or grid")] = None,
) -> Filters:
    tz = ZoneInfo(settings.timezone)
    end_at = _when(end, tz, "end") if end else datetime.now(UTC)
    if last is not None and start is not None:
        raise InvalidInput("give start or last, not both")
    if start is not None:
        start_at = _when(start, tz, "start")
    else:
        m = LAST.match(last or "30d")
        if m is None:
            raise InvalidInput(f"last {last!r}: a number and h or d, e.g. 24h, 7d, 365d")
        n, unit = int(m.group(1)), m.group(2)
        start_at = end_at - (timedelta(hours=n) if unit == "h" else timedelta(days=n))
    return Filters(
        start_at, end_at, category or None, status or None, _bbox(bbox) if bbox else None, area
    )


FiltersDep = Annotated[Filters, Depends(filters)]
ResDep = Annotated[int, Query(ge=svc.MIN_RES, le=svc.MAX_RES, description="H3 resolution")]


class Cell(BaseModel):
    h3: str = Field(description="H3 cell, lowercase hex")
    value: float | None
    count: int | None = None
    population: float | None = None
    previous: int | None = None


class Heatmap(BaseModel):
    resolution: int
    metric: Metric
    window: dict[str, datetime]
    cells: list[Cell]
    totals: dict[str, float]


def _geojson(answer: dict[str, Any]) -> dict[str, Any]:
    features = []
    for cell in answer["cells"]:
        ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell["h3"])]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "id": cell["h3"],
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": cell,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        **{k: v for k, v in answer.items() if k != "cells"},
    }


@router.get("/heatmap/incidents", response_model=Heatmap, summary="Incidents per H3 cell")
async def heatmap(
    conn: ConnDep,
    heat: HeatDep,
    county: CountyDep,
    request_filters: FiltersDep,
    res: ResDep = 8,
    metric: Metric = Metric.count,
    format: Format = Format.json,
) -> JSON:
    """Exact counts per cell at any resolution for any window. ``per_1k`` divides by the
    cell's residents (from the micro-grids); ``change`` compares with the previous window of
    the same length. An area (``area`` code or ``bbox``) keeps the cells whose centre is in it.
    ``format=geojson`` returns the hexagons."""
    q = request_filters.query(res)
    answer = await svc.heatmap(conn, heat, q, str(metric), county)
    if format == Format.geojson:
        return GeoJSON(_geojson({**answer, "cells": answer["cells"].records()}))
    return JSON({**answer, "cells": answer["cells"].json()})


@router.get("/hotspots/incidents", summary="Cells that are unusually hot (or cold): Gi*")
async def hotspots(
    conn: ConnDep,
    heat: HeatDep,
    county: CountyDep,
    request_filters: FiltersDep,
    res: Annotated[int, Query(ge=svc.MIN_RES, le=svc.HOTSPOT_MAX_RES)] = 8,
    alpha: Annotated[float, Query(gt=0, lt=1, description="significance level")] = 0.05,
    ring: Annotated[int, Query(ge=1, le=3, description="neighbours: grid_disk(cell, ring)")] = 1,
    format: Format = Format.json,
) -> JSON:
    """Getis-Ord Gi* over every cell of the county at ``res`` (cells with no incident count
    as zero), neighbours by ``grid_disk``; returns the cells whose two-sided p-value is below
    ``alpha``, with z-score, p-value and ``hot``/``cold``."""
    q = request_filters.query(res)
    answer = await svc.hotspots(conn, heat, q, county, alpha, ring)
    return GeoJSON(_geojson(answer)) if format == Format.geojson else JSON(answer)


def zoom_resolution(z: int) -> int:
    """The H3 resolution whose hexagons are 10-40 px wide at zoom ``z``."""
    return int(np.clip(round(0.75 * z - 1.2), 4, 11))


@router.get(
    "/tiles/heatmap/{z}/{x}/{y}.mvt",
    summary="Heatmap hexagons as a vector tile",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
)
async def heatmap_tile(
    conn: ConnDep,
    heat: HeatDep,
    request_filters: FiltersDep,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    res: Annotated[
        int | None, Query(ge=svc.MIN_RES, le=svc.MAX_RES, description="default: fitted to the zoom")
    ] = None,
) -> Response:
    """Layer ``heatmap``: one polygon per cell with ``h3``, ``value`` (count) and the
    feature id set to the cell's 64-bit id: every hexagon that reaches into the tile (or its
    64/4096 buffer), clipped there, so tiles join without gaps. Encoded by PostGIS
    (``ST_AsMVT``) like every layer."""
    tile = Tile.checked(z, x, y)
    if request_filters.bbox is not None or request_filters.area is not None:
        raise InvalidInput("a tile is its own area: do not give bbox or area")
    r = res if res is not None else zoom_resolution(z)
    margin = 2 * h3.average_hexagon_edge_length(r, unit="km") / 111.0
    w, s, e, n = tile.lonlat_bounds
    request_filters.bbox = (
        max(w - margin, -180),
        max(s - margin, -90),
        min(e + margin, 180),
        min(n + margin, 90),
    )
    cells, counts = await svc.filtered_counts(conn, heat, request_filters.query(r))
    params = {
        "z": z,
        "x": x,
        "y": y,
        "extent": EXTENT,
        "buffer": BUFFER,
        "cells": cells.tolist(),
        "names": hexes(cells),
        "values": counts.tolist(),
        "wkb": svc.hexagons_wkb(cells),
    }
    row = await (await conn.execute(load("heatmap/tile"), params)).fetchone()
    body = bytes(row[0]) if row is not None and row[0] is not None else b""
    return Response(body, media_type="application/vnd.mapbox-vector-tile")
