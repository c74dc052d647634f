"""``citybrain export``: every format, read back by ``citybrain import``, gives the same rows
and geometries; coordinates in other CRSs agree with pyproj and prcoords; filters select what
SQL selects; Chinese survives every format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import InvalidInput
from citybrain.exporter import FORMATS, export_layer
from tests.utils.offices import gcj02, import_file, metres_apart, rows

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

# Columns compared after a round trip (besides the geometry): what the layer holds.
COLUMNS = {
    "villages": "code, name, kind, town_id, derived, attributes",
    "cameras": "code, name, kind, heading, fov, range_m, online, owner, attributes",
    "incidents": "i.id, category, source, severity, status, tier, description, reported_at, "
    "dispatched_at, on_site_at, resolved_at, closed_at, escalated_at, i.team_id, reporter_name, "
    "reporter_phone, location_quality, attributes, external_id",
    "teams": "code, name, grid_id, status, skills, members, capacity, position_at",
    "facilities": "code, kind, level, name, capacity",
}


# Where a layer's rows are: an incident's public facts and its case file (migration 0019).
SOURCES = {
    "incidents": "citybrain.incidents i LEFT JOIN citybrain.case_files f ON f.incident_id = i.id"
}


def _table(url: str, layer: str) -> pd.DataFrame:
    source = SOURCES.get(layer, f"citybrain.{layer}")
    with psycopg.connect(libpq_conninfo(url)) as conn:
        frame = rows(
            conn, f"SELECT {COLUMNS[layer]}, ST_AsBinary(geom) AS wkb FROM {source} ORDER BY 1"
        )
    frame["geom"] = shapely.from_wkb([bytes(b) for b in frame.pop("wkb")])
    return frame


def _export(url: str, layer: str, path, **kw) -> int:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return export_layer(conn, layer, path, **{"personal": True, **kw}).rows


@pytest.mark.parametrize("layer", ["villages", "cameras", "incidents", "teams", "facilities"])
def test_round_trip_is_identity(fresh_county, tmp_path, layer) -> None:
    if layer == "incidents":  # give some rows an outside number and source columns of their own
        with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
            conn.execute("UPDATE citybrain.incidents SET external_id = 'GD' || id WHERE id % 3 = 0")
            conn.execute(
                "UPDATE citybrain.case_files SET attributes = jsonb_build_object('满意度', '满意') "
                "WHERE incident_id % 3 = 0"
            )
    before = _table(fresh_county, layer)
    for fmt, (_, suffix) in FORMATS.items():
        path = tmp_path / f"out{suffix}"
        assert _export(fresh_county, layer, path) == len(before)
        first = import_file(fresh_county, layer, path)
        assert first.written and first.rejected == 0 and first.inserted == 0, fmt
        after = _table(fresh_county, layer)
        pd.testing.assert_frame_equal(
            after.drop(columns="geom"), before.drop(columns="geom"), obj=fmt
        )
        assert metres_apart(after["geom"], before["geom"]).max() < 0.001, fmt
        again = import_file(fresh_county, layer, path)  # the first claimed every row
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(before)), fmt


def _shapes(url: str, layer: str) -> pd.DataFrame:
    """code -> geometry of a layer's rows."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        frame = rows(
            conn, f"SELECT code, ST_AsBinary(geom) AS wkb FROM citybrain.{layer} ORDER BY 1"
        )
    frame["geom"] = shapely.from_wkb([bytes(b) for b in frame.pop("wkb")])
    return frame


@pytest.mark.parametrize("layer", ["towns", "grids", "compounds", "micro_grids"])
def test_every_level_round_trips_in_every_format(fresh_county, tmp_path, layer) -> None:
    """The polygon levels besides villages (above): each format, imported back into the
    database it came from, changes nothing — every row found unchanged, none repaired."""
    before = _shapes(fresh_county, layer)
    for fmt, (_, suffix) in FORMATS.items():
        path = tmp_path / f"{layer}{suffix}"
        assert _export(fresh_county, layer, path) == len(before)
        first = import_file(fresh_county, layer, path)  # claims the seeded rows (updated)
        assert first.rejected == 0 and first.repaired_rows == 0 and first.inserted == 0, fmt
        again = import_file(fresh_county, layer, path)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(before)), fmt
    after = _shapes(fresh_county, layer)
    assert list(after["code"]) == list(before["code"])
    assert metres_apart(after["geom"], before["geom"]).max() < 0.001


@pytest.mark.parametrize(
    "crs,fmt,given",
    [("EPSG:4549", "gpkg", None), ("EPSG:4528", "shp", None), ("gcj02", "csv", "gcj02")],
)
def test_an_export_in_another_crs_comes_back_in_place(fresh_county, tmp_path, crs, fmt, given):
    """What docs/import.md promises: an export in Gauss-Krüger (the file says so) or in GCJ-02
    (the importer is told), imported back, is the same place to the millimetre: nothing
    changes."""
    for layer in ("cameras", "compounds"):
        before = _shapes(fresh_county, layer)
        own = tmp_path / f"{layer}.gpkg"  # (first, an import in WGS84 claims the seeded rows)
        _export(fresh_county, layer, own)
        assert import_file(fresh_county, layer, own).rejected == 0
        path = tmp_path / f"{layer}.{fmt}"
        _export(fresh_county, layer, path, crs=crs)
        report = import_file(fresh_county, layer, path, crs=given)
        assert report.rejected == 0, (layer, crs)
        assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(before)), (
            layer,
            crs,
        )
        after = _shapes(fresh_county, layer)
        assert metres_apart(after["geom"], before["geom"]).max() < 0.001, (layer, crs)


def test_round_trip_into_another_database(fresh_county, fresh_empty, tmp_path) -> None:
    for layer in ("towns", "villages", "grids", "teams", "cameras"):
        path = tmp_path / f"{layer}.gpkg"
        _export(fresh_county, layer, path)
        report = import_file(fresh_empty, layer, path)
        assert report.written and report.rejected == 0 and report.repaired_rows == 0, layer
    for layer in ("villages", "cameras"):
        a, b = _table(fresh_county, layer), _table(fresh_empty, layer)
        pd.testing.assert_frame_equal(
            a.drop(columns=["geom", "attributes"]), b.drop(columns=["geom", "attributes"])
        )
        assert metres_apart(a["geom"], b["geom"]).max() < 0.001


def test_other_crs_agree_with_peers(fresh_county, tmp_path) -> None:
    cams = _table(fresh_county, "cameras")
    lon, lat = shapely.get_coordinates(cams["geom"]).T
    _export(fresh_county, "cameras", tmp_path / "gk.csv", crs="EPSG:4549")
    gk = pd.read_csv(tmp_path / "gk.csv")
    east, north = Transformer.from_crs(4326, 4549, always_xy=True).transform(lon, lat)
    assert np.abs(gk["easting"] - east).max() < 1e-6 and np.abs(gk["northing"] - north).max() < 1e-6
    _export(fresh_county, "cameras", tmp_path / "amap.csv", crs="gcj02")
    amap = pd.read_csv(tmp_path / "amap.csv")
    glon, glat = gcj02(lon, lat)
    assert np.abs(amap["lon"] - glon).max() < 1e-9 and np.abs(amap["lat"] - glat).max() < 1e-9
    _export(fresh_county, "villages", tmp_path / "v.gpkg", crs="EPSG:4528")
    info = pyogrio.read_info(tmp_path / "v.gpkg")
    assert info["crs"] == "EPSG:4528" and info["total_bounds"][0] > 40e6


def test_shapefile_keeps_chinese_in_utf8(fresh_county, tmp_path) -> None:
    path = tmp_path / "incidents.shp"
    n = _export(fresh_county, "incidents", path, where=["category=治安"])
    assert path.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    info = pyogrio.read_info(path)
    assert all(len(f.encode()) <= 10 for f in info["fields"])
    back = pyogrio.read_dataframe(path)
    assert (back["category"] == "治安").all() and len(back) == n


def test_filters_select_what_sql_selects(fresh_county, tmp_path) -> None:
    n = _export(
        fresh_county,
        "incidents",
        tmp_path / "f.csv",
        where=["category=治安,交通", "reported_at>=2026-10-01", "severity>2", "status!=closed"],
    )
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM citybrain.incidents WHERE category IN ('治安', '交通') "
            "AND reported_at >= '2026-10-01T00:00:00+08:00' AND severity > 2 "
            "AND status <> 'closed'"
        ).fetchone()[0]
    assert n == expected > 0
    assert len(pd.read_csv(tmp_path / "f.csv")) == n
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        communities = conn.execute(
            "SELECT count(*) FROM citybrain.villages WHERE name LIKE '%社区'"
        ).fetchone()[0]
    assert (
        _export(fresh_county, "villages", tmp_path / "v.csv", where=["name~*社区"]) == communities
    )
    with pytest.raises(InvalidInput, match="COLUMN OP VALUE"):
        _export(fresh_county, "incidents", tmp_path / "x.csv", where=["reporter_name; DROP=1"])
    with pytest.raises(InvalidInput, match="not a time"):
        _export(fresh_county, "incidents", tmp_path / "x.csv", where=["reported_at>soon"])
