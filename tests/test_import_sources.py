"""Importing the files offices hold: GBK attribute tables without a .cpg, CGCS2000
Gauss-Krüger with and without the zone prefix, no .prj at all, another datum; GCJ-02 and BD-09
lists. Geometries are checked against the originals after the round trip through the CRS
(converted by pyproj and prcoords, not by citybrain)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import InvalidInput
from tests.utils.county import TOWNS_FILE
from tests.utils.offices import (
    bd09,
    gbk_shapefile,
    gcj02,
    import_file,
    metres_apart,
    polygons,
    rows,
    to_crs,
)

HALF_METRE = 0.5


@pytest.fixture
def towns(seeded: str) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(seeded)) as conn:
        return polygons(conn, "towns")


def _office_towns(towns: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"行政区划代": towns["code"], "乡镇名称": towns["name"], "备注": "测试"})


@pytest.mark.parametrize("epsg, zone_prefix", [(4549, False), (4528, True)])
def test_gbk_shapefile_in_gauss_kruger(fresh_empty, towns, tmp_path, epsg, zone_prefix) -> None:
    geoms = to_crs(towns["geom"], epsg)
    eastings = shapely.get_coordinates(geoms)[:, 0]
    assert (eastings > 4e7).all() == zone_prefix  # 40xxxxxx: the zone in the easting
    shp = gbk_shapefile(tmp_path / "乡镇.shp", _office_towns(towns), geoms, epsg)
    assert not shp.with_suffix(".cpg").exists()
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "魏塘街道".encode("gbk") in raw and "魏塘街道".encode() not in raw

    report = import_file(fresh_empty, "towns", shp)
    assert report.written and report.encoding == "GBK" and report.crs == f"EPSG:{epsg}"
    assert (report.inserted, report.updated, report.rejected) == (9, 0, 0)
    assert report.mapping == {"code": "行政区划代", "name": "乡镇名称"}
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        got = polygons(conn, "towns")
        attrs = [r[0] for r in conn.execute("SELECT attributes FROM citybrain.towns ORDER BY code")]
    assert got["code"].tolist() == towns["code"].tolist()
    assert got["name"].tolist() == towns["name"].tolist()  # no mojibake
    assert attrs == [{"备注": "测试"}] * 9
    assert metres_apart(got["geom"], towns["geom"]).max() < HALF_METRE


@pytest.mark.parametrize("epsg", [4549, 4528])  # 4528: the zone (40) prefixed to eastings
def test_real_towns_as_an_office_shapefile(fresh_empty, tmp_path, epsg) -> None:
    import geopandas as gpd

    real = gpd.read_file(TOWNS_FILE)
    frame = pd.DataFrame({"乡镇名称": real["name"]})  # names only: codes from the county's list
    shp = gbk_shapefile(tmp_path / "towns.shp", frame, to_crs(real.geometry, epsg), epsg)
    report = import_file(fresh_empty, "towns", shp)
    assert report.written and report.rejected == 0 and report.repaired_rows == 0
    assert report.encoding == "GBK" and report.crs == f"EPSG:{epsg}"
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        got = polygons(conn, "towns")
    expected = real.assign(code=real["name"].map(_town_codes())).sort_values("code")
    assert got["code"].tolist() == expected["code"].tolist()
    assert metres_apart(got["geom"], expected.geometry.to_numpy()).max() < HALF_METRE


def _town_codes() -> dict[str, str]:
    from citybrain.domain import TOWNS

    return {t.name: t.code for t in TOWNS}


def test_utf8_shapefile_without_cpg(fresh_empty, towns, tmp_path) -> None:
    import geopandas as gpd
    import pyogrio

    gdf = gpd.GeoDataFrame(_office_towns(towns), geometry=list(towns["geom"]), crs=4490)
    path = tmp_path / "utf8.shp"
    pyogrio.write_dataframe(gdf, path, encoding="UTF-8")
    path.with_suffix(".cpg").unlink()
    report = import_file(fresh_empty, "towns", path, dry_run=True)
    assert report.encoding == "UTF-8" and report.inserted == 9 and report.crs == "EPSG:4490"


def test_bad_encoding_is_refused_unless_given(fresh_empty, towns, tmp_path) -> None:
    frame = pd.DataFrame({"code": towns["code"], "name": towns["name"]})
    wkt = shapely.to_wkt(towns["geom"].to_numpy(), rounding_precision=-1)
    path = tmp_path / "utf16.csv"  # Excel's "Unicode text"
    frame.assign(wkt=wkt).to_csv(path, index=False, encoding="utf-16")
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK"):
        import_file(fresh_empty, "towns", path)
    report = import_file(fresh_empty, "towns", path, encoding="utf-16", dry_run=True)
    assert report.inserted == 9 and report.rejected == 0


@pytest.mark.parametrize(
    "epsg, hint", [(4549, "EPSG:4549"), (4528, "EPSG:4528")], ids=["plain", "zone-prefix"]
)
def test_no_prj_names_the_likely_crs(fresh_empty, towns, tmp_path, epsg, hint) -> None:
    geoms = to_crs(towns["geom"], epsg)
    shp = gbk_shapefile(tmp_path / "t.shp", _office_towns(towns), geoms, None, prj=False)
    with pytest.raises(InvalidInput, match=hint):
        import_file(fresh_empty, "towns", shp)
    report = import_file(fresh_empty, "towns", shp, crs=f"EPSG:{epsg}")
    assert report.written and report.inserted == 9
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        got = polygons(conn, "towns")
    assert metres_apart(got["geom"], towns["geom"]).max() < HALF_METRE


def test_wrong_zone_declared_is_refused_with_the_right_one(fresh_empty, towns, tmp_path) -> None:
    geoms = to_crs(towns["geom"], 4528)  # eastings with the prefix, .prj says 4549
    shp = gbk_shapefile(tmp_path / "t.shp", _office_towns(towns), geoms, 4549)
    with pytest.raises(InvalidInput, match="EPSG:4528"):
        import_file(fresh_empty, "towns", shp)


def test_xian_1980_is_refused(fresh_empty, towns, tmp_path) -> None:
    geoms = to_crs(towns["geom"], 2385)  # Xi'an 1980 / 3-degree Gauss-Kruger CM 120E
    shp = gbk_shapefile(tmp_path / "t.shp", _office_towns(towns), geoms, 2385)
    with pytest.raises(InvalidInput, match="Xian 1980.*towgs84"):
        import_file(fresh_empty, "towns", shp)
    with psycopg.connect(libpq_conninfo(fresh_empty)) as conn:
        assert conn.execute("SELECT count(*) FROM citybrain.towns").fetchone()[0] == 0


def _cameras(url: str, n: int = 300) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return rows(
            conn,
            "SELECT code, name, kind, heading, fov, range_m, online, owner, "
            "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM citybrain.cameras ORDER BY id LIMIT %s",
            [n],
        )


KIND_LABELS = {"bullet": "枪机", "dome": "球机", "face": "人脸", "plate": "车牌"}


def _ledger(cams: pd.DataFrame, lon, lat) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "点位编号": "3304210000" + cams["code"].str[-5:].str.zfill(10),
            "点位名称": cams["name"],
            "设备类型": cams["kind"].map(KIND_LABELS),
            "经度": lon,
            "纬度": lat,
            "朝向": cams["heading"],
            "在线状态": np.where(cams["online"], "在线", "离线"),
            "安装地址": "嘉善县",
        }
    )


def test_gcj02_csv_of_cameras(fresh_county, tmp_path) -> None:
    cams = _cameras(fresh_county)
    lon, lat = gcj02(cams["lon"], cams["lat"])
    assert (
        metres_apart(shapely.points(lon, lat), shapely.points(cams["lon"], cams["lat"])).min() > 100
    )
    path = tmp_path / "摄像头台账.csv"
    _ledger(cams, lon, lat).to_csv(path, index=False, encoding="gbk")  # as Excel saves it here
    report = import_file(fresh_county, "cameras", path, crs="gcj02")
    assert report.written and report.inserted == len(cams) and report.rejected == 0
    assert report.encoding == "GBK"
    _check_cameras(fresh_county, cams)


def test_bd09_xlsx_of_cameras(fresh_county, tmp_path) -> None:
    cams = _cameras(fresh_county)
    lon, lat = bd09(cams["lon"], cams["lat"])
    path = tmp_path / "cameras.xlsx"
    _ledger(cams, lon, lat).to_excel(path, index=False, sheet_name="点位")
    report = import_file(fresh_county, "cameras", path, crs="bd09")
    assert report.written and report.inserted == len(cams) and report.rejected == 0
    _check_cameras(fresh_county, cams)


def _check_cameras(url: str, cams: pd.DataFrame) -> None:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        got = rows(
            conn,
            "SELECT code, kind, heading, online, attributes, ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat FROM citybrain.cameras WHERE import_id IS NOT NULL ORDER BY code",
        )
    expected = cams.assign(code="3304210000" + cams["code"].str[-5:].str.zfill(10))
    expected = expected.sort_values("code").reset_index(drop=True)
    assert got["code"].tolist() == expected["code"].tolist()
    assert got["kind"].tolist() == expected["kind"].tolist()
    assert got["online"].tolist() == expected["online"].tolist()
    assert np.allclose(got["heading"], expected["heading"])
    assert (got["attributes"] == {"安装地址": "嘉善县"}).all()
    apart = metres_apart(
        shapely.points(got["lon"], got["lat"]), shapely.points(expected["lon"], expected["lat"])
    )
    assert apart.max() < HALF_METRE


def test_the_docs_list_every_layers_columns() -> None:
    from pathlib import Path

    from citybrain.importer.docs import markdown
    from citybrain.layers import load_layers

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "import.md").read_text()
    # the section after "## Every layer's columns" is markdown() of the project's layer files
    assert markdown(load_layers(root / "layers")) in doc
