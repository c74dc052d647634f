"""``/dispatch/recommend``: the grid's team first (网格连心), others by ETA, the cameras whose
sector covers the point (hand-built cameras), and the tier rule."""

from __future__ import annotations

import math

import h3
import httpx
import numpy as np
import psycopg
import pytest

from citybrain.domain import CATEGORIES, initial_tier
from citybrain.services.routing import Router
from tests.utils.county import now, point_in
from tests.utils.keys import auth

VIEWER = auth("viewer")  # dispatch advice is not for anonymous callers

# A point in the middle of a micro-grid of the writable copy, far from other test data.
MICRO_GRID = 4321


def _offset(lon: float, lat: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    from pyproj import Geod

    x, y, _ = Geod(ellps="WGS84").fwd(lon, lat, bearing_deg, metres)
    return x, y


@pytest.fixture
def cameras(rw_conn: psycopg.Connection):
    """Hand-built cameras around the point: which of them see it is known by construction."""
    lon, lat = point_in(rw_conn, MICRO_GRID)
    specs = {
        # code: (bearing from point to camera, distance, heading, fov, range, online)
        "SEE-FACING": (0, 40, 180, 60, 80, True),  # north of it, looking south: sees it
        "SEE-EDGE": (90, 30, 270 + 25, 60, 50, True),  # 25° off axis, inside ±30°
        "NO-AWAY": (180, 30, 180, 90, 100, True),  # south of it, looking further south
        "NO-OFFAXIS": (270, 30, 90 + 40, 60, 100, True),  # 40° off axis, outside ±30°
        "NO-FAR": (45, 120, 225, 90, 100, True),  # facing it but 120 m away, range 100
        "SEE-DOME": (300, 20, 0, 360, 50, True),  # a dome sees all around
        "NO-OFFLINE": (10, 25, 190, 90, 80, False),  # would see it, but is offline
    }
    rw_conn.execute(
        "DELETE FROM citybrain.cameras WHERE ST_DWithin(geom::geography, "
        "ST_MakePoint(%s, %s)::geography, 600)",
        [lon, lat],
    )
    for code, (bearing, dist, heading, fov, rng_m, online) in specs.items():
        x, y = _offset(lon, lat, bearing, dist)
        rw_conn.execute(
            "INSERT INTO citybrain.cameras (code, name, kind, heading, fov, range_m, online, "
            "owner, h3, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, 'community', %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [
                code,
                code,
                "dome" if fov == 360 else "bullet",
                heading % 360,
                fov,
                rng_m,
                online,
                h3.str_to_int(h3.latlng_to_cell(y, x, 15)),
                x,
                y,
            ],
        )
    yield lon, lat, specs
    rw_conn.execute("DELETE FROM citybrain.cameras WHERE code = ANY(%s)", [list(specs)])


def test_covering_cameras(rw: httpx.Client, cameras) -> None:
    lon, lat, specs = cameras
    body = rw.post(
        "/dispatch/recommend", json={"lon": lon, "lat": lat, "category": "治安"}, headers=VIEWER
    ).json()
    got = [c["code"] for c in body["cameras"]]
    assert got == ["SEE-DOME", "SEE-EDGE", "SEE-FACING"]  # nearest first: 20, 30, 40 m
    for cam in body["cameras"]:
        bearing, dist = specs[cam["code"]][:2]
        assert cam["distance_m"] == pytest.approx(dist, abs=0.05)
        assert cam["bearing"] == pytest.approx((bearing + 180) % 360, abs=0.1)


def _grid_team(conn: psycopg.Connection) -> tuple[int, list[str]]:
    return conn.execute(
        "SELECT t.id, t.skills FROM citybrain.teams t "
        "JOIN citybrain.compounds c ON c.grid_id = t.grid_id "
        "JOIN citybrain.micro_grids m ON m.compound_id = c.id WHERE m.id = %s",
        [MICRO_GRID],
    ).fetchone()


def test_own_team_first_then_by_eta(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    lon, lat = point_in(rw_conn, MICRO_GRID)
    team_id, skills = _grid_team(rw_conn)
    rw_conn.execute("UPDATE citybrain.teams SET status = 'available' WHERE id = %s", [team_id])
    rw_conn.execute(
        "UPDATE citybrain.incidents SET status = 'resolved', resolved_at = %s "
        "WHERE team_id = %s "
        "AND status IN ('dispatched', 'on_site')",
        [now(), team_id],
    )
    category = skills[0]
    body = rw.post(
        "/dispatch/recommend",
        json={"lon": lon, "lat": lat, "category": category, "limit": 8},
        headers=VIEWER,
    ).json()
    teams = body["teams"]
    assert teams[0]["id"] == team_id and teams[0]["responsible"]
    assert body["responsible_team_problem"] is None
    etas = [t["eta_s"] for t in teams[1:]]
    assert etas == sorted(etas) and len(teams) == 8
    assert body["eta_method"] == "road_network"
    # Every candidate can take it: available, with the skill, below capacity.
    for t in teams:
        status, t_skills = rw_conn.execute(
            "SELECT status, skills FROM citybrain.teams WHERE id = %s", [t["id"]]
        ).fetchone()
        assert status == "available" and category in t_skills and t["active"] < t["capacity"]

    # Off duty, the grid's team is not recommended, and the answer says why.
    rw_conn.execute("UPDATE citybrain.teams SET status = 'off_duty' WHERE id = %s", [team_id])
    try:
        body = rw.post(
            "/dispatch/recommend",
            json={"lon": lon, "lat": lat, "category": category},
            headers=VIEWER,
        ).json()
        assert team_id not in [t["id"] for t in body["teams"]]
        assert body["responsible_team"]["id"] == team_id
        assert body["responsible_team_problem"] == "team is off_duty"
        assert not any(t["responsible"] for t in body["teams"])
    finally:
        rw_conn.execute("UPDATE citybrain.teams SET status = 'available' WHERE id = %s", [team_id])


def test_others_ranked_by_eta_among_all_eligible_teams(
    client: httpx.Client, conn: psycopg.Connection, router: Router
) -> None:
    """Beyond the grid's own team, the ranking is the true best by ETA over every team that
    can take the case, not just the best of the nearest few (brute force over all teams)."""
    teams = conn.execute(
        "SELECT id, skills, ST_X(geom), ST_Y(geom) FROM citybrain.teams t "
        "WHERE status = 'available' AND citybrain.team_active(id) < capacity"
    ).fetchall()
    points = conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids ORDER BY md5(id::text) LIMIT 40) s"
    ).fetchall()
    categories = [c.name for c in CATEGORIES]
    widened = 0
    for i, (lon, lat) in enumerate(points):
        category, limit = categories[i % len(categories)], (5, 10)[i % 2]
        body = client.post(
            "/dispatch/recommend",
            json={"lon": lon, "lat": lat, "category": category, "limit": limit},
            headers=VIEWER,
        ).json()
        own = body["responsible_team"]["id"] if body["responsible_team"] else None
        got = [t["id"] for t in body["teams"] if not t["responsible"]]
        eligible = [t for t in teams if category in t[1] and t[0] != own]
        etas = router.etas(
            np.array([t[2] for t in eligible]), np.array([t[3] for t in eligible]), lon, lat
        )
        best = sorted(
            zip((round(float(e), 1) for e in etas), (t[0] for t in eligible), strict=True)
        )
        slots = limit - (len(body["teams"]) - len(got))  # one less when the own team leads
        assert got == [tid for _, tid in best[:slots]], (lon, lat, category)
        far = conn.execute(
            "SELECT count(*) FROM citybrain.teams WHERE id = ANY(%s) AND id NOT IN ("
            "SELECT id FROM citybrain.teams WHERE status = 'available' AND skills @> ARRAY[%s] "
            "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 12)",
            [got, category, lon, lat],
        ).fetchone()[0]
        widened += far > 0
    assert widened > 0  # some answers needed a team beyond the twelve nearest


def test_no_team_arrives_from_beyond_reach(router: Router, conn: psycopg.Connection) -> None:
    """The bound that lets dispatch stop searching: a team that reaches a point in t seconds is
    no farther (geodesic) than ``reach_m(point, t)``. At 20 points, for the 60 quickest teams
    (those dispatch ranks) and 20 others."""
    from pyproj import Geod

    xy = np.array(conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM citybrain.teams").fetchall())
    rng = np.random.default_rng(5)
    geod = Geod(ellps="WGS84")
    tight = []
    for lon, lat in xy[rng.choice(len(xy), 20, replace=False)] + rng.normal(0, 0.002, (20, 2)):
        etas = router.etas(xy[:, 0], xy[:, 1], lon, lat)
        order = np.argsort(etas)
        some = np.concatenate([order[:60], rng.choice(order[60:], 20, replace=False)])
        _, _, metres = geod.inv(xy[some, 0], xy[some, 1], np.full(80, lon), np.full(80, lat))
        reach = np.array([router.reach_m(lon, lat, float(etas[i])) for i in some])
        assert np.all(metres <= reach)
        tight.append(np.max(metres / reach))
    assert max(tight) > 0.8  # a bound, and a close one


@pytest.mark.parametrize(
    "category,severity,tier",
    [
        ("矛盾纠纷", 1, "village"),
        ("矛盾纠纷", 3, "town"),
        ("矛盾纠纷", 4, "county"),
        ("安全生产", 1, "town"),
        ("安全生产", 3, "town"),
        ("食品安全", 4, "county"),
    ],
)
def test_tier_rule(client: httpx.Client, category: str, severity: int, tier: str) -> None:
    assert str(initial_tier(category, severity)) == tier
    body = client.post(
        "/dispatch/recommend",
        json={"lon": 120.9119, "lat": 30.8502, "category": category, "severity": severity},
        headers=VIEWER,
    ).json()
    assert body["tier"] == tier and category in body["tier_reason"]


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"lon": 120.91, "lat": 30.85, "category": "外星人"}, 400),
        ({"lon": 120.91, "lat": 30.85, "category": "治安", "severity": 5}, 422),
        ({"lon": 121.5, "lat": 30.85, "category": "治安"}, 404),
        ({"lon": "x", "lat": 30.85, "category": "治安"}, 422),
        ({"lat": 30.85, "category": "治安"}, 422),
    ],
)
def test_bad_requests(client: httpx.Client, payload: dict, code: int) -> None:
    r = client.post("/dispatch/recommend", json=payload, headers=VIEWER)
    assert r.status_code == code
    assert "detail" in r.json() and "code" in r.json()


def test_gcj02_input_is_converted(client: httpx.Client) -> None:
    from citybrain.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(120.9119, 30.8502)
    a = client.post(
        "/dispatch/recommend",
        json={"lon": 120.9119, "lat": 30.8502, "category": "治安"},
        headers=VIEWER,
    )
    b = client.post(
        "/dispatch/recommend",
        json={"lon": float(lon), "lat": float(lat), "crs": "gcj02", "category": "治安"},
        headers=VIEWER,
    )
    assert a.json()["location"] == b.json()["location"]
    assert math.isclose(b.json()["lon"], 120.9119, abs_tol=1e-9)


@pytest.mark.parametrize("skilled", [True, False])
def test_recommend_and_assign_agree_on_every_team_state(
    rw: httpx.Client, rw_conn: psycopg.Connection, skilled: bool
) -> None:
    """One rule (domain.why_team_cannot_take): for every status, load and skill a team can be
    in, the grid's own team is recommended exactly when an assignment to it succeeds, and the
    two give the same reason when not. (A busy team below capacity: refused by both.)"""
    lon, lat = point_in(rw_conn, MICRO_GRID)
    team_id, skills = _grid_team(rw_conn)
    category = skills[0]
    saved = rw_conn.execute(
        "SELECT status, capacity, skills FROM citybrain.teams WHERE id = %s", [team_id]
    ).fetchone()
    made: list[int] = []

    def report() -> int:
        r = rw.post(
            "/incidents",
            json={"lon": lon, "lat": lat, "category": category},
            headers=auth("dispatcher"),
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return made[-1]

    def assign(incident: int) -> httpx.Response:
        return rw.post(
            f"/incidents/{incident}/assign", json={"team_id": team_id}, headers=auth("dispatcher")
        )

    try:
        # one case on its hands, so that "at capacity" can be one below or at the case count
        rw_conn.execute(
            "UPDATE citybrain.teams SET status = 'available', capacity = 50 WHERE id = %s",
            [team_id],
        )
        assert assign(report()).status_code == 200
        if not skilled:
            rw_conn.execute(
                "UPDATE citybrain.teams SET skills = array_remove(skills, %s) WHERE id = %s",
                [category, team_id],
            )
        for status in ("available", "busy", "off_duty"):
            for full in (False, True):
                active = rw_conn.execute("SELECT citybrain.team_active(%s)", [team_id]).fetchone()[
                    0
                ]
                assert active >= 1
                capacity = active if full else active + 1
                rw_conn.execute(
                    "UPDATE citybrain.teams SET status = %s, capacity = %s WHERE id = %s",
                    [status, capacity, team_id],
                )
                body = rw.post(
                    "/dispatch/recommend",
                    json={"lon": lon, "lat": lat, "category": category},
                    headers=VIEWER,
                ).json()
                recommended = team_id in [t["id"] for t in body["teams"]]
                problem = body["responsible_team_problem"]
                assigned = assign(report())
                can = status == "available" and skilled and active < capacity
                assert recommended == (assigned.status_code == 200) == can, (status, full)
                if not can:
                    assert assigned.status_code == 409
                    assert problem == "team " + assigned.json()["detail"].split(" ", 2)[2]
    finally:
        rw_conn.execute(
            "UPDATE citybrain.incidents SET status = 'resolved', resolved_at = %s "
            "WHERE id = ANY(%s) AND status = 'dispatched'",
            [now(), made],
        )
        rw_conn.execute(
            "UPDATE citybrain.teams SET status = %s, capacity = %s, skills = %s WHERE id = %s",
            [*saved, team_id],
        )
