"""Importing each kind of layer: polygons with the defects hand digitising leaves (repaired and
reported with their areas, or rejected), villages from their committees' locations, points
with offices' own vocabulary; all or nothing, re-import a no-op, seed --keep around it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from shapely.geometry import Polygon

from citybrain.crs import LOCAL
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.validate import find_violations
from tests.utils.databases import snapshot
from tests.utils.offices import (
    gcj02,
    import_file,
    metres_apart,
    points_on,
    polygons,
    rejected,
    rows,
)

TOWN = "330421001"
SHRUNK, GROWN, BOW_TIE = 2, 4, 16  # town 001's villages, in code order
# What says the villages tile their towns: no gap in a town, no overlap or invalid village,
# no village beyond its town.
_TOWN_TILING = {
    ("towns", "gap"),
    ("villages", "overlap"),
    ("villages", "invalid"),
    ("villages", "outside_parent"),
}


def _villages(url: str) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return polygons(conn, "villages", parent="towns.town_id")


def _metres(geom):
    return LOCAL.to_metres(geom)


def _wgs(geom):
    return LOCAL.to_wgs84(geom)


def _bow_tie(poly) -> Polygon:
    """``poly`` with a stretch of its ring walked backwards: the ring crosses itself, as a
    digitiser's slip makes it."""
    ring = list(shapely.get_parts(poly)[0].exterior.coords)[:-1]
    k = len(ring) // 8
    ring[k : 2 * k] = ring[k : 2 * k][::-1]
    bad = Polygon(ring)
    assert not bad.is_valid
    return bad


@pytest.fixture
def defective(fresh_county: str, tmp_path):
    """Town 001's villages as a GeoPackage with the usual defects, and what each row is."""
    v = _villages(fresh_county)
    v = v[v["parent"] == TOWN].reset_index(drop=True)
    geoms = list(v["geom"])
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        town = polygons(conn, "towns").set_index("code").loc[TOWN, "geom"]
    m = _metres(v["geom"].to_numpy())
    edge = shapely.length(shapely.intersection(m, _metres(town).boundary))
    near = shapely.distance(m[:, None], m[None, :]) < 1
    # Three defects, far enough apart that each repair can be checked on its own.
    assert edge[GROWN] > 100 and edge[SHRUNK] == 0
    assert not near[SHRUNK, GROWN] and not near[BOW_TIE, [SHRUNK, GROWN]].any()
    geoms[BOW_TIE] = _bow_tie(geoms[BOW_TIE])  # invalid ring
    geoms[GROWN] = _wgs(_metres(geoms[GROWN]).buffer(3.0))  # 3 m over neighbours and town
    geoms[SHRUNK] = _wgs(_metres(geoms[SHRUNK]).buffer(-2.0))  # 2 m gaps all round
    frame = pd.DataFrame({"村社区代码": v["code"], "村社区名称": v["name"]})
    bad = pd.DataFrame(
        {
            "村社区代码": [v["code"][3], "330421999201", "330421001290"],
            "村社区名称": ["重复", "县外村", "错镇村"],
        }
    )
    elsewhere = _villages(fresh_county)
    other_town = elsewhere[elsewhere["parent"] == "330421103"]["geom"].iloc[0]
    bad_geoms = [
        geoms[3],  # the same code twice
        shapely.affinity.translate(geoms[4], 0.6, 0.0),  # 60 km east: in no town
        other_town,  # code says town 001, it lies in 103
    ]
    gdf = gpd.GeoDataFrame(
        pd.concat([frame, bad], ignore_index=True),
        geometry=gpd.GeoSeries(geoms + bad_geoms),
        crs=4326,
    )
    path = tmp_path / "villages.gpkg"
    gdf.to_file(path)
    return path, v, len(frame)


def test_rejected_rows_stop_the_import_and_change_nothing(fresh_county, defective) -> None:
    path, v, n = defective
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    report = import_file(fresh_county, "villages", path)
    assert not report.written and report.rejected == 3
    assert rejected(report) == [
        (n + 1, "村社区代码", "duplicate code: row 4 has it too"),
        (n + 2, "geometry", "outside every town: no parent"),
        (n + 3, "parent", "lies outside its town"),
    ]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before


def test_repairs_are_made_and_reported_with_their_areas(fresh_county, defective) -> None:
    path, v, n = defective
    source = gpd.read_file(path)
    report = import_file(fresh_county, "villages", path, keep_going=True)
    assert report.written and report.rejected == 3
    assert report.updated == n and report.inserted == 0
    after = _villages(fresh_county).set_index("code")
    repaired: dict[int, list] = {}
    for e in report.entries:
        if e.outcome == "repaired":
            repaired.setdefault(e.row, []).append(e)
    assert {SHRUNK + 1, GROWN + 1, BOW_TIE + 1} <= set(repaired)
    assert repaired[BOW_TIE + 1][0].reason.startswith("invalid geometry made valid (Self-inter")
    for row, entries in repaired.items():
        if row == BOW_TIE + 1:  # the area of a self-crossing ring is not defined
            continue
        code = source["村社区代码"][row - 1]
        moved = shapely.area(
            shapely.symmetric_difference(
                _metres(source.geometry[row - 1]), _metres(after.loc[code, "geom"])
            )
        )
        assert len(entries) == 1
        assert entries[0].area_m2 == pytest.approx(moved, rel=1e-3, abs=0.2), (row, entries)
    assert "beyond its town cut off" in repaired[GROWN + 1][0].reason
    # The 2 m gaps are closed and the 3 m overlaps shared out: each village ends nearer its
    # original edge, on average, than its defect had moved it (an overlap may go either way).
    for i, moved in ((SHRUNK, 2.0), (GROWN, 3.0)):
        a, b = _metres(after.loc[v["code"][i], "geom"]), _metres(v["geom"][i])
        assert shapely.area(shapely.symmetric_difference(a, b)) / b.length < 0.75 * moved, i
    assert shapely.is_valid(after["geom"]).all()
    # No overlap is left; the only gap left is where the bow-tie's lobe was (wider than the
    # tolerance), and the report said so with its area.
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        problems = [
            x
            for x in find_violations(conn)
            if (x.level, x.kind) in _TOWN_TILING  # (their grids no longer fit: not this import's)
        ]
    noted = [e.reason for e in report.entries if e.outcome == "note" and "gap of" in e.reason]
    assert [p.kind for p in problems] == ["gap"] * len(problems) and len(noted) == len(problems)
    for p, note in zip(problems, noted, strict=True):
        area = float(note.split("gap of ")[1].split(" m²")[0].replace(",", ""))
        assert f"in town {TOWN}" in note and area == pytest.approx(p.area_m2, rel=0.01)


def test_reimport_changes_nothing(fresh_county, tmp_path) -> None:
    v = _villages(fresh_county)
    v = v[v["parent"] == TOWN]
    path = tmp_path / "v.geojson"
    gpd.GeoDataFrame(
        {"code": v["code"], "name": v["name"]}, geometry=list(v["geom"]), crs=4326
    ).to_file(path)
    first = import_file(fresh_county, "villages", path)
    assert (first.inserted, first.updated, first.unchanged) == (0, len(v), 0)  # import_id
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    again = import_file(fresh_county, "villages", path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(v))
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        after = snapshot(conn)
        runs = conn.execute(
            "SELECT source_name, source_sha256, updated, unchanged FROM citybrain.imports "
            "ORDER BY id"
        ).fetchall()
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"imports", "imports_id_seq"}  # only the log of runs
    assert [r[0] for r in runs] == ["v.geojson", "v.geojson"] and runs[0][1] == runs[1][1]
    assert [(r[2], r[3]) for r in runs] == [(len(v), 0), (0, len(v))]


def test_dry_run_writes_nothing(fresh_county, defective) -> None:
    path, v, n = defective
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    report = import_file(fresh_county, "villages", path, dry_run=True, keep_going=True)
    assert not report.written and report.updated == n and report.rejected == 3
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before


# --- villages from their committees' locations ------------------------------------------------


def _seats_file(source_url: str, path) -> pd.DataFrame:
    """The county's villages as a village list: 12-digit codes, names, urban-rural codes and
    the committee's location copied from Amap (GCJ-02)."""
    with psycopg.connect(libpq_conninfo(source_url)) as conn:
        v = rows(
            conn,
            "SELECT code, name, kind, ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT *, "
            "ST_PointOnSurface(geom) p FROM citybrain.villages) x ORDER BY code",
        )
    lon, lat = gcj02(v["lon"], v["lat"])
    pd.DataFrame(
        {
            "统计用区划代码": v["code"],
            "名称": v["name"],
            "城乡分类代码": np.where(v["kind"] == "community", 111, 220),
            "经度": lon,
            "纬度": lat,
        }
    ).to_excel(path, index=False)
    return v


def _towns_file(source_url: str, path) -> None:
    with psycopg.connect(libpq_conninfo(source_url)) as conn:
        t = polygons(conn, "towns")
    gpd.GeoDataFrame(
        {"code": t["code"], "name": t["name"]}, geometry=list(t["geom"]), crs=4326
    ).to_file(path)


def test_villages_from_seats_tile_each_town(seeded, fresh_empty, tmp_path) -> None:
    _towns_file(seeded, tmp_path / "towns.gpkg")
    assert import_file(fresh_empty, "towns", tmp_path / "towns.gpkg").inserted == 9
    seats = _seats_file(seeded, tmp_path / "村名录.xlsx")
    report = import_file(fresh_empty, "villages", tmp_path / "村名录.xlsx", crs="gcj02")
    assert report.written and report.inserted == len(seats) and report.rejected == 0
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        got = polygons(conn, "villages", parent="towns.town_id")
        towns = polygons(conn, "towns").set_index("code")
        flags = rows(conn, "SELECT code, kind, derived FROM citybrain.villages ORDER BY code")
        violations = find_violations(conn)
    assert flags["derived"].all()
    assert flags["kind"].tolist() == seats["kind"].tolist()
    seat_pts = shapely.points(seats["lon"], seats["lat"])
    assert shapely.contains(got["geom"].to_numpy(), seat_pts).all()
    rng = np.random.default_rng(5)
    for code, town in towns["geom"].items():
        mine = got[got["parent"] == code].reset_index(drop=True)
        m = _metres(mine["geom"].to_numpy())
        assert shapely.area(m).sum() == pytest.approx(_metres(town).area, rel=1e-9)
        # Voronoi, checked by brute force: a point of the town lies in the village whose
        # seat is nearest.
        xy = np.column_stack(
            LOCAL.forward(*shapely.get_coordinates(seat_pts[got["parent"] == code]).T)
        )
        tm = _metres(town)
        x0, y0, x1, y1 = tm.bounds
        px, py = rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)
        inside = shapely.contains_xy(tm, px, py)
        px, py = px[inside], py[inside]
        nearest = np.argmin(
            (px[:, None] - xy[None, :, 0]) ** 2 + (py[:, None] - xy[None, :, 1]) ** 2, axis=1
        )
        within = shapely.contains_xy(m[nearest], px, py)
        assert within.mean() > 0.999, code  # (a point on an edge may go either way)
    assert [x for x in violations if (x.level, x.kind) in _TOWN_TILING] == []

    # The surveyed polygons, imported later, replace the derived ones: the same villages (by
    # code), now with their real boundaries and no longer marked derived.
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        real = polygons(conn, "villages")
    gpd.GeoDataFrame(
        {"code": real["code"], "name": real["name"]}, geometry=list(real["geom"]), crs=4326
    ).to_file(tmp_path / "villages.gpkg")
    later = import_file(fresh_empty, "villages", tmp_path / "villages.gpkg")
    assert later.written and later.rejected == 0
    assert (later.inserted, later.updated) == (0, len(seats))
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        now = polygons(conn, "villages")
        still = conn.execute("SELECT count(*) FILTER (WHERE derived) FROM citybrain.villages")
        assert still.fetchone()[0] == 0
    assert now["code"].tolist() == real["code"].tolist()
    assert metres_apart(now["geom"], real["geom"]).max() < 0.001


def test_seed_keeps_the_imported_levels(seeded, fresh_empty, tmp_path) -> None:
    from citybrain.synth import build_county

    _towns_file(seeded, tmp_path / "towns.gpkg")
    import_file(fresh_empty, "towns", tmp_path / "towns.gpkg")
    _seats_file(seeded, tmp_path / "seats.xlsx")
    import_file(fresh_empty, "villages", tmp_path / "seats.xlsx", crs="gcj02")
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        kept = rows(
            conn,
            "SELECT 'v' AS level, code, name, kind, derived, import_id, ST_AsBinary(geom) AS g "
            "FROM citybrain.villages UNION ALL SELECT 't', code, name, NULL, derived, import_id, "
            "ST_AsBinary(geom) FROM citybrain.towns ORDER BY 1, 2",
        )
    counts = build_county(
        get_engine(fresh_empty), n_incidents=2000, seed=3, keep=["towns", "villages"]
    )
    get_engine(fresh_empty).dispose()
    assert counts["villages"] == len(kept[kept["level"] == "v"]) and counts["micro_grids"] > 9000
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        now = rows(
            conn,
            "SELECT 'v' AS level, code, name, kind, derived, import_id, ST_AsBinary(geom) AS g "
            "FROM citybrain.villages UNION ALL SELECT 't', code, name, NULL, derived, import_id, "
            "ST_AsBinary(geom) FROM citybrain.towns ORDER BY 1, 2",
        )
        violations = find_violations(conn)
        grids = rows(
            conn,
            "SELECT g.code, v.code AS village FROM citybrain.grids g "
            "JOIN citybrain.villages v ON v.id = g.village_id",
        )
    pd.testing.assert_frame_equal(now.drop(columns=["g"]), kept.drop(columns=["g"]))
    assert [bytes(a) for a in now["g"]] == [bytes(b) for b in kept["g"]]  # exactly as imported
    assert (grids["code"].str[:12] == grids["village"]).all()
    assert violations == []


def test_seed_keep_refuses_a_gap_in_the_levels(fresh_county) -> None:
    from citybrain.errors import InvalidInput
    from citybrain.synth import build_county

    with pytest.raises(InvalidInput, match="from the top down"):
        build_county(get_engine(fresh_county), n_incidents=10, keep=["villages"])
    with pytest.raises(InvalidInput, match="teams and incidents are generated"):
        build_county(get_engine(fresh_county), n_incidents=10, keep=["towns", "teams"])
    get_engine(fresh_county).dispose()


# --- points ------------------------------------------------------------------------------------


def test_teams_with_members_in_words(fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        grids = points_on(conn, "grids", 4)
    frame = pd.DataFrame(
        {
            "团队编码": [f"T-{i}" for i in range(4)],
            "团队名称": [f"第{i}团队" for i in range(4)],
            "网格编码": [grids["code"][0], None, grids["code"][2], "nope"],
            "状态": ["在岗", "休息", "忙碌", "在岗"],
            "职能": ["治安、交通", "民生诉求", "", "治安"],
            "成员": ["张三(网格员)、李四(辅警)", "王五（党员）", "赵六:调解员", "钱七(网格员)"],
            "经度": grids["lon"],
            "纬度": grids["lat"],
        }
    )
    path = tmp_path / "teams.geojson"
    gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["经度"], frame["纬度"]), crs=4326
    ).to_file(path)
    report = import_file(fresh_county, "teams", path, keep_going=True)
    assert rejected(report) == [(4, "网格编码", "no grid with this code")]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = rows(
            conn,
            "SELECT t.code, g.code AS grid, t.status, t.skills, t.members, t.capacity "
            "FROM citybrain.teams t JOIN citybrain.grids g ON g.id = t.grid_id "
            "WHERE t.code LIKE 'T-%%' ORDER BY t.code",
        )
    assert got["grid"].tolist() == [grids["code"][0], grids["code"][1], grids["code"][2]]
    assert got["status"].tolist() == ["available", "off_duty", "busy"]
    assert got["skills"][0] == ["交通", "治安"] and got["skills"][1] == ["民生诉求"]
    assert len(got["skills"][2]) == 10  # not given: every category
    assert got["members"].tolist() == [
        [{"name": "张三", "role": "grid_worker"}, {"name": "李四", "role": "auxiliary_police"}],
        [{"name": "王五", "role": "party_member"}],
        [{"name": "赵六", "role": "mediator"}],
    ]
    assert got["capacity"].tolist() == [5, 5, 5]


def test_facilities_from_geoparquet(fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        pts = points_on(conn, "villages", 5)
    frame = pd.DataFrame(
        {
            "编号": ["F-A", "F-B", "F-C", "F-D", "F-E"],
            "名称": ["甲文化礼堂", "乙党群服务中心", "丙警务站", "丁党群服务中心", "戊调解室"],
            "类型": ["文化礼堂", "党群服务中心", "联勤警务站", "党群服务中心", "人民调解室"],
            "级别": [None, "村", "镇", None, None],
            "容纳人数": [300, 100, 20, 50, None],
            "联系电话": ["13800000000"] * 5,
        }
    )
    path = tmp_path / "facilities.parquet"
    gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs=4326
    ).to_parquet(path)
    report = import_file(fresh_county, "facilities", path, keep_going=True)
    assert rejected(report) == [
        (
            4,
            "级别",
            "a party-and-people service centre needs its level: county, town, village or station",
        )
    ]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = rows(
            conn,
            "SELECT code, kind, level, capacity, attributes, micro_grid_id, "
            "citybrain.micro_grid_at(geom) AS expected FROM citybrain.facilities "
            "WHERE code LIKE 'F-%%' ORDER BY code",
        )
    assert got["kind"].tolist() == [
        "cultural_hall",
        "party_service_centre",
        "police_post",
        "mediation_room",
    ]
    levels = [x if isinstance(x, str) else None for x in got["level"]]
    assert levels == [None, "village", None, None]  # a police post has no level
    assert got["capacity"].tolist()[:3] == [300, 100, 20] and pd.isna(got["capacity"][3])
    assert (got["attributes"] == {"联系电话": "13800000000"}).all()
    assert (got["micro_grid_id"] == got["expected"]).all()


def test_changed_micro_grids_move_points_and_coverage(fresh_county, tmp_path) -> None:
    """Two neighbouring micro-grids re-drawn (the line between them moved): every point and
    H3 coverage cell is in the micro-grid it now lies in, as brute force says."""
    import h3

    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        mg = polygons(conn, "micro_grids", parent="compounds.compound_id")
        pair = conn.execute(
            "SELECT a.code, b.code FROM citybrain.micro_grids a JOIN citybrain.micro_grids b "
            "ON a.compound_id = b.compound_id AND a.id < b.id "
            "AND ST_Length(ST_Intersection(a.geom, b.geom)::geography) > 50 "
            "JOIN citybrain.incidents i ON i.micro_grid_id = a.id GROUP BY 1, 2 "
            "HAVING count(*) > 5 ORDER BY 1 LIMIT 1"
        ).fetchone()
    mg = mg.set_index("code")
    a, b = _metres(mg.loc[pair[0], "geom"]), _metres(mg.loc[pair[1], "geom"])
    both = shapely.union(a, b)
    # Give a 40 m band of a next to b to b.
    band = shapely.intersection(a, shapely.buffer(b, 40.0))
    new_a, new_b = shapely.difference(a, band), shapely.intersection(both, shapely.union(b, band))
    frame = pd.DataFrame({"code": list(pair), "name": ["甲", "乙"], "population": [10, 20]})
    path = tmp_path / "mg.gpkg"
    gpd.GeoDataFrame(frame, geometry=[_wgs(new_a), _wgs(new_b)], crs=4326).to_file(path)
    report = import_file(fresh_county, "micro_grids", path)
    assert report.written and report.updated == 2 and report.rejected == 0
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        for table in ("incidents", "teams", "cameras", "facilities"):
            wrong = conn.execute(
                f"SELECT count(*) FROM citybrain.{table} "
                "WHERE micro_grid_id IS DISTINCT FROM citybrain.micro_grid_at(geom)"
            ).fetchone()[0]
            assert wrong == 0, table
        moved = conn.execute(
            "SELECT count(*) FROM citybrain.incidents i JOIN citybrain.micro_grids m "
            "ON m.id = i.micro_grid_id WHERE m.code = %s "
            "AND ST_Intersects(i.geom, ST_GeomFromText(%s, 4326))",
            [pair[1], shapely.to_wkt(_wgs(band), rounding_precision=-1)],
        ).fetchone()[0]
        cover = rows(
            conn,
            "SELECT c.h3, m.code FROM citybrain.h3_coverage c JOIN citybrain.micro_grids m "
            "ON m.id = c.micro_grid_id WHERE m.code = ANY(%s)",
            [list(pair)],
        )
    assert moved > 0  # incidents in the band now belong to b
    for cell, code in zip(cover["h3"], cover["code"], strict=True):
        lat, lon = h3.cell_to_latlng(h3.int_to_str(int(cell) & (2**64 - 1)))
        shape = new_a if code == pair[0] else new_b
        assert shapely.contains_xy(shape, *LOCAL.forward(lon, lat)), (cell, code)
    in_band = [c for c, code in zip(cover["h3"], cover["code"], strict=True) if code == pair[1]]
    assert len(in_band) > shapely.area(b) / 2500  # b took the band's cells (~2,150 m² each)
