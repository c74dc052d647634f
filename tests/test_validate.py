"""``citybrain validate`` finds nothing in seeded data and each kind of deliberate damage."""

from __future__ import annotations

import h3
import psycopg
import pytest

from citybrain.db.connection import libpq_conninfo
from citybrain.validate import find_violations
from tests.utils.cli import citybrain
from tests.utils.databases import create_database, sibling


def kinds(conn: psycopg.Connection) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = {}
    for v in find_violations(conn):
        out.setdefault((v.level, v.kind), []).append(v)
    return out


def test_seeded_county_is_clean(conn: psycopg.Connection) -> None:
    assert find_violations(conn) == []


def test_gap_is_found_with_its_area(conn: psycopg.Connection) -> None:
    for table in ("teams", "cameras", "facilities", "incidents"):
        conn.execute(f"UPDATE citybrain.{table} SET micro_grid_id = NULL WHERE micro_grid_id = 50")
    conn.execute("DELETE FROM citybrain.h3_coverage WHERE micro_grid_id = 50")
    code, compound, area = conn.execute(
        "DELETE FROM citybrain.micro_grids m USING citybrain.compounds c "
        "WHERE m.id = 50 AND c.id = m.compound_id "
        "RETURNING m.code, c.code, ST_Area(m.geom::geography)"
    ).fetchone()
    found = kinds(conn)
    gaps = found[("compounds", "gap")]
    assert [g.codes for g in gaps] == [(compound,)]
    assert gaps[0].area_m2 == pytest.approx(area, rel=1e-3)


def test_overlap_and_outside_parent_are_found(conn: psycopg.Connection) -> None:
    code = conn.execute(
        "UPDATE citybrain.micro_grids SET geom = ST_Multi(ST_Translate(geom, 0.001, 0)) "
        "WHERE id = 120 RETURNING code"
    ).fetchone()[0]
    found = kinds(conn)
    overlaps = found[("micro_grids", "overlap")]
    assert all(code in v.codes for v in overlaps) and all(v.area_m2 > 1 for v in overlaps)
    outside = found[("micro_grids", "outside_parent")]
    assert [v.codes[0] for v in outside] == [code]
    assert ("compounds", "gap") in found  # it left a hole where it was


def test_points_outside_or_misplaced_are_found(conn: psycopg.Connection) -> None:
    cells = [h3.str_to_int(h3.latlng_to_cell(30, 100, r)) for r in (15, *range(5, 12))]
    conn.execute(
        "UPDATE citybrain.incidents SET geom = 'SRID=4326;POINT(100 30)', h3 = %s, "
        + ", ".join(f"h3_{r} = %s" for r in range(5, 12))
        + " WHERE id = 10",
        cells,
    )
    conn.execute(
        "UPDATE citybrain.incidents SET micro_grid_id = micro_grid_id % 9000 + 1 "
        "WHERE id BETWEEN 20 AND 22"
    )
    found = {v.detail: v.codes for v in kinds(conn)[("incidents", "point")]}
    assert found == {
        "1 outside every micro-grid": ("incidents#10",),
        "3 not in its micro-grid": ("incidents#20", "incidents#21", "incidents#22"),
    }


def test_cli_exit_codes(seeded: str) -> None:
    ok = citybrain(seeded, "validate")
    assert ok.returncode == 0, ok.stderr
    assert "no violations" in ok.stderr

    # A scratch database with two overlapping towns and nothing under them.
    url = sibling(seeded, "_broken")
    create_database(url)
    with psycopg.connect(libpq_conninfo(url)) as c:
        c.execute(
            "INSERT INTO citybrain.towns (id, code, name, geom) VALUES "
            "(1, 'A', 'a', ST_Multi(ST_MakeEnvelope(120.90, 30.80, 120.92, 30.82, 4326))), "
            "(2, 'B', 'b', ST_Multi(ST_MakeEnvelope(120.91, 30.80, 120.93, 30.82, 4326)))"
        )
    bad = citybrain(url, "validate")
    assert bad.returncode == 1, bad.stderr
    lines = [line.split("\t") for line in bad.stdout.splitlines()[1:]]
    assert ["towns", "overlap", "A,B"] in [line[:3] for line in lines]
    assert {tuple(line[:3]) for line in lines if line[1] == "gap"} == {
        ("towns", "gap", "A"),
        ("towns", "gap", "B"),
    }
    overlap_m2 = float(next(line[3] for line in lines if line[1] == "overlap"))
    assert overlap_m2 == pytest.approx(0.01 * 0.02 * 110_900 * 95_600, rel=0.01)
