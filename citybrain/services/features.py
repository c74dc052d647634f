"""A layer's features as OGC API – Features serves them: its queryables, a page of items
matching a query (bbox, datetime, properties, a CQL2 filter; sorted, some properties, in a
CRS), one item, and what is worked out from a whole table — a layer's
extent (OGC collections), the county's bounds (TileJSON) — kept per table version (every write
moves it: 0004_tile_versions), so it is never stale and is asked of the database once per
change, not per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from citybrain.errors import InvalidInput
from citybrain.layers import Layer
from citybrain.services import refcrs
from citybrain.services.bbox import BBox
from citybrain.services.cql import TYPES, Filter, Translator
from citybrain.services.refcrs import CRS84, RefCrs
from citybrain.services.window import Interval
from citybrain.sql import load

GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
WEB_MERCATOR_WORLD = [-180, -85.0511, 180, 85.0511]


class Extents:
    """The extents of the layers and the county's bounds, each as of its table's version."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, Any]] = {}

    async def of(self, conn: AsyncConnection, layer: Layer) -> dict[str, Any]:
        """The layer's extent, OGC API – Features' ``extent`` of its collection."""
        return await self._fresh(conn, layer.id, layer.source.table, lambda: _extent(conn, layer))

    async def county(self, conn: AsyncConnection) -> list[float]:
        """The bounds of the towns (the world's, in Web Mercator, before any is loaded)."""
        return await self._fresh(conn, "(county)", "towns", lambda: _county(conn))

    async def _fresh(
        self, conn: AsyncConnection, key: str, table: str, make: Callable[[], Awaitable[Any]]
    ) -> Any:
        cur = await conn.execute(load("features/table_version"), {"table": table})
        version = int((await cur.fetchone())[0])
        kept = self._kept.get(key)
        if kept is None or kept[0] != version:
            kept = self._kept[key] = (version, await make())
        return kept[1]


async def _county(conn: AsyncConnection) -> list[float]:
    row = await (await conn.execute(load("features/county_bounds"))).fetchone()
    return [round(v, 6) for v in row] if row[0] is not None else WEB_MERCATOR_WORLD


async def _extent(conn: AsyncConnection, layer: Layer) -> dict[str, Any]:
    statement = sql.SQL(load("features/extent")).format(
        table=_table(layer),
        where=sql.SQL(layer.source.where or "TRUE"),  # the layer file's own (trusted) SQL
        time=sql.SQL("s.") + sql.Identifier(layer.datetime) if layer.datetime else sql.NULL,
    )
    minx, miny, maxx, maxy, t0, t1 = await (await conn.execute(statement)).fetchone()
    extent: dict[str, Any] = {
        "spatial": {
            "bbox": [[minx, miny, maxx, maxy] if minx is not None else [-180, -90, 180, 90]],
            "crs": CRS84,
        }
    }
    if layer.datetime:
        extent["temporal"] = {
            "interval": [[v.isoformat() if v else None for v in (t0, t1)]],
            "trs": GREGORIAN,
        }
    return extent


@dataclass(frozen=True)
class ItemsQuery:
    """Which features of a layer, and which page of them (ordered by id)."""

    bbox: BBox | None = None
    datetime: Interval | None = None
    equals: tuple[tuple[str, str], ...] = ()  # (property, value): the property's text equals it
    filter: Filter | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (property, descending), then by id
    properties: tuple[str, ...] | None = None  # None: all the layer exposes
    skip_geometry: bool = False
    crs: RefCrs = refcrs.DEFAULT
    limit: int = 100
    offset: int = 0


async def queryables(conn: AsyncConnection, layer: Layer) -> dict[str, str]:
    """What a filter may name, and the kind of each (string, integer, number, boolean,
    datetime, date, geometry): ``id``, the exposed properties and ``geometry``; never a
    column the layer does not expose."""
    cur = await conn.execute(load("features/columns"), {"table": layer.source.table})
    types = {name: kind for name, kind in await cur.fetchall()}
    kinds = {"id": "integer"}
    for name in layer.properties:
        kinds[name] = TYPES.get(types.get(name, ""), "string")
    kinds["geometry"] = "geometry"
    return kinds


async def translate(
    conn: AsyncConnection, layer: Layer, f: Filter
) -> tuple[sql.Composable, dict[str, Any]]:
    """A filter as a condition on the layer's table (alias ``s``) and its parameters."""
    crs = refcrs.parse(f.crs_uri, "filter-crs")
    t = Translator(await queryables(conn, layer), crs, ZoneInfo(f.tz))
    return t.where(f), t.params


@dataclass(frozen=True)
class Page:
    features: list[dict[str, Any]]  # GeoJSON features
    matched: int  # how many match in all


async def items(conn: AsyncConnection, layer: Layer, query: ItemsQuery, deepest: int) -> Page:
    """A page of the layer's features matching ``query``, and how many match in all; 400 for
    a page past ``deepest`` (CITYBRAIN_MAX_OFFSET), a property the layer does not show, or a
    time on a layer without one."""
    if query.offset > deepest:
        raise InvalidInput(
            f"offset {query.offset} is past the deepest page ({deepest}): narrow the query with "
            "bbox, datetime or a property instead of paging that far"
        )
    extra = await translate(conn, layer, query.filter) if query.filter else None
    where, params = _where(layer, query, extra)
    page = sql.SQL("{} {} ORDER BY {} LIMIT %(limit)s OFFSET %(offset)s").format(
        _feature_select(layer, query), where, _order(layer, query.sortby)
    )
    cur = conn.cursor(row_factory=dict_row)
    try:
        rows = await (
            await cur.execute(page, {**params, "limit": query.limit, "offset": query.offset})
        ).fetchall()
        count = sql.SQL("SELECT count(*) FROM {} s{}").format(_table(layer), where)
        matched = (await (await conn.execute(count, params)).fetchone())[0]
    except (psycopg.errors.DataError, psycopg.errors.InternalError_) as exc:
        # a value the column cannot hold, a geometry PostGIS cannot transform: the filter's
        raise InvalidInput(f"filter: {exc.diag.message_primary or exc}") from None
    return Page([r["f"] for r in rows], matched)


async def item(
    conn: AsyncConnection, layer: Layer, feature_id: int, crs: RefCrs = refcrs.DEFAULT
) -> dict[str, Any] | None:
    """One feature of the layer (None if it has none by that id, or does not show it)."""
    where = sql.SQL(" WHERE s.id = %(id)s") + (
        sql.SQL(" AND ({})").format(sql.SQL(layer.source.where))  # the layer file's own SQL
        if layer.source.where
        else sql.SQL("")
    )
    cur = conn.cursor(row_factory=dict_row)
    select = _feature_select(layer, ItemsQuery(crs=crs))
    row = await (await cur.execute(select + where, {"id": feature_id})).fetchone()
    return row["f"] if row else None


def _table(layer: Layer) -> sql.Identifier:
    return sql.Identifier("citybrain", layer.source.table)


def _where(
    layer: Layer, query: ItemsQuery, extra: tuple[sql.Composable, dict[str, Any]] | None = None
) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = [extra[0]] if extra else []
    params: dict[str, Any] = dict(extra[1]) if extra else {}
    if layer.source.where:  # the layer file's own (trusted) SQL
        conditions.append(sql.SQL("({})").format(sql.SQL(layer.source.where)))
    if query.bbox:
        params["minx"], params["miny"], params["maxx"], params["maxy"] = query.bbox
        conditions.append(
            sql.SQL(
                "ST_Intersects(s.geom, "
                "ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326))"
            )
        )
    if query.datetime:
        if not layer.datetime:
            raise InvalidInput(f"collection {layer.id} has no time: datetime does not apply")
        column, when = sql.Identifier(layer.datetime), query.datetime
        if when.exact:
            conditions.append(sql.SQL("s.{} = %(t0)s").format(column))
        elif when.start:
            conditions.append(sql.SQL("s.{} >= %(t0)s").format(column))
        if when.end and not when.exact:
            conditions.append(sql.SQL("s.{} <= %(t1)s").format(column))
        params["t0"], params["t1"] = when.start, when.end
    for i, (name, value) in enumerate(query.equals):
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


def _order(layer: Layer, sortby: tuple[tuple[str, bool], ...]) -> sql.Composable:
    """``sortby``'s properties, then id (so that pages neither repeat nor skip a feature); id
    is unique, so whatever follows it in ``sortby`` orders nothing."""
    keys: list[sql.Composable] = []
    for name, descending in sortby:
        if name == "id":
            return sql.SQL(", ").join([*keys, sql.SQL("s.id DESC" if descending else "s.id")])
        if name not in layer.properties:
            raise InvalidInput(
                f"sortby: {name!r} is not a property of {layer.id}; one of: id, "
                f"{', '.join(layer.properties)}"
            )
        order = sql.SQL("DESC NULLS LAST" if descending else "ASC")
        keys.append(sql.SQL("s.{} {}").format(sql.Identifier(name), order))
    return sql.SQL(", ").join([*keys, sql.SQL("s.id")])


def _feature_select(layer: Layer, query: ItemsQuery | None = None) -> sql.Composed:
    shown = layer.properties if query is None or query.properties is None else query.properties
    for name in shown:
        if name not in layer.properties:
            raise InvalidInput(
                f"properties: {name!r} is not a property of {layer.id}; one of: "
                f"{', '.join(layer.properties)}"
            )
    props = sql.SQL(", ").join(
        sql.SQL("{}, s.{}").format(sql.Literal(p), sql.Identifier(p)) for p in shown
    )
    crs = query.crs if query else refcrs.DEFAULT
    geometry = (
        sql.NULL
        if query and query.skip_geometry
        else sql.SQL("ST_AsGeoJSON({}, {})::json").format(
            refcrs.from_storage(sql.SQL("s.geom"), crs), sql.Literal(crs.digits)
        )
    )
    return sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', s.id, "
        "'geometry', {geometry}, "
        "'properties', json_build_object({props})) AS f FROM {table} s"
    ).format(props=props if shown else sql.SQL(""), table=_table(layer), geometry=geometry)
