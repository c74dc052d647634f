"""Cases walked through the workflow by the seeded county's people, as the workflow and
assessment tests do: sessions of the people a test needs, a grid with a team to report in, and
the steps through the API."""

from __future__ import annotations

import httpx
import psycopg
from pyproj import Geod
from shapely import wkb

from tests.utils.people import log_in
from tests.utils.photos import with_photos
from tests.utils.server import LiveServer


class People:
    """Bearer sessions of the people a test needs, logged in once each (on a client of their
    own: the session cookie stays there, and the tests' client sends only the header)."""

    def __init__(self, live: LiveServer, url: str) -> None:
        self.live, self.url, self.headers = live, url, {}

    def __getitem__(self, login: str) -> dict[str, str]:
        if login not in self.headers:
            with self.live.client() as client:
                self.headers[login] = log_in(client, self.url, login)
        return self.headers[login]


def grid_of(owner: psycopg.Connection, town: str) -> dict:
    """A grid of ``town`` with an available team of at least two members that handles 矛盾纠纷
    (its capacity raised out of the way), a point in it, the team and its members' logins."""
    row = owner.execute(
        """SELECT g.id, t.id, min(m.micro_grid_id), tw.id FROM citybrain.grids g
           JOIN citybrain.villages v ON v.id = g.village_id
           JOIN citybrain.towns tw ON tw.id = v.town_id
           JOIN citybrain.teams t ON t.grid_id = g.id
           JOIN citybrain.micro_grid_chain m ON m.grid_id = g.id
           WHERE tw.code = %s AND jsonb_array_length(t.members) >= 2 AND t.status = 'available'
             AND '矛盾纠纷' = ANY (t.skills)
           GROUP BY g.id, t.id, tw.id ORDER BY g.id LIMIT 1""",
        [town],
    ).fetchone()
    grid_id, team_id, micro_grid, town_id = row
    owner.execute("UPDATE citybrain.teams SET capacity = 1000 WHERE id = %s", [team_id])
    lon, lat = owner.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids WHERE id = %s) s",
        [micro_grid],
    ).fetchone()
    return {
        "grid": grid_id,
        "team": team_id,
        "town": town_id,
        "lon": lon,
        "lat": lat,
        "members": [f"m{team_id}-1", f"m{team_id}-2"],
    }


def department(owner: psycopg.Connection, code: str) -> int:
    return owner.execute("SELECT id FROM citybrain.departments WHERE code = %s", [code]).fetchone()[
        0
    ]


def report(c: httpx.Client, headers, grid: dict, category="矛盾纠纷", offset=0.0) -> int:
    body = {
        "lon": grid["lon"] + offset,
        "lat": grid["lat"],
        "category": category,
        "description": "楼上漏水，邻里纠纷",
        "reporter_name": "张三",
        "reporter_phone": "13800001111",
    }
    r = c.post("/incidents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def step(c: httpx.Client, headers, incident: int, name: str, **body) -> httpx.Response:
    """The step, its ``photos`` named by the test (``"a/1.jpg"``) sent first by the caller."""
    body = with_photos(c, headers, body)
    return c.post(f"/incidents/{incident}/steps/{name}", json=body, headers=headers)


def ok(c: httpx.Client, headers, incident: int, name: str, **body) -> dict:
    r = step(c, headers, incident, name, **body)
    assert r.status_code == 200, r.text
    return r.json()


def road_walk(owner: psycopg.Connection, grid_id: int) -> list[tuple[float, float]]:
    """Points every ~25 m along the longest road piece inside the grid."""
    (line,) = owner.execute(
        """SELECT ST_AsBinary(ST_LineMerge(ST_Intersection(r.geom, g.geom)))
           FROM citybrain.roads r JOIN citybrain.grids g ON g.id = %s
           WHERE ST_Intersects(r.geom, g.geom)
           ORDER BY ST_Length(ST_Intersection(r.geom, g.geom)::geography) DESC LIMIT 1""",
        [grid_id],
    ).fetchone()
    road = wkb.loads(bytes(line))
    if road.geom_type == "MultiLineString":
        road = max(road.geoms, key=lambda g: g.length)
    n = max(4, int(Geod(ellps="WGS84").geometry_length(road) // 25))
    return [road.interpolate(i / n, normalized=True).coords[0] for i in range(n + 1)]
