"""No CQL2 filter, however malformed, answers 5xx (issue 29): the probe's inputs and the others
found since, one by one, each a 400 whose detail names what is wrong, on the items and the tile
routes; thousands of generated CQL2-JSON trees and CQL2 texts (junk, and valid filters bent out
of shape) taken the filter's whole way below HTTP — parsed, translated for the layer as the
items and tile routes translate it, and run on its table — and hundreds through the server; and
valid filters, written and generated, whose answers agree with SQL written by hand."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cql2
import httpx
import mapbox_vector_tile
import mercantile
import psycopg
import pytest
import shapely
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from psycopg import sql

from citybrain.db.connection import libpq_conninfo
from citybrain.domain import CATEGORIES, Status
from citybrain.errors import InvalidInput
from citybrain.layers import Layer, load_layers
from citybrain.services import cql, features, refcrs
from tests.utils.server import LiveServer, server_settings

# (hypothesis describes these nested strategies at length, once per test: a cost, not a fault)
pytestmark = [
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
    pytest.mark.slow,  # thousands of generated filters: not the inner loop
]

ITEMS = "/collections/{}/items"
TILE = mercantile.tile(120.91, 30.85, 15)  # incidents are drawn, not clustered, from z15
TILE_URL = f"/tiles/incidents/15/{TILE.x}/{TILE.y}.mvt"
TILE_WINDOW = {"start": "2025-01-01", "end": "2027-01-01"}
W, S, E, N = 120.86, 30.82, 120.95, 30.88  # in the synthetic county
JSON = {"filter-lang": "cql2-json"}
# Deterministic (as the schemathesis run is, with its seed), with no example database kept.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the filter's path below HTTP -------------------------------------------------------------


class Below:
    """What the items and tile routes do with a ``filter`` after reading its parameters:
    ``cql.parse``, ``features.translate`` for the layer, and the condition run on the layer's
    table. A refusal is an InvalidInput (a 400); anything else raised is a 500 to be."""

    def __init__(self, url: str, tz: ZoneInfo):
        self.tz = tz
        self.layers = load_layers(Path(__file__).parents[1] / "layers")
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(
            psycopg.AsyncConnection.connect(libpq_conninfo(url), autocommit=True)
        )
        self.loop.run_until_complete(self.conn.execute("SET statement_timeout = '20s'"))
        self.outcomes: Counter[str] = Counter()

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()

    def run(
        self, text: str, lang: str, layer: str = "incidents", crs: str | None = None
    ) -> str | None:
        """None when the filter ran on the layer's table; the detail of its 400 if refused."""
        try:
            f = cql.parse(text, lang, refcrs.parse(crs, "filter-crs"), self.tz)
        except InvalidInput as exc:
            self.outcomes["refused by the parser"] += 1
            return exc.detail
        return self.loop.run_until_complete(self._run(self.layers[layer], f))

    async def _run(self, layer: Layer, f: cql.Filter) -> str | None:
        try:
            condition, params = await features.translate(self.conn, layer, f)
        except InvalidInput as exc:
            self.outcomes["refused by the translation"] += 1
            return exc.detail
        table = sql.Identifier("citybrain", layer.source.table)
        count = sql.SQL("SELECT count(*) FROM {} s WHERE {}").format(table, condition)
        await self.conn.execute(count, params)  # a database error here fails the test
        self.outcomes["ran"] += 1
        return None


@pytest.fixture(scope="module")
def tz(seeded: str) -> ZoneInfo:
    """CITYBRAIN_TIMEZONE of the test server (a zone-less time in a filter is in it)."""
    return ZoneInfo(server_settings(seeded).timezone)


@pytest.fixture(scope="module")
def below(seeded: str, tz: ZoneInfo) -> Iterator[Below]:
    b = Below(seeded, tz)
    yield b
    b.close()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """One client for a module of generated requests (hypothesis wants no per-test fixture)."""
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def db(seeded: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_conninfo(seeded), autocommit=True) as c:
        yield c


def _refused(r: httpx.Response) -> str:
    assert r.status_code == 400, (r.status_code, r.text[:500])
    detail = r.json()["detail"]
    assert detail.startswith("filter"), detail
    return detail


# --- the probe's inputs, and the others found ---------------------------------------------------

TEXT, TREE = "cql2-text", "cql2-json"
P, R = {"property": "severity"}, {"property": "reported_at"}
RING2 = {"coordinates": [[[0, 0], [1, 1]]]}  # a ring of two points
MALFORMED = [
    # the probe's (issue 29, finding 6)
    (TEXT, "S_INTERSECTS(geometry, BBOX(1,2,3))", "BBOX takes 4 or 6 numbers, got 3"),
    (TREE, {"op": "not", "args": []}, "NOT takes 1 condition, got 0"),
    (TREE, {"op": "not"}, "not valid CQL2"),  # (cql2 itself refuses it without args)
    (TREE, {"op": "between", "args": [P]}, "BETWEEN takes 3 arguments"),
    (TREE, {"op": "like", "args": [{"property": "category"}]}, "LIKE takes 2 arguments"),
    (TREE, {"op": "in", "args": [P, 5]}, "IN takes a list of values"),
    (
        TREE,
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": ["a", "b", "c", "d"]}]},
        "BBOX takes 4 or 6 numbers, not a text",
    ),
    (TREE, {"op": "=", "args": [{"property": "reported_at"}, {"timestamp": 5}]}, "TIMESTAMP takes"),
    (
        TREE,
        {"op": "t_after", "args": [{"property": "reported_at"}, {"interval": ["2026-01-01"]}]},
        "INTERVAL takes 2 ends",
    ),
    # arities
    (TEXT, "T_AFTER(reported_at)", "T_AFTER takes 2 times, got 1"),
    (TEXT, "S_INTERSECTS(geometry)", "S_INTERSECTS takes 2 geometries, got 1"),
    (TEXT, "CASEI('a', 'b') = 'a'", "CASEI takes 1 text, got 2"),
    (TREE, {"op": "and", "args": []}, "AND takes at least 2 conditions, got 0"),
    (TREE, {"op": "or", "args": [True]}, "OR takes at least 2 conditions, got 1"),
    (TREE, {"op": "not", "args": [True, False]}, "NOT takes 1 condition, got 2"),
    (TREE, {"op": "isNull", "args": []}, "IS NULL takes 1 value, got 0"),
    (TREE, {"op": "=", "args": [P]}, "= takes 2 values, got 1"),
    (TREE, {"op": "<", "args": [P, 1, 2]}, "< takes 2 values, got 3"),
    (TREE, {"op": "=", "args": [{"op": "casei", "args": []}, "x"]}, "CASEI takes 1 text, got 0"),
    (TREE, {"op": "s_within", "args": []}, "S_WITHIN takes 2 geometries, got 0"),
    (TREE, {"op": "t_during", "args": [{"property": "reported_at"}] * 3}, "T_DURING takes 2"),
    (TREE, {"op": "=", "args": {"a": 1}}, "not valid CQL2"),
    # what an argument is
    (TREE, {"op": "in", "args": [P, []]}, "not an empty list"),
    (TREE, {"op": "=", "args": [P, [1, 2]]}, "stands only as IN's second argument"),
    (TREE, {"op": "in", "args": [P, [[1]]]}, "stands only as IN's second argument"),
    (TREE, {"op": "=", "args": [P, {"date": 5}]}, "DATE takes a text"),
    (TREE, {"op": "=", "args": [{"property": "reported_at"}, {"timestamp": None}]}, "not NULL"),
    (TREE, {"op": "=", "args": [{"op": "=", "args": [1, 1]}, True]}, "is a condition, not a value"),
    (TREE, {"op": "casei", "args": ["x"]}, "is no condition"),
    (TREE, 5, "is no condition"),
    (TREE, [1, 2], "is no condition"),
    (TEXT, "severity", "not a boolean condition"),
    (TEXT, "ACCENTI(category) = 'x'", "not supported"),
    (TEXT, "severity + 1 = 2", "arithmetic (+) is not supported"),
    (TEXT, "S_INTERSECTS(geometry, ENVELOPE(1,2,3,4))", "takes geometries"),
    (TEXT, "S_INTERSECTS(geometry, POINT EMPTY)", "not valid CQL2"),  # cql2's bare Exception
    (TEXT, "S_INTERSECTS(category, POINT(1 2))", "takes a geometry, not a string"),
    (TEXT, "foo(severity) = 1", 'the function "foo" is not supported'),
    # times
    (TREE, {"op": "t_after", "args": [R, {"interval": []}]}, "INTERVAL takes 2 ends"),
    (TEXT, "T_AFTER(reported_at, INTERVAL('a','b','c'))", "INTERVAL takes 2 ends (each a date"),
    (
        TREE,
        {"op": "t_after", "args": [{"property": "reported_at"}, {"interval": ["2026-01-01", 5]}]},
        "an INTERVAL's ends are dates, timestamps",
    ),
    (
        TREE,
        {"op": "t_after", "args": [{"property": "reported_at"}, {"interval": [True, ".."]}]},
        "not a boolean",
    ),
    (
        TREE,
        {"op": "t_after", "args": [{"property": "reported_at"}, {"interval": [[1], ".."]}]},
        "not a list",
    ),
    (
        TEXT,
        "T_INTERSECTS(reported_at, INTERVAL('2026-01-01', '2025-01-01'))",
        "ends before it starts",
    ),
    (TEXT, "T_INTERSECTS(reported_at, INTERVAL('2026-01-01', category))", "not a time"),
    (TEXT, "reported_at = DATE('2026-02-30')", "is not a date (YYYY-MM-DD)"),
    (TEXT, "reported_at = TIMESTAMP('2026-13-01T00:00:00Z')", "is not an ISO 8601"),
    (TEXT, "T_AFTER(severity, DATE('2026-01-01'))", "an integer is not a time"),
    # boxes and geometries
    (TREE, {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": []}]}, "got 0"),
    (TEXT, "S_INTERSECTS(geometry, BBOX(1,2,3,4,5))", "BBOX takes 4 or 6 numbers, got 5"),
    (TEXT, "S_INTERSECTS(geometry, BBOX(3,4,1,2))", "the lower corner (minlon,minlat) comes first"),
    (TEXT, "S_INTERSECTS(geometry, BBOX(-200,0,1,1))", "outside CRS84's range"),
    (TEXT, "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "Self-intersection"),
    (
        TREE,
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", **RING2}]},
        "not a geometry",
    ),
    # numbers and texts the database cannot take
    (TEXT, "severity = 1e400", "out of range"),
    (TREE, {"op": "=", "args": [P, "NaN"]}, "cannot compare an integer with a string"),
    (f"{TREE}:raw", '{"op": "=", "args": [{"property": "severity"}, NaN]}', "not valid CQL2"),
    (TREE, {"op": "=", "args": [{"property": "category"}, "治\x00安"]}, "the character NUL"),
    (TEXT, "category LIKE 'abc\\'", "ends in the escape character"),
    (TEXT, "CASEI(category) LIKE CASEI('\\')", "ends in the escape character"),
    # names
    (TEXT, "reporter_phone = '13800000000'", "not a queryable"),
    (TREE, {"op": "=", "args": [{"property": ""}, 1]}, "not a queryable"),
]


def _params(lang: str, f: Any) -> dict[str, str]:
    if lang == TEXT:
        return {"filter": f}
    return {"filter": f if lang.endswith(":raw") else json.dumps(f, ensure_ascii=False), **JSON}


@pytest.mark.parametrize(("lang", "f", "says"), MALFORMED, ids=lambda v: str(v)[:60])
def test_malformed_filters_answer_400_naming_what_is_wrong(
    client: httpx.Client, lang: str, f: Any, says: str
) -> None:
    params = _params(lang, f)
    assert says in _refused(client.get(ITEMS.format("incidents"), params=params))
    # the tiles translate a filter where they draw: the same 400 (rendered or not)
    assert says in _refused(client.get(TILE_URL, params={**params, **TILE_WINDOW}))


def _count(db: psycopg.Connection, where: str, params: Any = (), table: str = "incidents") -> int:
    query = f"SELECT count(*) FROM citybrain.{table} WHERE {where}"
    return db.execute(query, params).fetchone()[0]


def _matched(client: httpx.Client, layer: str = "incidents", **params: str) -> int:
    r = client.get(ITEMS.format(layer), params={"limit": 1, **params})
    assert r.status_code == 200, r.text
    return r.json()["numberMatched"]


def test_valid_filters_at_the_edges_agree_with_sql(
    client: httpx.Client, db: psycopg.Connection, tz: ZoneInfo
) -> None:
    """Filters the checks must let through, near what they refuse."""
    # the last day Python can hold: its end is its last microsecond, not an overflow
    assert _matched(client, filter="reported_at < DATE('9999-12-31')") == _count(db, "TRUE")
    assert _matched(client, filter="reported_at = DATE('9999-12-31')") == 0
    # an integer written as a float, in an IN list
    r = client.get(ITEMS.format("incidents"), params={"filter": "id IN (5.0, 7, 9e0)"})
    assert [f["id"] for f in r.json()["features"]] == [5, 7, 9]
    # a 6-number BBOX (heights ignored) and a BBOX in EPSG:4326's axis order: the same box
    box = f"ST_Intersects(geom, ST_MakeEnvelope({W}, {S}, {E}, {N}, 4326))"
    expected = _count(db, box, table="teams")
    assert 0 < expected < _count(db, "TRUE", table="teams")
    assert _matched(client, "teams", filter=f"S_INTERSECTS(geometry, BBOX({W},{S},{E},{N}))") == (
        expected
    )
    six = f"S_INTERSECTS(geometry, BBOX({W},{S},-10,{E},{N},100))"
    assert _matched(client, "teams", filter=six) == expected
    latlon = {"filter": f"S_INTERSECTS(geometry, BBOX({S},{W},{N},{E}))"}
    epsg4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
    assert _matched(client, "teams", **latlon, **{"filter-crs": epsg4326}) == expected
    # a BBOX whose corners meet is the point it is, and selects what is there
    x, y = db.execute("SELECT ST_X(geom), ST_Y(geom) FROM citybrain.teams WHERE id = 3").fetchone()
    at = f"ST_Intersects(geom, ST_SetSRID(ST_Point({x!r}, {y!r}), 4326))"
    point = f"S_INTERSECTS(geometry, BBOX({x!r},{y!r},{x!r},{y!r}))"
    assert _matched(client, "teams", filter=point) == _count(db, at, table="teams") >= 1
    # an INTERVAL ending at a time property, and one of DATE and TIMESTAMP objects
    since = "T_INTERSECTS(TIMESTAMP('2026-03-01T00:00:00Z'), INTERVAL('2026-01-01', reported_at))"
    assert _matched(client, filter=since) == _count(db, "reported_at >= '2026-03-01T00:00:00Z'")
    week = {
        "op": "t_intersects",
        "args": [
            {"property": "reported_at"},
            {"interval": [{"date": "2026-03-01"}, {"timestamp": "2026-03-08T00:00:00Z"}]},
        ],
    }
    start = datetime.combine(date(2026, 3, 1), time(), tz)
    in_week = _count(db, "reported_at BETWEEN %s AND '2026-03-08T00:00:00Z'", [start])
    assert in_week and _matched(client, filter=json.dumps(week), **JSON) == in_week
    # a LIKE pattern ending in an escaped backslash is a pattern; CASEI on both sides
    assert _matched(client, filter="category LIKE 'x\\\\'") == 0
    assert _matched(client, filter="CASEI(category) LIKE casei('%安%')") == _count(
        db, "lower(category) LIKE '%%安%%'"
    )
    # AND of three, from the text parser (one node with three arguments)
    three = "category = '治安' AND severity > 2 AND tier = 'town'"
    assert _matched(client, filter=three) == _count(
        db, "category = '治安' AND severity > 2 AND tier = 'town'"
    )


def test_a_collection_of_overlapping_parts_is_the_union_of_its_parts(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    """GEOS's relations raise on a collection whose polygons overlap (S_OVERLAPS answered 500
    on the tiles, where no database error is mapped): the filter means the parts' union."""
    a = shapely.box(120.80, 30.80, 120.90, 30.90)
    b = shapely.box(120.85, 30.85, 120.95, 30.95)
    union = a.union(b)
    towns = {
        i: shapely.from_wkb(bytes(g))
        for i, g in db.execute("SELECT id, ST_AsBinary(geom) FROM citybrain.towns")
    }
    collection = f"GEOMETRYCOLLECTION({a.wkt}, {b.wkt})"
    for op, relation in (("S_OVERLAPS", "overlaps"), ("S_INTERSECTS", "intersects")):
        expected = sorted(i for i, t in towns.items() if getattr(t, relation)(union))
        assert 0 < len(expected) < len(towns), op
        r = client.get(ITEMS.format("towns"), params={"filter": f"{op}(geometry, {collection})"})
        assert r.status_code == 200, r.text
        assert [f["id"] for f in r.json()["features"]] == expected, op
    tile = mercantile.tile(120.9, 30.9, 10)
    params = {"filter": f"S_OVERLAPS(geometry, {collection})"}
    r = client.get(f"/tiles/towns/10/{tile.x}/{tile.y}.mvt", params=params)
    assert r.status_code == 200, r.text
    drawn = {f["id"] for f in mapbox_vector_tile.decode(r.content)["towns"]["features"]}
    assert drawn == {i for i, t in towns.items() if t.overlaps(union)}


# --- generated CQL2-JSON trees --------------------------------------------------------------

# The operators the translation knows, as cql2 writes them, and junk beside them.
OPS = [*sorted(cql.ARITY), "isNull"]
JUNK_OPS = ["accenti", "a_contains", "+", "div", "foo", "ENVELOPE", "S_INTERSECTS", "", "Not"]
# Queryables of layers with every kind of column (texts, integers, numbers, booleans, times)
# and geometry (points, lines, polygons), names that are none, and a personal one.
PROPERTIES = ["id", "category", "source", "severity", "status", "tier", "reported_at"]
PROPERTIES += ["team_id", "geometry", "online", "heading", "position_at", "capacity", "name"]
PROPERTIES += ["length_m", "reporter_phone", "colour", "", "Category"]
LAYERS = ["incidents", "incidents", "cameras", "teams", "towns", "roads"]
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
FILTER_CRS = [None, None, None, f"{EPSG}4326", f"{EPSG}4490", f"{EPSG}3857"]
KEYS = ["op", "args", "property", "timestamp", "date", "interval", "bbox", "type", "x"]

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and the infinities too (json.dumps writes them; cql2 refuses them)
    st.sampled_from([0, 3, 5.0, -2.5, W, S, E, N, 1e308, -1e308, 2**63, 2**63 - 1]),
)
TEXTS = st.one_of(
    st.sampled_from(
        [
            "治安",
            "closed",
            "%安%",
            "abc\\",
            "\\\\",
            "",
            "x\x00y",
            "2026-03-01",
            "2026-03-01T08:00:00Z",
            "2026-03-01T08:00:00",
            "..",
            "9999-12-31",
            "0001-01-01",
            "2026-13-01",
            "2026-02-30T25:00:00Z",
            "POINT(1 2)",
        ]
    ),
    st.text(max_size=8),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS)
PROPERTY = st.builds(lambda p: {"property": p}, st.sampled_from(PROPERTIES))
TIMESTAMPS = st.sampled_from(["2026-03-01T00:00:00Z", "2025-11-20T08:00:00+08:00", "2026-10-25"])
DATES = st.sampled_from(["2026-03-05", "2026-10-20", "9999-12-31", "0001-01-01"])
POSITION = st.lists(NUMBERS, max_size=4)
COUNTY_POINT = {"type": "Point", "coordinates": [120.91, 30.85]}
COUNTY_BOX = {
    "type": "Polygon",
    "coordinates": [[[W, S], [E, S], [E, N], [W, N], [W, S]]],
}
GEOMETRY = st.one_of(
    st.sampled_from([COUNTY_POINT, COUNTY_BOX]),
    st.builds(lambda c: {"type": "Point", "coordinates": c}, POSITION),
    st.builds(lambda c: {"type": "LineString", "coordinates": c}, st.lists(POSITION, max_size=3)),
    st.builds(
        lambda c: {"type": "Polygon", "coordinates": c},
        st.lists(st.lists(POSITION, max_size=5), max_size=2),
    ),
    st.builds(
        lambda t, c: {"type": t, "coordinates": c},
        st.sampled_from(["MultiPoint", "Feature", "Circle", "point"]),
        st.lists(POSITION, max_size=3),
    ),
    st.builds(
        lambda g: {"type": "GeometryCollection", "geometries": g},
        st.lists(st.sampled_from([COUNTY_POINT, COUNTY_BOX]), max_size=2),
    ),
)
BBOX = st.builds(
    lambda v: {"bbox": v},
    st.one_of(st.just([W, S, E, N]), st.lists(st.one_of(NUMBERS, SCALARS), max_size=7)),
)
INTERVAL_ENDS = st.one_of(
    SCALARS,
    TIMESTAMPS,
    DATES,
    st.just(".."),
    PROPERTY,
    st.builds(lambda d: {"date": d}, DATES | SCALARS),
    st.builds(lambda t: {"timestamp": t}, TIMESTAMPS | SCALARS),
)
TIMES = st.one_of(
    st.builds(lambda t: {"timestamp": t}, TIMESTAMPS | SCALARS),
    st.builds(lambda d: {"date": d}, DATES | SCALARS),
    st.builds(lambda e: {"interval": e}, st.lists(INTERVAL_ENDS, max_size=3)),
    st.builds(lambda e: {"interval": e}, SCALARS),
    st.just({"property": "reported_at"}),
    TIMESTAMPS,
    DATES,
)
LITERALS = st.one_of(SCALARS, PROPERTY, TIMES, BBOX, GEOMETRY)


def _junk_node(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(
            lambda op, args: {"op": op, "args": args},
            st.sampled_from(OPS + JUNK_OPS),
            st.lists(children, max_size=4),
        ),
        st.builds(lambda op, arg: {"op": op, "args": arg}, st.sampled_from(OPS), children),
        st.builds(lambda op: {"op": op}, st.sampled_from(OPS)),
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=2),
    )


JUNK_TREES = st.recursive(LITERALS, _junk_node, max_leaves=10)


def _bend(args: list, how: str, junk: Any) -> list:
    """Arguments as an operator wants them, or one too few, one too many, one replaced."""
    if how == "drop":
        return args[:-1]
    if how == "add":
        return [*args, junk]
    if how == "swap" and args:
        return [junk, *args[1:]]
    return args


def _op(ops: list[str], args: st.SearchStrategy) -> st.SearchStrategy:
    bent = st.builds(_bend, args, st.sampled_from(["keep"] * 5 + ["drop", "add", "swap"]), LITERALS)
    return st.builds(lambda op, a: {"op": op, "args": a}, st.sampled_from(ops), bent)


def _args(*parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(list)


GEOMETRIES = st.one_of(st.just({"property": "geometry"}), GEOMETRY, BBOX, PROPERTY)
VALUES = st.one_of(SCALARS, PROPERTY, PROPERTY, TIMES, GEOMETRIES)
VALUES = st.one_of(VALUES, _op(["casei", "accenti"], _args(VALUES)))
ATOMS = st.one_of(
    _op(sorted(cql.COMPARE), _args(VALUES, VALUES)),
    _op(["like"], _args(VALUES, VALUES)),
    _op(["between"], _args(VALUES, VALUES, VALUES)),
    _op(["in"], _args(VALUES, st.one_of(st.lists(VALUES, max_size=4), VALUES))),
    _op(["isNull"], _args(VALUES)),
    _op(sorted(cql.SPATIAL), _args(GEOMETRIES, GEOMETRIES)),
    _op(sorted(cql.TEMPORAL), _args(TIMES | PROPERTY, TIMES | PROPERTY)),
    st.booleans(),
    PROPERTY,
)
# Trees shaped as conditions, each node's arguments right or bent: these get past the parser
# and into the translation's every branch, where junk trees mostly stop at the first node.
CONDITIONS = st.recursive(
    ATOMS,
    lambda c: st.one_of(
        _op(["and", "or"], st.lists(c, min_size=2, max_size=3)), _op(["not"], _args(c))
    ),
    max_leaves=6,
)


def test_generated_json_trees_are_run_or_refused_below_http(below: Below) -> None:
    """1,200 trees, on layers of every kind of column and in every filter-crs: each is
    refused with a 400 naming it, or runs on the table."""
    below.outcomes.clear()

    @settings(FUZZ, max_examples=1200)
    @given(
        st.one_of(JUNK_TREES, CONDITIONS, CONDITIONS),
        st.sampled_from(LAYERS),
        st.sampled_from(FILTER_CRS),
    )
    def check(tree: Any, layer: str, crs: str | None) -> None:
        text = json.dumps(tree, ensure_ascii=False)
        note(text)
        detail = below.run(text, TREE, layer, crs)
        assert detail is None or (detail.startswith("filter") and len(detail) > 20), detail

    check()
    # the generated trees reach every stage, the database included
    assert min(below.outcomes.values()) >= 50 and len(below.outcomes) == 3, below.outcomes


# --- generated CQL2 texts ---------------------------------------------------------------------

VALID_TEXTS = [
    "category = '治安' AND severity >= 3",
    "category LIKE '%安%' AND NOT status = 'closed'",
    "severity BETWEEN 2 AND 3 OR team_id IS NULL",
    "category IN ('消防', '食品安全') AND tier <> 'town'",
    "CASEI(status) = casei('CLOSED')",
    "T_INTERSECTS(reported_at, INTERVAL('2026-03-01T00:00:00Z', '..'))",
    "T_DURING(reported_at, INTERVAL('2026-03-01', '2026-03-03'))",
    "T_BEFORE(reported_at, TIMESTAMP('2025-11-20T00:00:00Z'))",
    "reported_at = DATE('2026-03-05')",
    f"S_INTERSECTS(geometry, BBOX({W}, {S}, {E}, {N}))",
    f"S_WITHIN(geometry, POLYGON(({W} {S}, {E} {S}, {E} {N}, {W} {N}, {W} {S})))",
    "S_DISJOINT(geometry, POINT(120.91 30.85)) AND id < 100",
    "team_id < severity",
]
# Values of every kind, some of them wrong (BBOX(1, 2, 3), a reversed INTERVAL).
VALUE_WORDS = [
    *("'治安'", "'2026-03-01'", "'2026-03-01T08:00:00Z'", "'..'", "'%安%'", "'abc\\'", "''"),
    *("'x''y'", "0", "3", "-2.5", "1e400", "120.9", "9999999999999999999999", "TRUE"),
    *("NULL", "DATE('2026-03-05')", "DATE('9999-12-31')", "TIMESTAMP('2026-03-01T00:00:00Z')"),
    *("INTERVAL('2026-03-01', '..')", "INTERVAL('2026-03-02', '2026-03-01')", "BBOX(1, 2, 3)"),
    *(f"BBOX({W}, {S}, {E}, {N})", "BBOX(3, 4, 1, 2)", "POINT(120.91 30.85)", "POINT EMPTY"),
    *("CASEI('X')", "CASEI(category)", "ACCENTI('x')", "category", "reported_at", "geometry"),
]
# Words that can stand for one another in a filter's grammar: one put for another mostly keeps
# a text parseable and makes it wrong in its types, arities or values, which the translation
# must then refuse (or run).
KINDRED = [
    ["=", "<>", "<", "<=", ">", ">=", "LIKE"],
    ["AND", "OR"],
    PROPERTIES[:-4],
    VALUE_WORDS,
    [
        *("S_INTERSECTS", "S_WITHIN", "S_DISJOINT", "S_CROSSES", "T_AFTER", "T_BEFORE"),
        *("T_DURING", "T_INTERSECTS", "CASEI", "ACCENTI", "BBOX", "INTERVAL", "TIMESTAMP"),
        *("DATE", "POINT", "A_CONTAINS", "foo"),
    ],
]
VOCABULARY = [
    *"(),=<>[]+-*",
    *("NOT", "BETWEEN", "IN", "IS", "NULL", "FALSE", "POLYGON", "LINESTRING", "EMPTY"),
    *("GEOMETRYCOLLECTION", "ENVELOPE", "120.9 30.85", "1 2", '"category"'),
    *(word for kin in KINDRED for word in kin),
]
LITERAL = re.compile(r"'|-?\d")
TOKEN = re.compile(r"'(?:[^']|'')*'|-?\d+(?:\.\d+)?(?:e-?\d+)?|\w+|<>|<=|>=|\S")


def _mutate(text: str, edits: list[tuple[str, int, str, int]]) -> str:
    """``text`` with tokens put for their kin, dropped, doubled, inserted, replaced, swapped."""
    tokens = TOKEN.findall(text)
    for how, at, word, pick in edits:
        i = at % len(tokens)
        kin = next((k for k in KINDRED if tokens[i] in k or tokens[i].upper() in k), None)
        kin = VALUE_WORDS if LITERAL.match(tokens[i]) else kin
        if how == "respell" and kin:
            tokens[i] = kin[pick % len(kin)]
        elif how == "drop" and len(tokens) > 1:
            del tokens[i]
        elif how == "double":
            tokens.insert(i, tokens[i])
        elif how == "insert":
            tokens.insert(i, word)
        elif how == "replace":
            tokens[i] = word
        elif how == "swap":
            j = (i + 1) % len(tokens)
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens)


EDIT = st.tuples(
    st.sampled_from(["respell"] * 6 + ["drop", "double", "insert", "replace", "swap"]),
    st.integers(0, 1000),
    st.sampled_from(VOCABULARY),
    st.integers(0, 1000),
)
MUTANTS = st.builds(_mutate, st.sampled_from(VALID_TEXTS), st.lists(EDIT, min_size=1, max_size=3))
SOUP = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=14).map(" ".join)
CQL2_TEXTS = st.one_of(st.sampled_from(VALID_TEXTS), MUTANTS, MUTANTS, MUTANTS, SOUP, st.text())


def test_generated_texts_are_run_or_refused_below_http(below: Below) -> None:
    """1,200 texts: valid filters bent by a few edits, token soup, random characters."""
    below.outcomes.clear()

    @settings(FUZZ, max_examples=1200)
    @given(CQL2_TEXTS, st.sampled_from(LAYERS), st.sampled_from(FILTER_CRS))
    def check(text: str, layer: str, crs: str | None) -> None:
        note(text)
        detail = below.run(text, TEXT, layer, crs)
        assert detail is None or (detail.startswith("filter") and len(detail) > 20), detail

    check()
    assert min(below.outcomes.values()) >= 50 and len(below.outcomes) == 3, below.outcomes


# --- through the server -----------------------------------------------------------------------


def _request(tree_or_text: Any) -> dict[str, str]:
    if isinstance(tree_or_text, str):
        return {"filter": tree_or_text}
    return {"filter": json.dumps(tree_or_text, ensure_ascii=False), **JSON}


GENERATED = st.one_of(JUNK_TREES, CONDITIONS, CONDITIONS, CQL2_TEXTS, MUTANTS)


def test_generated_filters_never_answer_5xx(http: httpx.Client) -> None:
    """400 trees and texts on the items route and 120 on a layer's tile: a 200 or a 400 with
    its detail, never a 5xx."""
    statuses: Counter[int] = Counter()

    def ask(url: str, params: dict[str, str]) -> None:
        r = http.get(url, params=params)
        statuses[r.status_code] += 1
        if r.status_code != 200:
            _refused(r)

    @settings(FUZZ, max_examples=400)
    @given(GENERATED)
    def items(f: Any) -> None:
        ask(ITEMS.format("incidents"), {"limit": "1", **_request(f)})

    @settings(FUZZ, max_examples=120)
    @given(GENERATED)
    def tiles(f: Any) -> None:
        ask(TILE_URL, {**TILE_WINDOW, **_request(f)})

    items()
    tiles()
    assert set(statuses) == {200, 400} and min(statuses.values()) >= 30, statuses


# --- generated valid filters against SQL --------------------------------------------------------


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _at(days: int) -> datetime:
    return datetime(2025, 11, 1, tzinfo=UTC) + timedelta(days=days, minutes=days * 37 % 1440)


# (CQL2 text, the same condition in SQL with %s placeholders, its parameters)
VALID_ATOMS = st.one_of(
    st.builds(
        lambda op, n: (f"severity {op} {n}", f"severity {op} %s", [n]),
        st.sampled_from(sorted(cql.COMPARE)),
        st.integers(0, 6),
    ),
    st.builds(
        lambda c: (f"category = {_quoted(c)}", "category = %s", [c]),
        st.sampled_from([c.name for c in CATEGORIES]),
    ),
    st.builds(
        lambda ch: (f"category LIKE '%{ch}%'", "category LIKE %s", [f"%{ch}%"]),
        st.sampled_from("安通境管民"),
    ),
    st.builds(
        lambda ss: (f"status IN ({', '.join(map(_quoted, ss))})", "status = ANY(%s)", [ss]),
        st.lists(st.sampled_from([s.value for s in Status]), min_size=1, max_size=3, unique=True),
    ),
    st.sampled_from(
        [
            ("team_id IS NULL", "team_id IS NULL", []),
            ("team_id IS NOT NULL", "team_id IS NOT NULL", []),
            ("team_id < severity", "team_id < severity", []),
        ]
    ),
    st.builds(
        lambda d: (
            f"T_AFTER(reported_at, TIMESTAMP('{_at(d):%Y-%m-%dT%H:%M:%SZ}'))",
            "reported_at > %s",
            [_at(d)],
        ),
        st.integers(0, 380),
    ),
    st.builds(  # a date compared with a time is its local day (a date parameter: its start)
        lambda d: (
            f"reported_at >= '{_at(d).date()}' AND reported_at < DATE('{_at(d + 20).date()}')",
            "reported_at >= %s AND reported_at < %s",
            [_at(d).date(), _at(d + 20).date()],
        ),
        st.integers(0, 360),
    ),
    st.builds(
        lambda x, y, w, h: (
            f"S_INTERSECTS(geometry, BBOX({x}, {y}, {round(x + w, 4)}, {round(y + h, 4)}))",
            "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
            [x, y, round(x + w, 4), round(y + h, 4)],
        ),
        st.floats(120.75, 121.0).map(lambda v: round(v, 4)),
        st.floats(30.72, 31.0).map(lambda v: round(v, 4)),
        st.floats(0.005, 0.1),
        st.floats(0.005, 0.1),
    ),
)
VALID = st.recursive(
    VALID_ATOMS,
    lambda c: st.one_of(
        st.builds(lambda a: (f"NOT ({a[0]})", f"NOT ({a[1]})", a[2]), c),
        st.builds(
            lambda a, b, op: (f"({a[0]}) {op} ({b[0]})", f"({a[1]}) {op} ({b[1]})", a[2] + b[2]),
            c,
            c,
            st.sampled_from(["AND", "OR"]),
        ),
    ),
    max_leaves=4,
)


def test_generated_valid_filters_agree_with_sql(
    http: httpx.Client, db: psycopg.Connection, tz: ZoneInfo
) -> None:
    """150 valid filters (comparisons, LIKE, IN, IS NULL, times, boxes under AND, OR, NOT),
    as text or as the JSON cql2 makes of it: the server counts what SQL written by hand does."""
    sizes: list[int] = []

    @settings(FUZZ, max_examples=150)
    @given(VALID, st.booleans())
    def check(f: tuple[str, str, list], as_json: bool) -> None:
        text, where, dated = f
        params = [datetime.combine(p, time(), tz) if type(p) is date else p for p in dated]
        request = _request(cql2.parse_text(text).to_json() if as_json else text)
        expected = _count(db, where, params)
        assert _matched(http, **request) == expected, (text, where, params)
        sizes.append(expected)

    check()
    total = _count(db, "TRUE")
    assert sum(0 < n < total for n in sizes) >= 50, "most select some, not all"
