"""OGC API - Features (Part 1: Core, GeoJSON; Part 2: CRS by reference; Part 3: queryables
and CQL2 filters; sorting and property selection): the landing page, conformance, collections
(one per declarative layer), their queryables and items, so that GDAL, QGIS, OWSLib and any
OGC client can read them."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from psycopg import AsyncConnection

from citybrain.api.deps import ExtentsDep, HeavyTurn, LayersDep, ReadConnDep, SettingsDep
from citybrain.api.hosts import base_url
from citybrain.api.params import BBoxQ, FilterDep, names, sort_keys
from citybrain.api.responses import JSON, GeoJSON
from citybrain.clock import clock_of
from citybrain.errors import InvalidInput, NotFound
from citybrain.layers import Layer
from citybrain.services import bbox as boxes
from citybrain.services import features as svc
from citybrain.services import refcrs
from citybrain.services.features import Extents
from citybrain.services.refcrs import CRS84
from citybrain.services.window import interval

router = APIRouter(tags=["ogc-features"])
GEOJSON = GeoJSON.media_type
SCHEMA = "application/schema+json"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    *(
        CQL2 + c
        for c in (
            "cql2-text",
            "cql2-json",
            "basic-cql2",
            "advanced-comparison-operators",
            "case-insensitive-comparison",
            "property-property",
            "basic-spatial-functions",
            "basic-spatial-functions-plus",
            "spatial-functions",
            "temporal-functions",
        )
    ),
]
RESERVED = {
    "bbox",
    "bbox-crs",
    "datetime",
    "limit",
    "offset",
    "f",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "skipGeometry",
    "crs",
}
MAX_LIMIT = 10_000
PropertiesQ = Annotated[
    str | None,
    Query(description="the properties to return, e.g. category,status (default: all)"),
]
SkipGeometryQ = Annotated[
    bool, Query(alias="skipGeometry", description="true: features without their geometry")
]
CrsQ = Annotated[
    str | None,
    Query(
        description="CRS of the answer: CRS84 (default), EPSG 4326/4490/3857 "
        "(http://www.opengis.net/def/crs/EPSG/0/4490); the Content-Crs header says which"
    ),
]


async def shape_query(
    properties: PropertiesQ = None, skip_geometry: SkipGeometryQ = False, crs: CrsQ = None
) -> svc.Shape:
    """``properties``, ``skipGeometry`` and ``crs``: how the items and the item route write a
    feature (one parser for both)."""
    return svc.Shape(names(properties), skip_geometry, refcrs.parse(crs, "crs"))


ShapeDep = Annotated[svc.Shape, Depends(shape_query)]


def _collection_layer(layers: dict[str, Layer], collection_id: str) -> Layer:
    layer = layers.get(collection_id)
    if layer is None:
        raise NotFound(f"no collection {collection_id!r}; see /collections")
    return layer


def landing(request: Request) -> dict[str, Any]:
    base = base_url(request)
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


async def _collection(
    request: Request, conn: AsyncConnection, extents: Extents, layer: Layer
) -> dict[str, Any]:
    base = base_url(request)
    here = f"{base}/collections/{layer.id}"
    return {
        "id": layer.id,
        "title": f"{layer.title.zh} {layer.title.en}",
        "description": layer.description or layer.title.en,
        "itemType": "feature",
        "crs": list(refcrs.SUPPORTED),
        "storageCrs": CRS84,
        "extent": await extents.of(conn, layer),
        "links": [
            {"href": here, "rel": "self", "type": "application/json", "title": "this collection"},
            {"href": f"{here}/items", "rel": "items", "type": GEOJSON, "title": "its features"},
            *(
                {
                    "href": f"{here}/queryables",
                    "rel": rel,
                    "type": "application/schema+json",
                    "title": "what a filter may name",
                }
                for rel in ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "queryables")
            ),
            {
                "href": f"{base}/tiles/{layer.id}.json",
                "rel": "tiles",
                "type": "application/json",
                "title": "its vector tiles (TileJSON)",
            },
        ],
    }


@router.get("/collections", summary="The collections: one per map layer")
async def collections(
    request: Request, conn: ReadConnDep, layers: LayersDep, extents: ExtentsDep
) -> JSON:
    base = base_url(request)
    return JSON(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [
                await _collection(request, conn, extents, layer) for layer in layers.values()
            ],
        }
    )


@router.get("/collections/{collection_id}", summary="One collection")
async def collection(
    request: Request, conn: ReadConnDep, layers: LayersDep, extents: ExtentsDep, collection_id: str
) -> JSON:
    layer = _collection_layer(layers, collection_id)
    return JSON(await _collection(request, conn, extents, layer))


@router.get(
    "/collections/{collectionId}/items",  # the name GDAL (< 3.7) looks up in the OpenAPI
    summary="Features of a collection (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
    dependencies=[HeavyTurn],
)
async def items(
    request: Request,
    conn: ReadConnDep,
    layers: LayersDep,
    settings: SettingsDep,
    collection_id: Annotated[str, Path(alias="collectionId")],
    filter_: FilterDep,
    shape: ShapeDep,
    bbox: BBoxQ = None,
    datetime_: Annotated[
        str | None, Query(alias="datetime", description="instant or interval a/b, .. open")
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (default CRS84)")
    ] = None,
    sortby: Annotated[
        str | None, Query(description="properties, - for descending: -reported_at,category")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSON:
    """Features ordered by id (or ``sortby``, then id); ``numberMatched`` counts them all,
    ``next`` pages on. ``filter`` is CQL2 (text or JSON) on the collection's queryables; any
    other parameter named like a queryable (not geometry) keeps the features whose value
    equals it, read as the queryable's type (``?category=治安``, ``?id=5``, ``?capacity=5.0``,
    ``?reported_at=2026-03-01T08:00:00%2B08:00``; a time without a zone is local).
    Coordinates are in ``crs``, in its axis order (EPSG:4326 and 4490: latitude first)."""
    layer = _collection_layer(layers, collection_id)
    box_crs = refcrs.parse(bbox_crs, "bbox-crs")
    query = svc.ItemsQuery(
        bbox=_bbox(bbox, box_crs) if bbox else None,
        datetime=interval(datetime_, ZoneInfo(settings.timezone)) if datetime_ else None,
        equals=tuple((k, v) for k, v in request.query_params.multi_items() if k not in RESERVED),
        filter=filter_,
        sortby=sort_keys(sortby),
        shape=shape,
        limit=limit,
        offset=offset,
        tz=settings.timezone,
    )
    found = await svc.items(conn, layer, query, deepest=settings.max_offset)
    base = f"{base_url(request)}/collections/{layer.id}/items"
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]

    def link(rel: str, off: int) -> dict[str, str]:
        return {
            "href": f"{base}?{urlencode([*kept, ('offset', off)])}",
            "rel": rel,
            "type": GEOJSON,
        }

    links = [
        link("self", offset),
        {
            "href": f"{base_url(request)}/collections/{layer.id}",
            "rel": "collection",
            "type": "application/json",
        },
    ]
    if offset + len(found.features) < found.matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return GeoJSON(
        {
            "type": "FeatureCollection",
            "features": found.features,
            "numberMatched": found.matched,
            "numberReturned": len(found.features),
            "timeStamp": clock_of(settings).now().isoformat(timespec="seconds"),
            "links": links,
        },
        headers={"Content-Crs": f"<{shape.crs.uri}>"},
    )


def _bbox(text: str, crs: refcrs.RefCrs) -> boxes.BBox:
    """``bbox`` in ``bbox-crs`` as a CRS84 box: four numbers (or six, with heights) in the
    CRS's axis order."""
    if crs.uri == CRS84:
        return boxes.parse(text)
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInput(f"bbox {text!r}: four numbers (or six, with heights)") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise InvalidInput(f"bbox {text!r}: four numbers (or six, with heights)")
    return refcrs.bbox_to_crs84(tuple(numbers), crs)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def item(
    request: Request,
    conn: ReadConnDep,
    layers: LayersDep,
    collection_id: str,
    feature_id: str,
    shape: ShapeDep,
) -> JSON:
    """One feature, with the items route's ``properties``, ``skipGeometry`` and ``crs``."""
    layer = _collection_layer(layers, collection_id)
    if not re.fullmatch(r"[1-9][0-9]{0,18}", feature_id):
        raise NotFound(f"no feature {feature_id!r} in {layer.id}")
    feature = await svc.item(conn, layer, int(feature_id), shape)
    if feature is None:
        raise NotFound(f"no feature {feature_id} in {layer.id}")
    base = base_url(request)
    feature["links"] = [
        {
            "href": f"{base}/collections/{layer.id}/items/{feature_id}",
            "rel": "self",
            "type": GEOJSON,
        },
        {"href": f"{base}/collections/{layer.id}", "rel": "collection", "type": "application/json"},
    ]
    return GeoJSON(feature, headers={"Content-Crs": f"<{shape.crs.uri}>"})


@router.get(
    "/collections/{collection_id}/queryables",
    summary="What a filter may name (JSON Schema)",
    responses={200: {"content": {"application/schema+json": {}}}},
)
async def queryables(
    request: Request, conn: ReadConnDep, layers: LayersDep, collection_id: str
) -> JSON:
    """The collection's queryables: ``id``, its exposed properties with their types, and
    ``geometry``; a layer's personal columns are never among them."""
    layer = _collection_layer(layers, collection_id)
    kinds = await svc.queryables(conn, layer)
    geometry = await svc.geometry_type(conn, layer)
    here = f"{base_url(request)}/collections/{layer.id}/queryables"
    return JSON(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": here,
            "type": "object",
            "title": f"{layer.title.zh} {layer.title.en}",
            "properties": {
                name: _schema(layer, name, kind, geometry) for name, kind in kinds.items()
            },
            "additionalProperties": False,
            # The draft's list, which GDAL before 3.7 reads to know what it may filter on.
            "queryables": [{"id": name} for name in kinds if name != "geometry"],
        },
        # GDAL before 3.7 refuses any type but JSON's; OGC clients ask for the schema's.
        media_type=SCHEMA if SCHEMA in request.headers.get("accept", "") else "application/json",
    )


GEOJSON_SCHEMA = "https://geojson.org/schema/{}.json"


def _schema(layer: Layer, name: str, kind: str, geometry: str | None) -> dict[str, Any]:
    if kind == "geometry":  # the column's own type (polygons are stored as MultiPolygons)
        ref = GEOJSON_SCHEMA.format(geometry or "Geometry")
        return {"$ref": ref, "x-ogc-role": "primary-geometry"}
    schema: dict[str, Any] = {"title": name}
    if kind in ("datetime", "date"):
        schema |= {"type": "string", "format": "date-time" if kind == "datetime" else "date"}
    else:
        schema["type"] = kind
    if name == "id":
        schema["x-ogc-role"] = "id"
    elif name == layer.datetime:
        schema["x-ogc-role"] = "primary-instant"
    return schema
