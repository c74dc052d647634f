"""``/heatmap/incidents``, ``/hotspots/incidents`` and ``/tiles/heatmap/{z}/{x}/{y}.mvt``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from citybrain.api.deps import CountyDep, HeavyTurn, IncidentIndexDep, ReadConnDep, SettingsDep
from citybrain.api.params import BBoxQ, window_dependency
from citybrain.api.responses import JSON, GeoJSON
from citybrain.services import bbox as boxes
from citybrain.services.heatmap import encode, metrics, stats
from citybrain.services.heatmap.query import MAX_RES, MIN_RES
from citybrain.services.heatmap.query import Query as HeatmapQuery
from citybrain.services.window import Window
from citybrain.tiles.heatmap import tile, zoom_resolution
from citybrain.tiles.xyz import MAX_ZOOM, Tile

router = APIRouter(tags=["heatmap"])


class Metric(StrEnum):
    count = "count"
    per_1k = "per_1k"
    change = "change"


class Format(StrEnum):
    json = "json"
    geojson = "geojson"


async def read_query(
    window: Annotated[Window, window_dependency(default_last="30d")],
    bbox: BBoxQ = None,
    area: Annotated[str | None, Query(description="code of a town, village or grid")] = None,
) -> Callable[[int], HeatmapQuery]:
    """The request's heatmap query at a resolution (each route reads its own); the services
    validate it."""
    return partial(
        HeatmapQuery,
        start=window.start,
        end=window.end,
        categories=list(window.categories) if window.categories else None,
        statuses=list(window.statuses) if window.statuses else None,
        bbox=boxes.parse(bbox) if bbox else None,
        area=area,
    )


QueryAtDep = Annotated[Callable[[int], HeatmapQuery], Depends(read_query)]
ResDep = Annotated[int, Query(ge=MIN_RES, le=MAX_RES, description="H3 resolution")]


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
    conn: ReadConnDep,
    index: IncidentIndexDep,
    county: CountyDep,
    settings: SettingsDep,
    query_at: QueryAtDep,
    res: ResDep = 8,
    metric: Metric = Metric.count,
    format: Format = Format.json,
) -> JSON:
    """Exact counts per cell at any resolution for any window. ``per_1k`` divides by the
    cell's residents (from the micro-grids); ``change`` compares with the previous window of
    the same length. An area (``area`` code or ``bbox``) keeps the cells whose centre is in it.
    ``format=geojson`` returns the hexagons."""
    q = query_at(res)
    answer = await metrics.heatmap(conn, index, q, str(metric), county, settings.max_heatmap_cells)
    if format == Format.geojson:
        # Hexagons for every cell, encoded: seconds for a county at res 11, off the event loop.
        whole = {**answer, "cells": answer["cells"].records()}
        return await asyncio.to_thread(lambda: GeoJSON(encode.geojson(whole)))
    return JSON({**answer, "cells": answer["cells"].json()})


@router.get(
    "/hotspots/incidents",
    summary="Cells that are unusually hot (or cold): Gi*",
    responses=AS_GEOJSON,
    dependencies=[HeavyTurn],
)
async def hotspots(
    conn: ReadConnDep,
    index: IncidentIndexDep,
    county: CountyDep,
    query_at: QueryAtDep,
    res: Annotated[int, Query(ge=MIN_RES, le=stats.HOTSPOT_MAX_RES)] = 8,
    alpha: Annotated[float, Query(gt=0, lt=1, description="significance level")] = 0.05,
    ring: Annotated[int, Query(ge=1, le=3, description="neighbours: grid_disk(cell, ring)")] = 1,
    format: Format = Format.json,
) -> JSON:
    """Getis-Ord Gi* over every cell of the county at ``res`` (cells with no incident count
    as zero), neighbours by ``grid_disk``; returns the cells whose two-sided p-value is below
    ``alpha``, with z-score, p-value and ``hot``/``cold``."""
    answer = await stats.hotspots(conn, index, query_at(res), county, alpha, ring)
    if format == Format.geojson:  # hexagons encoded off the event loop
        return await asyncio.to_thread(lambda: GeoJSON(encode.geojson(answer)))
    return JSON(answer)


@router.get(
    "/tiles/heatmap/{z}/{x}/{y}.mvt",
    summary="Heatmap hexagons as a vector tile",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
    dependencies=[HeavyTurn],
)
async def heatmap_tile(
    conn: ReadConnDep,
    index: IncidentIndexDep,
    settings: SettingsDep,
    query_at: QueryAtDep,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    res: Annotated[
        int | None, Query(ge=MIN_RES, le=MAX_RES, description="default: fitted to the zoom")
    ] = None,
) -> Response:
    """Layer ``heatmap``: one polygon per cell with ``h3``, ``value`` (count) and the
    feature id set to the cell's 64-bit id: every hexagon that reaches into the tile (or its
    64/4096 buffer), clipped there, so tiles join without gaps. Encoded by PostGIS
    (``ST_AsMVT``) like every layer."""
    xyz = Tile.checked(z, x, y)
    q = query_at(res if res is not None else zoom_resolution(z))
    body = await tile(conn, index, q, xyz, settings.max_tile_hexagons)
    return Response(body, media_type="application/vnd.mapbox-vector-tile")
