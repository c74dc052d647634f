"""Camera siting (MCLP, LSCP) on hand-built cases whose optimum is known by hand or by brute
force, the view sectors against geodesic arithmetic, and one run on the test county recounted
in PostGIS."""

from __future__ import annotations

from itertools import combinations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from citybrain.analysis import camera_siting, load
from citybrain.analysis.camera_siting import Options

GEOD = Geod(ellps="WGS84")
ORIGIN = (120.90, 30.85)
EDGE_M = 1.0  # sectors are polygons in local metres: points this close to an edge may differ


def moved(bearing: float, metres: float, origin=ORIGIN) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, metres)
    return lon, lat


def scattered(rng: np.random.Generator, n: int, within_m: float) -> list[tuple[float, float]]:
    bearings, metres = rng.uniform(0, 360, n), rng.uniform(0, within_m, n)
    return [moved(b, d) for b, d in zip(bearings, metres, strict=True)]


def points(lonlats) -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.Point(p) for p in lonlats], crs=4326)


def sites(lonlats, index=None) -> gpd.GeoDataFrame:
    frame = pd.DataFrame({"lon": [p[0] for p in lonlats], "lat": [p[1] for p in lonlats]})
    return camera_siting.candidates(frame if index is None else frame.set_axis(index))


def in_view(distance, bearing, heading, fov, range_m) -> tuple[np.ndarray, np.ndarray]:
    """The dispatch rule (sql/dispatch/covering_cameras.sql) from geodesic distance and bearing,
    and each point's distance in metres to the sector's edge (its arc or a side)."""
    distance, fov, range_m = (np.asarray(a, dtype=float) for a in (distance, fov, range_m))
    off = np.abs((np.asarray(bearing, dtype=float) - heading + 540) % 360 - 180)
    dome = fov >= 360
    within = dome | (off <= fov / 2)
    inside = (distance <= range_m) & within
    arc = np.where(within, np.abs(range_m - distance), np.inf)
    # The nearer side: a segment from the camera out to range_m at heading ± fov/2.
    delta = np.radians(off - fov / 2)
    along, across = distance * np.cos(delta), distance * np.abs(np.sin(delta))
    side = np.where(
        along < 0, distance, np.where(along > range_m, np.hypot(along - range_m, across), across)
    )
    return inside, np.minimum(arc, np.where(dome, np.inf, side))


def brute_mclp(opts: Options, n: int) -> float:
    best = 0.0
    for k in range(1, n + 1):
        for subset in combinations(range(len(opts.frame)), k):
            if opts.frame["site"].iloc[list(subset)].is_unique:
                best = max(best, opts.seen_by(list(subset)))
    return best


def brute_lscp(opts: Options, share: float) -> int | None:
    for k in range(1, len(opts.frame) + 1):
        for subset in combinations(range(len(opts.frame)), k):
            if (
                opts.frame["site"].iloc[list(subset)].is_unique
                and opts.seen_by(list(subset)) >= share * opts.total - 1e-9
            ):
                return k
    return None


def test_sectors_see_what_geodesic_arithmetic_sees() -> None:
    rng = np.random.default_rng(3)
    here = sites(scattered(rng, 5, 80))
    demand = points(scattered(rng, 400, 180))
    opts = camera_siting.options(here, demand, headings=8, fov=60, range_m=100)
    kept = {
        (s, h): j
        for j, (s, h) in enumerate(zip(opts.frame["site"], opts.frame["heading"], strict=True))
    }
    dense = opts.seen.toarray().astype(bool)
    checked = 0
    for s, lon, lat in zip(here.index, here.geometry.x, here.geometry.y, strict=True):
        bearing, _, distance = GEOD.inv(
            np.full(len(demand), lon), np.full(len(demand), lat), demand.x.values, demand.y.values
        )
        for heading in np.arange(8) * 45.0:
            inside, margin = in_view(distance, bearing % 360, heading, 60, 100)
            clear = margin > EDGE_M
            j = kept.get((s, heading))
            model = dense[:, j] if j is not None else np.zeros(len(demand), bool)
            assert (model[clear] == inside[clear]).all(), (s, heading)
            checked += clear.sum()
    assert checked > 0.98 * len(demand) * len(here) * 8
    assert opts.frame["sees"].tolist() == dense.sum(axis=0).tolist()


def test_existing_cameras_are_not_demand() -> None:
    cams = gpd.GeoDataFrame(
        {"heading": [90.0, 0.0], "fov": [90.0, 360.0], "range_m": [100.0, 100.0]},
        geometry=[shapely.Point(ORIGIN), shapely.Point(moved(0, 1000))],
        crs=4326,
    ).rename_geometry("geom")
    cams["online"] = [True, False]
    incidents = pd.DataFrame(
        [moved(90, 50), moved(90, 90), moved(270, 50), moved(0, 1000)], columns=["lon", "lat"]
    ).set_axis([11, 12, 13, 14])
    demand = camera_siting.unseen(incidents, cams)
    # East of the camera is seen; west is not; the offline dome sees nothing.
    assert demand.index.tolist() == [13, 14]
    # A candidate at the camera sees only the western incident (the eastern ones are covered).
    opts = camera_siting.options(sites([ORIGIN]), demand, headings=4, fov=90, range_m=100)
    assert opts.total == 2 and opts.frame["heading"].tolist() == [270.0]
    assert opts.frame["sees"].tolist() == [1.0]


def three_domes() -> Options:
    """P in the middle sees 4 incidents, Q and R on either side 3 each, overlapping P's by 2:
    greedy takes P and then 1 more; the best pair is Q and R, with 6."""
    x = {"Q": -60, "P": 0, "R": 60}
    at = {k: moved(90, v) if v >= 0 else moved(270, -v) for k, v in x.items()}
    east = [30, 30, 100]
    demand = [moved(270, m, moved(0, 5 * i)) for i, m in enumerate(east)]
    demand += [moved(90, m, moved(0, 5 * i)) for i, m in enumerate(east)]
    return camera_siting.options(
        sites(list(at.values()), index=list(at)), points(demand), fov=360, range_m=50
    )


def test_mclp_by_hand_and_the_greedy_gap() -> None:
    opts = three_domes()
    assert dict(zip(opts.frame["site"], opts.frame["sees"], strict=True)) == {
        "Q": 3,
        "P": 4,
        "R": 3,
    }
    exact = camera_siting.mclp(opts, 2)
    greedy = camera_siting.greedy_mclp(opts, 2)
    assert exact.optimal and exact.seen == 6
    assert sorted(opts.frame["site"].iloc[exact.chosen]) == ["Q", "R"]
    assert opts.frame["site"].iloc[greedy.chosen].tolist()[0] == "P" and greedy.seen == 5
    assert camera_siting.gap(exact, greedy) == pytest.approx(1 / 6)
    table = camera_siting.summary(opts, exact, greedy)
    assert table["seen"].tolist() == [6, 5] and table["gap"].iloc[1] == pytest.approx(1 / 6)
    chosen = camera_siting.chosen(opts, greedy)
    assert chosen["gain"].tolist() == [4, 1]


def test_lscp_by_hand_and_the_greedy_gap() -> None:
    opts = three_domes()
    exact = camera_siting.lscp(opts, 1.0)
    greedy = camera_siting.greedy_lscp(opts, 1.0)
    assert len(exact.chosen) == 2 and exact.seen == 6 and exact.optimal
    assert len(greedy.chosen) == 3
    assert camera_siting.gap(exact, greedy) == pytest.approx(0.5)
    assert len(camera_siting.lscp(opts, 4 / 6).chosen) == 1  # P alone
    with pytest.raises(ValueError, match="no choice"):
        camera_siting.lscp(opts, 1.01)
    far = camera_siting.options(sites([ORIGIN]), points([moved(0, 500)]))
    assert far.frame.empty and camera_siting.mclp(far, 3).seen == 0
    with pytest.raises(ValueError, match="no choice"):
        camera_siting.lscp(far, 0.5)


def test_one_heading_a_site() -> None:
    """A site with 3 incidents to its east and 3 to its west, another with 2: two cameras
    see 5, not 6 (the first site takes one heading)."""
    demand = [moved(90, d) for d in (20, 30, 40)] + [moved(270, d) for d in (20, 30, 40)]
    other = moved(0, 500)
    demand += [moved(0, 20, other), moved(0, 30, other)]
    opts = camera_siting.options(
        sites([ORIGIN, other], index=["a", "b"]), points(demand), headings=4, fov=90
    )
    for solve in (camera_siting.mclp, camera_siting.greedy_mclp):
        choice = solve(opts, 2)
        assert choice.seen == 5 and sorted(opts.frame["site"].iloc[choice.chosen]) == ["a", "b"]


@pytest.mark.parametrize("seed", range(6))
def test_exact_equals_brute_force(seed: int) -> None:
    """Six sites, two headings each (a dozen options), random incidents: the exact answers are
    the brute-force optima, and greedy is never better."""
    rng = np.random.default_rng(seed)
    here = sites(scattered(rng, 6, 120))
    demand = points(scattered(rng, 40, 200))
    weights = rng.integers(1, 4, len(demand))
    opts = camera_siting.options(here, demand, headings=2, fov=150, range_m=90, weights=weights)
    assert 6 <= len(opts.frame) <= 12
    for n in (1, 2, 3):
        exact = camera_siting.mclp(opts, n)
        greedy = camera_siting.greedy_mclp(opts, n)
        assert exact.optimal and exact.seen == brute_mclp(opts, n)
        assert len(exact.chosen) <= n and opts.frame["site"].iloc[exact.chosen].is_unique
        assert greedy.seen <= exact.seen
        assert camera_siting.gap(exact, greedy) == pytest.approx(
            (exact.seen - greedy.seen) / exact.seen
        )
    for share in (0.3, 0.5):
        fewest = brute_lscp(opts, share)
        if fewest is None:
            with pytest.raises(ValueError):
                camera_siting.lscp(opts, share)
            continue
        exact = camera_siting.lscp(opts, share)
        assert exact.optimal and len(exact.chosen) == fewest
        assert exact.seen >= share * opts.total - 1e-9
        greedy = camera_siting.greedy_lscp(opts, share)
        assert len(greedy.chosen) >= fewest
        assert camera_siting.gap(exact, greedy) == (len(greedy.chosen) - fewest) / fewest


RECOUNT = """
-- Every recent incident near a chosen camera, with the online cameras near it: geodesic
-- distances and bearings (the arithmetic of sql/dispatch/covering_cameras.sql).
WITH o AS (
    SELECT k, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g
    FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS t(lon, lat, k)
), near AS (
    SELECT DISTINCT i.id, i.geom FROM o
    JOIN citybrain.incidents i ON ST_DWithin(o.g::geography, i.geom::geography, :reach)
    JOIN citybrain.micro_grid_chain ch ON ch.micro_grid_id = i.micro_grid_id
    WHERE i.reported_at >= CAST(:since AS timestamptz)
)
SELECT n.id, 'new' AS who, o.k - 1 AS k, NULL::float8 AS heading, NULL::float8 AS fov,
       NULL::float8 AS range_m, ST_Distance(o.g::geography, n.geom::geography) AS distance,
       degrees(ST_Azimuth(o.g::geography, n.geom::geography)) AS bearing
FROM near n CROSS JOIN o
UNION ALL
SELECT n.id, 'old', c.id, c.heading, c.fov, c.range_m,
       ST_Distance(c.geom::geography, n.geom::geography),
       degrees(ST_Azimuth(c.geom::geography, n.geom::geography))
FROM near n JOIN citybrain.cameras c
  ON c.online AND ST_DWithin(c.geom::geography, n.geom::geography, c.range_m + 2)
"""


def test_siting_on_the_test_county(seeded: str) -> None:
    from citybrain.db.connection import get_engine

    engine = get_engine(seeded)
    since = "2026-08-01"
    cams = load.table("cameras", con=engine)
    incidents = load.incidents(since, con=engine).set_index("id")
    demand = camera_siting.unseen(incidents, cams)
    candidates = load.camera_candidates(con=engine)
    counts = load.query(
        "SELECT (SELECT count(*) FROM citybrain.road_vertices) AS v, "
        "(SELECT count(*) FROM citybrain.compounds WHERE kind = 'compound') AS c",
        engine,
    ).iloc[0]
    assert candidates["source"].value_counts().to_dict() == {
        "road_vertex": counts["v"],
        "gate": counts["c"],
    }
    compounds = load.table("compounds", ["id", "code", "geom"], con=engine).set_index("code")
    gates = candidates[candidates["source"] == "gate"].set_index("ref")
    boundary = shapely.boundary(compounds.loc[gates.index].geometry.values)
    assert (shapely.distance(boundary, gates.geometry.values) < 1e-9).all()

    opts = camera_siting.options(candidates, demand, headings=8, fov=90, range_m=100)
    exact = camera_siting.mclp(opts, 10, time_limit=120)
    greedy = camera_siting.greedy_mclp(opts, 10)
    assert exact.optimal and len(exact.chosen) == 10 and greedy.seen <= exact.seen
    assert 0 <= camera_siting.gap(exact, greedy) < 0.5
    chosen = camera_siting.chosen(opts, exact)
    assert chosen["site"].is_unique and chosen["gain"].sum() == exact.seen

    # Recount in PostGIS: the recent incidents inside a chosen sector and in no online camera's.
    rows = load.query(
        RECOUNT,
        engine,
        lon=chosen["lon"].tolist(),
        lat=chosen["lat"].tolist(),
        reach=102.0,
        since=since,
    )
    new = rows["who"].eq("new").to_numpy()
    k = np.where(new, rows["k"], 0).astype(int)  # old rows' k is a camera id
    heading = np.where(new, chosen["heading"].to_numpy()[k], rows["heading"])
    fov = np.where(new, 90.0, rows["fov"])
    range_m = np.where(new, 100.0, rows["range_m"])
    inside, margin = in_view(
        rows["distance"], rows["bearing"].fillna(0) % 360, heading, fov, range_m
    )
    rows = rows.assign(inside=inside, unsure=margin <= EDGE_M)
    by = rows.groupby(["id", "who"])["inside"].any().unstack(fill_value=False)
    by = by.reindex(columns=["new", "old"], fill_value=False)
    unsure = set(rows.loc[rows["unsure"], "id"])
    recount = set(by.index[by["new"] & ~by["old"]])
    seen_rows = np.flatnonzero(np.asarray(opts.seen[:, exact.chosen].sum(axis=1)).ravel())
    model = set(demand.index[seen_rows])
    assert len(model) == exact.seen and len(recount) > 0
    assert model ^ recount <= unsure, sorted(model ^ recount)
