"""Bulk loading: keys computed on the way in, the triggers for other writers, all-or-nothing
(H3 cells for other writers: test_h3_sql)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import h3
import pandas as pd
import psycopg
import pytest

from citybrain.ingest import MicroGridIndex, bulk_mode, load_points, timestamp_text
from tests.utils.county import point_in


def _catalog(conn: psycopg.Connection) -> list:
    return conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'citybrain.incidents'::regclass UNION ALL "
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'citybrain' "
        "AND tablename = 'incidents' ORDER BY 1"
    ).fetchall()


def _frame(conn: psycopg.Connection, n: int) -> pd.DataFrame:
    pts = conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM citybrain.micro_grids "
        "ORDER BY id LIMIT %s) s",
        [n],
    ).fetchall()
    now = datetime(2026, 11, 1, tzinfo=UTC)
    tag = uuid.uuid4().hex[:8]  # external ids are unique: each frame's own
    return pd.DataFrame(
        {
            "category": "治安",
            "source": "grid_patrol",
            "severity": 2,
            "status": "reported",
            "tier": "village",
            # text that COPY must escape (external_id: the incidents' text column of their own)
            "external_id": [f'含,逗号 "引号"-{tag}-{i}' for i in range(n)],
            "reported_at": pd.Series([now] * n),
            "updated_at": pd.Series([now] * n),
            "lon": [p[0] for p in pts],
            "lat": [p[1] for p in pts],
        }
    )


def test_load_points_fills_h3_and_micro_grid(conn: psycopg.Connection) -> None:
    frame = _frame(conn, 50)
    before = conn.execute("SELECT max(id) FROM citybrain.incidents").fetchone()[0]
    assert load_points(conn, "incidents", frame) == 50
    rows = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom), h3, micro_grid_id, external_id, reported_at "
        "FROM citybrain.incidents WHERE id > %s ORDER BY id",
        [before],
    ).fetchall()
    assert len(rows) == 50
    for i, (x, y, cell, mg, text, at) in enumerate(rows):
        assert cell == h3.str_to_int(h3.latlng_to_cell(y, x, 15))
        assert mg == i + 1  # the point on the surface of micro-grid n lies in it
        assert text == frame["external_id"][i]
        assert at == datetime(2026, 11, 1, tzinfo=UTC)


def test_trigger_fills_micro_grid_for_any_writer(conn: psycopg.Connection) -> None:
    x, y, mg = conn.execute(
        "SELECT ST_X(p), ST_Y(p), id FROM (SELECT id, ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids WHERE id = 77) s"
    ).fetchone()
    new_id = conn.execute(
        "INSERT INTO citybrain.cameras (code, name, kind, heading, fov, range_m, online, owner, "
        "geom) VALUES ('T1', 't', 'dome', 0, 360, 50, true, 'community', "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
        [x, y],
    ).fetchone()[0]
    assert (
        conn.execute(
            "SELECT micro_grid_id FROM citybrain.cameras WHERE id = %s", [new_id]
        ).fetchone()[0]
        == mg
    )
    # Moved: the trigger finds the new micro-grid.
    x2, y2 = point_in(conn, 900)
    conn.execute(
        "UPDATE citybrain.cameras SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) WHERE id = %s",
        [x2, y2, new_id],
    )
    assert (
        conn.execute(
            "SELECT micro_grid_id FROM citybrain.cameras WHERE id = %s", [new_id]
        ).fetchone()[0]
        == 900
    )


def test_shared_edge_goes_to_lowest_id(conn: psycopg.Connection) -> None:
    # A vertex shared by several micro-grids: the database and the bulk loader agree.
    x, y, owners = conn.execute(
        "WITH v AS (SELECT (ST_DumpPoints(geom)).geom p FROM citybrain.micro_grids WHERE id = 300) "
        "SELECT ST_X(p), ST_Y(p), array_agg(m.id ORDER BY m.id) FROM v "
        "JOIN citybrain.micro_grids m ON ST_Intersects(m.geom, v.p) "
        "GROUP BY p HAVING count(*) >= 3 LIMIT 1"
    ).fetchone()
    assert (
        conn.execute(
            "SELECT citybrain.micro_grid_at(ST_SetSRID(ST_MakePoint(%s, %s), 4326))", [x, y]
        ).fetchone()[0]
        == owners[0]
    )
    assert MicroGridIndex(conn).locate([x], [y]).tolist() == [owners[0]]


def test_bulk_mode_restores_keys_and_indexes(conn: psycopg.Connection) -> None:
    before = _catalog(conn)
    with bulk_mode(conn, "incidents"):
        during = _catalog(conn)
        assert len(during) < len(before)
        assert not any("FOREIGN KEY" in d for _, d in during)
    assert _catalog(conn) == before


def test_failed_load_leaves_nothing(conn: psycopg.Connection) -> None:
    frame = _frame(conn, 10)
    frame.loc[7, "severity"] = 9  # violates the check constraint
    count = conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        load_points(conn, "incidents", frame)
    assert conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0] == count


def test_timestamp_text() -> None:
    values = pd.Series(pd.to_datetime(["2026-01-01T08:00:00.000123+08:00", None], utc=True))
    assert timestamp_text(values).to_pylist() == ["2026-01-01T00:00:00.000123Z", None]


def test_a_bulk_load_is_announced_once(rw_url: str) -> None:
    """The loader pauses the per-statement announcements and sends one summary of the load."""
    from citybrain.db.connection import libpq_conninfo

    with (
        psycopg.connect(libpq_conninfo(rw_url), autocommit=True) as listener,
        psycopg.connect(libpq_conninfo(rw_url)) as writer,
    ):
        listener.execute("LISTEN citybrain_incidents")
        listener.execute("LISTEN citybrain_incidents_bulk")
        frame = _frame(writer, 80)
        before = writer.execute("SELECT max(id) FROM citybrain.incidents").fetchone()[0]
        load_points(writer, "incidents", frame, bulk=True)
        writer.commit()
        notes = list(listener.notifies(timeout=2, stop_after=2))
        writer.execute("DELETE FROM citybrain.incidents WHERE id > %s", [before])
        writer.commit()
    assert [n.channel for n in notes] == ["citybrain_incidents_bulk"]
    summary = json.loads(notes[0].payload)
    assert (summary["op"], summary["count"]) == ("insert", 80)
    lon, lat = frame["lon"], frame["lat"]
    assert summary["bbox"] == pytest.approx([lon.min(), lat.min(), lon.max(), lat.max()], abs=1e-6)
