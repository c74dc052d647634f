"""``/locate`` agrees with shapely point-in-polygon on random points, shared edges and vertices."""

from __future__ import annotations

import httpx
import numpy as np
import psycopg
import shapely


def _micro_grids(conn: psycopg.Connection):
    rows = conn.execute(
        "SELECT m.id, m.code, c.code, g.code, v.code, t.code, ST_AsBinary(m.geom) "
        "FROM citybrain.micro_grids m JOIN citybrain.compounds c ON c.id = m.compound_id "
        "JOIN citybrain.grids g ON g.id = c.grid_id "
        "JOIN citybrain.villages v ON v.id = g.village_id "
        "JOIN citybrain.towns t ON t.id = v.town_id ORDER BY m.id"
    ).fetchall()
    ids = np.array([r[0] for r in rows])
    chains = {r[0]: r[1:6] for r in rows}
    geoms = shapely.from_wkb([bytes(r[6]) for r in rows])
    return ids, chains, shapely.STRtree(geoms), geoms


def _expected(tree, ids, x: float, y: float) -> int | None:
    hits = tree.query(shapely.Point(x, y), predicate="intersects")
    return int(ids[hits].min()) if len(hits) else None


def _chain(body: dict) -> tuple:
    return (
        body["micro_grid"]["code"],
        body["compound"]["code"],
        body["grid"]["code"],
        body["village"]["code"],
        body["town"]["code"],
    )


def test_random_points_agree_with_shapely(client: httpx.Client, conn: psycopg.Connection) -> None:
    ids, chains, tree, geoms = _micro_grids(conn)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    rng = np.random.default_rng(21)
    checked = inside = 0
    for x, y in zip(rng.uniform(minx, maxx, 1000), rng.uniform(miny, maxy, 1000), strict=True):
        want = _expected(tree, ids, x, y)
        r = client.get("/locate", params={"lon": x, "lat": y})
        if want is None:
            assert r.status_code == 404 and r.json()["code"] == "not_found"
        else:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["micro_grid"]["id"] == want
            assert _chain(body) == chains[want]
            inside += 1
        checked += 1
    assert checked == 1000 and inside > 500


def test_shared_vertices_and_edges_have_one_answer(
    client: httpx.Client, conn: psycopg.Connection
) -> None:
    ids, chains, tree, geoms = _micro_grids(conn)
    rng = np.random.default_rng(22)
    probes = []
    for i in rng.choice(len(geoms), 120, replace=False):
        coords = shapely.get_coordinates(geoms[i])
        probes.append(coords[1])  # a vertex, shared by two or three micro-grids
        probes.append((coords[1] + coords[2]) / 2)  # on (or within rounding of) a shared edge
    shared = 0
    for x, y in probes:
        want = _expected(tree, ids, x, y)
        shared += len(tree.query(shapely.Point(x, y), predicate="intersects")) > 1
        answers = {
            client.get("/locate", params={"lon": x, "lat": y}).json()["micro_grid"]["id"]
            for _ in range(3)
        }
        assert answers == {want}
    assert shared >= 100  # most probes really sit on a boundary


def test_locate_returns_the_grid_team(client: httpx.Client, conn: psycopg.Connection) -> None:
    x, y, grid_id = conn.execute(
        "SELECT ST_X(p), ST_Y(p), g FROM (SELECT ST_PointOnSurface(geom) p, id g "
        "FROM citybrain.grids WHERE id = 500) s"
    ).fetchone()
    team = conn.execute("SELECT id, name FROM citybrain.teams WHERE grid_id = 500").fetchone()
    body = client.get("/locate", params={"lon": x, "lat": y}).json()
    assert body["grid"]["id"] == grid_id
    assert (body["team"]["id"], body["team"]["name"]) == team
    assert {m["role"] for m in body["team"]["members"]} >= {"grid_worker", "party_member"}
