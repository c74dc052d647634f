"""``POST /imports/{layer}``: admins only, a dry run unless asked, Shapefiles as parts or
zipped, the report as JSON, bounded bodies; and the ``citybrain import`` command around the
same code (help, exit statuses, the report file)."""

from __future__ import annotations

import csv
import io
import zipfile

import geopandas as gpd
import psycopg
import pytest

from citybrain.db.connection import libpq_conninfo
from citybrain.settings import Settings
from tests.utils.cli import citybrain
from tests.utils.databases import snapshot
from tests.utils.keys import API_KEYS, auth
from tests.utils.offices import polygons
from tests.utils.server import LiveServer


@pytest.fixture
def api(fresh_county: str):
    keys = ",".join(f"{role}:{key}" for role, key in API_KEYS.items())
    settings = Settings(database_url=fresh_county, api_keys=keys, import_max_mb=1)
    with LiveServer(settings) as live, live.client(timeout=60) as client:
        yield client


@pytest.fixture
def villages_shp(fresh_county: str, tmp_path):
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        v = polygons(conn, "villages", parent="towns.town_id")
    v = v[v["parent"] == "330421001"]
    gdf = gpd.GeoDataFrame(
        {"code": v["code"], "name": v["name"]}, geometry=list(v["geom"]), crs=4490
    )
    path = tmp_path / "村.shp"
    gdf.to_file(path, encoding="UTF-8")
    parts = sorted(tmp_path.glob("村.*"))
    return path, parts, len(v)


def test_only_admins_may_import(api, villages_shp) -> None:
    _, parts, _ = villages_shp
    files = [("file", (p.name, p.read_bytes())) for p in parts]
    assert api.post("/imports/villages", files=files).status_code == 401
    for role in ("viewer", "dispatcher"):
        r = api.post("/imports/villages", files=files, headers=auth(role))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_a_dry_run_unless_asked(api, fresh_county, villages_shp) -> None:
    _, parts, n = villages_shp
    files = [("file", (p.name, p.read_bytes())) for p in parts]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    r = api.post("/imports/villages", files=files, headers=auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] and not body["written"] and body["updated"] == n
    assert body["crs"] == "EPSG:4490" and body["source"] == "村.shp"
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before
    r = api.post("/imports/villages", files=files, data={"dry_run": "false"}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["written"] and r.json()["import_id"] == 1
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        actor = conn.execute("SELECT actor FROM citybrain.imports").fetchone()[0]
        imported = conn.execute(
            "SELECT count(*) FROM citybrain.villages WHERE import_id = 1"
        ).fetchone()[0]
    assert actor == "env-admin-1" and imported == n
    # The card of an imported village says where its boundary came from.
    card = api.get("/areas/330421001001").json()
    assert card["boundary"] == "imported"


def test_a_zipped_shapefile_and_a_rejection(api, villages_shp) -> None:
    _, parts, n = villages_shp
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in parts:
            z.write(p, p.name)
    r = api.post(
        "/imports/villages",
        files={"file": ("villages.zip", buf.getvalue())},
        data={"map": ["code=name"]},  # names are not codes: no parent by prefix, and...
        headers=auth("admin"),
    )
    assert r.status_code == 200, r.text  # ... a name-coded village still finds its town
    assert r.json()["inserted"] == n
    bad = api.post(
        "/imports/villages",
        files={"file": ("v.csv", b"code,name,lon,lat\n330421001001,x,0,0\n")},
        headers=auth("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "import_rejected"
    entry = bad.json()["report"]["entries"][0]
    assert (entry["outcome"], entry["row"], entry["field"]) == ("rejected", 2, "geometry")


def test_bad_requests(api) -> None:
    admin = auth("admin")
    refused = [  # layer, file, form, what the 400's detail says
        ("roads", ("a.csv", b"x"), None, "one of towns"),
        ("towns", None, {"crs": "wgs84"}, "no file"),
        ("towns", ("a.csv", b"code,name\n"), {"dry_run": "perhaps"}, "dry_run"),
        ("towns", ("a.csv", b"code,name\n1,x\n"), {"crs": "EPSG:99999"}, "unknown crs"),
        ("towns", ("a.xlsx", b"not a workbook"), None, "spreadsheet"),
    ]
    for layer, file, form, says in refused:
        files = {"file": file} if file else None
        r = api.post(f"/imports/{layer}", files=files, data=form, headers=admin)
        assert r.status_code == 400 and says in r.json()["detail"], (layer, file, form)
    r = api.post("/imports/towns", files={"file": ("a.csv", b"x" * (2 * 2**20))}, headers=admin)
    assert r.status_code == 413 and r.json()["code"] == "too_large"


# --- the command -------------------------------------------------------------------------------


def test_help_lists_the_layers_columns(fresh_county) -> None:
    out = citybrain(fresh_county, "import", "cameras", "--help")
    assert out.returncode == 0
    for line in ("key: code", "kind", "required", "点位编号", "朝向"):
        assert line in out.stderr, line


def test_exit_statuses_and_the_report_file(fresh_county, tmp_path) -> None:
    bad = tmp_path / "towns.csv"
    bad.write_text("code,name,wkt\n330421001,魏塘街道,POINT (120.9 30.85)\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    out = citybrain(fresh_county, "import", "towns", str(bad), "--report", str(report))
    assert out.returncode == 1, out.stderr
    with report.open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    assert [
        (r["outcome"], r["row"], r["field"], r["reason"])
        for r in lines
        if r["outcome"] == "rejected"
    ] == [("rejected", "2", "geometry", "not a polygon")]
    out = citybrain(fresh_county, "import", "towns", str(tmp_path / "missing.csv"))
    assert out.returncode == 2 and "no such file" in out.stderr
