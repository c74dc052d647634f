"""``/nearest`` agrees with a brute-force geodesic ranking, with every filter, and uses the
KNN index."""

from __future__ import annotations

import httpx
import numpy as np
import psycopg
import pytest
from pyproj import Geod

GEOD = Geod(ellps="WGS84")

CASES = [
    ("teams", {}, "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.teams"),
    (
        "teams",
        {"available": "true", "skill": "治安"},
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.teams "
        "WHERE status = 'available' AND '治安' = ANY (skills)",
    ),
    ("cameras", {}, "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.cameras"),
    (
        "cameras",
        {"online": "true"},
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.cameras WHERE online",
    ),
    (
        "facilities",
        {"facility_kind": "cultural_hall"},
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.facilities WHERE kind = 'cultural_hall'",
    ),
    ("facilities", {}, "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.facilities"),
]


def haversine(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))


@pytest.mark.parametrize("kind,params,query", CASES)
def test_matches_brute_force(
    client: httpx.Client, conn: psycopg.Connection, kind, params, query
) -> None:
    rows = np.array(conn.execute(query).fetchall(), dtype=float)
    rng = np.random.default_rng(len(query))
    for lon, lat in zip(
        rng.uniform(120.80, 121.00, 15), rng.uniform(30.76, 30.98, 15), strict=True
    ):
        k = int(rng.integers(1, 12))
        body = client.get(
            "/nearest", params={"lon": lon, "lat": lat, "kind": kind, "k": k, **params}
        ).json()
        got = [(i["id"], i["distance_m"]) for i in body["items"]]
        _, _, dist = GEOD.inv(
            np.full(len(rows), lon), np.full(len(rows), lat), rows[:, 1], rows[:, 2]
        )
        order = np.lexsort((rows[:, 0], dist))[:k]
        assert [g[0] for g in got] == rows[order, 0].astype(int).tolist()
        assert np.allclose([g[1] for g in got], dist[order], atol=0.01)
        # and within 0.5 % of a plain haversine
        hv = haversine(lon, lat, rows[order, 1], rows[order, 2])
        assert np.allclose([g[1] for g in got], hv, rtol=0.005)


def test_within_m(client: httpx.Client, conn: psycopg.Connection) -> None:
    rows = np.array(
        conn.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.cameras").fetchall(),
        dtype=float,
    )
    lon, lat = 120.9119, 30.8502
    _, _, dist = GEOD.inv(np.full(len(rows), lon), np.full(len(rows), lat), rows[:, 1], rows[:, 2])
    body = client.get(
        "/nearest", params={"lon": lon, "lat": lat, "kind": "cameras", "k": 100, "within_m": 150}
    ).json()
    expected = rows[np.lexsort((rows[:, 0], dist))][: (dist <= 150).sum(), 0].astype(int)
    assert [i["id"] for i in body["items"]] == expected[:100].tolist()
    assert all(i["distance_m"] <= 150 for i in body["items"])


def test_uses_the_knn_index(conn: psycopg.Connection) -> None:
    from citybrain.sql import load

    params = {
        "lon": 120.91,
        "lat": 30.85,
        "n": 20,
        "box": None,
        "available": True,
        "skill": "治安",
        "online": True,
        "facility_kind": "cultural_hall",
    }
    for kind in ("teams", "cameras", "facilities"):
        # As the service runs it: unprepared, so planned for the values (repeatedly, to be
        # sure that no cached generic plan takes over).
        for _ in range(8):
            rows = conn.execute(
                "EXPLAIN " + load(f"dispatch/nearest_{kind}"), params, prepare=False
            )
            plan = "\n".join(r[0] for r in rows)
            assert f"Index Scan using ix_{kind}_geom" in plan, plan
            assert "Order By: (geom <-> " in plan, plan


@pytest.mark.parametrize(
    "params,code",
    [
        ({"kind": "bikes"}, 422),
        ({"kind": "teams", "k": 0}, 422),
        ({"kind": "teams", "k": 101}, 422),
        ({"kind": "teams", "skill": "飞行"}, 400),
        ({"kind": "facilities", "facility_kind": "zoo"}, 422),
        ({"kind": "teams", "within_m": -5}, 422),
    ],
)
def test_bad_parameters(client: httpx.Client, params: dict, code: int) -> None:
    r = client.get("/nearest", params={"lon": 120.91, "lat": 30.85, **params})
    assert r.status_code == code
    assert r.json()["code"] in ("invalid_request", "invalid_input")
