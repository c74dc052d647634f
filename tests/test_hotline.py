"""12345 work orders pushed by the hotline's system (issue 32, 一窗受理): one incident per order
number however often it is pushed (retries, racing pushes, other callers), its GCJ-02 point
converted as a peer library converts it back, and bad pushes refused without a trace."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psycopg
import pytest

from tests.utils.county import point_in
from tests.utils.keys import auth
from tests.utils.offices import gcj02

INTAKE, DISPATCHER = auth("intake"), auth("dispatcher")


def _order(lon: float, lat: float, **extra) -> dict:
    glon, glat = gcj02(np.array([lon]), np.array([lat]))
    return {
        "lon": float(glon[0]),
        "lat": float(glat[0]),
        "crs": "gcj02",
        "category": "民生诉求",
        "description": "路灯不亮",
        "reporter_name": "李四",
        "reporter_phone": "13900002222",
        **extra,
    }


def _cases(conn: psycopg.Connection, order_no: str) -> list[tuple]:
    return conn.execute(
        "SELECT id, source, category, ST_X(geom), ST_Y(geom) FROM citybrain.incidents "
        "WHERE external_id = %s",
        [order_no],
    ).fetchall()


def test_an_order_is_one_case_however_often_pushed(
    rw: httpx.Client, rw_conn: psycopg.Connection
) -> None:
    lon, lat = point_in(rw_conn, 3100)
    body = _order(lon, lat)
    first = rw.put("/hotline/orders/GD20261101-0001", json=body, headers=INTAKE)
    assert first.status_code == 201, first.text
    made = first.json()
    assert (
        made["created"] is True and first.headers["location"] == f"/incidents/{made['incident_id']}"
    )
    (case,) = _cases(rw_conn, "GD20261101-0001")
    assert case[0] == made["incident_id"] and case[1:3] == ("hotline_12345", "民生诉求")
    # The GCJ-02 point came back to where it was (within a metre: the conversion's inverse).
    assert abs(case[3] - lon) < 1e-5 and abs(case[4] - lat) < 1e-5
    again = rw.put("/hotline/orders/GD20261101-0001", json=body, headers=INTAKE)
    assert again.status_code == 200 and again.json() == {**made, "created": False}
    # Another caller's push of the same order: the same case.
    other = rw.put("/hotline/orders/GD20261101-0001", json=body, headers=DISPATCHER)
    assert other.status_code == 200 and other.json()["incident_id"] == made["incident_id"]
    # The same caller with other content: refused, nothing changed.
    changed = rw.put(
        "/hotline/orders/GD20261101-0001", json={**body, "category": "环境"}, headers=INTAKE
    )
    assert changed.status_code == 409 and "different" in changed.json()["detail"]
    assert _cases(rw_conn, "GD20261101-0001") == [case]
    events = rw_conn.execute(
        "SELECT count(*) FROM citybrain.incident_events WHERE incident_id = %s", [case[0]]
    ).fetchone()[0]
    assert events == 1


def test_racing_pushes_make_one_case(rw: httpx.Client, rw_conn: psycopg.Connection, rw_server):
    lon, lat = point_in(rw_conn, 3200)
    body = _order(lon, lat)

    def push(k: int) -> httpx.Response:
        with rw_server.client() as c:
            return c.put(
                "/hotline/orders/GD-RACE-7", json=body, headers=(INTAKE, DISPATCHER)[k % 2]
            )

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(push, range(10)))
    assert sorted(r.status_code for r in answers) == [200] * 9 + [201]
    assert len({r.json()["incident_id"] for r in answers}) == 1
    assert len(_cases(rw_conn, "GD-RACE-7")) == 1


@pytest.mark.parametrize(
    "order_no,change,code",
    [
        ("GD 0001", {}, 422),  # not an order number
        ("GD-OUT-1", {"lon": 110.0, "lat": 30.0, "crs": "wgs84"}, 400),  # outside the county
        ("GD-CAT-1", {"category": "打麻将"}, 400),
        ("GD-WHEN-1", {"reported_at": "2026-11-01T10:00:00"}, 422),  # no time zone
    ],
)
def test_bad_orders_leave_nothing(rw, rw_conn, order_no, change, code) -> None:
    lon, lat = point_in(rw_conn, 3300)
    before = rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    r = rw.put(f"/hotline/orders/{order_no}", json={**_order(lon, lat), **change}, headers=INTAKE)
    assert r.status_code == code, r.text
    assert rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0] == before


def test_only_callers_that_may_push(rw, rw_conn) -> None:
    lon, lat = point_in(rw_conn, 3400)
    for headers in ({}, auth("display"), auth("viewer")):
        r = rw.put("/hotline/orders/GD-WHO-1", json=_order(lon, lat), headers=headers)
        assert r.status_code in (401, 403)
    assert _cases(rw_conn, "GD-WHO-1") == []


def test_a_number_of_another_source_is_not_taken(rw, rw_conn) -> None:
    """An order number that an imported case of another source holds is refused, not merged."""
    lon, lat = point_in(rw_conn, 3500)
    made = rw.post(
        "/incidents", json={"lon": lon, "lat": lat, "category": "环境"}, headers=DISPATCHER
    ).json()["id"]
    rw_conn.execute("UPDATE citybrain.incidents SET external_id = 'IMP-77' WHERE id = %s", [made])
    r = rw.put("/hotline/orders/IMP-77", json=_order(lon, lat), headers=INTAKE)
    assert r.status_code == 409 and "citizen_app" in r.json()["detail"]
    assert [c[0] for c in _cases(rw_conn, "IMP-77")] == [made]
