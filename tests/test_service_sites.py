"""Service sites (文化礼堂, 党群服务中心): travel times against networkx on a hand-built road graph
and against pgRouting on the test county; 2SFCA and E2SFCA against the ratio arithmetic written
out by hand; MCLP and p-median against brute force over every choice of a dozen candidates,
greedy never better than exact and its gap as defined; one kind of site taken end to end (its
sites and capacities, 2SFCA, the villages below the threshold, new sites) against networkx,
the same arithmetic and brute force; notebook 04 runs without a warning."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import nbformat
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from pyproj import Geod

from citybrain.analysis import access, catchment, load, location, travel
from citybrain.db.connection import get_engine
from citybrain.services.routing import ACCESS_KMH

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

GEOD = Geod(ellps="WGS84")
ORIGIN = (120.90, 30.85)
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_service_accessibility.ipynb"


def moved(bearing: float, metres: float, origin=ORIGIN) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, metres)
    return lon, lat


def geodesic_m(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


# --- travel times ---------------------------------------------------------------------------


def small_network():
    """A 4 x 3 grid of vertices 500 m apart, with a one-way arterial along the bottom row."""
    rng = np.random.default_rng(5)
    pos = {}
    for i in range(4):
        for j in range(3):
            pos[10 * i + j + 1] = moved(0, 500 * j, moved(90, 500 * i))
    edges = []
    for a in pos:
        for b in (a + 1, a + 10):
            if b in pos:
                length = geodesic_m(pos[a], pos[b]) * rng.uniform(1.0, 1.4)  # a bend or two
                bottom = a % 10 == 1 and b == a + 10
                seconds = length / ((60 if bottom else 30) / 3.6)
                edges.append((a, b, length, seconds, -1.0 if bottom else seconds))
    vertices = pd.DataFrame(
        {"id": list(pos), "lon": [p[0] for p in pos.values()], "lat": [p[1] for p in pos.values()]}
    )
    roads = pd.DataFrame(edges, columns=["source", "target", "length_m", "cost", "reverse_cost"])
    return pos, vertices, roads


@pytest.mark.parametrize("kmh", [None, 4.5], ids=["drive", "walk"])
def test_travel_minutes_match_networkx(kmh: float | None) -> None:
    pos, vertices, roads = small_network()
    graph = nx.DiGraph()
    for s, t, length, cost, reverse in roads.itertuples(index=False):
        forward = cost if kmh is None else length / (kmh / 3.6)
        graph.add_edge(s, t, w=forward)
        if kmh is not None or reverse >= 0:
            graph.add_edge(t, s, w=forward if kmh else reverse)
    # Residents and sites a few tens of metres off a vertex: the leg is the geodesic to it.
    residents = {v: moved(45, 30 + v, pos[v]) for v in (1, 12, 23, 31, 33)}
    sites = {v: moved(200, 20 + v, pos[v]) for v in (3, 21, 32)}
    leg_kmh = ACCESS_KMH if kmh is None else kmh
    router = travel.road_router(vertices, roads, kmh)
    got = travel.travel_minutes(
        router,
        pd.DataFrame(list(residents.values()), columns=["lon", "lat"]),
        pd.DataFrame(list(sites.values()), columns=["lon", "lat"]),
        access_kmh=leg_kmh,
    )
    for i, (rv, rp) in enumerate(residents.items()):
        for j, (sv, sp) in enumerate(sites.items()):
            network = nx.shortest_path_length(graph, rv, sv, weight="w")
            legs = geodesic_m(rp, pos[rv]) + geodesic_m(sp, pos[sv])
            expected = (network + legs / (leg_kmh / 3.6)) / 60
            # Legs are planar metres in the router (scale error < 0.3 %); the network exact.
            assert got[i, j] == pytest.approx(expected, abs=0.003 * legs / (leg_kmh / 3.6) / 60)
    if kmh is None:
        # The one-way arterial: from 1 eastwards is quicker than back from 31 westwards.
        east = nx.shortest_path_length(graph, 1, 31, weight="w")
        assert nx.shortest_path_length(graph, 31, 1, weight="w") > east
        assert got[0, 1] < got[3, 0]  # 1 to the site at 21 (east) vs 31 to the one at 3


def test_travel_minutes_bad_input_and_unreached() -> None:
    pos, vertices, roads = small_network()
    with pytest.raises(ValueError, match="positive"):
        travel.road_router(vertices, roads, kmh=0)
    router = travel.road_router(vertices, roads)
    here = pd.DataFrame([pos[1]], columns=["lon", "lat"])
    with pytest.raises(ValueError, match="positive"):
        travel.travel_minutes(router, here, here, access_kmh=-1)
    assert travel.travel_minutes(router, here, here.iloc[:0]).shape == (1, 0)
    assert np.isinf(travel.nearest_minutes(np.empty((1, 0)))).all()
    # A vertex no road reaches: inf, not a number.
    lone = moved(0, 5000)
    vertices = pd.concat([vertices, pd.DataFrame({"id": [99], "lon": [lone[0]], "lat": [lone[1]]})])
    router = travel.road_router(vertices, roads)
    t = travel.travel_minutes(router, here, pd.DataFrame([lone], columns=["lon", "lat"]))
    assert np.isinf(t).all()


def test_travel_minutes_match_pgrouting_on_the_county(seeded: str, conn) -> None:
    engine = get_engine(seeded)
    vertices, roads = load.road_network(engine)
    people = load.people(engine).sort_index().iloc[::997].head(8)
    halls = load.table("facilities", where="kind = :k", con=engine, k="cultural_hall").head(4)
    halls["lon"], halls["lat"] = halls.geometry.x, halls.geometry.y

    def nearest(lon, lat):
        return conn.execute(
            "SELECT id, ST_Distance(geom::geography, ST_MakePoint(%s, %s)::geography) "
            "FROM citybrain.road_vertices ORDER BY geom::geography <-> "
            "ST_MakePoint(%s, %s)::geography LIMIT 1",
            [lon, lat, lon, lat],
        ).fetchone()

    origins = [nearest(x, y) for x, y in zip(people["lon"], people["lat"], strict=True)]
    targets = [nearest(x, y) for x, y in zip(halls["lon"], halls["lat"], strict=True)]
    for kmh, sql, directed in (
        (None, "SELECT id, source, target, cost, reverse_cost FROM citybrain.roads", True),
        (4.5, "SELECT id, source, target, length_m AS cost FROM citybrain.roads", False),
    ):
        rows = conn.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost(%s, %s::bigint[], "
            "%s::bigint[], directed => %s)",
            [sql, [o[0] for o in origins], [t[0] for t in targets], directed],
        ).fetchall()
        network = {(s, e): c for s, e, c in rows}
        leg_kmh = kmh or ACCESS_KMH
        got = travel.travel_minutes(
            travel.road_router(vertices, roads, kmh), people, halls, access_kmh=leg_kmh
        )
        for i, (ov, oleg) in enumerate(origins):
            for j, (tv, tleg) in enumerate(targets):
                seconds = network.get((ov, tv), 0.0) if ov != tv else 0.0
                if kmh is not None:
                    seconds /= kmh / 3.6
                expected = (seconds + (oleg + tleg) / (leg_kmh / 3.6)) / 60
                assert got[i, j] == pytest.approx(expected, rel=3e-3, abs=0.01)


# --- 2SFCA and E2SFCA -----------------------------------------------------------------------

# 6 micro-grids x 4 sites, minutes; the catchment is 30 minutes (zones 0-10, 10-20, 20-30).
MINUTES = np.array(
    [
        [5.0, 25.0, 40.0, 50.0],
        [12.0, 8.0, 35.0, 45.0],
        [28.0, 15.0, 22.0, 60.0],
        [45.0, 33.0, 9.0, 31.0],
        [50.0, 40.0, 18.0, 26.0],
        [70.0, 80.0, 90.0, 35.0],  # no site within 30 minutes
    ]
)
POPULATION = np.array([1000.0, 500.0, 800.0, 1200.0, 300.0, 400.0])
CAPACITY = np.array([300.0, 100.0, 200.0, 50.0])


def hand_fca(weight) -> np.ndarray:
    """R_j = S_j / sum_i P_i W(d_ij); A_i = sum_j R_j W(d_ij) over pairs within the catchment."""
    w = np.vectorize(weight)(MINUTES) * (MINUTES <= 30)
    ratio = CAPACITY / (POPULATION @ w)
    return w @ ratio


def test_two_step_floating_catchment_by_hand() -> None:
    people = pd.DataFrame({"population": POPULATION}, index=[f"m{i}" for i in range(6)])
    sites = pd.DataFrame({"capacity": CAPACITY}, index=[101, 102, 103, 104])
    scores = catchment.catchment_scores(people, sites, MINUTES, 30)
    two = hand_fca(lambda d: 1.0)
    enhanced = hand_fca(lambda d: 1.0 if d <= 10 else 0.68 if d <= 20 else 0.22)
    assert scores["2sfca"].to_numpy() == pytest.approx(two, rel=1e-12)
    assert scores["e2sfca"].to_numpy() == pytest.approx(enhanced, rel=1e-12)
    # One written out: m0 reaches site 101 (300 places shared by m0, m1, m2: 2,300 people)
    # and site 102 (100 places shared by m0..m2: 2,300 people).
    assert scores.loc["m0", "2sfca"] == pytest.approx(300 / 2300 + 100 / 2300)
    assert scores.loc["m5", "2sfca"] == 0.0 and scores.loc["m5", "e2sfca"] == 0.0
    # Every place is shared out: the population-weighted sum is the capacity reached.
    assert POPULATION @ scores["2sfca"].to_numpy() == pytest.approx(CAPACITY.sum())
    people["village"] = ["a", "a", "b", "b", "b", "c"]
    villages = catchment.by_area(people, scores)
    expected_b = (POPULATION[2:5] @ two[2:5]) / POPULATION[2:5].sum()
    assert villages.loc["b", "2sfca"] == pytest.approx(expected_b)
    assert villages.loc["b", "residents"] == 2300
    with pytest.raises(ValueError, match="positive"):
        catchment.catchment_scores(people, sites, MINUTES, 0)
    none = catchment.catchment_scores(people, sites, MINUTES + 100, 30)
    assert (none == 0).all().all()


def test_capacity_defaults_by_kind() -> None:
    sites = pd.DataFrame(
        {
            "kind": ["cultural_hall", "party_service_centre", "party_service_centre"],
            "level": [None, "town", "village"],
            "capacity": [pd.NA, 250, pd.NA],
        }
    )
    out = catchment.with_capacity(sites)
    assert out["capacity"].tolist() == [300.0, 250.0, 100.0]
    assert out["capacity_source"].tolist() == ["default", "recorded", "default"]
    with pytest.raises(ValueError, match="police_post"):
        catchment.with_capacity(
            pd.DataFrame({"kind": ["police_post"], "level": [None], "capacity": [pd.NA]})
        )


def test_demand_cells_keep_residents_and_their_centre() -> None:
    people = pd.DataFrame(
        {
            "population": [100.0, 300.0, 50.0],
            "lon": [ORIGIN[0], ORIGIN[0] + 0.0004, ORIGIN[0] + 0.2],
            "lat": [ORIGIN[1], ORIGIN[1], ORIGIN[1]],
        }
    )
    cells = location.demand_cells(people, 8)
    assert cells["population"].sum() == 450 and len(cells) == 2
    first = cells.loc[cells["population"] == 400].iloc[0]
    assert first["lon"] == pytest.approx(ORIGIN[0] + 0.0003)


# --- MCLP and p-median ----------------------------------------------------------------------


def random_demand(seed: int, existing: int = 2, candidates: int = 10, residents: int = 40):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 60, (residents, 2))
    sites = rng.uniform(0, 60, (existing + candidates, 2))
    minutes = np.hypot(*(xy[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    weights = rng.integers(10, 200, residents).astype(float)
    today = minutes[:, :existing].min(axis=1) if existing else np.full(residents, np.inf)
    return location.Demand(weights, today, minutes[:, existing:], 12.0), minutes[:, :existing]


def brute_force(demand: location.Demand, existing: np.ndarray, n: int):
    """Every choice of n candidates, today's sites as their own columns (not collapsed)."""
    best_reached, best_minutes = -1.0, np.inf
    for chosen in combinations(range(demand.minutes.shape[1]), n):
        t = np.column_stack([existing, demand.minutes[:, list(chosen)]]).min(axis=1)
        best_reached = max(best_reached, demand.weights[t <= demand.max_minutes].sum())
        best_minutes = min(best_minutes, demand.weights @ t)
    return best_reached, best_minutes


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 3])
def test_exact_siting_matches_brute_force(seed: int, n: int) -> None:
    demand, existing = random_demand(seed)
    best_reached, best_minutes = brute_force(demand, existing, n)
    exact, greedy = location.mclp(demand, n), location.greedy_mclp(demand, n)
    assert exact.optimal and exact.reached == pytest.approx(best_reached)
    assert len(exact.chosen) <= n and greedy.reached <= exact.reached + 1e-9
    gained = exact.reached - demand.weights[demand.today <= 12.0].sum()
    assert location.gap(demand, exact, greedy) == pytest.approx(
        (exact.reached - greedy.reached) / gained
    )
    exact, greedy = location.pmedian(demand, n), location.greedy_pmedian(demand, n)
    assert exact.optimal and exact.resident_minutes == pytest.approx(best_minutes)
    assert len(exact.chosen) <= n and greedy.resident_minutes >= exact.resident_minutes - 1e-6
    assert location.gap(demand, exact, greedy) == pytest.approx(
        (greedy.resident_minutes - best_minutes) / best_minutes
    )


def test_p_median_without_sites_today_matches_brute_force() -> None:
    demand, existing = random_demand(9, existing=0)
    _, best_minutes = brute_force(demand, existing, 3)
    exact = location.pmedian(demand, 3)
    assert len(exact.chosen) == 3 and exact.resident_minutes == pytest.approx(best_minutes)


def test_greedy_falls_short_where_known() -> None:
    # MCLP: residents a, b, c, d weigh 1.5, 2, 2, 1.5; candidate 0 reaches {a, b}, 1 {c, d},
    # 2 {b, c}. Greedy takes 2 (4) then 0 (+1.5): 5.5; the optimum is 0 and 1: 7.
    within = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 1], [0, 1, 0]], dtype=bool)
    demand = location.Demand(
        np.array([1.5, 2.0, 2.0, 1.5]), np.full(4, np.inf), np.where(within, 5.0, 50.0), 10.0
    )
    exact, greedy = location.mclp(demand, 2), location.greedy_mclp(demand, 2)
    assert sorted(exact.chosen) == [0, 1] and exact.reached == 7.0
    assert greedy.chosen == [2, 0] and greedy.reached == 5.5
    assert location.gap(demand, exact, greedy) == pytest.approx(1.5 / 7)
    table = location.summary(demand, exact, greedy)
    assert table.loc["today", "reached"] == 0 and table.loc["MCLP (exact)", "gain"] == 7.0
    assert table.loc["MCLP (greedy)", "gap"] == pytest.approx(1.5 / 7)
    # p-median on a line: residents at 0, 1, 9, 10 km; candidates at 0.5, 5, 9.5. Greedy takes
    # 5 (18) then one end (10); the optimum is both ends (2).
    at = np.array([0.0, 1.0, 9.0, 10.0])
    demand = location.Demand(
        np.ones(4), np.full(4, np.inf), np.abs(at[:, None] - [0.5, 5.0, 9.5]), 1.0
    )
    exact, greedy = location.pmedian(demand, 2), location.greedy_pmedian(demand, 2)
    assert sorted(exact.chosen) == [0, 2] and exact.resident_minutes == 2.0
    assert greedy.chosen[0] == 1 and greedy.resident_minutes == 10.0
    assert location.gap(demand, exact, greedy) == pytest.approx(4.0)


def test_nothing_to_gain_and_bad_input() -> None:
    # Everyone already within the limit: MCLP adds nothing; no candidate nearer: p-median too.
    demand = location.Demand(np.ones(3), np.zeros(3), np.full((3, 2), 5.0), 10.0)
    assert location.mclp(demand, 2).chosen == [] and location.pmedian(demand, 2).chosen == []
    assert location.greedy_mclp(demand, 2).chosen == []
    with pytest.raises(ValueError, match="same residents"):
        location.Demand(np.ones(2), np.zeros(3), np.zeros((3, 2)), 10.0)
    with pytest.raises(ValueError, match="positive"):
        location.Demand(np.ones(3), np.zeros(3), np.zeros((3, 2)), 0.0)


# --- one kind of site, end to end (what notebook 04 runs for halls and for centres) ---------


def on_vertices(pos: dict, ids, **columns) -> pd.DataFrame:
    """Rows standing exactly on road vertices (no straight leg), with ``columns``."""
    return pd.DataFrame(
        {"lon": [pos[v][0] for v in ids], "lat": [pos[v][1] for v in ids], **columns},
        index=pd.Index(list(ids), name="vertex"),
    )


def walking_minutes(roads: pd.DataFrame, origins, targets) -> np.ndarray:
    """networkx's shortest walks (both ways on every road), in minutes."""
    graph = nx.Graph()
    for s, t, length, *_ in roads.itertuples(index=False):
        graph.add_edge(s, t, w=length / (travel.WALK_KMH / 3.6) / 60)
    return np.array(
        [[nx.shortest_path_length(graph, o, t, weight="w") for t in targets] for o in origins]
    )


def fca(minutes, population, capacity, max_minutes, weight) -> np.ndarray:
    """R_j = S_j / sum_i P_i W(d_ij), A_i = sum_j R_j W(d_ij), written out for any matrix."""
    w = np.vectorize(weight)(minutes) * (minutes <= max_minutes)
    reached = population @ w
    ratio = np.divide(capacity, reached, out=np.zeros(len(capacity)), where=reached > 0)
    return w @ ratio


def county_facilities(pos: dict) -> pd.DataFrame:
    # A hall with seats recorded and one without; a town centre without a capacity and a
    # station with one; a police post beside everyone that neither kind may count.
    return on_vertices(
        pos,
        [1, 33, 12, 31, 22],
        kind=[
            "cultural_hall",
            "cultural_hall",
            "party_service_centre",
            "party_service_centre",
            "police_post",
        ],
        level=[None, None, "town", "station", None],
        capacity=[200, pd.NA, pd.NA, 20, 50],
        seats=[120, 80, 40, 10, 5],
    ).reset_index(drop=True)


@pytest.mark.parametrize(
    ("kind", "vertices_", "capacity"),
    [
        ("cultural_hall", [1, 33], [200.0, 300.0]),
        ("party_service_centre", [12, 31], [300.0, 20.0]),
    ],
)
def test_one_kind_from_sites_to_new_sites(kind, vertices_, capacity) -> None:
    pos, vertices, roads = small_network()
    rng = np.random.default_rng(11)
    homes = sorted(pos)
    population = rng.integers(100, 1000, len(homes)).astype(float)
    people = on_vertices(
        pos, homes, population=population, village=["a" if v < 20 else "b" for v in homes]
    )
    facilities = county_facilities(pos)
    router = travel.road_router(vertices, roads, kmh=travel.WALK_KMH)
    service = access.service_sites(kind, facilities, people, router, access_kmh=travel.WALK_KMH)
    assert set(service.sites["kind"]) == {kind}
    assert service.sites["capacity"].tolist() == capacity
    today = walking_minutes(roads, homes, vertices_)
    assert service.minutes == pytest.approx(today, rel=1e-9)

    # 2SFCA and E2SFCA within 15 minutes (zones 0-5, 5-10, 10-15), per 1,000 residents.
    got = access.accessibility(service, 15, per=1000, below=0.5)
    cap = np.array(capacity)
    two = 1000 * fca(today, population, cap, 15, lambda d: 1.0)
    enhanced = 1000 * fca(
        today, population, cap, 15, lambda d: 1.0 if d <= 5 else 0.68 if d <= 10 else 0.22
    )
    assert two.max() > 0 and (two == 0).any()  # some reach a site, some do not
    assert got.scores["2sfca"].to_numpy() == pytest.approx(two, rel=1e-12)
    assert got.scores["e2sfca"].to_numpy() == pytest.approx(enhanced, rel=1e-12)
    mean = population @ enhanced / population.sum()
    assert got.county["e2sfca"] == pytest.approx(mean) and got.threshold == pytest.approx(mean / 2)
    in_a = people["village"].to_numpy() == "a"
    village = {
        "a": population[in_a] @ enhanced[in_a] / population[in_a].sum(),
        "b": population[~in_a] @ enhanced[~in_a] / population[~in_a].sum(),
    }
    assert got.areas["e2sfca"].to_dict() == pytest.approx(village)
    assert got.short.index.tolist() == sorted(
        (v for v in village if village[v] < mean / 2), key=village.get
    )

    # New sites: 2 of 7 candidates, a resident reached within 8 minutes' walk (some roads
    # take longer: not everyone can be reached).
    chosen_from = [2, 3, 11, 13, 21, 23, 32]
    candidates = on_vertices(pos, chosen_from)
    plan = access.new_sites(service, candidates, 2, 8, resolution=None)
    to_candidates = walking_minutes(roads, homes, chosen_from)
    best_reached, best_minutes = -1.0, np.inf
    for pair in combinations(range(len(chosen_from)), 2):
        t = np.column_stack([today, to_candidates[:, list(pair)]]).min(axis=1)
        best_reached = max(best_reached, population[t <= 8].sum())
        best_minutes = min(best_minutes, population @ t)
    reached_today = population[today.min(axis=1) <= 8].sum()
    assert reached_today < best_reached < population.sum()
    assert plan.covering.optimal and plan.covering.reached == pytest.approx(best_reached)
    assert plan.median.optimal
    assert plan.median.resident_minutes == pytest.approx(best_minutes, rel=1e-9)
    assert plan.covering_greedy.reached <= plan.covering.reached
    assert plan.median_greedy.resident_minutes >= plan.median.resident_minutes - 1e-6
    table = plan.proposed("mclp")
    assert table.index.tolist() == [chosen_from[j] for j in plan.covering.chosen]
    assert table["adds reached"].sum() == pytest.approx(best_reached - reached_today)
    first = np.minimum(today.min(axis=1), to_candidates[:, plan.covering.chosen[0]])
    assert table["adds reached"].iloc[0] == pytest.approx(
        population[first <= 8].sum() - reached_today
    )
    saves = plan.proposed("pmedian")["saves resident-minutes"]
    assert saves.sum() == pytest.approx(population @ today.min(axis=1) - best_minutes, rel=1e-9)
    # Gathered into H3 cells, the residents are all still counted.
    cells = access.new_sites(service, candidates, 2, 10, resolution=8)
    assert cells.travel.total == pytest.approx(population.sum())
    assert len(cells.travel.weights) == len(location.demand_cells(people, 8))


def test_one_kind_read_from_another_column_or_absent() -> None:
    pos, vertices, roads = small_network()
    people = on_vertices(pos, [1, 33], population=[100.0, 200.0], village=["a", "b"])
    facilities = county_facilities(pos)
    router = travel.road_router(vertices, roads, kmh=travel.WALK_KMH)
    seats = access.service_sites("cultural_hall", facilities, people, router, capacity="seats")
    assert seats.sites["capacity"].tolist() == [120.0, 80.0]
    assert seats.sites["capacity_source"].tolist() == ["recorded", "recorded"]
    # No mediation room in the data: nobody reaches one, nothing is shared out.
    none = access.service_sites("mediation_room", facilities, people, router)
    assert none.minutes.shape == (2, 0)
    scores = access.accessibility(none, 30)
    assert (scores.scores == 0).all().all() and scores.threshold == 0 and scores.short.empty
    with pytest.raises(ValueError, match="unknown facility kind 'temple'"):
        access.service_sites("temple", facilities, people, router)
    with pytest.raises(ValueError, match="no column 'places'"):
        access.service_sites("cultural_hall", facilities, people, router, capacity="places")
    with pytest.raises(ValueError, match="negative"):
        access.accessibility(seats, 30, below=-1)
    plan = access.new_sites(seats, on_vertices(pos, [2]), 1, 10, resolution=None)
    with pytest.raises(ValueError, match="mclp or pmedian"):
        plan.proposed("lscp")


# --- notebook 04 ----------------------------------------------------------------------------


def test_notebook_04_prints_no_warning(seeded: str, monkeypatch) -> None:
    monkeypatch.setenv("CITYBRAIN_DATABASE_URL", seeded)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    streams = [
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert streams == [] and errors == []
