"""12345 work orders (工单): GBK CSV with the hotline's own classification (mapped by a file),
local times in several spellings, GCJ-02 coordinates often missing and addresses instead,
personal data; bad rows reported; a re-export with new statuses updates, not duplicates; and
everything derived from incidents is current afterwards."""

from __future__ import annotations

import json
import select
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import h3
import mapbox_vector_tile
import mercantile
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from citybrain.db.connection import libpq_conninfo
from citybrain.importer.checks import _timeline
from citybrain.importer.prepare import Prepared
from citybrain.importer.report import Report
from citybrain.layers import importable
from tests.utils.databases import snapshot
from tests.utils.keys import auth
from tests.utils.offices import gcj02, import_file, metres_apart, rejected, rows
from tests.utils.server import LiveServer, server_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAPPING = """
fields:
  category: 诉求类型
values:
  category:
    城乡建设: 城市管理
    环境保护: 环境
    治安管理: 治安
    劳动社保: 民生诉求
    邻里纠纷: 矛盾纠纷
"""
SPELLINGS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y年%m月%d日 %H时%M分")


@pytest.fixture
def places(fresh_county: str) -> dict[str, pd.DataFrame]:
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        compounds = rows(
            conn,
            "SELECT cp.name AS compound, v.name AS village, t.name AS town, "
            "ST_X(ST_PointOnSurface(cp.geom)) AS lon, ST_Y(ST_PointOnSurface(cp.geom)) AS lat "
            "FROM citybrain.compounds cp JOIN citybrain.grids g ON g.id = cp.grid_id "
            "JOIN citybrain.villages v ON v.id = g.village_id "
            "JOIN citybrain.towns t ON t.id = v.town_id WHERE cp.kind = 'compound' "
            "AND cp.name NOT IN (SELECT name FROM citybrain.compounds GROUP BY name "
            "HAVING count(*) > 1) ORDER BY cp.code LIMIT 40",
        )
        villages = rows(
            conn,
            "SELECT v.name AS village, t.name AS town, ST_X(ST_PointOnSurface(v.geom)) AS lon, "
            "ST_Y(ST_PointOnSurface(v.geom)) AS lat FROM citybrain.villages v "
            "JOIN citybrain.towns t ON t.id = v.town_id ORDER BY v.code LIMIT 20",
        )
        spots = rows(
            conn,
            "SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT (ST_Dump(ST_GeneratePoints("
            "geom, 1, 11))).geom p FROM citybrain.micro_grids ORDER BY id LIMIT 300) s",
        )
    return {"compounds": compounds, "villages": villages, "spots": spots}


def _orders(places) -> tuple[pd.DataFrame, dict]:
    """300 orders with coordinates, 40 placed by compound, 20 by village, and 6 bad ones."""
    spots, compounds, villages = places["spots"], places["compounds"], places["villages"]
    rng = np.random.default_rng(3)
    n = len(spots)
    received = [
        datetime(2026, 10, 1, 8, 0) + pd.Timedelta(minutes=int(m))
        for m in rng.integers(0, 40_000, n + 60)
    ]
    kinds = ["城乡建设", "环境保护", "治安管理", "劳动社保", "邻里纠纷"]
    lon, lat = gcj02(spots["lon"], spots["lat"])
    addr = [f"嘉善县{c.town}{c.village}{c.compound}3幢" for c in compounds.itertuples()]
    addr += [f"嘉善县{v.town}{v.village}村口" for v in villages.itertuples()]
    frame = pd.DataFrame(
        {
            "工单编号": [f"GD2026{i:06d}" for i in range(n + 60)],
            "来电时间": [t.strftime(SPELLINGS[i % 3]) for i, t in enumerate(received)],
            "诉求类型": [kinds[i % 5] for i in range(n + 60)],
            "诉求内容": ["路灯不亮，请尽快处理"] * (n + 60),
            "事发地址": ["嘉善县某处"] * n + addr,
            "经度": list(np.round(lon, 7)) + [None] * 60,
            "纬度": list(np.round(lat, 7)) + [None] * 60,
            "工单状态": [
                ["已受理", "已派单", "办理中", "已办结", "已回访"][i % 5] for i in range(n + 60)
            ],
            "办结时间": [
                (t + pd.Timedelta(hours=5)).strftime(SPELLINGS[0]) if i % 5 >= 3 else ""
                for i, t in enumerate(received)
            ],
            "来电人": ["张先生"] * (n + 60),
            "来电号码": ["13912345678"] * (n + 60),
            "满意度": ["满意"] * (n + 60),
        }
    )
    bad = pd.DataFrame(
        {
            "工单编号": ["GD2026000005", "GDX1", "GDX2", "GDX3", "GDX4", "GDX5", "GDX6"],
            "来电时间": [
                "2026-10-02 09:00:00",
                "2026-10-02 09:00:00",
                "昨天下午",
                "2026-10-02 09:00:00",
                "2026-10-02 09:00:00",
                "2026-10-02 09:00:00",
                "2026-10-02 09:00:00",
            ],
            "诉求类型": ["治安管理"] * 3 + ["教育培训"] + ["治安管理"] * 3,
            "诉求内容": [
                "重复工单",
                "县外",
                "时间不明",
                "未知类别",
                "无地址",
                "先办结后来电",
                "地址不在本县",
            ],
            "事发地址": ["", "", "", "", "", "", "火星基地一号楼"],  # names no place of the county
            "经度": [120.9, 121.9, 120.9, 120.9, None, 120.9, None],
            "纬度": [30.85, 30.85, 30.85, 30.85, None, 30.85, None],
            "工单状态": ["已受理"] * 5 + ["已办结", "已受理"],
            "办结时间": [""] * 5 + ["2026-10-01 09:00:00", ""],
            "来电人": [""] * 7,
            "来电号码": [""] * 7,
            "满意度": [""] * 7,
        }
    )
    expected_bad = [
        (n + 62, "工单编号", "duplicate external_id: row 7 has it too"),
        (n + 63, "geometry", "outside the county"),
        (n + 64, "来电时间", "not a date and time"),
        (n + 65, "诉求类型", "unknown value: use one of "),
        (n + 66, "geometry", "no location: no coordinates, geometry or address"),
        (n + 67, "办结时间", "earlier than the step before it"),
        (n + 68, "事发地址", "no coordinates, and the address names no compound"),
    ]
    return pd.concat([frame, bad], ignore_index=True), {"bad": expected_bad, "n": n}


def _write(frame: pd.DataFrame, tmp_path) -> tuple:
    path = tmp_path / "12345工单.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    mapping = tmp_path / "12345.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return path, mapping


def test_work_orders(fresh_county, places, tmp_path) -> None:
    frame, expect = _orders(places)
    n = expect["n"]
    path, mapping = _write(frame, tmp_path)
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        before = snapshot(conn)
    strict = import_file(fresh_county, "incidents", path, crs="gcj02", mapping_file=mapping)
    assert not strict.written
    got = [
        (r, f, why[: len(e)])
        for (r, f, why), (_, _, e) in zip(rejected(strict), expect["bad"], strict=True)
    ]
    assert got == expect["bad"]
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        assert snapshot(conn) == before  # nothing written, nothing moved

    report = import_file(
        fresh_county, "incidents", path, crs="gcj02", mapping_file=mapping, keep_going=True
    )
    assert report.written and report.inserted == n + 60 and report.rejected == 7
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        got = rows(
            conn,
            "SELECT external_id, category, status, source, tier, reported_at, resolved_at, "
            "reporter_name, reporter_phone, attributes, location_quality, micro_grid_id, "
            "h3, h3_9, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
            "citybrain.micro_grid_at(geom) AS expected_mg FROM citybrain.incidents i "
            "LEFT JOIN citybrain.case_files f ON f.incident_id = i.id "  # (its case file)
            "WHERE import_id = %s ORDER BY external_id",
            [report.import_id],
        )
    good = frame.iloc[: n + 60].sort_values("工单编号").reset_index(drop=True)
    assert got["external_id"].tolist() == good["工单编号"].tolist()
    cats = {
        "城乡建设": "城市管理",
        "环境保护": "环境",
        "治安管理": "治安",
        "劳动社保": "民生诉求",
        "邻里纠纷": "矛盾纠纷",
    }
    assert got["category"].tolist() == good["诉求类型"].map(cats).tolist()
    steps = {
        "已受理": "reported",
        "已派单": "dispatched",
        "办理中": "on_site",
        "已办结": "resolved",
        "已回访": "closed",
    }
    assert got["status"].tolist() == good["工单状态"].map(steps).tolist()
    assert (got["source"] == "hotline_12345").all()
    local = [_parse_local(t) for t in good["来电时间"]]
    assert [t.astimezone(SHANGHAI) for t in got["reported_at"]] == local
    assert (got["reporter_phone"] == "13912345678").all()
    assert (got["attributes"] == {"满意度": "满意"}).all()
    assert (got["micro_grid_id"] == got["expected_mg"]).all()
    assert [
        h3.str_to_int(h3.latlng_to_cell(la, lo, 9))
        for lo, la in zip(got["lon"], got["lat"], strict=True)
    ] == got["h3_9"].tolist()

    with_coords = got["external_id"] < f"GD2026{n:06d}"
    truth = (
        places["spots"]
        .assign(external_id=[f"GD2026{i:06d}" for i in range(n)])
        .sort_values("external_id")
    )
    apart = metres_apart(
        shapely.points(got.loc[with_coords, "lon"], got.loc[with_coords, "lat"]),
        shapely.points(truth["lon"], truth["lat"]),
    )
    assert apart.max() < 0.5  # GCJ-02 inverted (coordinates rounded to 1e-7 degree in the file)
    assert (got.loc[with_coords, "location_quality"] == "exact").all()
    by_address = got[~with_coords].reset_index(drop=True)
    assert by_address["location_quality"].tolist() == ["compound"] * 40 + ["village"] * 20
    centres = pd.concat([places["compounds"][["lon", "lat"]], places["villages"][["lon", "lat"]]])
    assert np.allclose(by_address["lon"], centres["lon"]) and np.allclose(
        by_address["lat"], centres["lat"]
    )


def _parse_local(text: str) -> datetime:
    for fmt in SPELLINGS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=SHANGHAI)
        except ValueError:
            continue
    raise ValueError(text)


def test_reexport_updates_statuses_and_the_audit_trail(fresh_county, places, tmp_path) -> None:
    frame, expect = _orders(places)
    frame = frame.iloc[:100]
    path, mapping = _write(frame, tmp_path)
    first = import_file(fresh_county, "incidents", path, crs="gcj02", mapping_file=mapping)
    assert first.inserted == 100
    later = frame.copy()
    moved = later["工单状态"] == "已受理"
    later.loc[moved, "工单状态"] = "已派单"
    path2, _ = _write(later, tmp_path)
    again = import_file(fresh_county, "incidents", path2, crs="gcj02", mapping_file=mapping)
    assert (again.inserted, again.updated, again.unchanged) == (
        0,
        int(moved.sum()),
        100 - int(moved.sum()),
    )
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        events = rows(
            conn,
            "SELECT i.external_id, e.action, e.from_status, e.to_status, e.note FROM "
            "citybrain.incident_events e JOIN citybrain.incidents i ON i.id = e.incident_id "
            "WHERE e.action = 'import' ORDER BY i.external_id",
        )
        total = conn.execute(
            "SELECT count(*) FROM citybrain.incidents WHERE external_id LIKE 'GD%%'"
        ).fetchone()[0]
    assert total == 100
    assert events["external_id"].tolist() == sorted(later.loc[moved, "工单编号"])
    assert set(zip(events["from_status"], events["to_status"], strict=True)) == {
        ("reported", "dispatched")
    }
    assert (events["note"] == f"import {again.import_id}").all()


def test_an_import_is_current_everywhere(fresh_county, places, tmp_path) -> None:
    """Tiles re-render, heatmaps count the new incidents, screens hear of it once."""
    frame, _ = _orders(places)
    frame = frame.iloc[:200]
    path, mapping = _write(frame, tmp_path)
    first = places["spots"].iloc[0]
    t = mercantile.tile(first["lon"], first["lat"], 12)
    tile_url = f"/tiles/incidents/12/{t.x}/{t.y}.mvt"
    server = LiveServer(server_settings(fresh_county))
    with server, psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as listener:
        listener.execute("LISTEN citybrain_incidents")
        listener.execute("LISTEN citybrain_incidents_bulk")
        window = {
            "res": 9,
            "start": "2026-10-01T00:00:00+08:00",
            "end": "2026-11-01T00:00:00+08:00",
        }
        with server.client() as http:
            before = http.get("/heatmap/incidents", params=window).json()
            tile = http.get(tile_url)
            report = import_file(fresh_county, "incidents", path, crs="gcj02", mapping_file=mapping)
            assert report.inserted == 200
            after = http.get("/heatmap/incidents", params=window).json()
            tile_after = http.get(tile_url)
            with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
                one = conn.execute(
                    "SELECT id FROM citybrain.incidents WHERE external_id = 'GD2026000007'"
                ).fetchone()[0]
            card = http.get(f"/incidents/{one}", headers=auth("viewer")).json()
        notes = _notifications(listener)
    with psycopg.connect(libpq_conninfo(fresh_county)) as conn:
        truth = dict(
            conn.execute(
                "SELECT lower(to_hex(h3_9)), count(*) FROM citybrain.incidents "
                "WHERE reported_at >= '2026-10-01T00:00:00+08:00' "
                "AND reported_at < '2026-11-01T00:00:00+08:00' GROUP BY 1"
            ).fetchall()
        )
        extent = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
            "FROM citybrain.incidents WHERE import_id = %s) x",
            [report.import_id],
        ).fetchone()
    assert (card["external_id"], card["location_quality"], card["category"]) == (
        "GD2026000007",
        "exact",
        "治安",  # 治安管理, by the mapping file
    )
    assert card["reporter_phone"] == "139****5678"  # a viewer: personal data masked
    counts = {c["h3"]: c["value"] for c in after["cells"]}
    assert (
        counts == truth and sum(counts.values()) == sum(c["value"] for c in before["cells"]) + 200
    )
    assert tile.headers["etag"] != tile_after.headers["etag"]  # rendered again, with them
    clusters = mapbox_vector_tile.decode(tile_after.content)["incidents"]["features"]
    old = mapbox_vector_tile.decode(tile.content)["incidents"]["features"]
    assert sum(f["properties"].get("count", 1) for f in clusters) > sum(
        f["properties"].get("count", 1) for f in old
    )
    assert [channel for channel, _ in notes] == ["citybrain_incidents_bulk"]
    payload = json.loads(notes[0][1])
    assert payload["op"] == "import" and payload["count"] == 200
    assert payload["bbox"] == pytest.approx([round(v, 6) for v in extent], abs=1e-6)


def _notifications(conn: psycopg.Connection, wait_s: float = 1.0) -> list[tuple[str, str]]:
    out = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        select.select([conn.fileno()], [], [], 0.1)
        out.extend((n.channel, n.payload) for n in conn.notifies(timeout=0.05, stop_after=100))
    return out


def test_the_timeline_rule_is_the_schemas(conn) -> None:
    """What the importer refuses as out of order is exactly what ck_incidents_timeline
    refuses (every order of four steps against a report at hour 0)."""
    base = pd.Timestamp("2026-10-01", tz="UTC")
    cases = []
    for d in (None, -1, 1, 3):
        for o in (None, 0, 2, 4):
            for r in (None, 1, 3, 5):
                for c in (None, 2, 4, 6):
                    cases.append(
                        [
                            None if x is None else base + pd.Timedelta(hours=x)
                            for x in (0, d, o, r, c)
                        ]
                    )
    frame = pd.DataFrame(
        cases, columns=["reported_at", "dispatched_at", "on_site_at", "resolved_at", "closed_at"]
    )
    frame["row"] = range(len(frame))
    prep = Prepared(
        importable("incidents"),
        frame,
        np.full(len(frame), None),
        set(),
        {},
        pd.Series([None] * len(frame)),
        bad=np.zeros(len(frame), bool),
    )
    _timeline(prep, Report("incidents", "t", True))
    point = "ST_SetSRID(ST_MakePoint(120.9, 30.85), 4326)"
    accepted = []
    for case in cases:
        conn.execute("SAVEPOINT s")
        try:
            conn.execute(
                "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
                "reported_at, dispatched_at, on_site_at, resolved_at, closed_at, updated_at, geom) "
                "VALUES ('治安', 'grid_patrol', 1, 'reported', 'village', %s, %s, %s, %s, %s, "
                f"now(), {point})",
                case,
            )
            accepted.append(True)
        except psycopg.errors.CheckViolation:
            accepted.append(False)
        conn.execute("ROLLBACK TO SAVEPOINT s")
    assert list(~prep.bad) == accepted
    assert 0 < sum(accepted) < len(accepted)
