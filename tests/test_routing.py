"""Travel times: the in-memory router agrees with pgRouting; without roads, the documented
straight-line estimate."""

from __future__ import annotations

import httpx
import numpy as np
import psycopg
import pytest

from citybrain.services.routing import (
    ACCESS_KMH,
    DETOUR_FACTOR,
    FALLBACK_KMH,
    Router,
    straight_line_eta,
)
from tests.utils.keys import auth


def test_network_is_connected(conn: psycopg.Connection) -> None:
    sizes = conn.execute(
        "SELECT count(*) FROM pgr_connectedComponents("
        "'SELECT id, source, target, cost, reverse_cost FROM citybrain.roads') GROUP BY component"
    ).fetchall()
    assert len(sizes) == 1


def test_router_matches_pgrouting(router: Router, conn: psycopg.Connection) -> None:
    rng = np.random.default_rng(3)
    ids = router.vertex_ids
    starts = rng.choice(ids, 5, replace=False)
    ends = rng.choice(ids, 40, replace=False)
    rows = conn.execute(
        "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost("
        "'SELECT id, source, target, cost, reverse_cost FROM citybrain.roads', %s::bigint[], "
        "%s::bigint[], directed => true)",
        [starts.tolist(), ends.tolist()],
    ).fetchall()
    assert len(rows) == 5 * 40
    index = {int(v): i for i, v in enumerate(ids)}
    ours = np.stack(router._rows_for(np.array([index[int(s)] for s in starts])))
    for s, e, cost in rows:
        got = ours[list(starts).index(s), index[int(e)]]
        assert got == pytest.approx(cost, rel=1e-5, abs=0.01)


def test_eta_adds_access_legs(router: Router, conn: psycopg.Connection) -> None:
    (ax, ay), (bx, by) = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.teams WHERE id IN (10, 700) ORDER BY id"
    ).fetchall()
    eta = router.etas(np.array([ax]), np.array([ay]), bx, by)[0]
    (a, b), access = router.snap([ax, bx], [ay, by])
    network = conn.execute(
        "SELECT agg_cost FROM pgr_dijkstraCost('SELECT id, source, target, cost, reverse_cost "
        "FROM citybrain.roads', %s::bigint, %s::bigint)",
        [int(router.vertex_ids[a]), int(router.vertex_ids[b])],
    ).fetchone()[0]
    assert eta == pytest.approx(network + access.sum() / (ACCESS_KMH / 3.6), rel=1e-5)


def test_route_endpoint_agrees_with_router(
    client: httpx.Client, router: Router, conn: psycopg.Connection
) -> None:
    tx, ty = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.teams WHERE id = 10"
    ).fetchone()
    r = client.get("/teams/10/route", params={"lon": 120.95, "lat": 30.80}, headers=auth("viewer"))
    assert r.status_code == 200
    feature = r.json()
    assert feature["properties"]["eta_method"] == "road_network"
    eta = router.etas(np.array([tx]), np.array([ty]), 120.95, 30.80)[0]
    assert feature["properties"]["eta_s"] == pytest.approx(eta, abs=0.1)
    assert feature["geometry"]["type"] in ("LineString", "MultiLineString")
    # The road route is longer than the straight line but not absurdly so.
    straight = conn.execute(
        "SELECT ST_Distance(ST_MakePoint(%s, %s)::geography, "
        "ST_MakePoint(120.95, 30.80)::geography)",
        [tx, ty],
    ).fetchone()[0]
    assert straight < feature["properties"]["road_length_m"] + feature["properties"]["access_m"] + 1
    assert feature["properties"]["road_length_m"] < 2.5 * straight


def test_straight_line_fallback() -> None:
    eta = straight_line_eta(1000.0)
    assert eta.method == "straight_line"
    assert eta.seconds == pytest.approx(1000 * DETOUR_FACTOR / (FALLBACK_KMH / 3.6))
