"""H3 in PostgreSQL (``citybrain.h3_latlng_to_cells``, migration 0010) against h3-py, and the
trigger that gives every point row its cells whoever writes it."""

from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import psycopg
import pytest

from citybrain.ingest import load_points
from tests.utils.county import point_in

HEAT = range(5, 12)


def _signed(cell: int) -> int:
    return cell - (1 << 64) if cell >= 1 << 63 else cell


def _sql_cells(conn: psycopg.Connection, lat, lng, res) -> list[int]:
    rows = conn.execute(
        "SELECT citybrain.h3_latlng_to_cell(a, b, c) "
        "FROM unnest(%s::float8[], %s::float8[], %s::int[]) WITH ORDINALITY u(a, b, c, o) "
        "ORDER BY o",
        [list(map(float, lat)), list(map(float, lng)), list(map(int, res))],
    ).fetchall()
    return [r[0] for r in rows]


def _assert_same(conn: psycopg.Connection, lat, lng, res) -> None:
    got = _sql_cells(conn, lat, lng, res)
    want = [_signed(h3i.latlng_to_cell(a, b, c)) for a, b, c in zip(lat, lng, res, strict=True)]
    wrong = [(a, b, c) for a, b, c, g, w in zip(lat, lng, res, got, want, strict=True) if g != w]
    assert not wrong, f"{len(wrong)} of {len(want)} differ from h3-py, e.g. {wrong[:3]}"


def test_any_point_any_resolution(conn: psycopg.Connection) -> None:
    """Points spread evenly over the sphere (every face, both poles' neighbourhoods)."""
    rng = np.random.default_rng(7)
    n = 16_000
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lng = rng.uniform(-180, 180, n)
    _assert_same(conn, lat, lng, np.arange(n) % 16)


def test_around_pentagons_and_face_edges(conn: psycopg.Connection) -> None:
    """Where H3 is hardest: near the 12 pentagons (deleted k-axis subsequence, cw/ccw offset
    faces) and along icosahedron edges (cells whose base cell lies on another face)."""
    rng = np.random.default_rng(11)
    lat, lng, res = [], [], []
    for r in range(16):
        edge = h3i.average_hexagon_edge_length(r, unit="km") / 111.0
        for pentagon in h3i.get_pentagons(r):
            plat, plng = h3i.cell_to_latlng(pentagon)
            for spread in (0.3, 1.0, 3.0):
                for _ in range(4):
                    lat.append(plat + rng.normal() * edge * spread)
                    lng.append(plng + rng.normal() * edge * spread / np.cos(np.radians(plat)))
                    res.append(r)
    for base in h3i.get_res0_cells():
        for child in h3i.cell_to_children(base, 1):
            for vlat, vlng in h3i.cell_to_boundary(child):
                lat.append(vlat + rng.normal() * 1e-5)
                lng.append(vlng + rng.normal() * 1e-5)
                res.append(int(rng.integers(0, 16)))
    lat = np.clip(lat, -90, 90)
    lng = (np.asarray(lng) + 180) % 360 - 180
    _assert_same(conn, lat, lng, res)


def test_several_resolutions_at_once(conn: psycopg.Connection) -> None:
    lat, lng = 30.8502, 120.9119  # 魏塘
    resolutions = [15, *HEAT, 0]
    (cells,) = conn.execute(
        "SELECT citybrain.h3_latlng_to_cells(%s, %s, %s)", [lat, lng, resolutions]
    ).fetchone()
    assert cells == [_signed(h3i.latlng_to_cell(lat, lng, r)) for r in resolutions]


@pytest.mark.parametrize(
    ("lat", "lng", "res", "message"),
    [
        (30.0, 120.0, 16, "H3 resolution 16 is outside 0..15"),
        (30.0, 120.0, -1, "H3 resolution -1 is outside 0..15"),
        (float("nan"), 120.0, 9, "is not a finite latitude and longitude"),
        (30.0, float("inf"), 9, "is not a finite latitude and longitude"),
    ],
)
def test_bad_input_is_refused(
    conn: psycopg.Connection, lat: float, lng: float, res: int, message: str
) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        conn.execute("SELECT citybrain.h3_latlng_to_cell(%s, %s, %s)", [lat, lng, res])


def _incident_cells(conn: psycopg.Connection, incident_id: int) -> dict[str, int]:
    cols = ["h3", *(f"h3_{r}" for r in HEAT)]
    row = conn.execute(
        f"SELECT {', '.join(cols)} FROM citybrain.incidents WHERE id = %s", [incident_id]
    ).fetchone()
    return dict(zip(cols, row, strict=True))


def _expected(lat: float, lng: float) -> dict[str, int]:
    return {
        "h3": _signed(h3i.latlng_to_cell(lat, lng, 15)),
        **{f"h3_{r}": _signed(h3i.latlng_to_cell(lat, lng, r)) for r in HEAT},
    }


_INSERT = (
    "INSERT INTO citybrain.incidents (category, source, severity, status, tier, reported_at, "
    "updated_at, geom{extra}) VALUES ('治安', 'grid_patrol', 2, 'reported', 'village', now(), "
    "now(), ST_SetSRID(ST_MakePoint(%s, %s), 4326){values}) RETURNING id"
)


def test_a_plain_sql_writer_gets_every_cell(conn: psycopg.Connection) -> None:
    lng, lat = 120.9119, 30.8502
    new = conn.execute(_INSERT.format(extra="", values=""), [lng, lat]).fetchone()[0]
    assert _incident_cells(conn, new) == _expected(lat, lng)

    # Cells of another place are replaced by the point's own.
    wrong = _expected(30.0, 121.5)
    cols = ", " + ", ".join(wrong)
    other = conn.execute(
        _INSERT.format(extra=cols, values=", %s" * len(wrong)), [lng, lat, *wrong.values()]
    ).fetchone()[0]
    assert _incident_cells(conn, other) == _expected(lat, lng)

    # A move (by a writer that knows nothing of H3) moves every cell with it.
    conn.execute(
        "UPDATE citybrain.incidents SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
        "WHERE id = %s",
        [lng + 0.001, lat, new],  # ~95 m east
    )
    assert _incident_cells(conn, new) == _expected(lat, lng + 0.001)

    # Writing a cell alone cannot break the agreement either.
    conn.execute("UPDATE citybrain.incidents SET h3_9 = 0 WHERE id = %s", [new])
    assert _incident_cells(conn, new) == _expected(lat, lng + 0.001)


def test_other_point_tables_get_their_cell(conn: psycopg.Connection) -> None:
    team, x, y = conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM citybrain.teams ORDER BY id LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE citybrain.teams SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) WHERE id = %s",
        [x, y + 0.0001, team],  # ~11 m north
    )
    cell = conn.execute("SELECT h3 FROM citybrain.teams WHERE id = %s", [team]).fetchone()[0]
    assert cell == _signed(h3i.latlng_to_cell(y + 0.0001, x, 15))
    facility = conn.execute(
        "INSERT INTO citybrain.facilities (kind, name, capacity, geom) "
        "VALUES ('police_post', 't', 5, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING h3",
        [x, y],
    ).fetchone()[0]
    assert facility == _signed(h3i.latlng_to_cell(y, x, 15))


def test_the_loaders_word_is_taken_only_for_its_own_rows(conn: psycopg.Connection) -> None:
    """The bulk loader computes cells with h3-py and says so (``citybrain.cells_given``); the
    database keeps them. A write after the load in the same transaction is computed again."""
    lng, lat = point_in(conn, 40)
    frame = pd.DataFrame(
        {
            "category": ["治安"],
            "source": "grid_patrol",
            "severity": 2,
            "status": "reported",
            "tier": "village",
            "reported_at": pd.Timestamp("2026-11-01", tz="UTC"),
            "updated_at": pd.Timestamp("2026-11-01", tz="UTC"),
            "lon": [lng],
            "lat": [lat],
        }
    )
    before = conn.execute("SELECT max(id) FROM citybrain.incidents").fetchone()[0]
    assert load_points(conn, "incidents", frame, bulk=False) == 1
    loaded = conn.execute("SELECT id FROM citybrain.incidents WHERE id > %s", [before]).fetchone()[
        0
    ]
    assert _incident_cells(conn, loaded) == _expected(lat, lng)
    assert conn.execute("SELECT current_setting('citybrain.cells_given')").fetchone()[0] == "off"
    wrong = _expected(30.0, 121.5)
    after = conn.execute(
        _INSERT.format(extra=", " + ", ".join(wrong), values=", %s" * len(wrong)),
        [lng, lat, *wrong.values()],
    ).fetchone()[0]
    assert _incident_cells(conn, after) == _expected(lat, lng)
