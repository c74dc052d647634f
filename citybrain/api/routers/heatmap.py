"""``/heatmap/incidents``, ``/hotspots/incidents`` and ``/tiles/heatmap/{z}/{x}/{y}.mvt``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from citybrain.api.deps import ConnDep, CountyDep, HeatDep, HeavyTurn, SettingsDep
from citybrain.api.params import BBoxQ, window_dependency
from citybrain.api.responses import JSON, GeoJSON
from citybrain.errors import InvalidInput
from citybrain.services import bbox as boxes
from citybrain.services import heatmap as svc
from citybrain.services.window import Window
from citybrain.tiles import MAX_ZOOM, Tile

router = APIRouter(tags=["heatmap"])


class Metric(StrEnum):
    count = "count"
    per_1k = "per_1k"
    change = "change"


class Format(StrEnum):
    json = "json"
    geojson = "geojson"


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
    window: Annotated[Window, window_dependency(default_last="30d")],
    bbox: BBoxQ = None,
    area: Annotated[str | None, Query(description="code of a town, village or grid")] = None,
) -> Filters:
    return Filters(
        window.start,
        window.end,
        list(window.categories) if window.categories else None,
        list(window.statuses) if window.statuses else None,
        boxes.parse(bbox) if bbox else None,
        area,
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


# ``format=geojson`` answers with the hexagons as GeoJSON: documented beside the JSON.
AS_GEOJSON = {200: {"content": {GeoJSON.media_type: {}}}}


@router.get(
    "/heatmap/incidents",
    response_model=Heatmap,
    summary="Incidents per H3 cell",
    responses=AS_GEOJSON,
    dependencies=[HeavyTurn],
)
async def heatmap(
    conn: ConnDep,
    heat: HeatDep,
    county: CountyDep,
    settings: SettingsDep,
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
    most = settings.max_heatmap_cells
    if len(answer["cells"].cells) > most:
        raise InvalidInput(
            f"{len(answer['cells'].cells):,} cells is more than one answer holds ({most:,}): "
            "ask a coarser res, a smaller area (area, bbox) or a shorter window"
        )
    if format == Format.geojson:
        # Hexagons for every cell, encoded: seconds for a county at res 11, off the event loop.
        whole = {**answer, "cells": answer["cells"].records()}
        return await asyncio.to_thread(lambda: GeoJSON(svc.geojson(whole)))
    return JSON({**answer, "cells": answer["cells"].json()})


@router.get(
    "/hotspots/incidents",
    summary="Cells that are unusually hot (or cold): Gi*",
    responses=AS_GEOJSON,
    dependencies=[HeavyTurn],
)
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
    return GeoJSON(svc.geojson(answer)) if format == Format.geojson else JSON(answer)


@router.get(
    "/tiles/heatmap/{z}/{x}/{y}.mvt",
    summary="Heatmap hexagons as a vector tile",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
    dependencies=[HeavyTurn],
)
async def heatmap_tile(
    conn: ConnDep,
    heat: HeatDep,
    settings: SettingsDep,
    request_filters: FiltersDep,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
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
    r = res if res is not None else svc.zoom_resolution(z)
    query = request_filters.query(r)  # (validated; the tile's area is set by the service)
    body = await svc.tile(conn, heat, query, tile, settings.max_tile_hexagons)
    return Response(body, media_type="application/vnd.mapbox-vector-tile")
