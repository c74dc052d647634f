"""Vector tiles of the declarative layers, their TileJSON, the MapLibre style and its glyphs
(made by ``citybrain.tiles``; the heatmap's tiles are ``routers.heatmap``'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from citybrain.api.deps import ExtentsDep, LayersDep, ReadConnDep, SettingsDep
from citybrain.api.hosts import base_url
from citybrain.api.params import (
    CategoryQ,
    EndQ,
    FilterCrsQ,
    FilterLangQ,
    FilterQ,
    LastQ,
    StartQ,
    StatusQ,
    read_filter,
)
from citybrain.api.reads import read_connection
from citybrain.api.responses import JSON
from citybrain.api.state import state_of
from citybrain.clock import clock_of
from citybrain.errors import InvalidInput, NotFound
from citybrain.layers import Layer
from citybrain.services.cql import Filter
from citybrain.services.tilejson import tilejson
from citybrain.services.window import Window, window
from citybrain.tiles.style import map_style
from citybrain.tiles.xyz import MAX_ZOOM, Tile

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
FONTS = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT_STACK = "DejaVu Sans Book"
Z = Annotated[int, PathParam(ge=0, le=MAX_ZOOM)]
XY = Annotated[int, PathParam(ge=0)]
ArchiveQ = Annotated[
    bool,
    Query(
        description="draw the static layers from the PMTiles archive at CITYBRAIN_TILE_ARCHIVE_URL "
        "(the map needs MapLibre's pmtiles protocol); live layers stay on the API"
    ),
]


def _layer(layers: dict[str, Layer], layer_id: str) -> Layer:
    layer = layers.get(layer_id)
    if layer is None:
        raise NotFound(f"no layer {layer_id!r}; layers: {', '.join(layers)}")
    return layer


async def _answer(
    request: Request, layers: list[Layer], tile: Tile, shown: Window | None, where: Filter | None
) -> Response:
    # The hottest route of the big screen: no dependencies (FastAPI's solving of them cost more
    # than serving a cached tile), the connection is taken here. A tile to render waits for a
    # heavy answer's turn (api.admission) holding no connection, and is looked up again then
    # (another request may have rendered it meanwhile).
    state, etag = state_of(request), request.headers.get("if-none-match")
    async with read_connection(request) as conn:
        rendered = await state.tiles.tile(
            conn, layers, tile, etag, shown, cached_only=True, where=where
        )
    if rendered is None:
        async with state.heavy.turn(), read_connection(request) as conn:
            rendered = await state.tiles.tile(conn, layers, tile, etag, shown, where=where)
    # no-cache: clients may keep tiles but must revalidate (a 304 costs one small query).
    headers = {"ETag": rendered.etag, "Cache-Control": "no-cache"}
    if rendered.not_modified:
        return Response(status_code=304, headers=headers)
    return Response(rendered.data, media_type=MVT, headers=headers)


def _shown(request: Request, asked: tuple) -> Window:
    """The window a windowed layer shows, as ``asked`` (start, end, last, category, status;
    default: the last 24 hours), by the one rule (services.window: a window ending now ends
    at the end of this minute, so its tiles can be cached for a minute)."""
    settings = state_of(request).settings
    now = clock_of(settings).now()
    return window(ZoneInfo(settings.timezone), *asked, DEFAULT_WINDOW, now)


DEFAULT_WINDOW = "24h"


@router.get(
    "/tiles/{layer_id}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"}},
)
async def layer_tile(
    request: Request,
    layer_id: str,
    z: Z,
    x: XY,
    y: XY,
    start: StartQ = None,
    end: EndQ = None,
    last: LastQ = None,
    category: CategoryQ = None,
    status: StatusQ = None,
    filter_: FilterQ = None,
    filter_lang: FilterLangQ = None,
    filter_crs: FilterCrsQ = None,
) -> Response:
    """One layer's Mapbox Vector Tile (EPSG:3857, extent 4096, buffer 64); feature ``id`` is the
    row id, or a cluster's id with a ``count`` below the layer's clustering zoom. A windowed
    layer (incidents) shows the open incidents and those reported in the window (``last``,
    default 24h, or ``start``/``end``; ``category``, ``status``), clustered per H3 cell (``h3``)
    below its clustering zoom. ``filter`` (CQL2, as on the layer's OGC items) keeps the rows
    drawn or clustered in SQL; the incidents' H3 clusters take none (400: use category and
    status there)."""
    layer = _layer(state_of(request).layers, layer_id)
    if not layer.minzoom <= z <= layer.maxzoom:
        raise InvalidInput(
            f"layer {layer.id} is drawn at zooms {layer.minzoom}-{layer.maxzoom}, not {z}"
        )
    asked = (start, end, last, category, status)
    shown = _shown(request, asked) if layer.window else None
    tz = ZoneInfo(state_of(request).settings.timezone)
    where = read_filter(filter_, filter_lang, filter_crs, tz)
    return await _answer(request, [layer], Tile.checked(z, x, y), shown, where)


@router.get(
    "/tiles/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"}},
)
async def composite_tile(
    request: Request,
    z: Z,
    x: XY,
    y: XY,
    start: StartQ = None,
    end: EndQ = None,
    last: LastQ = None,
    category: CategoryQ = None,
    status: StatusQ = None,
) -> Response:
    """Every layer visible at this zoom, in one tile (the window as for one layer)."""
    layers = state_of(request).tiles.visible(z)
    windowed = any(layer.window for layer in layers)
    shown = _shown(request, (start, end, last, category, status)) if windowed else None
    return await _answer(request, layers, Tile.checked(z, x, y), shown, None)


@router.get("/tiles/{layer_id}.json", summary="TileJSON 3.0 of one layer")
async def layer_tilejson(
    request: Request, conn: ReadConnDep, layers: LayersDep, extents: ExtentsDep, layer_id: str
) -> JSON:
    layer = _layer(layers, layer_id)
    url = f"{base_url(request)}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"
    return JSON(tilejson(layer.id, url, [layer], await extents.county(conn)))


@router.get("/tiles.json", summary="TileJSON 3.0 of the composite tiles (every layer)")
async def composite_tilejson(
    request: Request, conn: ReadConnDep, layers: LayersDep, extents: ExtentsDep
) -> JSON:
    url = f"{base_url(request)}/tiles/{{z}}/{{x}}/{{y}}.mvt"
    bounds = await extents.county(conn)
    return JSON(tilejson("citybrain", url, list(layers.values()), bounds))


@router.get("/style.json", summary="MapLibre style: every layer, no external resource")
async def style(
    request: Request, layers: LayersDep, settings: SettingsDep, archive: ArchiveQ = False
) -> JSON:
    """A dark map drawn only from citybrain's own tiles and glyphs: county, towns, villages,
    grids, roads, teams, cameras, facilities, incidents and the 30-day incident heatmap."""
    if archive and not settings.tile_archive_url:
        raise InvalidInput(
            "archive=true: no tile archive is configured; set CITYBRAIN_TILE_ARCHIVE_URL to "
            "where `citybrain tiles export` output is served"
        )
    url = settings.tile_archive_url if archive else None
    return JSON(map_style(layers, base_url(request), url))


@router.get(
    "/fonts/{fontstack}/{glyph_range}.pbf",
    response_class=FileResponse,
    summary="Glyphs (SDF) for map labels, served locally",
)
async def glyphs(fontstack: str, glyph_range: str) -> FileResponse:
    """Latin ranges of the font the style names; Chinese labels are drawn by the browser's own
    fonts (MapLibre's ``localIdeographFontFamily``), so no CJK range is ever needed."""
    name = fontstack.split(",")[0].strip()
    path = FONTS / name / f"{glyph_range}.pbf"
    if name != FONT_STACK or not path.resolve().is_relative_to(FONTS) or not path.is_file():
        raise NotFound(f"no glyphs {fontstack}/{glyph_range}")
    return FileResponse(
        path,
        media_type="application/x-protobuf",
        headers={"Cache-Control": "public, max-age=86400"},
    )
