"""Files and requests an importer meets that it must not trip over: each gets a clear refusal
or a rejected row, never a traceback, a 500, or a write it should not make."""

from __future__ import annotations

import csv
import io
import zipfile

import geopandas as gpd
import openpyxl
import pandas as pd
import psycopg
import pytest
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import InvalidInput
from citybrain.exporter import export_layer
from citybrain.settings import Settings
from tests.utils.cli import citybrain
from tests.utils.databases import snapshot
from tests.utils.keys import API_KEYS, auth
from tests.utils.offices import import_file, points_on, polygons, rejected
from tests.utils.server import LiveServer


@pytest.fixture
def grid_points(fresh_county) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        return points_on(conn, "grids", 3)


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.csv", b"", "holds no rows|not a readable CSV"),
        ("blank.csv", b"\n\n", "holds no rows|not a readable CSV|no header"),
        ("dupes.csv", b"code,name,code \n1,a,b\n", "the header repeats code"),
        ("headless.csv", b"code,,name\n1,x,a\n", "column 2 has no header"),
    ],
)
def test_unusable_text_files_are_refused(fresh_county, tmp_path, name, data, message) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InvalidInput, match=message):
        import_file(fresh_county, "cameras", path)


def test_a_repeated_spreadsheet_header_is_refused(fresh_county, tmp_path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["点位编号", "点位名称", "点位名称", "经度", "纬度"])
    book.active.append(["C1", "a", "b", 120.9, 30.85])
    path = tmp_path / "cams.xlsx"
    book.save(path)
    with pytest.raises(InvalidInput, match="the header repeats 点位名称"):
        import_file(fresh_county, "cameras", path)


def test_a_table_without_geometry_is_read_as_a_table(fresh_county, tmp_path, grid_points):
    gdf = gpd.GeoDataFrame(
        {"code": ["C-1"], "name": ["x"], "kind": ["dome"]},
        geometry=[shapely.Point(grid_points["lon"][0], grid_points["lat"][0])],
        crs=4326,
    )
    gdf.to_file(tmp_path / "c.shp")
    (tmp_path / "c.shp").unlink()  # a .dbf alone: attributes only
    with pytest.raises(InvalidInput, match="no location"):
        import_file(fresh_county, "cameras", tmp_path / "c.dbf")


def test_empty_points_and_odd_values_are_rejected_rows(fresh_county, tmp_path, grid_points):
    lon, lat = grid_points["lon"], grid_points["lat"]
    gdf = gpd.GeoDataFrame(
        {
            "code": ["T-1", "T-2", "T-3", "T-4"],
            "name": ["a", "b", "c", "d"],
            "capacity": [3, 0, 99999999999999999999, 2],
        },
        geometry=[
            shapely.Point(lon[0], lat[0]),
            shapely.Point(lon[1], lat[1]),
            shapely.Point(lon[2], lat[2]),
            shapely.Point(),  # POINT EMPTY
        ],
        crs=4326,
    )
    path = tmp_path / "teams.gpkg"
    gdf.astype({"capacity": object}).to_file(path)
    report = import_file(fresh_county, "teams", path, keep_going=True)
    assert rejected(report) == [
        (2, "capacity", "must be 1 or more"),
        (3, "capacity", "not a whole number"),
        (4, "geometry", "no location: no coordinates, geometry or address"),
    ]
    assert report.inserted == 1


def test_a_word_among_coordinates_is_a_reported_row(fresh_county, tmp_path, grid_points):
    """Issue 28: a word in a column of numbers and angles (the slow path that reads each cell)
    ended the command with a traceback instead of a row of the report."""
    lon, lat = grid_points["lon"], grid_points["lat"]
    deg, minutes = int(lon[1]), int((lon[1] % 1) * 60)
    seconds = round((lon[1] - deg - minutes / 60) * 3600, 4)
    path = tmp_path / "cams.csv"
    path.write_text(
        "点位编号,点位名称,类型,经度,纬度\n"
        f"C-1,东门,球机,{lon[0]},{lat[0]}\n"
        f'C-2,西门,枪机,"{deg}°{minutes}\'{seconds}""",{lat[1]}\n'
        f"C-3,南门,枪机,abc,{lat[2]}\n",
        encoding="utf-8",
    )
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    report = tmp_path / "report.csv"
    run = citybrain(fresh_county, "import", "cameras", str(path), "--report", str(report))
    assert "Traceback" not in run.stdout + run.stderr and run.returncode == 1, run.stderr
    with report.open(encoding="utf-8-sig", newline="") as f:
        entries = [(e["row"], e["field"], e["reason"], e["value"]) for e in csv.DictReader(f)]
    assert entries == [("4", "经度", "not a number", "abc")]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before
    # The angle beside the word was read all the same.
    assert import_file(fresh_county, "cameras", path, keep_going=True).inserted == 2
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = conn.execute("SELECT ST_X(geom) FROM citybrain.cameras WHERE code = 'C-2'")
        assert got.fetchone()[0] == pytest.approx(deg + minutes / 60 + seconds / 3600, abs=1e-12)


def test_a_heading_a_hair_west_of_north_is_north(fresh_county, tmp_path, grid_points):
    """-1e-20 modulo 360 is 360.0 in floating point, which the schema refuses (heading < 360):
    the whole import was refused, naming no row."""
    path = tmp_path / "cams.csv"
    path.write_text(
        f"code,name,kind,heading,lon,lat\nC-1,a,dome,-1e-20,{grid_points['lon'][0]},"
        f"{grid_points['lat'][0]}\n",
        encoding="utf-8",
    )
    assert import_file(fresh_county, "cameras", path).inserted == 1
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = conn.execute("SELECT heading FROM citybrain.cameras WHERE code = 'C-1'")
        assert got.fetchone()[0] == 0.0


def test_towns_without_names_are_refused(fresh_empty, tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('编码,wkt\n330421001,"POLYGON((120.9 30.8,121 30.8,121 30.9,120.9 30.8))"\n')
    with pytest.raises(InvalidInput, match="towns needs name"):
        import_file(fresh_empty, "towns", path)


def test_nothing_good_writes_nothing(fresh_county, tmp_path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("code,name,kind,lon,lat\nC1,a,tank,120.9,30.85\n", encoding="utf-8")
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    report = import_file(fresh_county, "cameras", path, keep_going=True)
    assert not report.written and report.rejected == 1
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before


def test_a_mapping_file_of_single_values(fresh_county, tmp_path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("values:\n  kind: &a [枪机, 球机]\n  online: {x: *a}\n", encoding="utf-8")
    path = tmp_path / "c.csv"
    path.write_text("code,name,kind,lon,lat\nC1,a,枪机,120.9,30.85\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="must be a mapping|single value"):
        import_file(fresh_county, "cameras", path, mapping_file=mapping)


def test_a_reimport_can_move_a_village_to_another_town(fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        v = polygons(conn, "villages", parent="towns.town_id")
    one = v.iloc[[0]]
    path = tmp_path / "v.geojson"
    gdf = gpd.GeoDataFrame(
        {"code": one["code"], "name": one["name"], "parent": one["parent"]},
        geometry=list(one["geom"]),
        crs=4326,
    )
    gdf.to_file(path)
    assert import_file(fresh_county, "villages", path).updated == 1  # claimed
    assert import_file(fresh_county, "villages", path).unchanged == 1
    # The office says it belongs to the neighbouring town now (and its polygon says so too).
    other = v[v["parent"] != one["parent"].iloc[0]].iloc[0]
    gdf.assign(parent=other["parent"], geometry=[other["geom"]]).to_file(path)
    report = import_file(fresh_county, "villages", path, tolerance_m=0)
    assert report.updated == 1
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        town = conn.execute(
            "SELECT t.code FROM citybrain.villages v JOIN citybrain.towns t ON t.id = v.town_id "
            "WHERE v.code = %s",
            [one["code"].iloc[0]],
        ).fetchone()[0]
    assert town == other["parent"]


def test_another_countys_export_names_match_nothing(fresh_county, tmp_path) -> None:
    """citybrain-<county>-<id> names an incident of one county (one seed): elsewhere it is
    only a name."""
    path = tmp_path / "i.csv"
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        export_layer(conn, "incidents", path, where=["severity=4"], personal=True)
        own = conn.execute(
            "SELECT value FROM citybrain.meta WHERE key = 'county_version'"
        ).fetchone()[0]
    frame = pd.read_csv(path)
    assert frame["external_id"].str.startswith(f"citybrain-{own.replace('-', '')[:12]}-").all()
    first = import_file(fresh_county, "incidents", path)  # the same county: its own rows
    assert (first.inserted, first.updated) == (0, len(frame))  # (claimed by the import)
    again = import_file(fresh_county, "incidents", path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(frame))
    tag = own.replace("-", "")[:12]
    elsewhere = frame.assign(external_id=frame["external_id"].str.replace(tag, "000000000000"))
    elsewhere.to_csv(path, index=False)
    report = import_file(fresh_county, "incidents", path, dry_run=True)
    assert report.inserted == len(frame) and report.updated == 0  # new rows, nothing overwritten


def test_exports_leave_personal_data_out_and_keep_text_as_text(fresh_county, tmp_path) -> None:
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        changed = conn.execute(  # (an incident's text lives in its case file)
            "UPDATE citybrain.case_files SET description = '=HYPERLINK(\"http://x\")', "
            'attributes = \'{"联系电话": "13800000000"}\' WHERE incident_id = 1'
        ).rowcount
        assert changed == 1
        done = export_layer(conn, "incidents", tmp_path / "i.xlsx", where=["severity=4"])
        whole = export_layer(
            conn, "incidents", tmp_path / "one.xlsx", where=["external_id~*-1"], personal=True
        )
        with pytest.raises(InvalidInput, match="is a list"):
            export_layer(conn, "teams", tmp_path / "t.csv", where=["skills=治安"])
    assert any("personal" in n for n in done.notes)
    header = next(openpyxl.load_workbook(tmp_path / "i.xlsx").active.iter_rows(values_only=True))
    assert "reporter_phone" not in header and "联系电话" not in header
    sheet = openpyxl.load_workbook(tmp_path / "one.xlsx").active
    values = [c.value for row in sheet.iter_rows() for c in row]
    types = {c.value: c.data_type for row in sheet.iter_rows() for c in row}
    assert '=HYPERLINK("http://x")' in values and types['=HYPERLINK("http://x")'] == "s"
    assert "13800000000" in values and whole.rows >= 1


@pytest.fixture
def api(fresh_county: str):
    keys = ",".join(f"{role}:{key}" for role, key in API_KEYS.items())
    with (
        LiveServer(Settings(database_url=fresh_county, api_keys=keys, import_max_mb=1)) as live,
        live.client(timeout=60) as client,
    ):
        yield client


def test_uploads_are_only_files_citybrain_reads(api) -> None:
    vrt = (
        b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd'
        b"</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )
    r = api.post("/imports/cameras", files={"file": ("x.vrt", vrt)}, headers=auth("admin"))
    assert r.status_code == 400 and "zipped Shapefile" in r.json()["detail"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.vrt", vrt)
    r = api.post(
        "/imports/cameras", files={"file": ("x.zip", buf.getvalue())}, headers=auth("admin")
    )
    assert r.status_code == 400 and "x.vrt" in r.json()["detail"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.csv", b"0" * (5 * 2**20))  # 5 MB from a few kB: over 4 x 1 MB
    r = api.post(
        "/imports/cameras", files={"file": ("big.zip", bomb.getvalue())}, headers=auth("admin")
    )
    assert r.status_code == 413 and "unpacks to more than" in r.json()["detail"]
