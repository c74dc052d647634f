"""Grid re-division (analysis.regions) on hand-built lattices of square compounds whose best
answer is known by hand, checked against shapely and networkx; the comparison statistics
against numpy; the exported layer read back; the loader against PostGIS; classed legends
(analysis.maps) against mapclassify."""

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
