"""Grid re-division (analysis.regions) on hand-built lattices of square compounds whose best
answer is known by hand, checked against shapely and networkx; the incidents ceiling beside
the households one, checked grid by grid and against every way to cut a strip; the comparison
statistics against numpy; the exported layer read back; the loader against PostGIS; the spopt
private functions regions relies on; classed legends (analysis.maps) against mapclassify."""

from __future__ import annotations

import warnings

import geopandas as gpd
import mapclassify
import networkx as nx
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely

from citybrain.analysis import maps, regions
from citybrain.crs import LOCAL
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.errors import InvalidInput

SIDE = 100.0  # metres


def lattice(rows: int, cols: int, households, village=None, x0: float = 0.0) -> gpd.GeoDataFrame:
    """rows x cols squares of SIDE metres (WGS84), numbered row by row from 1."""
    boxes = [
        shapely.box(x0 + c * SIDE, r * SIDE, x0 + (c + 1) * SIDE, (r + 1) * SIDE)
        for r in range(rows)
        for c in range(cols)
    ]
    n = rows * cols
    frame = gpd.GeoDataFrame(
        {
            "code": [f"C{i:03d}" for i in range(1, n + 1)],
            "households": np.broadcast_to(np.asarray(households, float), n).copy(),
            "incidents": np.arange(n) % 4,
            "village_id": np.broadcast_to(np.asarray(1 if village is None else village), n),
        },
        geometry=LOCAL.to_wgs84(np.array(boxes)),
        index=pd.RangeIndex(1, n + 1, name="id"),
        crs=4326,
    )
    return frame


def rook_graph(frame: gpd.GeoDataFrame) -> nx.Graph:
    """Compounds that share an edge of positive length (shapely, in metres)."""
    metres = LOCAL.to_metres(frame.geometry.values)
    graph = nx.Graph()
    graph.add_nodes_from(frame.index)
    for i, a in zip(frame.index, metres, strict=True):
        for j, b in zip(frame.index, metres, strict=True):
            if i < j and shapely.intersection(a, b).length > 1e-6:
                graph.add_edge(i, j)
    return graph


def assert_valid(frame, division, ceiling, graph=None) -> pd.Series:
    labels = division.labels
    assert labels.index.equals(frame.index) and labels.notna().all()  # each exactly once
    assert sorted(labels.unique()) == list(range(division.regions))
    sums = frame["households"].groupby(labels).sum()
    assert (sums <= ceiling).all(), sums
    graph = graph or rook_graph(frame)
    for region, members in frame.groupby(labels).groups.items():
        assert nx.is_connected(graph.subgraph(members)), region
        union = shapely.union_all(LOCAL.to_metres(frame.loc[members].geometry.values))
        assert union.geom_type == "Polygon", (region, union.geom_type)
        assert frame.loc[members, "village_id"].nunique() == 1
    return sums


def test_max_p_finds_the_most_regions_a_lattice_allows() -> None:
    # 12 compounds of 100 households, at least 200 a region: at most 1200 / 200 = 6 regions,
    # and a 3 x 4 lattice tiles into 6 dominoes, so 6 is the optimum.
    frame = lattice(3, 4, 100)
    division = regions.redivide(frame, ceiling=300, floor=200, method="maxp")
    sums = assert_valid(frame, division, 300)
    assert division.regions == 6
    assert (sums == 200).all()
    assert division.split == 0 and division.bridges == [] and division.below == []


def test_greedy_baseline_is_valid_and_no_better() -> None:
    frame = lattice(3, 4, 100)
    division = regions.redivide(frame, ceiling=300, floor=200, method="greedy")
    sums = assert_valid(frame, division, 300)
    assert 1 <= division.regions <= 6
    assert (sums >= 200).all()


def test_the_ceiling_is_enforced_by_cutting_into_the_fewest_parts() -> None:
    # 5 x 100 households in a strip, floor 300: only one region can reach the floor, and it
    # holds 500 > 320. The fewest parts within 320 are ceil(500 / 320) = 2 (300 + 200); the
    # part of 200 cannot join its neighbour (200 + 300 > 320) and stays below the floor.
    frame = lattice(1, 5, 100)
    division = regions.redivide(frame, ceiling=320, floor=300)
    sums = assert_valid(frame, division, 320)
    assert division.regions == 2 and division.split == 1
    assert sorted(sums) == [200, 300]
    assert division.below == [int(sums.idxmin())]


def test_the_ceiling_binds_where_max_p_alone_exceeds_it() -> None:
    # 7 compounds of 100 in a strip, floor 200, ceiling 250: every region holds exactly two
    # compounds or one, so the best is 3 pairs and one single left below the floor.
    frame = lattice(1, 7, 100)
    division = regions.redivide(frame, ceiling=250, floor=200)
    sums = assert_valid(frame, division, 250)
    assert division.regions == 4
    assert sorted(sums) == [100, 200, 200, 200]
    assert len(division.below) == 1


def test_a_compound_over_the_ceiling_alone_is_reported() -> None:
    frame = lattice(1, 3, [100, 700, 100])
    division = regions.redivide(frame, ceiling=300, floor=100)
    assert division.over == [2]
    sums = frame["households"].groupby(division.labels).sum()
    assert sums.max() == 700 and (sums.drop(division.labels[2]) <= 300).all()


def test_regions_stay_within_their_village() -> None:
    # Two villages of 2 x 2 side by side (they share an edge): 800 households a village,
    # floor 400: two regions each, never one across the line.
    frame = pd.concat([lattice(2, 2, 200, village=1), lattice(2, 2, 200, village=2, x0=200)])
    frame.index = pd.RangeIndex(1, 9, name="id")
    division = regions.redivide(frame, ceiling=600, floor=400)
    assert_valid(frame, division, 600)
    assert division.regions == 4


def test_an_island_is_bridged_to_its_nearest_compound() -> None:
    # A 2 x 2 block and a fifth square 40 m east of its right column's lower square (id 2).
    frame = lattice(2, 2, 100)
    island = LOCAL.to_wgs84(shapely.box(2 * SIDE + 40, 0, 3 * SIDE + 40, SIDE))
    frame.loc[5] = ["C005", 100.0, 0, 1, island]
    division = regions.redivide(frame, ceiling=300, floor=200)
    assert division.bridges == [(5, 2)]
    graph = rook_graph(frame)
    graph.add_edge(5, 2)
    labels = division.labels
    assert labels.index.equals(frame.index)
    assert (frame["households"].groupby(labels).sum() <= 300).all()
    for members in frame.groupby(labels).groups.values():
        assert nx.is_connected(graph.subgraph(members))
    assert labels[5] == labels[2]


def test_same_seed_same_answer_and_bad_input() -> None:
    frame = lattice(4, 4, np.arange(16) * 10 + 50)
    a = regions.redivide(frame, ceiling=500, floor=250, seed=3)
    b = regions.redivide(frame, ceiling=500, floor=250, seed=3)
    assert a.labels.equals(b.labels)
    assert_valid(frame, a, 500)
    with pytest.raises(InvalidInput, match="method"):
        regions.redivide(frame, ceiling=500, method="skater2")
    with pytest.raises(InvalidInput, match="floor <= ceiling"):
        regions.redivide(frame, ceiling=500, floor=600)
    with pytest.raises(InvalidInput, match="households"):
        regions.redivide(frame.assign(households=-1.0), ceiling=500)


def test_statistics_match_numpy() -> None:
    rng = np.random.default_rng(5)
    frame = lattice(4, 5, rng.integers(20, 300, 20))
    frame["incidents"] = rng.integers(0, 30, 20)
    labels = pd.Series(rng.integers(0, 6, 20), index=frame.index)
    workers = pd.Series([1, 2, 2, 1, 3, 0], index=range(6))
    members = pd.Series([4, 5, 6, 3, 7, 2], index=range(6))
    table = regions.grids(frame, labels, workers, members)
    stats = regions.spread(table, per_worker=300)
    hh = np.array([frame["households"].to_numpy()[labels.to_numpy() == g].sum() for g in range(6)])
    inc = np.array([frame["incidents"].to_numpy()[labels.to_numpy() == g].sum() for g in range(6)])
    per_worker = hh[:5] / workers.to_numpy()[:5]  # grid 5 has no worker: no ratio, over
    per_member = inc / members.to_numpy()
    assert np.allclose(table["households"], hh) and np.allclose(table["incidents"], inc)
    assert stats["grids"] == 6 and stats["workers"] == 9
    assert stats["hh/worker min"] == pytest.approx(per_worker.min())
    assert stats["hh/worker median"] == pytest.approx(np.median(per_worker))
    assert stats["hh/worker max"] == pytest.approx(per_worker.max())
    assert stats["hh/worker cv"] == pytest.approx(per_worker.std() / per_worker.mean())
    assert stats["inc/member cv"] == pytest.approx(per_member.std() / per_member.mean())
    assert stats["over bound"] == (per_worker > 300).sum() + 1


def test_export_reads_back_with_the_same_geometries(tmp_path) -> None:
    frame = lattice(3, 4, 100)
    division = regions.redivide(frame, ceiling=300, floor=200)
    table = regions.grids(frame, division.labels, 1, 4)
    layer = regions.dissolve(frame, division.labels, table)
    path = regions.export(layer, tmp_path / "grids.gpkg")
    assert pyogrio.list_layers(path)[:, 0].tolist() == [regions.LAYER]
    back = gpd.read_file(path, layer=regions.LAYER)
    assert back.crs.to_epsg() == 4326 and len(back) == division.regions
    back_m = LOCAL.to_metres(back.geometry.values)
    assert shapely.area(back_m).sum() == pytest.approx(12 * SIDE**2, rel=1e-9)
    for row, geom in zip(back.itertuples(), back_m, strict=True):
        members = division.labels.index[division.labels == row.grid]
        assert row.households == frame.loc[members, "households"].sum()
        assert sorted(row.codes.split(",")) == sorted(frame.loc[members, "code"])
        parts = LOCAL.to_metres(frame.loc[members].geometry.values)
        assert geom.area == pytest.approx(shapely.area(parts).sum(), rel=1e-9)
        assert shapely.symmetric_difference(geom, shapely.union_all(parts)).area < 1e-6
    with pytest.raises(InvalidInput, match="GeoPackage"):
        regions.export(layer, tmp_path / "grids.shp")


def test_compounds_from_postgis(seeded: str) -> None:
    since = "2026-08-01T00:00:00+00:00"
    frame = regions.compounds(since, con=get_engine(seeded))
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        households = dict(
            conn.execute(
                "SELECT compound_id, sum(households) FROM citybrain.micro_grids GROUP BY 1"
            ).fetchall()
        )
        inside = dict(
            conn.execute(
                "SELECT c.id, count(i.id) FROM citybrain.compounds c JOIN citybrain.incidents i "
                "ON ST_Covers(c.geom, i.geom) AND i.reported_at >= %s GROUP BY 1",
                [since],
            ).fetchall()
        )
        n = conn.execute("SELECT count(*) FROM citybrain.compounds").fetchone()[0]
    assert len(frame) == n
    assert frame["households"].to_dict() == {k: households.get(k, 0) for k in frame.index}
    assert frame["incidents"].sum() == sum(inside.values()) > 0
    assert frame["incidents"].to_dict() == {k: inside.get(k, 0) for k in frame.index}


@pytest.mark.parametrize("scheme", ["quantiles", "fisher_jenks", "natural_breaks"])
def test_legend_holds_the_class_bounds(scheme: str) -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.lognormal(4, 1, 40), 2)
    values[3] = np.nan
    frame = lattice(5, 8, 1).assign(v=values)
    m = maps.offline_map()
    maps.add_choropleth(
        m, frame, "v", "网格 grids", scheme=scheme, k=4, legend="每名网格员户数", fmt="{:.2f}"
    )
    page = m.get_root().render()
    ok = values[np.isfinite(values)]
    kind = {
        "quantiles": mapclassify.Quantiles,
        "fisher_jenks": mapclassify.FisherJenks,
        "natural_breaks": mapclassify.NaturalBreaks,
    }[scheme]
    state = np.random.get_state()
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's absence
        expected = kind(ok, k=4)
    np.random.set_state(state)
    lows = [ok.min(), *expected.bins[:-1]]
    for lo, hi, n in zip(lows, expected.bins, expected.counts, strict=True):
        assert f"{lo:.2f} – {hi:.2f} ({n})" in page
    assert "<b>每名网格员户数</b>" in page and "无数据 no data (1)" in page
    assert page.count('class="citybrain-legend"') == 1


def test_choropleth_old_call_still_works() -> None:
    frame = lattice(2, 3, 1).assign(v=[1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    m = maps.offline_map()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps.add_choropleth(m, frame, "v", "事件 incidents", ["code"])
    page = m.get_root().render()
    # Two distinct values: the quantiles merge into one class, whatever the colours ask.
    assert "<b>事件 incidents</b>" in page and "1 – 2 (6)" in page


def test_bounds_of_your_own_keep_their_colours() -> None:
    frame = lattice(1, 4, 1)
    pages = []
    for values in ([120.0, 180.0, 250.0, 280.0], [120.0, 180.0, 250.0, 459.0]):
        m = maps.offline_map()
        maps.add_choropleth(
            m,
            frame.assign(v=values),
            "v",
            "网格",
            bins=[100, 200, 300],
            fmt="{:.0f}",
            legend="户数",
        )
        pages.append(m.get_root().render())
    colours = maps.ramp(maps.RAMP, 4)  # three bounds and what lies above them
    assert "≤ 100 (0)" in pages[0] and "100 – 200 (2)" in pages[0] and "200 – 300 (2)" in pages[0]
    assert "300 – 459 (1)" in pages[1] and "200 – 300 (1)" in pages[1]
    for page in pages:
        for colour in colours[:3]:
            assert f'<i style="background:{colour}"></i>' in page
    assert f'<i style="background:{colours[3]}"></i>' in pages[1]
    assert f'<i style="background:{colours[3]}"></i>' not in pages[0]


# Incidents bounded beside households (issue 19: "balanced workload (households, incidents per
# team member)").


def brute_force_loads(frame: gpd.GeoDataFrame, labels: pd.Series) -> dict[int, tuple]:
    """(households, incidents, compounds) of each region, summed compound by compound."""
    out: dict[int, list] = {}
    for i in frame.index:
        row = out.setdefault(int(labels[i]), [0.0, 0.0, 0])
        row[0] += float(frame.at[i, "households"])
        row[1] += float(frame.at[i, "incidents"])
        row[2] += 1
    return {r: tuple(v) for r, v in out.items()}


def hot_corner() -> gpd.GeoDataFrame:
    """3 x 4 compounds of 100 households; the four of the left two columns' lower rows carry
    60 incidents each, the rest 5: households alone say nothing of where incidents crowd."""
    frame = lattice(3, 4, 100)
    frame["incidents"] = 5
    frame.loc[[1, 2, 5, 6], "incidents"] = 60
    return frame


def test_the_incidents_ceiling_holds_on_every_grid_and_evens_the_load() -> None:
    frame = hot_corner()
    members = 5
    cap = 14 * members  # at most 14 incidents a member: 70 a grid
    plain = regions.redivide(frame, ceiling=300, floor=200)
    bounded = regions.redivide(frame, ceiling=300, floor=200, incident_ceiling=cap)
    before = brute_force_loads(frame, plain.labels)
    after = brute_force_loads(frame, bounded.labels)
    # The case is built so that households alone leave incidents unbalanced: max-p pairs
    # the compounds into six grids of 200 households, and some pair holds two hot compounds.
    assert plain.regions == 6 and max(inc for _, inc, _ in before.values()) > cap
    # Both bounds hold on every proposed grid (no compound is over either alone).
    assert bounded.over == []
    for hh, inc, _ in after.values():
        assert hh <= 300 and inc <= cap
    graph = rook_graph(frame)  # shapely: compounds sharing an edge of positive length
    for region, members_ in frame.groupby(bounded.labels).groups.items():
        assert nx.is_connected(graph.subgraph(members_)), region
        union = shapely.union_all(LOCAL.to_metres(frame.loc[members_].geometry.values))
        assert union.geom_type == "Polygon"

    # The spread of incidents per member is no worse, and the worst grid lighter.
    def per_member(division):
        table = regions.grids(frame, division.labels, 1, members)
        values = table["incidents_per_member"].to_numpy(float)
        return values.std() / values.mean(), values.max()

    (cv_plain, max_plain), (cv_bounded, max_bounded) = per_member(plain), per_member(bounded)
    assert cv_bounded <= cv_plain and max_bounded < max_plain
    assert max_bounded <= cap / members
    # Every hot compound now lies in a grid with no other hot compound.
    hot = bounded.labels[[1, 2, 5, 6]]
    assert hot.nunique() == 4
    # Only grids holding a hot compound may fall under the households floor (reported).
    assert set(bounded.below) <= set(hot.tolist())


@pytest.mark.parametrize("seed", range(10))
def test_two_ceilings_cut_a_strip_into_the_fewest_parts(seed: int) -> None:
    # A strip of 8 compounds with random households and incidents under twice the floor (one
    # region before the cut): the cut must give the fewest consecutive parts within both
    # ceilings, found here by trying all 2^7 ways to cut the strip. (Two neighbouring parts
    # never fit together again, so the merge leaves them as they are.)
    rng = np.random.default_rng(seed)
    hh = rng.integers(2, 15, 8).astype(float)  # at most 112 < 2 x 60: one max-p region
    inc = rng.integers(0, 20, 8)
    frame = lattice(1, 8, hh)
    frame["incidents"] = inc
    ceiling, cap = 60.0, 45.0  # over these seeds, either ceiling alone decides some cuts
    division = regions.redivide(frame, ceiling=ceiling, floor=ceiling, incident_ceiling=cap)
    best = None
    for mask in range(2**7):
        cuts = [0, *(k + 1 for k in range(7) if mask >> k & 1), 8]
        ok = all(
            hh[a:b].sum() <= ceiling and inc[a:b].sum() <= cap
            for a, b in zip(cuts, cuts[1:], strict=False)
        )
        if ok and (best is None or len(cuts) - 1 < best):
            best = len(cuts) - 1
    assert division.split == 1 and division.regions == best
    loads = brute_force_loads(frame, division.labels)
    assert all(h <= ceiling and i <= cap for h, i, _ in loads.values())
    labels = division.labels.to_numpy()
    assert (np.diff(labels) != 0).sum() == best - 1  # consecutive: each part one run


def test_a_compound_over_the_incidents_ceiling_alone_is_reported() -> None:
    frame = lattice(1, 4, 100)
    frame["incidents"] = [10, 500, 10, 10]
    division = regions.redivide(frame, ceiling=400, floor=100, incident_ceiling=100)
    assert division.over == [2]
    loads = brute_force_loads(frame, division.labels)
    assert loads[int(division.labels[2])] == (100.0, 500.0, 1)
    assert all(i <= 100 for r, (_, i, _) in loads.items() if r != division.labels[2])


def test_incident_bound_and_the_count_over_it_match_numpy() -> None:
    rng = np.random.default_rng(11)
    frame = lattice(4, 5, rng.integers(20, 300, 20))
    frame["incidents"] = rng.integers(0, 80, 20)
    labels = pd.Series(rng.integers(0, 6, 20), index=frame.index)
    members = pd.Series([4, 5, 6, 3, 0, 2], index=range(6))
    table = regions.grids(frame, labels, 2, members)
    inc = np.array([frame["incidents"].to_numpy()[labels.to_numpy() == g].sum() for g in range(6)])
    per_member = inc[members.to_numpy() > 0] / members.to_numpy()[members.to_numpy() > 0]
    bound = regions.incident_bound(table, factor=1.5)
    assert bound == pytest.approx(1.5 * np.median(per_member))
    stats = regions.spread(table, per_worker=300, per_member=bound)
    assert stats["over incidents bound"] == (per_member > bound).sum() + 1  # + the memberless
    assert "over incidents bound" not in regions.spread(table).index
    with pytest.raises(InvalidInput, match="factor"):
        regions.incident_bound(table, factor=0)


def test_bad_incidents_ceiling() -> None:
    frame = lattice(2, 2, 100)
    with pytest.raises(InvalidInput, match="incidents ceiling must be positive"):
        regions.redivide(frame, ceiling=300, incident_ceiling=0)
    with pytest.raises(InvalidInput, match="needs the incidents"):
        regions.redivide(frame.drop(columns="incidents"), ceiling=300, incident_ceiling=10)
    with pytest.raises(InvalidInput, match="incidents must be non-negative"):
        regions.redivide(frame.assign(incidents=-1), ceiling=300, incident_ceiling=10)
    # Without an incidents ceiling the incidents column is not needed.
    plain = regions.redivide(frame.drop(columns="incidents"), ceiling=300, floor=200)
    assert plain.regions == 2


def test_spopt_private_maxp_functions_are_still_there() -> None:
    # regions._solve runs spopt's max-p construction without its annealing through two private
    # functions (why: the module docstring; the pin in pyproject.toml). If this fails, spopt has
    # renamed or changed them: adapt regions._solve before widening the pin.
    import inspect

    import libpysal
    import spopt.region.maxp as maxp

    missing = [
        name
        for name in ("_construction_phase", "_calculate_within_region_distance")
        if not callable(getattr(maxp, name, None))
    ]
    assert not missing, f"spopt {spopt_version()} lost {missing}: regions._solve needs them"
    assert list(inspect.signature(maxp._construction_phase).parameters) == [
        "arr",
        "attr",
        "threshold_array",
        "distance_matrix",
        "weight",
        "spatial_thre",
        "random_assign_choice",
        "max_it",
    ], f"spopt {spopt_version()} changed _construction_phase: adapt regions._solve"
    # What regions._solve reads from them, on a strip of 4 compounds of 100, floor 200: the
    # most regions is 2 ({1, 2} and {3, 4}), as labels, region lists and their sums.
    w = libpysal.weights.W({0: [1], 1: [0, 2], 2: [1, 3], 3: [2]}, silence_warnings=True)
    attr = np.arange(4.0)[:, None]
    distance = np.abs(attr - attr.T)
    state = np.random.get_state()
    np.random.seed(0)
    p, partitions = maxp._construction_phase(
        np.arange(4), attr, np.full(4, 100.0), distance, w, 200.0, 2, 5
    )
    np.random.set_state(state)
    labels, region_list, _sums = partitions[0]
    assert p == 2 and pd.factorize(np.asarray(labels))[0].tolist() == [0, 0, 1, 1]
    assert maxp._calculate_within_region_distance(region_list, distance) == 2.0


@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
def test_spopt_public_maxp_cannot_skip_the_annealing() -> None:
    # Why regions does not use spopt's public MaxPHeuristic: with no annealing round it returns
    # no labels at all (spopt 0.7), so the public class always anneals; and it warns (pandas'
    # deprecated inplace drop, which the notebooks would print). If this starts failing, spopt
    # has changed and the public class may do: see the module docstring of regions.
    import libpysal
    from spopt.region import MaxPHeuristic

    frame = lattice(1, 4, 100).assign(x=np.arange(4.0))
    w = libpysal.weights.W({0: [1], 1: [0, 2], 2: [1, 3], 3: [2]}, silence_warnings=True)
    model = MaxPHeuristic(frame, w, ["x"], "households", 200.0, max_iterations_sa=0)
    model.solve()
    assert model.p == 2 and model.labels_ is None


def spopt_version() -> str:
    from importlib.metadata import version

    return version("spopt")
