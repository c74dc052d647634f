"""Vector tiles: feature ids against an independent computation (shapely in Web Mercator),
clusters that never drop a point, TileJSON, the style, and a cache that is never stale."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import mapbox_vector_tile
import mercantile
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from tests.utils.county import point_in
from tests.utils.keys import auth
from tests.utils.layers import LAYERS
from tests.utils.server import LiveServer, server_settings

ROOT = Path(__file__).resolve().parents[1]
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
CENTRE = (120.9119, 30.8502)
LABELS = ("towns_labels", "villages_labels")  # the label points of towns and villages


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content) if content else {}


def rows(conn: psycopg.Connection, table: str) -> tuple[np.ndarray, np.ndarray]:
    data = conn.execute(f"SELECT id, ST_AsBinary(geom) FROM citybrain.{table}").fetchall()
    ids = np.array([r[0] for r in data])
    geoms = shapely.transform(
        shapely.from_wkb([bytes(r[1]) for r in data]),
        lambda xy: np.column_stack(TO_3857.transform(xy[:, 0], xy[:, 1])),
    )
    return ids, geoms


def expected_ids(ids, geoms, tile: mercantile.Tile, buffer: float = 64 / 4096):
    """Rows that must be in the tile, and rows that may be: pieces smaller than a tile unit
    vanish when quantised to 4096 units, and rows within a unit of the buffer's edge may round
    onto it."""
    b = mercantile.xy_bounds(tile)
    w = b.right - b.left
    unit = w / 4096
    box = shapely.box(
        b.left - w * buffer, b.bottom - w * buffer, b.right + w * buffer, b.top + w * buffer
    )
    hit = shapely.intersects(geoms, box)
    near = shapely.intersects(geoms, box.buffer(unit, join_style="mitre"))
    visible = shapely.area(shapely.intersection(geoms[hit], box)) >= unit**2
    points = shapely.get_type_id(geoms[hit]) == 0
    return set(ids[hit][visible | points].tolist()), set(ids[near].tolist())


# A window holding every incident of the test county (which ends on 2026-11-01).
WINDOWS = {"incidents": {"start": "2025-10-01", "end": "2026-11-02"}}


@pytest.mark.parametrize(
    "layer,table,zooms",
    [
        ("towns", "towns", [9, 11]),
        ("villages", "villages", [11, 12]),
        ("micro_grids", "micro_grids", [14, 16]),
        ("teams", "teams", [12, 15]),
        ("facilities", "facilities", [12]),
        ("incidents", "incidents", [15, 17]),
        ("cameras", "cameras", [14]),
        ("roads", "roads", [13]),
    ],
)
def test_tile_features_are_the_intersecting_rows(client: httpx.Client, conn, layer, table, zooms):
    ids, geoms = rows(conn, table)
    for z in zooms:
        for dx, dy in ((0, 0), (1, 0), (-1, 1)):
            t = mercantile.tile(*CENTRE, z)
            t = mercantile.Tile(t.x + dx, t.y + dy, z)
            r = client.get(f"/tiles/{layer}/{z}/{t.x}/{t.y}.mvt", params=WINDOWS.get(layer))
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
            got = {f["id"] for f in decode(r.content).get(layer, {"features": []})["features"]}
            must, may = expected_ids(ids, geoms, t)
            assert must <= got <= may, (layer, z, len(must - got), len(got - may))
            assert got or not must


@pytest.mark.parametrize("layer,z", [("villages", 12), ("villages", 13), ("towns", 11)])
def test_labels_are_drawn_once_inside_their_polygons(client: httpx.Client, conn, layer, z):
    """Every polygon's label point is in exactly one tile of a block (buffers aside), inside
    its polygon; a polygon crossing four tiles still has one label."""
    ids, polygons = rows(conn, layer)
    by_id = dict(zip(ids.tolist(), polygons, strict=True))
    t0 = mercantile.tile(*CENTRE, z)
    block = [mercantile.Tile(t0.x + dx, t0.y + dy, z) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    seen: dict[int, int] = {}
    for t in block:
        tile = decode(client.get(f"/tiles/{layer}/{z}/{t.x}/{t.y}.mvt").content)
        b = mercantile.xy_bounds(t)
        scale = (b.right - b.left) / 4096
        labels = tile.get(f"{layer}_labels", {"features": []})["features"]
        for f in labels:
            px, py = f["geometry"]["coordinates"]
            assert f["geometry"]["type"] == "Point" and f["properties"]["name"]
            point = shapely.Point(b.left + px * scale, b.bottom + py * scale)
            assert by_id[f["id"]].buffer(2 * scale).contains(point)  # within a tile unit
            if 0 <= px < 4096 and 0 <= py < 4096:  # the tile itself, not its buffer
                seen[f["id"]] = seen.get(f["id"], 0) + 1
        polygons_here = {f["id"] for f in tile.get(layer, {"features": []})["features"]}
        assert {f["id"] for f in labels} <= polygons_here
    assert seen and set(seen.values()) == {1}
    # Polygons that cross tile edges are the ones a symbol on the polygon repeats.
    crossing = [i for i in seen if sum(1 for t in block if shapely.intersects(
        by_id[i], shapely.box(*mercantile.xy_bounds(t)))) > 1]  # fmt: skip
    assert crossing


@pytest.mark.parametrize("layer,table,z", [("cameras", "cameras", 12), ("cameras", "cameras", 13)])
def test_clusters_count_every_point(client: httpx.Client, conn, layer, table, z):
    """Pixel-square clusters (incidents cluster per H3 cell: test_incident_tiles)."""
    ids, geoms = rows(conn, table)
    t = mercantile.tile(*CENTRE, z)
    b = mercantile.xy_bounds(t)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    inside = ((x >= b.left) & (x < b.right) & (y >= b.bottom) & (y < b.top)).sum()
    features = decode(client.get(f"/tiles/{layer}/{z}/{t.x}/{t.y}.mvt").content)[layer]["features"]
    counts = [f["properties"]["count"] for f in features]
    assert sum(counts) == inside > 0
    assert len({f["id"] for f in features}) == len(features)


def test_composite_tile_holds_every_visible_layer(client: httpx.Client) -> None:
    t = mercantile.tile(*CENTRE, 15)
    layers = decode(client.get(f"/tiles/15/{t.x}/{t.y}.mvt").content)
    # facilities are sparse, alerts rare (none in the seeded county), and a label point lies
    # in one tile of its polygon: a tile may have none of them
    assert (set(layers) - set(LABELS)) | {"facilities", "alerts"} == set(LAYERS)
    assert set(layers) <= {*LAYERS, *LABELS}
    assert "heatmap" not in layers


def test_no_personal_data_in_tiles(client: httpx.Client) -> None:
    t = mercantile.tile(*CENTRE, 17)
    r = client.get(f"/tiles/incidents/17/{t.x}/{t.y}.mvt", params=WINDOWS["incidents"])
    features = decode(r.content)["incidents"]
    keys = set().union(*(f["properties"] for f in features["features"]))
    assert keys == {"category", "source", "severity", "status", "tier", "reported_at", "team_id"}


def test_point_geometry_is_where_the_row_is(client: httpx.Client, conn) -> None:
    team_id, lon, lat = conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.teams ORDER BY id LIMIT 1"
    ).fetchone()
    t = mercantile.tile(lon, lat, 16)
    layer = decode(client.get(f"/tiles/teams/16/{t.x}/{t.y}.mvt").content)["teams"]
    (feature,) = [f for f in layer["features"] if f["id"] == team_id]
    b = mercantile.xy_bounds(t)
    x, y = TO_3857.transform(lon, lat)
    px = (x - b.left) / (b.right - b.left) * 4096
    py = (y - b.bottom) / (b.top - b.bottom) * 4096
    gx, gy = feature["geometry"]["coordinates"]
    assert abs(gx - px) <= 1 and abs(gy - py) <= 1


def test_tilejson(client: httpx.Client) -> None:
    tj = client.get("/tiles/incidents.json").json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == [
        f"{str(client.base_url).rstrip('/')}/tiles/incidents/{{z}}/{{x}}/{{y}}.mvt"
    ]
    assert [v["id"] for v in tj["vector_layers"]] == ["incidents"]
    assert "count" in tj["vector_layers"][0]["fields"] and tj["minzoom"] == 9
    w, s, e, n = tj["bounds"]
    assert w < CENTRE[0] < e and s < CENTRE[1] < n
    all_layers = client.get("/tiles.json").json()
    assert [v["id"] for v in all_layers["vector_layers"]] == [
        "roads", "micro_grids", "compounds", "grids", "villages", "villages_labels", "towns",
        "towns_labels", "cameras", "facilities", "teams", "incidents", "alerts",
    ]  # fmt: skip
    assert all_layers["tiles"][0].endswith("/tiles/{z}/{x}/{y}.mvt")


def test_style_is_valid_and_local(client: httpx.Client, tmp_path) -> None:
    style = client.get("/style.json").json()
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style, ensure_ascii=False))
    validator = ROOT / "node_modules" / ".bin" / "gl-style-validate"
    assert validator.exists(), "run `npm ci` (scripts/test.sh does) for the style validator"
    out = subprocess.run([str(validator), str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
    base = str(client.base_url).rstrip("/")
    urls = [style["glyphs"], *[s.get("url") or s["tiles"][0] for s in style["sources"].values()]]
    assert all(u.startswith(base) for u in urls), urls
    used = {layer["source-layer"] for layer in style["layers"] if "source-layer" in layer}
    assert used == {*LAYERS, *LABELS, "heatmap"}
    # The glyphs the labels need are served; Chinese ranges are drawn locally, never fetched.
    r = client.get("/fonts/DejaVu Sans Book/0-255.pbf")
    assert r.status_code == 200 and len(r.content) > 1000
    assert client.get("/fonts/DejaVu Sans Book/19968-20223.pbf").status_code == 404
    assert client.get("/fonts/..%2F..%2Fsettings.py/0-255.pbf").status_code == 404


def test_etag_and_304(client: httpx.Client, server) -> None:
    t = mercantile.tile(*CENTRE, 14)
    first = client.get(f"/tiles/micro_grids/14/{t.x}/{t.y}.mvt")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    hits = server.app.state.citybrain.tiles.cache.hits
    again = client.get(f"/tiles/micro_grids/14/{t.x}/{t.y}.mvt")
    assert again.content == first.content and again.headers["etag"] == etag
    assert server.app.state.citybrain.tiles.cache.hits == hits + 1
    not_modified = client.get(
        f"/tiles/micro_grids/14/{t.x}/{t.y}.mvt", headers={"If-None-Match": etag}
    )
    assert not_modified.status_code == 304 and not_modified.content == b""


@pytest.mark.parametrize(
    "path,code",
    [
        ("/tiles/incidents/23/0/0.mvt", 422),
        ("/tiles/incidents/3/8/1.mvt", 400),
        ("/tiles/incidents/3/1/8.mvt", 400),
        ("/tiles/incidents/-1/0/0.mvt", 422),
        ("/tiles/nothing/3/1/1.mvt", 404),
        ("/tiles/nothing.json", 404),
        ("/tiles/incidents/a/0/0.mvt", 422),
        ("/tiles/9/9999/0.mvt", 400),
    ],
)
def test_bad_tile_requests(client: httpx.Client, path: str, code: int) -> None:
    r = client.get(path)
    assert r.status_code == code and r.json()["detail"]


def _ids(client: httpx.Client, layer: str, tile: mercantile.Tile) -> tuple[set[int], str]:
    r = client.get(f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.mvt")
    return {f["id"] for f in decode(r.content).get(layer, {"features": []})["features"]}, r.headers[
        "etag"
    ]


def test_a_write_invalidates_exactly_its_tiles_before_it_returns(
    rw: httpx.Client, rw_conn, rw_url: str
) -> None:
    # Two servers (two processes in production): each caches; a write through one is seen by
    # both at once.

    with (
        LiveServer(server_settings(rw_url)) as other,
        httpx.Client(base_url=other.url) as rw2,
    ):
        rng = np.random.default_rng(5)
        micro = rng.choice(np.arange(1, 9000), 12, replace=False)
        for m in micro:
            lon, lat = point_in(rw_conn, int(m))
            tile = mercantile.tile(lon, lat, 16)
            deep = mercantile.tile(lon, lat, 19)  # versioned through its zoom-14 ancestor
            far = mercantile.Tile(tile.x + 8, tile.y, 16)  # another zoom-14 ancestor
            before, etag = _ids(rw, "incidents", tile)
            before2, _ = _ids(rw2, "incidents", tile)  # cached in the other server too
            deep_before, deep_etag = _ids(rw2, "incidents", deep)
            _, far_etag = _ids(rw, "incidents", far)
            cluster = mercantile.parent(tile, zoom=12)
            counts_before = sum(
                f["properties"]["count"]
                for f in decode(
                    rw2.get(f"/tiles/incidents/12/{cluster.x}/{cluster.y}.mvt").content
                )["incidents"]["features"]
            )
            r = rw.post(
                "/incidents",
                headers=auth("dispatcher"),
                json={"lon": lon, "lat": lat, "category": "城市管理"},
            )
            new_id = r.json()["id"]
            after, new_etag = _ids(rw, "incidents", tile)
            after2, _ = _ids(rw2, "incidents", tile)
            assert after == before | {new_id} and after2 == before2 | {new_id}
            assert new_etag != etag
            deep_after, deep_new_etag = _ids(rw2, "incidents", deep)
            assert deep_after == deep_before | {new_id} and deep_new_etag != deep_etag
            assert _ids(rw, "incidents", far)[1] == far_etag  # untouched: still cached
            counts_after = sum(
                f["properties"]["count"]
                for f in decode(
                    rw2.get(f"/tiles/incidents/12/{cluster.x}/{cluster.y}.mvt").content
                )["incidents"]["features"]
            )
            assert counts_after == counts_before + 1


def test_any_writer_and_moves_invalidate(rw: httpx.Client, rw_conn) -> None:
    team_id, lon, lat = rw_conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.teams WHERE id = 40"
    ).fetchone()
    old = mercantile.tile(lon, lat, 15)
    new_lon, new_lat = point_in(rw_conn, 8800)
    new = mercantile.tile(new_lon, new_lat, 15)
    assert team_id in _ids(rw, "teams", old)[0] and team_id not in _ids(rw, "teams", new)[0]
    r = rw.post(
        f"/teams/{team_id}/position",
        headers=auth("dispatcher"),
        json={"lon": new_lon, "lat": new_lat},
    )
    assert r.status_code == 200
    assert team_id not in _ids(rw, "teams", old)[0] and team_id in _ids(rw, "teams", new)[0]
    # A write straight to the database (another program, psql): the same.
    rw_conn.execute(
        "DELETE FROM citybrain.facilities WHERE id = (SELECT min(id) FROM citybrain.facilities)"
    )
    fid, flon, flat = rw_conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.facilities ORDER BY id LIMIT 1"
    ).fetchone()
    ft = mercantile.tile(flon, flat, 16)
    assert fid in _ids(rw, "facilities", ft)[0]
    rw_conn.execute("DELETE FROM citybrain.facilities WHERE id = %s", [fid])
    assert fid not in _ids(rw, "facilities", ft)[0]


def test_tilejson_bounds_follow_the_towns(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    """TileJSON's bounds are the towns' extent as of the last write: a town added (and
    removed) moves them, as SQL on the same table says."""

    def sql_bounds() -> list[float]:
        row = rw_conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) e FROM citybrain.towns) s"
        ).fetchone()
        return [round(v, 6) for v in row]

    before = rw.get("/tiles.json").json()["bounds"]
    assert before == pytest.approx(sql_bounds(), abs=1e-9)
    rw_conn.execute(
        "INSERT INTO citybrain.towns (code, name, geom) VALUES ('330421999', '测试镇', "
        "ST_Multi(ST_MakeEnvelope(121.30, 30.95, 121.35, 31.00, 4326)))"
    )
    try:
        moved = rw.get("/tiles/incidents.json").json()["bounds"]
        assert moved == pytest.approx(sql_bounds(), abs=1e-9) and moved[2] == 121.35
    finally:
        rw_conn.execute("DELETE FROM citybrain.towns WHERE code = '330421999'")
    assert rw.get("/tiles.json").json()["bounds"] == pytest.approx(before, abs=1e-9)
