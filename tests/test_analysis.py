"""The planners' analyses on small hand-built data, where every number is known."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text as sa_text

from citybrain.analysis import coverage, maps, overview, radius, trends, workload
from citybrain.crs import LOCAL

GEOD = Geod(ellps="WGS84")
ORIGIN = (120.90, 30.85)


def moved(bearing: float, metres: float, origin=ORIGIN) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, metres)
    return lon, lat


def test_camera_sector() -> None:
    s = coverage.sector(*ORIGIN, heading=90, fov=90, range_m=100)
    assert s.contains(shapely.Point(moved(90, 50)))  # straight ahead
    assert s.contains(shapely.Point(moved(130, 80)))  # 40° off axis, inside ±45°
    assert not s.contains(shapely.Point(moved(140, 50)))  # 50° off axis
    assert not s.contains(shapely.Point(moved(90, 105)))  # beyond range
    assert not s.contains(shapely.Point(moved(0, 50)))  # behind the side
    dome = coverage.sector(*ORIGIN, heading=0, fov=360, range_m=60)
    assert dome.contains(shapely.Point(moved(200, 55))) and not dome.contains(
        shapely.Point(moved(200, 65))
    )
    # Area: a quarter disc of 100 m.
    area = shapely.area(LOCAL.to_metres(s))
    assert area == pytest.approx(np.pi * 100**2 / 4, rel=0.01)


def test_coverage_shares_and_where_to_add() -> None:
    cams = gpd.GeoDataFrame(
        {
            "heading": [0.0, 0.0],
            "fov": [360.0, 360.0],
            "range_m": [50.0, 50.0],
            "online": [True, False],
        },
        geometry=[shapely.Point(ORIGIN), shapely.Point(moved(90, 500))],
        crs=4326,
    ).rename_geometry("geom")
    views = coverage.sectors(cams)
    assert len(views) == 1  # the offline camera sees nothing
    pts = gpd.GeoSeries(
        [shapely.Point(moved(0, 10)), shapely.Point(moved(0, 80)), shapely.Point(moved(90, 500))],
        crs=4326,
    )
    assert coverage.covered(pts, views).tolist() == [True, False, False]
    # A 20 m square around the camera is all covered; a 200 m one by pi*50^2 / 200^2.
    x0, y0 = LOCAL.forward(*ORIGIN)
    small = LOCAL.to_wgs84(shapely.box(x0 - 10, y0 - 10, x0 + 10, y0 + 10))
    big = LOCAL.to_wgs84(shapely.box(x0 - 100, y0 - 100, x0 + 100, y0 + 100))
    shares = coverage.share_covered(gpd.GeoDataFrame(geometry=[small, big], crs=4326), views)
    assert shares.iloc[0] == pytest.approx(1.0, abs=0.01)
    assert shares.iloc[1] == pytest.approx(np.pi * 50**2 / 200**2, rel=0.02)
    incidents = pd.DataFrame({"h3_9": [1, 1, 1, 2, 2, 3]})
    seen = pd.Series([True, False, False, True, True, False])
    ranked = coverage.where_to_add_cameras(incidents, seen, "h3_9")
    assert ranked.index.tolist() == ["1", "3", "2"]
    assert ranked["uncovered"].tolist() == [2, 1, 0]


def test_straight_and_road_distance() -> None:
    people = pd.DataFrame(
        {"lon": [ORIGIN[0], moved(90, 300)[0]], "lat": [ORIGIN[1], moved(90, 300)[1]]}
    )
    sites = pd.DataFrame({"lon": [moved(90, 1000)[0]], "lat": [moved(90, 1000)[1]]})
    assert radius.straight_distance(people, sites) == pytest.approx([1000, 700], rel=0.005)
    # A road that goes 1 km north, 1 km east and 1 km south: the site is 3 km away by road.
    corners = [ORIGIN, moved(0, 1000), moved(0, 1000, moved(90, 1000)), moved(90, 1000)]
    vertices = pd.DataFrame(
        {"id": [10, 11, 12, 13], "lon": [c[0] for c in corners], "lat": [c[1] for c in corners]}
    )
    roads = pd.DataFrame(
        {"source": [10, 11, 12], "target": [11, 12, 13], "length_m": [1000.0, 1000.0, 1000.0]}
    )
    d = radius.road_distance(people.iloc[:1], sites, vertices, roads)
    assert d[0] == pytest.approx(3000, abs=5)
    far = radius.road_distance(people.iloc[:1], sites.iloc[:0], vertices, roads)
    assert np.isinf(far).all()


def test_share_by_area_and_greedy_sites() -> None:
    people = pd.DataFrame(
        {
            "village": ["a", "a", "b", "b"],
            "population": [100, 50, 30, 20],
            "lon": [ORIGIN[0], moved(90, 100)[0], moved(0, 5000)[0], moved(0, 5100)[0]],
            "lat": [ORIGIN[1], moved(90, 100)[1], moved(0, 5000)[1], moved(0, 5100)[1]],
        }
    )
    shares = radius.share_by_area(people, np.array([True, False, False, True]), "village")
    assert shares.loc["a", "share"] == pytest.approx(100 / 150)
    assert shares.loc["b", "reached"] == 20
    candidates = pd.DataFrame(
        {
            "lon": [moved(0, 5050)[0], moved(90, 50)[0]],
            "lat": [moved(0, 5050)[1], moved(90, 50)[1]],
        },
        index=["north", "east"],
    )
    chosen = radius.greedy_sites(people, candidates, radius_m=200, k=2)
    assert chosen["candidate"].tolist() == ["east", "north"]  # 150 residents first, then 50
    assert chosen["gain"].tolist() == [150, 50] and chosen["share"].iloc[-1] == 1.0
    again = radius.greedy_sites(
        people, candidates, 200, 2, already=np.array([True, True, False, False])
    )
    assert again["candidate"].tolist() == ["north"]  # east would bring no one new


def test_workload_and_rebalance() -> None:
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    grids = pd.DataFrame({"name": list("ABCD"), "village_id": [1, 1, 1, 2]}, index=[1, 2, 3, 4])
    teams = pd.DataFrame(
        {
            "id": [11, 12, 13, 14],
            "grid_id": [1, 2, 3, 4],
            "members": [["x"] * 2, ["x"] * 2, ["x"] * 2, ["x"] * 4],
        }
    )
    rows = []
    for team, n in ((11, 40), (12, 2), (13, 2), (14, 8)):
        for i in range(n):
            late = i % 4 == 0
            rows.append(
                {
                    "team_id": team,
                    "reported_at": t0,
                    "dispatched_at": t0 + timedelta(minutes=40 if late else 10),
                    "resolved_at": t0 + timedelta(hours=10) if i % 2 else None,
                    "dispatched_on_time": not late,  # (40 min past a 30-min limit)
                    "resolved_on_time": True if i % 2 else None,
                }
            )
    load = workload.workload(grids, teams, pd.DataFrame(rows))
    assert load["incidents"].tolist() == [40, 2, 2, 8]
    assert load["per_member"].tolist() == [20, 1, 1, 2]
    assert load.loc[1, "dispatched_on_time"] == pytest.approx(0.75)
    assert load.loc[1, "resolved_on_time"] == 1.0
    neighbours = pd.DataFrame({"a": [2, 3, 1], "b": [3, 4, 2]})
    plan = workload.rebalance(load, neighbours, merge_under=0.8)  # median 1.5: idle below 1.2
    assert plan["action"].tolist() == ["split", "merge"]
    assert plan["grids"].tolist() == [[1], [2, 3]]  # 3-4 are in different villages
    assert plan["per_member"].tolist() == [20, 1]


def test_trends() -> None:
    end = datetime(2026, 10, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "reported_at": pd.to_datetime(
                [end - timedelta(days=d) for d in (1, 2, 100, 120, 150, 10)]
            ),
            "category": ["治安", "治安", "交通", "治安", "交通", "交通"],
            "grid": ["g1", "g1", "g1", "g2", "g2", "g3"],
        }
    )
    change = trends.quarter_change(frame, end)
    assert change.loc["g1"].tolist()[:3] == [2, 1, 1]
    assert change.loc["g2"].tolist()[:3] == [0, 2, -2]
    assert change.index[0] == "g2"
    months = trends.monthly(frame)
    assert months.to_numpy().sum() == 6 and months.loc["2026-09", "治安"] == 2


def _level(geoms: list, **columns: list) -> gpd.GeoDataFrame:
    """A level of the hierarchy: its rows numbered 1, 2, … (``id``), in WGS84."""
    ids = pd.Index(list(range(1, len(geoms) + 1)), name="id")
    return gpd.GeoDataFrame(columns, geometry=geoms, index=ids, crs=4326)


def test_hierarchy_summary() -> None:
    box = shapely.box
    west, east = box(120.9, 30.8, 120.91, 30.82), box(120.91, 30.8, 120.92, 30.82)
    levels = {
        "towns": _level([box(120.9, 30.8, 120.92, 30.82)], code=["T"]),
        "villages": _level([west, east], town_id=[1, 1]),
        "grids": _level([west, east], village_id=[1, 2]),
        "compounds": _level([west, east], grid_id=[1, 2]),
        "micro_grids": _level(
            [box(120.9, 30.8, 120.91, 30.81), box(120.9, 30.81, 120.91, 30.82), east],
            compound_id=[1, 1, 2],
            population=[10, 20, 30],
            households=[4, 8, 12],
        ),
    }
    summary = overview.hierarchy_summary(levels)
    assert summary["units"].tolist() == [1, 2, 2, 2, 3]
    assert (summary["population"] == 60).all() and (summary["households"] == 24).all()
    km2 = abs(GEOD.geometry_area_perimeter(box(120.9, 30.8, 120.92, 30.82))[0]) / 1e6
    assert summary["area_km2"].to_numpy() == pytest.approx([km2] * 5, rel=0.002)
    assert overview.people_by_level(levels)["villages"]["population"].tolist() == [30, 30]


def test_offline_map_fetches_nothing() -> None:
    m = maps.offline_map()
    frame = gpd.GeoDataFrame(
        {"name": ["x"]}, geometry=[shapely.box(120.9, 30.8, 120.92, 30.82)], crs=4326
    )
    maps.add_layer(m, frame, "test", fields=["name"])
    html = m.get_root().render()
    assert not re.findall(r"https?://(?!www\.w3\.org)[^\s\"']+", html)
    assert "L.map" in html and "data:text/javascript;base64," in html


def test_load_table_quotes_names_and_binds_values(seeded: str) -> None:
    from citybrain.analysis import load
    from citybrain.db.connection import get_engine

    engine = get_engine(seeded)
    grids = load.table("grids", ["id", "code", "geom"], con=engine)
    assert grids.columns.tolist() == ["code", "geom"] and grids.index.name == "id"
    with engine.connect() as c:
        counts = dict(
            c.execute(sa_text("SELECT status, count(*) FROM citybrain.teams GROUP BY 1")).all()
        )
        n_grids = c.execute(sa_text("SELECT count(*) FROM citybrain.grids")).scalar_one()
    assert len(grids) == n_grids
    busy = load.table("teams", where="status = :s", con=engine, s="busy")
    assert len(busy) == counts.get("busy", 0) and set(busy["status"]) <= {"busy"}
    # A name is an identifier, never SQL: this is a table that does not exist.
    with pytest.raises(Exception, match='relation "citybrain.towns; drop table x" does not'):
        load.table("towns; drop table x", con=engine)
