"""OGC API - Features: landing, conformance, collections, items against SQL counts and shapely,
paging, filters, errors, and GDAL's OAPIF driver reading every collection."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import httpx
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from citybrain.db.connection import libpq_conninfo
from tests.utils.layers import LAYERS
from tests.utils.reports import report
from tests.utils.server import LiveServer, server_settings


def test_landing_conformance_collections(client: httpx.Client) -> None:
    landing = client.get("/", headers={"Accept": "application/json"}).json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    assert client.get("/?f=json").json()["title"] == landing["title"]
    html = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert html.headers["content-type"].startswith("text/html")
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
        in client.get("/conformance").json()["conformsTo"]
    )
    collections = client.get("/collections").json()["collections"]
    assert sorted(c["id"] for c in collections) == sorted(LAYERS)
    towns = next(c for c in collections if c["id"] == "towns")
    w, s, e, n = towns["extent"]["spatial"]["bbox"][0]
    assert 120.6 < w < e < 121.2 and 30.6 < s < n < 31.2
    incidents = client.get("/collections/incidents").json()
    start, end = incidents["extent"]["temporal"]["interval"][0]
    assert start < end


def _count(conn: psycopg.Connection, where: str = "TRUE", params=()) -> int:
    return conn.execute(
        f"SELECT count(*) FROM citybrain.incidents WHERE {where}", params
    ).fetchone()[0]


def test_items_agree_with_sql(client: httpx.Client, conn) -> None:
    body = client.get("/collections/incidents/items", params={"limit": 5}).json()
    assert body["numberMatched"] == _count(conn) and body["numberReturned"] == 5
    assert [f["id"] for f in body["features"]] == [1, 2, 3, 4, 5]
    r = client.get(
        "/collections/incidents/items", params={"category": "治安", "status": "closed", "limit": 3}
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.json()["numberMatched"] == _count(conn, "category = '治安' AND status = 'closed'")
    assert all(f["properties"]["category"] == "治安" for f in r.json()["features"])
    t0, t1 = "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"
    body = client.get(
        "/collections/incidents/items", params={"datetime": f"{t0}/{t1}", "limit": 1000}
    ).json()
    expected = _count(conn, "reported_at BETWEEN %s AND %s", [t0, t1])
    assert body["numberMatched"] == expected == body["numberReturned"]
    open_end = client.get("/collections/incidents/items", params={"datetime": f"{t0}/.."}).json()
    assert open_end["numberMatched"] == _count(conn, "reported_at >= %s", [t0])
    one = client.get("/collections/incidents/items/7").json()
    at = datetime.fromisoformat(one["properties"]["reported_at"])
    instant = client.get(
        "/collections/incidents/items", params={"datetime": at.astimezone(UTC).isoformat()}
    ).json()
    assert 7 in [f["id"] for f in instant["features"]]


def test_bbox_matches_shapely(client: httpx.Client, conn) -> None:
    bbox = (120.88, 30.83, 120.93, 30.86)
    body = client.get(
        "/collections/teams/items", params={"bbox": ",".join(map(str, bbox)), "limit": 1000}
    ).json()
    rows = conn.execute("SELECT id, ST_AsBinary(geom) FROM citybrain.teams").fetchall()
    box = shapely.box(*bbox)
    expected = sorted(i for i, g in rows if box.intersects(shapely.from_wkb(bytes(g))))
    assert [f["id"] for f in body["features"]] == expected and expected
    for f in body["features"]:
        lon, lat = f["geometry"]["coordinates"]  # RFC 7946: longitude first
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
    assert "crs" not in body


def test_paging_visits_every_feature_once(client: httpx.Client, conn) -> None:
    ids, url = [], "/collections/villages/items?limit=40"
    while url:
        body = client.get(url).json()
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert ids == [r[0] for r in conn.execute("SELECT id FROM citybrain.villages ORDER BY id")]


def test_one_feature(client: httpx.Client, conn) -> None:
    f = client.get("/collections/towns/items/3").json()
    code, name, wkb = conn.execute(
        "SELECT code, name, ST_AsBinary(geom) FROM citybrain.towns WHERE id = 3"
    ).fetchone()
    assert f["type"] == "Feature" and f["id"] == 3
    assert f["properties"] == {"code": code, "name": name}
    got = shapely.geometry.shape(f["geometry"])
    assert got.equals_exact(shapely.from_wkb(bytes(wkb)), tolerance=1e-7)
    assert "reporter_phone" not in client.get("/collections/incidents/items/1").json()["properties"]


EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def test_one_feature_takes_the_items_shape(client: httpx.Client, conn) -> None:
    """``properties``, ``skipGeometry`` and ``crs`` on the item route, as on items."""
    category, status, wkb = conn.execute(
        "SELECT category, status, ST_AsBinary(geom) FROM citybrain.incidents WHERE id = 7"
    ).fetchone()
    f = client.get(
        "/collections/incidents/items/7",
        params={"properties": "status,category", "skipGeometry": "true"},
    ).json()
    assert f["properties"] == {"status": status, "category": category}
    assert list(f["properties"]) == ["status", "category"] and f["geometry"] is None
    stored = shapely.from_wkb(bytes(wkb))
    for code, tolerance in (("4490", 1e-7), ("3857", 1e-3)):
        r = client.get(
            "/collections/incidents/items/7", params={"crs": EPSG + code, "properties": "status"}
        )
        assert r.headers["content-crs"] == f"<{EPSG}{code}>"
        a, b = Transformer.from_crs("OGC:CRS84", f"EPSG:{code}").transform(stored.x, stored.y)
        assert r.json()["geometry"]["coordinates"] == pytest.approx([a, b], abs=tolerance)
        assert r.json()["properties"] == {"status": status}
    # written exactly as the items route writes the same feature with the same parameters
    shape = {"properties": "category,reported_at", "crs": EPSG + "4490"}
    one = client.get("/collections/incidents/items/7", params=shape).json()
    listed = client.get("/collections/incidents/items", params={**shape, "id": "7"}).json()
    del one["links"]
    assert listed["features"] == [one]


@pytest.mark.parametrize(
    "path,code",
    [
        ("/collections/nothing", 404),
        ("/collections/nothing/items", 404),
        ("/collections/towns/items/999", 404),
        ("/collections/towns/items/abc", 404),
        ("/collections/towns/items?bbox=1,2,3", 400),
        ("/collections/towns/items?bbox=a,b,c,d", 400),
        ("/collections/towns/items?bbox=121,31,120,30", 400),
        ("/collections/towns/items?datetime=2026-01-01T00:00:00Z", 400),  # towns have no time
        ("/collections/incidents/items?datetime=yesterday", 400),
        ("/collections/incidents/items?datetime=2026-02-01T00:00:00Z/2026-01-01T00:00:00Z", 400),
        ("/collections/incidents/items?colour=red", 400),
        ("/collections/incidents/items?reporter_phone=1", 400),
        ("/collections/incidents/items?id=seven", 400),
        ("/collections/incidents/items/1?properties=reporter_phone", 400),
        ("/collections/incidents/items/1?properties=colour", 400),
        ("/collections/incidents/items/1?crs=EPSG:4549", 400),
        ("/collections/incidents/items/1?skipGeometry=maybe", 422),
        ("/collections/incidents/items?limit=0", 422),
        ("/collections/incidents/items?limit=10001", 422),
        ("/collections/incidents/items?offset=-1", 422),
    ],
)
def test_bad_requests(client: httpx.Client, path: str, code: int) -> None:
    r = client.get(path)
    assert r.status_code == code, r.text
    assert r.json()["detail"]


def test_gdal_reads_every_collection(server, conn) -> None:
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "GDAL's ogrinfo is needed (apt-get install gdal-bin; scripts/test.sh does)"
    out = subprocess.run(
        [ogrinfo, "-ro", "-so", f"OAPIF:{server.url}/"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for layer in LAYERS:
        assert f": {layer} (" in out.stdout
    for layer, table in (("towns", "towns"), ("teams", "teams"), ("facilities", "facilities")):
        info = subprocess.run(
            [ogrinfo, "-ro", "-so", f"OAPIF:{server.url}/", layer],
            capture_output=True,
            text=True,
            timeout=120,
        )
        n = conn.execute(f"SELECT count(*) FROM citybrain.{table}").fetchone()[0]
        assert f"Feature Count: {n}" in info.stdout, info.stdout
    # Every feature of a collection, through GDAL's paging.
    dump = subprocess.run(
        [ogrinfo, "-ro", "-q", f"OAPIF:{server.url}/", "villages"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        dump.stdout.count("OGRFeature(villages)")
        == conn.execute("SELECT count(*) FROM citybrain.villages").fetchone()[0]
    )
    assert np.isfinite(len(dump.stdout))


def test_a_write_moves_the_extent(fresh_county: str) -> None:
    """The extent is kept per table version: an incident reported after the first request
    moves it (time now, place anywhere), as SQL on the same table says. On a county of its
    own: the shared writable copy may hold an incident another test dated later than now."""
    with (
        LiveServer(server_settings(fresh_county)) as live,
        live.client() as api,
        psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn,
    ):

        def sql_extent() -> list:
            x0, y0, x1, y1, t0, t1 = conn.execute(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1 FROM (SELECT "
                "ST_Extent(geom) e, min(reported_at) t0, max(reported_at) t1 "
                "FROM citybrain.incidents) s"
            ).fetchone()
            return [[x0, y0, x1, y1], [t0, t1]]

        def served() -> list:
            extent = api.get("/collections/incidents").json()["extent"]
            t0, t1 = extent["temporal"]["interval"][0]
            times = [datetime.fromisoformat(t) for t in (t0, t1)]
            return [extent["spatial"]["bbox"][0], times]

        before = served()
        assert before[0] == pytest.approx(sql_extent()[0]) and before[1] == sql_extent()[1]
        report(api, conn, micro_grid=3)
        after = served()
        assert after[1][1] > before[1][1]  # the newest report is now
        assert after[0] == pytest.approx(sql_extent()[0]) and after[1] == sql_extent()[1]
