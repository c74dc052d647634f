"""A layer's features as OGC API – Features serves them: its queryables, a page of items
matching a query (bbox, datetime, properties, a CQL2 filter; sorted, some properties, in a
CRS), one item, and what is worked out from a whole table — a layer's
extent (OGC collections), the county's bounds (TileJSON) — kept per table version (every write
moves it: 0004_tile_versions), so it is never stale and is asked of the database once per
change, not per request."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
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
from citybrain.services.window import Interval, instant
from citybrain.sql import load

GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
WEB_MERCATOR_WORLD = [-180, -85.0511, 180, 85.0511]
# A number in a query parameter: JSON's form (no "1_000", "0x10", "nan" or "inf").
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?")
BIGINT = 2**63
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# The kinds of queryable a query parameter may name (Part 3: "a simple value"); a time is a
# string with a format in the queryables' JSON Schema.
SIMPLE = {"string", "integer", "number", "boolean", "datetime", "date"}
# PostGIS's geometry type names (format_type) as GeoJSON's.
GEOJSON_TYPES = {
    t.upper(): t
    for t in (
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    )
}


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
class Shape:
    """How features are written, on the items and the item route alike: which properties
    (None: all the layer exposes), with or without geometry, in which CRS."""

    properties: tuple[str, ...] | None = None
    skip_geometry: bool = False
    crs: RefCrs = refcrs.DEFAULT


@dataclass(frozen=True)
class ItemsQuery:
    """Which features of a layer, and which page of them (ordered by id)."""

    bbox: BBox | None = None
    datetime: Interval | None = None
    # (queryable, value as given): equal to the value read as the queryable's type
    equals: tuple[tuple[str, str], ...] = ()
    filter: Filter | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (property, descending), then by id
    shape: Shape = field(default_factory=Shape)
    limit: int = 100
    offset: int = 0
    tz: str = "Asia/Shanghai"  # CITYBRAIN_TIMEZONE: of a zone-less time in ``equals``


async def _columns(conn: AsyncConnection, layer: Layer) -> dict[str, str]:
    cur = await conn.execute(load("features/columns"), {"table": layer.source.table})
    return {name: kind for name, kind in await cur.fetchall()}


async def queryables(conn: AsyncConnection, layer: Layer) -> dict[str, str]:
    """What a filter may name, and the kind of each (string, integer, number, boolean,
    datetime, date, geometry): ``id``, the exposed properties and ``geometry``; never a
    column the layer does not expose."""
    types = await _columns(conn, layer)
    kinds = {"id": "integer"}
    for name in layer.properties:
        kinds[name] = TYPES.get(types.get(name, ""), "string")
    kinds["geometry"] = "geometry"
    return kinds


async def geometry_type(conn: AsyncConnection, layer: Layer) -> str | None:
    """The GeoJSON type of the layer's geometry column as the database declares it
    (``geometry(MultiPolygon,4326)``: ``MultiPolygon``); None for a column of any geometry."""
    declared = (await _columns(conn, layer)).get("geom", "")
    found = re.fullmatch(r"geometry\((\w+?)Z?M?,\s*\d+\)", declared, re.IGNORECASE)
    return GEOJSON_TYPES.get(found.group(1).upper()) if found else None


async def translate(
    conn: AsyncConnection, layer: Layer, f: Filter
) -> tuple[sql.Composable, dict[str, Any]]:
    """A filter as a condition on the layer's table (alias ``s``) and its parameters."""
    return _translate(await queryables(conn, layer), f)


def _translate(kinds: dict[str, str], f: Filter) -> tuple[sql.Composable, dict[str, Any]]:
    t = Translator(kinds, refcrs.parse(f.crs_uri, "filter-crs"), ZoneInfo(f.tz))
    return t.where(f), t.params


def parameter_value(name: str, kind: str, text: str, tz: ZoneInfo) -> Any:
    """A queryable given as a query parameter (``?severity=3``, ``?reported_at=…``) read as
    its kind: a number in JSON's form (``5.0`` is the integer 5), ``true``/``false``, a time by
    the API's one rule (no zone: ``tz``; a date: its local midnight, where the day starts), text
    as it is; 400 naming the parameter."""
    if kind in ("integer", "number"):
        if not NUMBER.fullmatch(text):
            raise InvalidInput(f"{name}: {text!r} is not a number")
        value = Decimal(text)
        if kind == "number":
            if not math.isfinite(float(value)):
                raise InvalidInput(f"{name}: {text!r} is out of range")
            return float(value)
        if value != value.to_integral_value() or abs(value) >= BIGINT:
            raise InvalidInput(f"{name}: {text!r} is not an integer (of at most 19 digits)")
        return int(value)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidInput(f"{name}: {text!r} is not a boolean (true or false)")
        return text.lower() == "true"
    if kind == "datetime":
        return instant(text, tz, name)  # a date alone: its local day (see _where)
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
    if "\x00" in text:
        raise InvalidInput(f"{name}: a text cannot hold the character NUL")
    return text


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
    kinds = await queryables(conn, layer) if query.filter or query.equals else {}
    extra = _translate(kinds, query.filter) if query.filter else None
    where, params = _where(layer, query, kinds, extra)
    # assembled: the layer's table and properties (its file), the filter's checked parts
    page = sql.SQL("{} {} ORDER BY {} LIMIT %(limit)s OFFSET %(offset)s").format(
        _feature_select(layer, query.shape), where, _order(layer, query.sortby)
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
    conn: AsyncConnection, layer: Layer, feature_id: int, shape: Shape | None = None
) -> dict[str, Any] | None:
    """One feature of the layer written as ``shape`` says (None if it has none by that id, or
    does not show it); 400 for a property the layer does not show."""
    # assembled: the layer's table, properties and condition (its file); the id bound
    where = sql.SQL(" WHERE s.id = %(id)s") + (
        sql.SQL(" AND ({})").format(sql.SQL(layer.source.where))  # the layer file's own SQL
        if layer.source.where
        else sql.SQL("")
    )
    cur = conn.cursor(row_factory=dict_row)
    select = _feature_select(layer, shape or Shape())
    row = await (await cur.execute(select + where, {"id": feature_id})).fetchone()
    return row["f"] if row else None


def _table(layer: Layer) -> sql.Identifier:
    return sql.Identifier("citybrain", layer.source.table)


def _where(
    layer: Layer,
    query: ItemsQuery,
    kinds: dict[str, str],
    extra: tuple[sql.Composable, dict[str, Any]] | None = None,
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
    tz = ZoneInfo(query.tz)
    for i, (name, text) in enumerate(query.equals):
        kind = kinds.get(name)
        if kind not in SIMPLE:
            simple = ", ".join(n for n, k in kinds.items() if k in SIMPLE)
            raise InvalidInput(
                f"unknown parameter {name!r}; the queryables of {layer.id} a parameter may name: "
                f"{simple} (geometry: use bbox or filter)"
            )
        column, value = sql.Identifier(name), parameter_value(name, kind, text, tz)
        if kind == "datetime" and DAY.fullmatch(text):
            # A date is its whole local day, as in a filter (reported_at = '2026-03-05').
            conditions.append(
                sql.SQL("s.{0} >= {1} AND s.{0} < {2}").format(
                    column, sql.Placeholder(f"q{i}"), sql.Placeholder(f"q{i}end")
                )
            )
            params[f"q{i}end"] = value + timedelta(days=1)  # wall clock: next midnight
        else:  # text as text (whatever the column's own type); the rest as their type
            cast = sql.SQL("::text" if kind == "string" else "")
            conditions.append(sql.SQL("s.{}{} = {}").format(column, cast, sql.Placeholder(f"q{i}")))
        params[f"q{i}"] = value
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


def _feature_select(layer: Layer, shape: Shape) -> sql.Composed:
    shown = layer.properties if shape.properties is None else shape.properties
    for name in shown:
        if name not in layer.properties:
            raise InvalidInput(
                f"properties: {name!r} is not a property of {layer.id}; one of: "
                f"{', '.join(layer.properties)}"
            )
    props = sql.SQL(", ").join(
        sql.SQL("{}, s.{}").format(sql.Literal(p), sql.Identifier(p)) for p in shown
    )
    crs = shape.crs
    geometry = (
        sql.NULL
        if shape.skip_geometry
        else sql.SQL("ST_AsGeoJSON({}, {})::json").format(
            refcrs.from_storage(sql.SQL("s.geom"), crs), sql.Literal(crs.digits)
        )
    )
    # assembled: the layer's table and the properties it shows (checked above), quoted
    return sql.SQL(
        "SELECT json_build_object('type', 'Feature', 'id', s.id, "
        "'geometry', {geometry}, "
        "'properties', json_build_object({props})) AS f FROM {table} s"
    ).format(props=props if shown else sql.SQL(""), table=_table(layer), geometry=geometry)
