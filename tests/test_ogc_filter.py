"""OGC API – Features beyond Core: queryables and CQL2 filters (text and JSON) checked against
SQL and shapely on the same tables, sortby against Python's sort, property selection,
skipGeometry, CRS by reference (EPSG:4326, 4490, 3857) against pyproj, 400s for bad filters
and personal columns, OWSLib and GDAL's OAPIF driver as clients, and filters on layer tiles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import mapbox_vector_tile
import mercantile
import psycopg
import pytest
import shapely
import shapely.ops
import yaml
from pyproj import Transformer

from citybrain.errors import InvalidInput
from citybrain.services import cql, refcrs
from tests.utils.layers import LAYERS

ITEMS = "/collections/{}/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
BOX = (120.86, 30.82, 120.95, 30.88)  # in the county (the synthetic one is around 嘉善)
CQL2_CONF = "http://www.opengis.net/spec/cql2/1.0/conf/"
LAYER_FILES = Path(__file__).parents[1] / "layers"


def ids(client: httpx.Client, layer: str = "incidents", **params) -> list[int]:
    """Every id the API answers (following next links), in its order."""
    r = client.get(ITEMS.format(layer), params={"limit": 10000, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    out = [f["id"] for f in body["features"]]
    assert body["numberMatched"] == len(out), "the tests keep answers under one page"
    return out


def sql_ids(conn: psycopg.Connection, where: str, table: str = "incidents", params=()) -> list:
    return [
        r[0]
        for r in conn.execute(f"SELECT id FROM citybrain.{table} WHERE {where} ORDER BY id", params)
    ]


def test_conformance_is_exactly_what_is_built(client: httpx.Client) -> None:
    cql2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
    expected = {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        *(
            cql2 + c
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
    }
    got = client.get("/conformance").json()["conformsTo"]
    assert set(got) == expected and len(got) == len(expected)


W, S, E, N = BOX
LATLON_BOX = f"POLYGON(({S} {W}, {S} {E}, {N} {E}, {N} {W}, {S} {W}))"  # EPSG:4326 axis order
IN_BOX = f"ST_Intersects(geom, ST_MakeEnvelope({W}, {S}, {E}, {N}, 4326))"
F = "http://www.opengis.net/spec/ogcapi-features-{}/1.0/conf/"
# Every class /conformance declares, a request that uses its parameters and the same
# condition written by hand in SQL: (layer, parameters, SQL on the layer's table).
DECLARED = {
    F.format(1) + "core": (
        "incidents",
        {"bbox": ",".join(map(str, BOX)), "datetime": "2026-03-01T00:00:00Z/2026-03-15T00:00:00Z"},
        f"{IN_BOX} AND reported_at BETWEEN '2026-03-01T00:00:00Z' AND '2026-03-15T00:00:00Z'",
    ),
    F.format(1) + "geojson": ("towns", {"f": "json"}, "TRUE"),
    F.format(2) + "crs": (
        "teams",
        {"bbox": f"{S},{W},{N},{E}", "bbox-crs": EPSG + "4490", "crs": EPSG + "4490"},
        IN_BOX,
    ),
    F.format(3) + "queryables": ("incidents", None, None),  # its /queryables: below
    F.format(3) + "queryables-query-parameters": (
        "incidents",
        {"category": "治安", "severity": "4.0", "status": "closed"},
        "category = '治安' AND severity = 4 AND status = 'closed'",
    ),
    F.format(3) + "filter": (
        "incidents",
        {"filter": "category = '消防' AND severity >= 3", "filter-lang": "cql2-text"},
        "category = '消防' AND severity >= 3",
    ),
    F.format(3) + "features-filter": (
        "teams",
        {"filter": f"S_INTERSECTS(geometry, {LATLON_BOX})", "filter-crs": EPSG + "4326"},
        IN_BOX,
    ),
    CQL2_CONF + "cql2-text": ("incidents", {"filter": "tier = 'county'"}, "tier = 'county'"),
    CQL2_CONF + "cql2-json": (
        "incidents",
        {
            "filter": json.dumps({"op": "=", "args": [{"property": "tier"}, "county"]}),
            "filter-lang": "cql2-json",
        },
        "tier = 'county'",
    ),
    CQL2_CONF + "basic-cql2": (
        "incidents",
        {
            "filter": "severity <> 2 AND team_id IS NOT NULL AND NOT (category = '治安') AND "
            "severity > 3"
        },
        "severity <> 2 AND team_id IS NOT NULL AND category <> '治安' AND severity > 3",
    ),
    CQL2_CONF + "advanced-comparison-operators": (
        "incidents",
        {"filter": "category LIKE '治%' AND severity BETWEEN 3 AND 4 AND status IN ('closed')"},
        "category LIKE '治%%' AND severity BETWEEN 3 AND 4 AND status = 'closed'",
    ),
    CQL2_CONF + "case-insensitive-comparison": (
        "incidents",
        {"filter": "CASEI(status) = casei('CLOSED') AND severity = 4"},
        "status = 'closed' AND severity = 4",
    ),
    CQL2_CONF + "property-property": (
        "incidents",
        {"filter": "team_id < severity"},
        "team_id < severity",
    ),
    CQL2_CONF + "basic-spatial-functions": (
        "teams",
        {"filter": f"S_INTERSECTS(geometry, BBOX({W}, {S}, {E}, {N}))"},
        IN_BOX,
    ),
    CQL2_CONF + "basic-spatial-functions-plus": (
        "towns",
        {"filter": "S_INTERSECTS(geometry, POINT(120.91 30.85))"},
        "ST_Intersects(geom, ST_SetSRID(ST_Point(120.91, 30.85), 4326))",
    ),
    CQL2_CONF + "spatial-functions": (
        "teams",
        {"filter": f"S_WITHIN(geometry, POLYGON(({W} {S}, {E} {S}, {E} {N}, {W} {N}, {W} {S})))"},
        f"ST_Within(geom, ST_MakeEnvelope({W}, {S}, {E}, {N}, 4326))",
    ),
    CQL2_CONF + "temporal-functions": (
        "incidents",
        {"filter": "T_BEFORE(reported_at, TIMESTAMP('2025-11-05T00:00:00Z'))"},
        "reported_at < '2025-11-05T00:00:00Z'",
    ),
}


def test_every_declared_class_takes_its_parameters(client: httpx.Client, conn) -> None:
    """Each class /conformance declares answers with its parameters, as SQL on the same table
    says (a class declared without a request here fails)."""
    assert set(client.get("/conformance").json()["conformsTo"]) == set(DECLARED)
    for conf, (layer, params, where) in DECLARED.items():
        if params is None:
            r = client.get(f"/collections/{layer}/queryables")
            assert r.status_code == 200 and "category" in r.json()["properties"], conf
            continue
        r = client.get(ITEMS.format(layer), params={"limit": 10000, **params})
        assert r.status_code == 200, (conf, r.text)
        assert r.headers["content-type"].startswith("application/geo+json")
        expected = sql_ids(conn, where, layer)
        assert expected, f"{conf}: a request worth testing selects some"
        assert [f["id"] for f in r.json()["features"]] == expected, conf


def test_queryables_as_parameters_agree_with_sql(client: httpx.Client, conn) -> None:
    """Every simple queryable is a parameter, its value read as the queryable's type."""
    # id (listed as a queryable), an integer however it is written
    assert ids(client, id="5") == ids(client, id="5.0") == ids(client, id="5e0") == [5]
    assert sql_ids(conn, "id = 5") == [5]
    # a time: with an offset, in UTC, or without a zone (local: Asia/Shanghai in the tests)
    (at,) = conn.execute("SELECT reported_at FROM citybrain.incidents WHERE id = 7").fetchone()
    same = sql_ids(conn, "reported_at = %s", params=[at])
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert 7 in same and local.utcoffset().total_seconds() == 8 * 3600
    for text in (
        local.isoformat(),  # 2025-11-01T17:02:00+08:00 (httpx sends + as %2B)
        at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        local.replace(tzinfo=None).isoformat(),
    ):
        assert ids(client, reported_at=text) == same, text
    # a date alone is its whole local day, as in a filter
    day = sql_ids(
        conn,
        "reported_at >= '2026-03-05T00:00:00+08:00' AND reported_at < '2026-03-06T00:00:00+08:00'",
    )
    assert day and ids(client, reported_at="2026-03-05") == day
    assert ids(client, filter="reported_at = '2026-03-05'") == day
    # numbers by value, not by their text: an integer and a double precision column
    for text in ("100", "100.0", "1e2", "+100.00"):
        assert ids(client, "facilities", capacity=text) == sql_ids(
            conn, "capacity = 100", "facilities"
        ), text
    (heading,) = conn.execute(
        "SELECT heading FROM citybrain.cameras WHERE heading <> round(heading) LIMIT 1"
    ).fetchone()
    cams = sql_ids(conn, "heading = %s", "cameras", [heading])
    assert cams and ids(client, "cameras", heading=f"{heading}0") == cams
    assert ids(client, "cameras", range_m="59.0", online="FALSE") == sql_ids(
        conn, "range_m = 59 AND NOT online", "cameras"
    )
    # Chinese strings, with another parameter and with a filter
    expected = sql_ids(conn, "category = '治安' AND severity >= 3 AND status = 'closed'")
    assert 0 < len(expected) < len(sql_ids(conn, "category = '治安'"))
    assert ids(client, category="治安", status="closed", filter="severity >= 3") == expected
    (name,) = conn.execute("SELECT name FROM citybrain.villages ORDER BY id LIMIT 1").fetchone()
    assert ids(client, "villages", name=name) == sql_ids(conn, "name = %s", "villages", [name])
    assert ids(client, "villages", name=name + " ") == []  # text is compared as given


@pytest.mark.parametrize(
    "layer,params,says",
    [
        ("incidents", {"id": "abc"}, "id: 'abc' is not a number"),
        ("incidents", {"id": "5.5"}, "id: '5.5' is not an integer"),
        ("incidents", {"id": "99999999999999999999"}, "is not an integer"),
        ("incidents", {"severity": "0x4"}, "severity: '0x4' is not a number"),
        ("incidents", {"severity": "1_000"}, "severity: '1_000' is not a number"),
        ("incidents", {"reported_at": "yesterday"}, "reported_at: 'yesterday' is not an ISO"),
        # a '+' not percent-encoded arrives as a space
        ("incidents", {"reported_at": "2026-03-01T08:00:00 08:00"}, "reported_at:"),
        ("cameras", {"online": "maybe"}, "online: 'maybe' is not a boolean"),
        ("cameras", {"range_m": "nan"}, "range_m: 'nan' is not a number"),
        ("cameras", {"range_m": "1e999"}, "range_m: '1e999' is out of range"),
        ("incidents", {"category": "治\x00安"}, "category: a text cannot hold"),
        ("incidents", {"geometry": "POINT(120.9 30.8)"}, "unknown parameter 'geometry'"),
        ("incidents", {"reporter_phone": "13800000000"}, "unknown parameter 'reporter_phone'"),
        ("incidents", {"colour": "red"}, "may name: id, category"),
    ],
)
def test_bad_query_parameters_answer_400(
    client: httpx.Client, layer: str, params: dict, says: str
) -> None:
    r = client.get(ITEMS.format(layer), params=params)
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"]


def test_queryables_geometry_is_the_columns_type(client: httpx.Client, conn) -> None:
    """The geometry schema of every layer is its column's type in geometry_columns
    (polygons are stored as MultiPolygons: alerts since 0015, the hierarchy since 0001)."""
    declared = dict(
        conn.execute(
            "SELECT f_table_name, type FROM geometry_columns "
            "WHERE f_table_schema = 'citybrain' AND f_geometry_column = 'geom'"
        ).fetchall()
    )
    geojson = {t.upper(): t for t in ("Point", "LineString", "Polygon", "MultiPolygon")}
    for layer in LAYERS:
        table = yaml.safe_load(
            (Path(__file__).parents[1] / "layers" / f"{layer}.yaml").read_text()
        )["source"]["table"]
        schema = client.get(f"/collections/{layer}/queryables").json()["properties"]["geometry"]
        assert schema == {
            "$ref": f"https://geojson.org/schema/{geojson[declared[table]]}.json",
            "x-ogc-role": "primary-geometry",
        }, layer
    assert declared["alerts"] == "MULTIPOLYGON"


def test_queryables_are_the_exposed_columns_typed(client: httpx.Client, conn) -> None:
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'citybrain' AND table_name = 'incidents'"
        ).fetchall()
    )
    r = client.get(
        "/collections/incidents/queryables", headers={"Accept": "application/schema+json"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema")
    plain = client.get("/collections/incidents/queryables")  # (GDAL < 3.7 wants JSON's type)
    assert plain.headers["content-type"].startswith("application/json")
    props = r.json()["properties"]
    exposed = ["category", "source", "severity", "status", "tier", "reported_at", "team_id"]
    assert list(props) == ["id", *exposed, "geometry"]
    assert not {"reporter_name", "reporter_phone", "attributes"} & set(props)
    expect = {"text": "string", "smallint": "integer", "integer": "integer", "bigint": "integer"}
    for name in ("category", "severity", "team_id"):
        assert props[name]["type"] == expect[types[name]]
    assert types["reported_at"] == "timestamp with time zone"
    assert props["reported_at"]["format"] == "date-time"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    links = client.get("/collections/incidents").json()["links"]
    assert any(link["href"].endswith("/collections/incidents/queryables") for link in links)


# (CQL2 text, the same condition written by hand in SQL)
TEXT_FILTERS = [
    ("category = '治安' AND severity >= 3", "category = '治安' AND severity >= 3"),
    ("category LIKE '%安%' AND severity = 4", "category LIKE '%%安%%' AND severity = 4"),
    (
        "category IN ('消防', '食品安全') AND NOT status = 'closed'",
        "category IN ('消防', '食品安全') AND status <> 'closed'",
    ),
    (
        "severity BETWEEN 2 AND 3 AND tier = 'county'",
        "severity >= 2 AND severity <= 3 AND tier = 'county'",
    ),
    ("team_id IS NULL", "team_id IS NULL"),
    (
        "(category = '交通' OR category = '环境') AND severity > 3 AND team_id IS NOT NULL",
        "category IN ('交通', '环境') AND severity > 3 AND team_id IS NOT NULL",
    ),
    ("CASEI(status) = casei('ESCALATED')", "lower(status) = 'escalated'"),
    ("status <> 'closed' AND severity = 4", "status <> 'closed' AND severity = 4"),
    (
        "T_INTERSECTS(reported_at, INTERVAL('2026-03-01T00:00:00Z','2026-03-08T00:00:00Z'))",
        "reported_at BETWEEN '2026-03-01T00:00:00Z' AND '2026-03-08T00:00:00Z'",
    ),
    (
        "T_BEFORE(reported_at, TIMESTAMP('2025-11-20T00:00:00Z'))",
        "reported_at < '2025-11-20T00:00:00Z'",
    ),
    (  # a date is its whole local day (CITYBRAIN_TIMEZONE, Asia/Shanghai in the tests)
        "T_AFTER(reported_at, DATE('2026-10-20'))",
        "reported_at >= '2026-10-21T00:00:00+08:00'",
    ),
    (
        "reported_at = DATE('2026-03-05')",
        "reported_at >= '2026-03-05T00:00:00+08:00' AND reported_at < '2026-03-06T00:00:00+08:00'",
    ),
    (
        "T_DURING(reported_at, INTERVAL('2026-03-01','2026-03-03')) AND severity >= 2",
        "reported_at > '2026-03-01T00:00:00+08:00' AND reported_at < '2026-03-04T00:00:00+08:00'"
        " AND severity >= 2",
    ),
    (  # a plain string compared with a time: the API's time rule (no zone: local)
        "reported_at >= '2026-10-25T12:00:00' AND category = '治安'",
        "reported_at >= '2026-10-25T12:00:00+08:00' AND category = '治安'",
    ),
    (
        "T_INTERSECTS(reported_at, INTERVAL('2026-10-28T00:00:00Z', '..'))",
        "reported_at >= '2026-10-28T00:00:00Z'",
    ),
]


@pytest.mark.parametrize("cql,where", TEXT_FILTERS)
def test_text_filters_agree_with_sql(client: httpx.Client, conn, cql: str, where: str) -> None:
    expected = sql_ids(conn, where)
    assert 0 < len(expected) < 10000, "a filter worth testing selects some, not all"
    assert ids(client, filter=cql) == expected


def test_json_filter_agrees_with_text(client: httpx.Client, conn) -> None:
    tree = {
        "op": "and",
        "args": [
            {"op": "in", "args": [{"property": "category"}, ["矛盾纠纷", "出租房屋"]]},
            {"op": "between", "args": [{"property": "severity"}, 3, 4]},
            {"op": "not", "args": [{"op": "isNull", "args": [{"property": "team_id"}]}]},
            {"op": "like", "args": [{"property": "status"}, "c%"]},
        ],
    }
    expected = sql_ids(
        conn,
        "category IN ('矛盾纠纷', '出租房屋') AND severity BETWEEN 3 AND 4 "
        "AND team_id IS NOT NULL AND status LIKE 'c%%'",
    )
    assert expected
    assert ids(client, filter=json.dumps(tree), **{"filter-lang": "cql2-json"}) == expected


def _teams(conn) -> dict[int, shapely.Point]:
    rows = conn.execute("SELECT id, ST_AsBinary(geom) FROM citybrain.teams").fetchall()
    return {i: shapely.from_wkb(bytes(g)) for i, g in rows}


def test_spatial_filters_agree_with_shapely(client: httpx.Client, conn) -> None:
    teams = _teams(conn)
    poly = shapely.Polygon([(120.86, 30.82), (120.95, 30.83), (120.93, 30.89), (120.87, 30.87)])
    inside = sorted(i for i, p in teams.items() if poly.intersects(p))
    assert 0 < len(inside) < len(teams)
    assert ids(client, "teams", filter=f"S_INTERSECTS(geometry, {poly.wkt})") == inside
    assert ids(client, "teams", filter=f"S_WITHIN(geometry, {poly.wkt})") == sorted(
        i for i, p in teams.items() if p.within(poly)
    )
    outside = ids(client, "teams", filter=f"S_DISJOINT(geometry, {poly.wkt})")
    assert outside == sorted(set(teams) - set(inside))
    box = shapely.box(*BOX)
    assert ids(
        client, "teams", filter=f"S_INTERSECTS(geometry, BBOX({','.join(map(str, BOX))}))"
    ) == sorted(i for i, p in teams.items() if box.intersects(p))
    geojson = {
        "op": "s_within",
        "args": [{"property": "geometry"}, shapely.geometry.mapping(poly)],
    }
    assert ids(
        client, "teams", filter=json.dumps(geojson), **{"filter-lang": "cql2-json"}
    ) == sorted(i for i, p in teams.items() if p.within(poly))
    # towns: a polygon layer, and a point inside a town
    towns = {
        i: (name, shapely.from_wkb(bytes(g)))
        for i, name, g in conn.execute("SELECT id, name, ST_AsBinary(geom) FROM citybrain.towns")
    }
    point = shapely.Point(120.91, 30.85)
    hit = [i for i, (_, g) in towns.items() if g.contains(point)]
    assert len(hit) == 1
    assert ids(client, "towns", filter=f"S_CONTAINS(geometry, {point.wkt})") == hit
    name = towns[hit[0]][0]
    assert (
        ids(client, "towns", filter=f"name = '{name}' AND S_INTERSECTS(geometry, {point.wkt})")
        == hit
    )


def test_filter_crs_axis_order(client: httpx.Client, conn) -> None:
    teams = _teams(conn)
    poly = shapely.box(*BOX)
    expected = sorted(i for i, p in teams.items() if poly.intersects(p))
    latlon = shapely.ops.transform(lambda x, y: (y, x), poly)  # EPSG:4326/4490: latitude first
    for code in ("4326", "4490"):
        got = ids(
            client,
            "teams",
            filter=f"S_INTERSECTS(geometry, {latlon.wkt})",
            **{"filter-crs": EPSG + code},
        )
        assert got == expected
    to3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    merc = shapely.ops.transform(to3857.transform, shapely.segmentize(poly, 0.001))
    in3857 = sorted(
        i for i, p in teams.items() if merc.intersects(shapely.Point(to3857.transform(p.x, p.y)))
    )
    got = ids(
        client,
        "teams",
        filter=f"S_INTERSECTS(geometry, {merc.wkt})",
        **{"filter-crs": EPSG + "3857"},
    )
    assert got == in3857 and set(got) ^ set(expected) <= set()  # the same box, either way


def test_sortby_agrees_with_python(client: httpx.Client, conn) -> None:
    body = client.get(
        ITEMS.format("incidents"),
        params={
            "filter": "category = '消防' AND tier = 'town'",
            "sortby": "-severity,+reported_at",
            "limit": 10000,
        },
    ).json()
    rows = conn.execute(
        "SELECT id, severity, reported_at FROM citybrain.incidents "
        "WHERE category = '消防' AND tier = 'town'"
    ).fetchall()
    assert rows
    expected = [r[0] for r in sorted(rows, key=lambda r: (-r[1], r[2], r[0]))]
    assert [f["id"] for f in body["features"]] == expected
    # paging a sorted answer visits each once, in the same order
    paged, url = (
        [],
        ITEMS.format("incidents")
        + "?filter=category='消防' AND tier='town'&sortby=-severity,reported_at&limit=37",
    )
    while url:
        page = client.get(url).json()
        paged += [f["id"] for f in page["features"]]
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
    assert paged == expected
    # id orders wherever it stands (here after severity, descending)
    body = client.get(
        ITEMS.format("incidents"),
        params={"filter": "category = '消防' AND tier = 'town'", "sortby": "severity,-id"},
    ).json()
    by_id_down = [r[0] for r in sorted(rows, key=lambda r: (r[1], -r[0]))]
    assert [f["id"] for f in body["features"]] == by_id_down[:100]
    names = [
        f["properties"]["name"]
        for f in client.get(ITEMS.format("towns"), params={"sortby": "-code"}).json()["features"]
    ]
    by_code = [r[0] for r in conn.execute("SELECT name FROM citybrain.towns ORDER BY code DESC")]
    assert names == by_code


def test_properties_and_skip_geometry(client: httpx.Client, conn) -> None:
    body = client.get(
        ITEMS.format("incidents"),
        params={"properties": "category,status", "skipGeometry": "true", "limit": 5},
    ).json()
    rows = dict(
        (r[0], (r[1], r[2]))
        for r in conn.execute("SELECT id, category, status FROM citybrain.incidents WHERE id <= 5")
    )
    for f in body["features"]:
        assert f["geometry"] is None
        assert f["properties"] == dict(zip(("category", "status"), rows[f["id"]], strict=True))
    assert (
        client.get(ITEMS.format("incidents"), params={"properties": "reporter_phone"}).status_code
        == 400
    )
    twice = client.get(
        ITEMS.format("incidents"), params={"properties": "category,category", "limit": 5}
    )
    assert twice.text.count('"category":') == len(twice.json()["features"]) == 5


@pytest.mark.parametrize("code", ["4490", "4326", "3857"])
def test_coordinates_in_crs_agree_with_pyproj(client: httpx.Client, conn, code: str) -> None:
    r = client.get(ITEMS.format("teams"), params={"crs": EPSG + code, "limit": 50})
    assert r.headers["content-crs"] == f"<{EPSG}{code}>"
    stored = {i: p for i, p in _teams(conn).items()}
    # pyproj in the CRS's own axis order (always_xy=False): latitude first for 4326 and 4490
    t = Transformer.from_crs("OGC:CRS84", f"EPSG:{code}")
    tolerance = 1e-3 if code == "3857" else 1e-7
    for f in r.json()["features"]:
        p = stored[f["id"]]
        a, b = t.transform(p.x, p.y)
        if code != "3857":
            assert (a, b) == pytest.approx((p.y, p.x), abs=1e-9)  # lat, lon: axis order swapped
        assert f["geometry"]["coordinates"] == pytest.approx([a, b], abs=tolerance)
    one = client.get("/collections/teams/items/3", params={"crs": EPSG + "4490"})
    lat, lon = one.json()["geometry"]["coordinates"]
    assert (lon, lat) == pytest.approx((stored[3].x, stored[3].y), abs=1e-7)
    assert one.headers["content-crs"] == f"<{EPSG}4490>"
    assert client.get(ITEMS.format("teams")).headers["content-crs"] == f"<{CRS84}>"
    crs = client.get("/collections/teams").json()["crs"]
    assert {CRS84, EPSG + "4490", EPSG + "3857", EPSG + "4326"} == set(crs)


def test_bbox_crs(client: httpx.Client, conn) -> None:
    teams = _teams(conn)
    box = shapely.box(*BOX)
    expected = sorted(i for i, p in teams.items() if box.intersects(p))
    w, s, e, n = BOX
    assert ids(client, "teams", bbox=f"{s},{w},{n},{e}", **{"bbox-crs": EPSG + "4490"}) == expected
    t = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y0 = t.transform(w, s)
    x1, y1 = t.transform(e, n)
    assert (
        ids(client, "teams", bbox=f"{x0},{y0},{x1},{y1}", **{"bbox-crs": EPSG + "3857"}) == expected
    )


def test_a_filter_longer_than_the_bound_is_refused_before_parsing() -> None:
    """(httpx itself refuses URLs this long; other clients may send them.)"""
    crs84 = refcrs.parse(None, "filter-crs")
    tz = ZoneInfo("Asia/Shanghai")
    at_most = "category = '" + "x" * (cql.MAX_CHARS - 14) + "'"
    assert len(at_most) == cql.MAX_CHARS - 1
    assert cql.parse(at_most, None, crs84, tz).tree["args"][1] == "x" * (cql.MAX_CHARS - 14)
    with pytest.raises(InvalidInput, match=f"{cql.MAX_CHARS + 2} characters; at most"):
        cql.parse(at_most + "xxx", None, crs84, tz)


@pytest.mark.parametrize(
    "params,says",
    [
        ({"filter": "category = "}, "expected"),  # the parser's own message
        ({"filter": "category == '治安'"}, "expected"),
        ({"filter": "reporter_phone = '13800000000'"}, "reporter_phone"),  # personal: not queryable
        ({"filter": "reporter_name LIKE '张%'"}, "not a queryable"),
        ({"filter": "colour = 'red'"}, "not a queryable"),
        ({"filter": "category = 3"}, "cannot compare"),
        ({"filter": "S_INTERSECTS(category, POINT(1 2))"}, "geometry"),
        ({"filter": '{"op": "="}', "filter-lang": "cql2-json"}, "not valid"),
        ({"filter": "a = 1", "filter-lang": "ecql"}, "filter-lang"),
        ({"filter": "category = '治安'", "filter-crs": "EPSG:2000"}, "filter-crs"),
        ({"crs": "EPSG:4549"}, "crs"),
        ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:9999"}, "bbox-crs"),
        ({"sortby": "reporter_phone"}, "sortby"),
        ({"filter-lang": "cql2-text"}, "go with a filter"),
        ({"filter": "reported_at = category"}, "not a time"),
        ({"filter": "T_AFTER(reported_at, CASEI('x'))"}, "not a time"),
        # bounded before the parser: 2,000 parentheses crashed it, 100 NOTs took seconds
        ({"filter": "(" * 2000 + "category = '治安'" + ")" * 2000}, "nested 2000 levels"),
        ({"filter": "NOT " * 100 + "severity >= 3"}, "nested 100 levels"),
        ({"filter": "severity IN (" + ",".join(map(str, range(1001))) + ")"}, "1001 values"),
        (
            {
                "filter": '{"op": "not", "args": [' * 40 + "true" + "]}" * 40,
                "filter-lang": "cql2-json",
            },
            "nested 40 levels",
        ),
    ],
)
def test_bad_filters_answer_400(client: httpx.Client, params: dict, says: str) -> None:
    r = client.get(ITEMS.format("incidents"), params=params)
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"]


def test_owslib_reads_queryables_and_filters(server, conn) -> None:
    from owslib.ogcapi.features import Features

    api = Features(server.url + "/")
    assert (
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"
        in api.conformance()["conformsTo"]
    )
    q = api.collection_queryables("incidents")
    assert "category" in q["properties"] and "reporter_phone" not in q["properties"]
    got = api.collection_items(
        "incidents",
        filter="category = '治安' AND severity = 4",
        limit=10000,
        sortby=("reported_at", "desc"),
    )
    rows = conn.execute(
        "SELECT id FROM citybrain.incidents WHERE category = '治安' AND severity = 4 "
        "ORDER BY reported_at DESC, id"
    ).fetchall()
    assert [f["id"] for f in got["features"]] == [r[0] for r in rows]


def _gdal(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which(args[0])
    assert exe, "GDAL is needed (apt-get install gdal-bin; scripts/test.sh does)"
    env = {**os.environ, "CPL_DEBUG": "ON"}  # GDAL logs the URLs it asks (on failure)
    return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=300, env=env)


def test_gdal_where_and_spat_agree_with_sql(server, conn, tmp_path) -> None:
    out = tmp_path / "subset.geojson"
    where = "category = '治安' AND severity >= 3"
    run = _gdal(
        "ogr2ogr",
        "-f",
        "GeoJSON",
        str(out),
        f"OAPIF:{server.url}/",
        "incidents",
        "-preserve_fid",
        "-where",
        where,
        "-spat",
        *map(str, BOX),
    )
    assert run.returncode == 0, run.stderr
    # GDAL 3.6 reads filter-lang's enum in the OpenAPI and sends -where as CQL text
    assert "filter-lang=cql-text" in run.stderr and "bbox=" in run.stderr
    features = json.loads(out.read_text())["features"]
    got = sorted(f["id"] for f in features)
    expected = sql_ids(
        conn,
        f"{where} AND ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
        params=BOX,
    )
    assert got == expected and expected


def test_tile_filter(client: httpx.Client, conn) -> None:
    z = 15
    tile = mercantile.tile(120.91, 30.85, z)
    url = f"/tiles/incidents/{z}/{tile.x}/{tile.y}.mvt"
    params = {"filter": "severity >= 3", "start": "2025-01-01", "end": "2027-01-01"}
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    got = {
        f["id"]
        for f in mapbox_vector_tile.decode(r.content).get("incidents", {}).get("features", [])
    }
    w, s, e, n = mercantile.bounds(tile)
    expected = set(
        sql_ids(
            conn,
            "severity >= 3 AND ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
            params=(w, s, e, n),
        )
    )
    assert expected and expected <= got  # the tile's buffer may add a few from its edges
    assert all(
        conn.execute("SELECT severity FROM citybrain.incidents WHERE id = %s", [i]).fetchone()[0]
        >= 3
        for i in got
    )
    plain = client.get(url, params={k: v for k, v in params.items() if k != "filter"})
    assert plain.headers["etag"] != r.headers["etag"]
    other = client.get(url, params={**params, "filter": "severity >= 2"})
    assert other.headers["etag"] not in (r.headers["etag"], plain.headers["etag"])
    # below z15 incidents are H3 clusters from the heat index: a filter cannot apply there
    low = mercantile.tile(120.91, 30.85, 12)
    r = client.get(f"/tiles/incidents/12/{low.x}/{low.y}.mvt", params={"filter": "severity >= 3"})
    assert r.status_code == 400 and "z15" in r.json()["detail"]
    bad = client.get(url, params={"filter": "reporter_phone = '1'"})
    assert bad.status_code == 400
    # a clustered layer without a heat index (cameras below z14): the filter applies to clusters
    cam = mercantile.tile(120.91, 30.85, 12)
    counts = mapbox_vector_tile.decode(
        client.get(
            f"/tiles/cameras/12/{cam.x}/{cam.y}.mvt", params={"filter": "online = false"}
        ).content
    )["cameras"]["features"]
    w, s, e, n = mercantile.bounds(cam)
    offline = conn.execute(
        "SELECT count(*) FROM citybrain.cameras WHERE NOT online AND "
        "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
        (w, s, e, n),
    ).fetchone()[0]
    assert sum(f["properties"]["count"] for f in counts) == offline
