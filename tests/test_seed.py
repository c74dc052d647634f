"""The synthetic county: sizes, exact tiling, H3 cells, micro-grids, a consistent workflow."""

from __future__ import annotations

from datetime import timedelta

import h3
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from citybrain.domain import TOWNS
from citybrain.synth import busy_when_full
from tests.utils.county import N_INCIDENTS, SEED_END

LEVELS = [
    ("towns", "villages", "town_id"),
    ("villages", "grids", "village_id"),
    ("grids", "compounds", "grid_id"),
    ("compounds", "micro_grids", "compound_id"),
]


def count(conn: psycopg.Connection, query: str, *params) -> int:
    return conn.execute(query, params).fetchone()[0]


def counts(conn: psycopg.Connection, query: str) -> dict:
    """``{key: count}`` of a ``SELECT key, count(*) … GROUP BY`` query."""
    return dict(conn.execute(query).fetchall())


def test_towns_are_the_real_nine(conn: psycopg.Connection) -> None:
    rows = conn.execute("SELECT code, name FROM citybrain.towns ORDER BY code").fetchall()
    assert rows == [(t.code, t.name) for t in TOWNS]
    # Each town contains its real seat.
    for t in TOWNS:
        inside = count(
            conn,
            "SELECT count(*) FROM citybrain.towns WHERE code = %s AND "
            "ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            t.code,
            *t.seat,
        )
        assert inside == 1, t.name


def test_sizes(conn: psycopg.Connection) -> None:
    area_km2 = count(conn, "SELECT sum(ST_Area(geom::geography)) / 1e6 FROM citybrain.towns")
    assert 490 < area_km2 < 525
    assert 160 <= count(conn, "SELECT count(*) FROM citybrain.villages") <= 175
    assert 900 <= count(conn, "SELECT count(*) FROM citybrain.grids") <= 1100
    assert 2500 <= count(conn, "SELECT count(*) FROM citybrain.compounds") <= 6000
    assert 9000 <= count(conn, "SELECT count(*) FROM citybrain.micro_grids") <= 11000
    assert 620_000 <= count(conn, "SELECT sum(population) FROM citybrain.micro_grids") <= 680_000
    assert 19_000 <= count(conn, "SELECT count(*) FROM citybrain.cameras") <= 21_000
    assert count(conn, "SELECT count(*) FROM citybrain.incidents") == N_INCIDENTS


def test_communities_concentrate_in_subdistricts(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT t.name, count(*) FILTER (WHERE v.kind = 'community'), count(*) "
        "FROM citybrain.villages v JOIN citybrain.towns t ON t.id = v.town_id GROUP BY t.name"
    ).fetchall()
    communities = {name: c for name, c, _ in rows}
    in_streets = sum(c for name, c in communities.items() if name.endswith("街道"))
    assert in_streets / sum(communities.values()) > 0.6


def test_people_are_dense_in_centres(conn: psycopg.Connection) -> None:
    # Micro-grids near a town seat are much smaller (denser) than those far away.
    near, far = conn.execute(
        "WITH seats(pt) AS (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) "
        "                   FROM unnest(%s::float8[], %s::float8[]) AS u(x, y)), "
        "d AS (SELECT m.population / (ST_Area(m.geom::geography) / 1e6) AS density, "
        "       (SELECT min(ST_Distance(m.geom::geography, s.pt::geography)) FROM seats s) AS dist "
        "      FROM citybrain.micro_grids m) "
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY density) FILTER (WHERE dist < 1000), "
        "       percentile_cont(0.5) WITHIN GROUP (ORDER BY density) FILTER (WHERE dist > 4000) "
        "FROM d",
        [[t.seat[0] for t in TOWNS], [t.seat[1] for t in TOWNS]],
    ).fetchone()
    assert near > 5 * far


def test_one_team_per_grid(conn: psycopg.Connection) -> None:
    grids = count(conn, "SELECT count(*) FROM citybrain.grids")
    assert count(conn, "SELECT count(DISTINCT grid_id) FROM citybrain.teams") == grids
    assert count(conn, "SELECT count(*) FROM citybrain.teams") == grids
    # A team stands in its own grid.
    assert (
        count(
            conn,
            "SELECT count(*) FROM citybrain.teams t JOIN citybrain.grids g "
            "ON g.id = t.grid_id WHERE NOT ST_Intersects(g.geom, t.geom)",
        )
        == 0
    )


def test_facilities(conn: psycopg.Connection) -> None:
    levels = counts(
        conn,
        "SELECT level, count(*) FROM citybrain.facilities "
        "WHERE kind = 'party_service_centre' GROUP BY level",
    )
    villages = count(conn, "SELECT count(*) FROM citybrain.villages")
    assert levels["county"] == 1 and levels["town"] == 9 and levels["village"] == villages
    assert levels["station"] > 0
    halls = count(
        conn,
        "SELECT count(DISTINCT v.id) FROM citybrain.facilities f "
        "JOIN citybrain.micro_grids m ON m.id = f.micro_grid_id "
        "JOIN citybrain.compounds c ON c.id = m.compound_id "
        "JOIN citybrain.grids g ON g.id = c.grid_id "
        "JOIN citybrain.villages v ON v.id = g.village_id "
        "WHERE f.kind = 'cultural_hall' AND v.kind = 'village'",
    )
    assert halls >= 0.85 * count(
        conn, "SELECT count(*) FROM citybrain.villages WHERE kind = 'village'"
    )
    assert count(conn, "SELECT count(*) FROM citybrain.facilities WHERE kind = 'police_post'") >= 9
    assert 200 <= count(conn, "SELECT count(*) FROM citybrain.facilities") <= 1000


@pytest.mark.parametrize("parent,child,fk", LEVELS)
def test_children_tile_parent(conn: psycopg.Connection, parent: str, child: str, fk: str) -> None:
    rows = conn.execute(
        f"SELECT p.code, ST_Area(p.geom::geography), sum(ST_Area(c.geom::geography)) "
        f"FROM citybrain.{parent} p JOIN citybrain.{child} c ON c.{fk} = p.id GROUP BY p.id"
    ).fetchall()
    assert len(rows) == count(conn, f"SELECT count(*) FROM citybrain.{parent}")
    worst = max(abs(child_sum - area) / area for _, area, child_sum in rows)
    assert worst < 0.001


@pytest.mark.parametrize("level", ["towns", "villages", "grids", "compounds", "micro_grids"])
def test_no_overlaps(conn: psycopg.Connection, level: str) -> None:
    # Independent of citybrain.validate: shapely on the fetched polygons.
    rows = conn.execute(f"SELECT id, ST_AsBinary(geom) FROM citybrain.{level}").fetchall()
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    pairs = a < b
    shared = shapely.area(shapely.intersection(geoms[a[pairs]], geoms[b[pairs]]))
    # degrees² → m² near 30.9°N: 1° lat ≈ 110.9 km, 1° lon ≈ 95.6 km
    assert (shared * 110_900 * 95_600).max(initial=0) < 1.0


@pytest.mark.parametrize("table", ["teams", "cameras", "facilities", "incidents"])
def test_h3_matches_h3py_for_every_point(conn: psycopg.Connection, table: str) -> None:
    rows = conn.execute(f"SELECT ST_X(geom), ST_Y(geom), h3 FROM citybrain.{table}").fetchall()
    assert rows
    bad = [r for r in rows if h3.str_to_int(h3.latlng_to_cell(r[1], r[0], 15)) != r[2]]
    assert bad == []


@pytest.mark.parametrize("table", ["teams", "cameras", "facilities", "incidents"])
def test_every_point_has_its_micro_grid(conn: psycopg.Connection, table: str) -> None:
    mg = conn.execute(
        "SELECT id, ST_AsBinary(geom) FROM citybrain.micro_grids ORDER BY id"
    ).fetchall()
    ids = np.array([r[0] for r in mg])
    tree = shapely.STRtree(shapely.from_wkb([bytes(r[1]) for r in mg]))
    pts = conn.execute(
        f"SELECT ST_X(geom), ST_Y(geom), micro_grid_id FROM citybrain.{table}"
    ).fetchall()
    xy = np.array([(x, y) for x, y, _ in pts])
    stored = np.array([m if m is not None else -1 for *_, m in pts])
    pi, ti = tree.query(shapely.points(xy), predicate="intersects")
    expected = np.full(len(pts), -1)
    for p, t in sorted(zip(pi, ids[ti], strict=True), key=lambda x: (x[0], -x[1])):
        expected[p] = t  # lowest id wins on shared edges
    assert (stored >= 0).all()
    assert (stored == expected).all()


def test_workflow_is_consistent(conn: psycopg.Connection) -> None:
    step = {
        "reported": 0,
        "dispatched": 1,
        "on_site": 2,
        "resolved": 3,
        "closed": 4,
        "escalated": 2,
    }
    rows = conn.execute(
        "SELECT status, dispatched_at IS NOT NULL, on_site_at IS NOT NULL, "
        "resolved_at IS NOT NULL, closed_at IS NOT NULL, team_id IS NOT NULL, "
        "escalated_at IS NOT NULL, tier FROM citybrain.incidents"
    ).fetchall()
    for status, *stamps, has_team, escalated, tier in rows:
        reached = sum(stamps)
        assert reached == step[status], (status, stamps)
        assert stamps == [True] * reached + [False] * (4 - reached)
        assert has_team == (status in ("dispatched", "on_site", "resolved", "closed"))
        if status == "escalated":
            assert escalated and tier in ("town", "county")
    lo, hi = conn.execute(
        "SELECT min(reported_at), max(updated_at) FROM citybrain.incidents"
    ).fetchone()
    assert lo >= SEED_END - timedelta(days=365) and hi <= SEED_END


def test_team_capacity_is_respected(conn: psycopg.Connection) -> None:
    assert (
        count(
            conn,
            "SELECT count(*) FROM citybrain.teams t WHERE t.capacity < (SELECT count(*) "
            "FROM citybrain.incidents i "
            "WHERE i.team_id = t.id AND i.status IN ('dispatched', 'on_site'))",
        )
        == 0
    )


def test_a_full_team_is_busy() -> None:
    """As the service keeps it: an available team holding its capacity is busy (the seeded
    test county is too small to fill a team, so hand-built frames)."""
    teams = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "status": ["available", "available", "off_duty", "busy"],
            "capacity": [2, 3, 1, 5],
        }
    )
    incidents = pd.DataFrame(
        {
            "team_id": pd.array([1, 1, 2, 2, 2, 3, None, 4], dtype="Int64"),
            "status": [
                "dispatched",
                "on_site",
                "dispatched",
                "on_site",
                "closed",
                "on_site",
                "reported",
                "resolved",
            ],
        }
    )
    assert busy_when_full(teams, incidents)["status"].tolist() == [
        "busy",
        "available",
        "off_duty",
        "busy",
    ]


def test_incidents_have_rhythm_and_hotspots(conn: psycopg.Connection) -> None:
    hours = counts(
        conn,
        "SELECT extract(hour FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) "
        "FROM citybrain.incidents GROUP BY 1",
    )
    assert hours[10] > 4 * hours[3]
    by_dow = counts(
        conn,
        "SELECT extract(isodow FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) "
        "FROM citybrain.incidents WHERE category = '矛盾纠纷' GROUP BY 1",
    )
    assert (by_dow[6] + by_dow[7]) / 2 > 1.1 * sum(by_dow[d] for d in range(1, 6)) / 5
    # Hotspots: the busiest 5 % of res-8 cells hold far more than 5 % of incidents.
    rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM citybrain.incidents").fetchall()
    cells = np.unique([h3.latlng_to_cell(y, x, 8) for x, y in rows], return_counts=True)[1]
    top = np.sort(cells)[::-1][: max(1, len(cells) // 20)].sum()
    assert top / len(rows) > 0.25
    mix = counts(conn, "SELECT category, count(*) FROM citybrain.incidents GROUP BY 1")
    assert len(mix) == 10 and mix["民生诉求"] > mix["食品安全"] * 4
