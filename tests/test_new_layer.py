"""A new map layer is a migration and one file (docs/architecture.md, "Recipe: a new map
layer"): a table made with plain SQL and ``citybrain.make_layer_table``, and a layer file in
the layers directory, with no other code. The layer is then an OGC collection, a vector-tile
layer, an import target that takes the office's own headers and values, and an export that
imports back as it was; the server reads it through its request role.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import mercantile
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from pyproj import Transformer

from citybrain.db.connection import libpq_conninfo
from citybrain.layers import load_layers, tiled
from citybrain.synth import tables
from tests.utils.cli import citybrain
from tests.utils.databases import clone_database, sibling
from tests.utils.keys import auth
from tests.utils.server import LiveServer, server_settings

ROOT = Path(__file__).resolve().parents[1]
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
TILE = mercantile.Tile(x=13694, y=6714, z=14)  # the county's centre (test_tiles.CENTRE)

# What a county's migration for the layer holds: its table, and the one call.
MIGRATION = """
CREATE TABLE citybrain.hydrants (
    id serial PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('pillar', 'underground')),
    flow_lps double precision,
    in_service boolean NOT NULL DEFAULT true,
    keeper_phone text,
    geom geometry(Point, 4326) NOT NULL
);
"""
MAKE = "SELECT citybrain.make_layer_table('hydrants')"
LAYER_FILE = """\
# 消防栓: a layer of the county's own, declared in this file alone.
id: hydrants
title: {zh: 消防栓, en: Fire hydrants}
source: {table: hydrants}
geometry: point
columns:
  code: {aliases: [消防栓编号]}
  name: {aliases: [消防栓名称]}
  kind:
    type: enum
    choices: [pillar, underground]
    required: true
    doc: pillar or underground (地上/地下)
    aliases: [类型]
    values: {地上: pillar, 地上式: pillar, 地下: underground, 地下式: underground}
  flow_lps: {type: float, doc: litres a second, aliases: [流量]}
  in_service:
    type: bool
    doc: in service
    aliases: [是否可用]
    values: {可用: "true", 停用: "false"}
  keeper_phone: {doc: the keeper's phone, aliases: [联系电话], personal: true}
import: {title: 消防栓 fire hydrants}
properties: [code, name, kind, flow_lps, in_service]
minzoom: 10
order: 66
style:
  - type: circle
    paint: {circle-radius: 4, circle-color: "#e53935"}
"""
# The office's list: its own headers and words; what citybrain stores for each row.
KINDS = ["地上", "地下", "地上式", "underground", "地下式", "pillar"]
STORED_KINDS = ["pillar", "underground", "pillar", "underground", "underground", "pillar"]
SERVICE = ["可用", "停用", "true", "可用", "false", "可用"]
STORED_SERVICE = [True, False, True, True, False, True]
FLOWS = [10.0, 12.5, 15.0, 20.25, 8.0, 30.0]


def _places(conn: psycopg.Connection) -> list[tuple[float, float]]:
    """Five points in the centre's zoom-14 tile (well inside it) and one outside it: points on
    micro-grids, so inside the county."""
    w, s, e, n = mercantile.bounds(TILE)
    pad = (e - w) / 8
    inner = [w + pad, s + pad, e - pad, n - pad]
    query = (
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids) m "
        "WHERE ST_Within(p, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) = %s ORDER BY code LIMIT %s"
    )
    inside = conn.execute(query, [*inner, True, 5]).fetchall()
    outside = conn.execute(query, [w - pad, s - pad, e + pad, n + pad, False, 1]).fetchall()
    assert len(inside) == 5 and len(outside) == 1
    return [*inside, *outside]


@pytest.fixture(scope="module")
def county(db_url: str, county_template: str, tmp_path_factory) -> Iterator[dict]:
    """A copy of the county with the migration applied, the layers directory (the project's
    files and the new one), and the office's file."""
    url = sibling(db_url, "_newlayer")
    clone_database(county_template, url)
    folder = tmp_path_factory.mktemp("newlayer")
    layers = folder / "layers"
    shutil.copytree(ROOT / "layers", layers)
    (layers / "hydrants.yaml").write_text(LAYER_FILE, encoding="utf-8")
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(MIGRATION)
        before = {
            "server_reads": conn.execute(
                "SELECT has_table_privilege('citybrain_server', 'citybrain.hydrants', 'SELECT')"
            ).fetchone()[0],
            "tiled": tiled(conn, "hydrants"),
        }
        conn.execute(MAKE)
        places = _places(conn)
    office = pd.DataFrame(
        {
            "消防栓编号": [f"XF{i + 1:03d}" for i in range(6)],
            "消防栓名称": [f"{i + 1}号消防栓" for i in range(6)],
            "类型": KINDS,
            "流量": FLOWS,
            "是否可用": SERVICE,
            "联系电话": [f"1380000{i:04d}" for i in range(6)],
            "经度": [lon for lon, _ in places],
            "纬度": [lat for _, lat in places],
            "备注": [f"第{i + 1}号" for i in range(6)],
        }
    )
    source = folder / "消防栓.csv"
    office.to_csv(source, index=False, encoding="utf-8", float_format="%.17g")
    env = {"CITYBRAIN_LAYERS_DIR": str(layers)}
    imported = citybrain(url, "import", "hydrants", str(source), env=env)
    yield {
        "url": url,
        "layers": layers,
        "env": env,
        "office": office,
        "before": before,
        "imported": imported,
        "folder": folder,
    }


@pytest.fixture(scope="module")
def api(county: dict) -> Iterator[httpx.Client]:
    settings = server_settings(county["url"], layers_dir=county["layers"])
    with LiveServer(settings) as live, live.client() as client:
        yield client


def _stored(url: str) -> pd.DataFrame:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        cur = conn.execute(
            "SELECT id, code, name, kind, flow_lps, in_service, keeper_phone, attributes, "
            "ST_X(geom) AS lon, ST_Y(geom) AS lat, import_id FROM citybrain.hydrants ORDER BY code"
        )
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_the_migration_makes_a_layer_table(county: dict) -> None:
    # Before make_layer_table: the request role reads the new table by the default privileges
    # of migration 0014 (the owner made it); it is not yet a map table.
    assert county["before"] == {"server_reads": True, "tiled": False}
    with psycopg.connect(libpq_conninfo(county["url"])) as conn:
        assert tiled(conn, "hydrants")
        granted = conn.execute(
            "SELECT has_table_privilege('citybrain_server', 'citybrain.hydrants', 'SELECT'), "
            "has_table_privilege('citybrain_server', 'citybrain.hydrants', 'INSERT'), "
            "has_table_privilege('citybrain_importer', 'citybrain.hydrants', 'INSERT'), "
            "has_sequence_privilege('citybrain_importer', 'citybrain.hydrants_id_seq', 'USAGE')"
        ).fetchone()
        assert granted == (True, False, True, True)
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'citybrain' "
                "AND tablename = 'hydrants'"
            )
        }
        assert any("USING gist (geom)" in d for d in indexes), indexes
        conn.execute(MAKE)  # again: nothing breaks, nothing doubles
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'citybrain.hydrants'::regclass "
            "AND tgname LIKE 'hydrants_tiles_%'"
        ).fetchone()[0]
        assert triggers == 4
        conn.rollback()
    layers = load_layers(county["layers"])
    assert "hydrants" in tables(layers)  # a seed replaces the county's own layer too


def test_an_import_takes_the_declared_headers_and_values(county: dict) -> None:
    out = county["imported"]
    assert out.returncode == 0, out.stderr
    office = county["office"]
    got = _stored(county["url"])
    assert got["code"].tolist() == office["消防栓编号"].tolist()
    assert got["name"].tolist() == office["消防栓名称"].tolist()
    assert got["kind"].tolist() == STORED_KINDS
    assert got["flow_lps"].tolist() == FLOWS
    assert got["in_service"].tolist() == STORED_SERVICE
    assert got["keeper_phone"].tolist() == office["联系电话"].tolist()
    assert got["attributes"].tolist() == [{"备注": v} for v in office["备注"]]
    assert np.allclose(got["lon"], office["经度"], atol=1e-12)
    assert np.allclose(got["lat"], office["纬度"], atol=1e-12)
    with psycopg.connect(libpq_conninfo(county["url"])) as conn:
        log = conn.execute(
            "SELECT id, layer, inserted, updated, rejected FROM citybrain.imports "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert log[1:] == ("hydrants", 6, 0, 0) and set(got["import_id"]) == {log[0]}
    helped = citybrain(county["url"], "import", "hydrants", "--help", env=county["env"])
    assert helped.returncode == 0
    for line in ("hydrants: 消防栓 fire hydrants", "key: code", "消防栓编号", "流量", "经度"):
        assert line in helped.stderr, line


def test_the_layer_is_an_ogc_collection(county: dict, api: httpx.Client) -> None:
    collections = {c["id"]: c for c in api.get("/collections").json()["collections"]}
    assert collections["hydrants"]["title"] == "消防栓 Fire hydrants"
    got = _stored(county["url"]).set_index("id")
    items = api.get("/collections/hydrants/items", params={"limit": 100}).json()
    assert items["numberMatched"] == len(got) == 6
    for feature in items["features"]:
        row = got.loc[feature["id"]]
        shown = {k: row[k] for k in ("code", "name", "kind", "flow_lps", "in_service")}
        assert feature["properties"] == shown  # never the keeper's phone or the attributes
        assert feature["geometry"]["coordinates"] == pytest.approx([row["lon"], row["lat"]])
    underground = api.get("/collections/hydrants/items", params={"kind": "underground"}).json()
    assert sorted(f["id"] for f in underground["features"]) == sorted(
        got.index[got["kind"] == "underground"]
    )
    schema = api.get("/collections/hydrants/queryables").json()["properties"]
    assert schema["flow_lps"]["type"] == "number" and schema["in_service"]["type"] == "boolean"
    assert "keeper_phone" not in schema
    refused = api.get("/collections/hydrants/items", params={"properties": "keeper_phone"})
    assert refused.status_code == 400 and "keeper_phone" in refused.json()["detail"]


def _tile(api: httpx.Client) -> dict[int, dict]:
    r = api.get(f"/tiles/hydrants/{TILE.z}/{TILE.x}/{TILE.y}.mvt")
    assert r.status_code == 200
    layers = mapbox_vector_tile.decode(r.content) if r.content else {}
    return {f["id"]: f["properties"] for f in layers.get("hydrants", {}).get("features", [])}


def test_the_layer_is_in_vector_tiles(county: dict, api: httpx.Client) -> None:
    got = _stored(county["url"])
    x, y = TO_3857.transform(got["lon"].to_numpy(), got["lat"].to_numpy())
    b = mercantile.xy_bounds(TILE)
    margin = (b.right - b.left) * 64 / 4096
    box = shapely.box(b.left - margin, b.bottom - margin, b.right + margin, b.top + margin)
    inside = shapely.intersects(shapely.points(x, y), box)
    expected = {
        int(r.id): {
            "code": r.code,
            "name": r.name,
            "kind": r.kind,
            "flow_lps": r.flow_lps,
            "in_service": r.in_service,
        }
        for r in got[inside].itertuples()
    }
    assert len(expected) == 5  # (the sixth lies in another tile)
    assert _tile(api) == expected
    style = api.get("/style.json").json()["layers"]
    assert [s["paint"] for s in style if s.get("source-layer") == "hydrants"] == [
        {"circle-radius": 4, "circle-color": "#e53935"}
    ]
    # A write moves the tile's version (the triggers make_layer_table installed): the cached
    # tile is not served again.
    first = min(expected)
    with psycopg.connect(libpq_conninfo(county["url"]), autocommit=True) as conn:
        conn.execute("UPDATE citybrain.hydrants SET name = name || '*' WHERE id = %s", [first])
        try:
            assert _tile(api)[first]["name"] == expected[first]["name"] + "*"
        finally:
            conn.execute(
                "UPDATE citybrain.hydrants SET name = %s WHERE id = %s",
                [expected[first]["name"], first],
            )
    assert _tile(api) == expected


def test_an_export_imports_back_as_it_was(county: dict, api: httpx.Client) -> None:
    target = county["folder"] / "export.csv"
    out = citybrain(
        county["url"], "export", "hydrants", str(target), "--personal", env=county["env"]
    )
    assert out.returncode == 0, out.stderr
    with target.open(encoding="utf-8-sig") as f:
        exported = list(csv.DictReader(f))
    got = _stored(county["url"])
    assert [r["code"] for r in exported] == got["code"].tolist()
    assert [r["kind"] for r in exported] == STORED_KINDS
    assert [float(r["flow_lps"]) for r in exported] == FLOWS
    assert [r["in_service"] for r in exported] == [str(v) for v in STORED_SERVICE]
    assert [r["keeper_phone"] for r in exported] == got["keeper_phone"].tolist()
    assert [r["备注"] for r in exported] == county["office"]["备注"].tolist()
    assert [float(r["lon"]) for r in exported] == got["lon"].tolist()
    assert [float(r["lat"]) for r in exported] == got["lat"].tolist()
    before = _stored(county["url"])
    back = citybrain(county["url"], "import", "hydrants", str(target), env=county["env"])
    assert back.returncode == 0, back.stderr
    with psycopg.connect(libpq_conninfo(county["url"])) as conn:
        counts = conn.execute(
            "SELECT inserted, updated, unchanged FROM citybrain.imports ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert counts == (0, 0, 6)
    pd.testing.assert_frame_equal(_stored(county["url"]), before)
    # The same file over HTTP (a dry run): the import's own process gets the declaration.
    r = api.post(
        "/imports/hydrants",
        files={"file": ("export.csv", target.read_bytes())},
        headers=auth("admin"),
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["layer"], report["dry_run"], report["unchanged"]) == ("hydrants", True, 6)
    assert report["inserted"] == report["updated"] == report["rejected"] == 0
