"""OGC API - Features (Part 1: Core, GeoJSON): the landing page, conformance, collections (one
per declarative layer) and their items, so that GDAL, QGIS and any OGC client can read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.rows import dict_row

from citybrain.api.deps import ConnDep, HeavyTurn
from citybrain.api.params import BBoxQ
from citybrain.api.responses import JSON, GeoJSON
from citybrain.errors import InvalidInput, NotFound
from citybrain.layers import Layer
from citybrain.services import bbox as boxes
from citybrain.services.features import CRS84
from citybrain.services.window import instant

router = APIRouter(tags=["ogc-features"])
GEOJSON = GeoJSON.media_type
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
RESERVED = {"bbox", "datetime", "limit", "offset", "f"}
MAX_LIMIT = 10_000


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _layers(request: Request) -> dict[str, Layer]:
    return request.app.state.tiles.layers


def _collection_layer(request: Request, collection_id: str) -> Layer:
    layer = _layers(request).get(collection_id)
    if layer is None:
        raise NotFound(f"no collection {collection_id!r}; see /collections")
    return layer


def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "citybrain 城市大脑",
        "description": "一图观全域、一屏管全局: the county's governance layers as OGC API - "
        "Features, vector tiles and a MapLibre style.",
        "links": [
            {
                "href": f"{base}/?f=json",
                "rel": "self",
                "type": "application/json",
                "title": "this document",
            },
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.1",
                "title": "the API definition",
            },
            {
                "href": f"{base}/docs",
                "rel": "service-doc",
                "type": "text/html",
                "title": "the API documentation",
            },
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
                "title": "conformance classes",
            },
            {
                "href": f"{base}/collections",
                "rel": "data",
                "type": "application/json",
                "title": "the collections",
            },
            {
                "href": f"{base}/tiles.json",
                "rel": "tiles",
                "type": "application/json",
                "title": "vector tiles (TileJSON)",
            },
            {
                "href": f"{base}/style.json",
                "rel": "stylesheet",
                "type": "application/json",
                "title": "MapLibre style",
            },
        ],
    }


@router.get("/conformance", summary="OGC conformance classes")
async def conformance() -> JSON:
    return JSON({"conformsTo": CONFORMANCE})


async def _collection(request: Request, conn, layer: Layer) -> dict[str, Any]:
    base = _base(request)
    here = f"{base}/collections/{layer.id}"
    return {
        "id": layer.id,
        "title": f"{layer.title.zh} {layer.title.en}",
        "description": layer.description or layer.title.en,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": await request.app.state.extents.of(conn, layer),
        "links": [
            {"href": here, "rel": "self", "type": "application/json", "title": "this collection"},
            {"href": f"{here}/items", "rel": "items", "type": GEOJSON, "title": "its features"},
            {
                "href": f"{base}/tiles/{layer.id}.json",
                "rel": "tiles",
                "type": "application/json",
                "title": "its vector tiles (TileJSON)",
            },
        ],
    }


@router.get("/collections", summary="The collections: one per map layer")
async def collections(request: Request, conn: ConnDep) -> JSON:
    base = _base(request)
    return JSON(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [
                await _collection(request, conn, layer) for layer in _layers(request).values()
            ],
        }
    )


@router.get("/collections/{collection_id}", summary="One collection")
async def collection(request: Request, conn: ConnDep, collection_id: str) -> JSON:
    return JSON(await _collection(request, conn, _collection_layer(request, collection_id)))


def _instant(value: str, tz: ZoneInfo) -> datetime | None:
    """An end of an OGC datetime: ``..`` (open) or an instant, by the API's one rule (a time
    without a zone is in CITYBRAIN_TIMEZONE)."""
    if value in ("..", ""):
        return None
    return instant(value, tz, "datetime")


def _interval(value: str, tz: ZoneInfo) -> tuple[datetime | None, datetime | None, bool]:
    """(start, end, instant?) of an OGC datetime parameter."""
    if "/" in value:
        a, b = value.split("/", 1)
        start, end = _instant(a, tz), _instant(b, tz)
        if start and end and end < start:
            raise InvalidInput(f"datetime {value!r}: the interval ends before it starts")
        return start, end, False
    t = _instant(value, tz)
    if t is None:
        raise InvalidInput("datetime: give an instant or an interval")
    return t, t, True


def _filters(request: Request, layer: Layer, bbox: str | None, datetime_: str | None):
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if layer.source.where:
        conditions.append(sql.SQL("({})").format(sql.SQL(layer.source.where)))
    if bbox:
        params["minx"], params["miny"], params["maxx"], params["maxy"] = boxes.parse(bbox)
        conditions.append(
            sql.SQL(
                "ST_Intersects(s.geom, "
                "ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326))"
            )
        )
    if datetime_:
        if not layer.datetime:
            raise InvalidInput(f"collection {layer.id} has no time: datetime does not apply")
        tz = ZoneInfo(request.app.state.settings.timezone)
        start, end, exact = _interval(datetime_, tz)
        column = sql.Identifier(layer.datetime)
        if exact:
            conditions.append(sql.SQL("s.{} = %(t0)s").format(column))
            params["t0"] = start
        else:
            if start:
                conditions.append(sql.SQL("s.{} >= %(t0)s").format(column))
                params["t0"] = start
            if end:
                conditions.append(sql.SQL("s.{} <= %(t1)s").format(column))
                params["t1"] = end
    for i, (name, value) in enumerate(request.query_params.multi_items()):
        if name in RESERVED:
            continue
        if name not in layer.properties:
            raise InvalidInput(
                f"unknown parameter {name!r}; filters of {layer.id}: {', '.join(layer.properties)}"
            )
        conditions.append(
            sql.SQL("s.{}::text = %(p{})s").format(sql.Identifier(name), sql.SQL(str(i)))
        )
        params[f"p{i}"] = value
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    return where, params


def _feature_select(layer: Layer) -> sql.Composed:
    props = sql.SQL(", ").join(
        sql.SQL("{}, s.{}").format(sql.Literal(p), sql.Identifier(p)) for p in layer.properties
    )
    return sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', s.id, "
        "'geometry', ST_AsGeoJSON(s.geom, 7)::json, "
        "'properties', json_build_object({props})) AS f FROM {table} s"
    ).format(
        props=props if layer.properties else sql.SQL(""),
        table=sql.Identifier("citybrain", layer.source.table),
    )


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
    dependencies=[HeavyTurn],
)
async def items(
    request: Request,
    conn: ConnDep,
    collection_id: str,
    bbox: BBoxQ = None,
    datetime_: Annotated[
        str | None, Query(alias="datetime", description="instant or interval a/b, .. open")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSON:
    """Features ordered by id; ``numberMatched`` counts them all, ``next`` pages on. Any other
    parameter named like a property filters on equality (``?category=治安``)."""
    layer = _collection_layer(request, collection_id)
    deepest = request.app.state.settings.max_offset
    if offset > deepest:
        raise InvalidInput(
            f"offset {offset} is past the deepest page ({deepest}): narrow the query with "
            "bbox, datetime or a property instead of paging that far"
        )
    where, params = _filters(request, layer, bbox, datetime_)
    table = sql.Identifier("citybrain", layer.source.table)
    page = sql.SQL("{} {} ORDER BY s.id LIMIT %(limit)s OFFSET %(offset)s").format(
        _feature_select(layer), where
    )
    cur = conn.cursor(row_factory=dict_row)
    rows = await (await cur.execute(page, {**params, "limit": limit, "offset": offset})).fetchall()
    matched = (
        await (
            await conn.execute(sql.SQL("SELECT count(*) FROM {} s{}").format(table, where), params)
        ).fetchone()
    )[0]
    base = f"{_base(request)}/collections/{layer.id}/items"
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]

    def link(rel: str, off: int) -> dict[str, str]:
        return {
            "href": f"{base}?{urlencode([*query, ('offset', off)])}",
            "rel": rel,
            "type": GEOJSON,
        }

    links = [
        link("self", offset),
        {
            "href": f"{_base(request)}/collections/{layer.id}",
            "rel": "collection",
            "type": "application/json",
        },
    ]
    if offset + len(rows) < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return GeoJSON(
        {
            "type": "FeatureCollection",
            "features": [r["f"] for r in rows],
            "numberMatched": matched,
            "numberReturned": len(rows),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "links": links,
        }
    )


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def item(request: Request, conn: ConnDep, collection_id: str, feature_id: str) -> JSON:
    layer = _collection_layer(request, collection_id)
    if not re.fullmatch(r"[1-9][0-9]{0,18}", feature_id):
        raise NotFound(f"no feature {feature_id!r} in {layer.id}")
    where = sql.SQL(" WHERE s.id = %(id)s") + (
        sql.SQL(" AND ({})").format(sql.SQL(layer.source.where))
        if layer.source.where
        else sql.SQL("")
    )
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute(_feature_select(layer) + where, {"id": int(feature_id)})
    ).fetchone()
    if row is None:
        raise NotFound(f"no feature {feature_id} in {layer.id}")
    base = _base(request)
    feature = row["f"]
    feature["links"] = [
        {
            "href": f"{base}/collections/{layer.id}/items/{feature_id}",
            "rel": "self",
            "type": GEOJSON,
        },
        {"href": f"{base}/collections/{layer.id}", "rel": "collection", "type": "application/json"},
    ]
    return GeoJSON(feature)
