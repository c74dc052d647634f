"""What the big screen reads: /stats, /areas, the newest incidents and the live event stream,
checked against SQL and hand computations."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from tests.utils.county import now, point_in
from tests.utils.events import Stream
from tests.utils.keys import auth
from tests.utils.reports import report
from tests.utils.workhours import Minutes


def one(conn: psycopg.Connection, query: str, *params):
    return conn.execute(query, params).fetchone()[0]


def test_stats(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    s = rw.get("/stats").json()
    assert s["open_now"] == one(
        rw_conn,
        "SELECT count(*) FROM citybrain.incidents WHERE status "
        "IN ('reported', 'dispatched', 'on_site', 'escalated')",
    )
    # Waiting for a team: reported, and escalated ones (sent up a tier, no team on the way),
    # as the overdue alerts count them (domain.AWAITING_DISPATCH); the screen once counted
    # only the reported ones.
    waiting = one(
        rw_conn,
        "SELECT count(*) FROM citybrain.incidents WHERE status IN ('reported', 'escalated')",
    )
    assert s["waiting_dispatch"] == waiting
    assert waiting > one(
        rw_conn, "SELECT count(*) FROM citybrain.incidents WHERE status = 'reported'"
    )
    assert s["cameras_online_pct"] == pytest.approx(
        100 * one(rw_conn, "SELECT avg(online::int)::float8 FROM citybrain.cameras"), abs=0.05
    )
    since = datetime.fromisoformat(s["generated_at"]) - timedelta(days=30)
    rows = rw_conn.execute(
        "SELECT substr(m.code, 1, 9), i.reported_at, i.dispatched_at, i.resolved_at, "
        "d.minutes, r.minutes, r.working FROM citybrain.incidents i "
        "JOIN citybrain.time_limits d ON d.category = i.category AND d.step = 'dispatch' "
        "JOIN citybrain.time_limits r ON r.category = i.category AND r.step = 'resolve' "
        "JOIN citybrain.micro_grids m ON m.id = i.micro_grid_id WHERE i.reported_at >= %s",
        [since],
    ).fetchall()
    calendar = Minutes(since.date() - timedelta(days=2), since.date() + timedelta(days=90))
    by_town: dict[str, list] = {}
    for town, *rest in rows:
        by_town.setdefault(town, []).append(rest)
    for t in s["towns"]:
        mine = by_town[t["code"]]
        assert t["incidents"] == len(mine)
        dispatched = [r for r in mine if r[1] is not None]
        on_time = [r for r in dispatched if r[1] <= r[0] + timedelta(minutes=r[3])]
        if dispatched:
            assert t["dispatched_on_time_pct"] == pytest.approx(
                100 * len(on_time) / len(dispatched), abs=0.05
            )
        resolved = [r for r in mine if r[2] is not None]
        # (in working hours where the category's limit says so, counted on another calendar)
        ok = [
            r
            for r in resolved
            if r[2] <= (calendar.due(r[0], r[4]) if r[5] else r[0] + timedelta(minutes=r[4]))
        ]
        if resolved:
            assert t["resolved_on_time_pct"] == pytest.approx(
                100 * len(ok) / len(resolved), abs=0.05
            )
    assert sum(c["incidents"] for c in s["categories"]) == len(rows)
    top = s["busiest_grids"][0]
    assert top["open"] == one(
        rw_conn,
        "SELECT count(*) FROM citybrain.incidents i JOIN "
        "citybrain.micro_grids m ON m.id = i.micro_grid_id WHERE "
        "substr(m.code, 1, 15) = %s AND i.status IN ('reported', "
        "'dispatched', 'on_site', 'escalated')",
        top["code"],
    )


@pytest.mark.parametrize("length", [9, 12, 15, 17, 19])
def test_area_cards(client: httpx.Client, conn: psycopg.Connection, length: int) -> None:
    table = {9: "towns", 12: "villages", 15: "grids", 17: "compounds", 19: "micro_grids"}[length]
    code = one(conn, f"SELECT code FROM citybrain.{table} ORDER BY id LIMIT 1 OFFSET 2")
    a = client.get(f"/areas/{code}").json()
    assert a["code"] == code and a["level"] == table.rstrip("s").replace("micro_grid", "micro_grid")
    assert a["boundary"] == "synthetic"  # the generated county: no import, nothing derived
    # Codes are hierarchical: the area's micro-grids are those whose code starts with its own.
    pop, n = conn.execute(
        "SELECT sum(population), count(*) FROM citybrain.micro_grids WHERE code LIKE %s",
        [code + "%"],
    ).fetchone()
    assert (a["population"], a["micro_grids"]) == (pop, n)
    open_n = one(
        conn,
        "SELECT count(*) FROM citybrain.incidents i JOIN citybrain.micro_grids m "
        "ON m.id = i.micro_grid_id WHERE m.code LIKE %s AND i.status IN ('reported', "
        "'dispatched', 'on_site', 'escalated')",
        code + "%",
    )
    assert a["open_incidents"] == open_n
    teams = one(
        conn,
        "SELECT count(*) FROM citybrain.teams t JOIN citybrain.grids g "
        "ON g.id = t.grid_id WHERE g.code LIKE %s",
        code[:15] + "%",
    )
    assert a["team_summary"]["teams"] == teams
    if length == 15:
        (team,) = a["teams"]
        assert set(team["roles"]) >= {"grid_worker", "party_member"}
    w, s, e, n = a["bbox"]
    assert w < e and s < n
    assert client.get("/areas/123").status_code == 404


def test_latest_incidents(client: httpx.Client, conn) -> None:
    body = client.get("/incidents-latest", params={"limit": 5}).json()
    ids = [
        r[0] for r in conn.execute("SELECT id FROM citybrain.incidents ORDER BY id DESC LIMIT 5")
    ]
    assert [i["id"] for i in body["incidents"]] == ids
    assert all("reporter_phone" not in i for i in body["incidents"])
    assert body["incidents"][0]["town"]
    assert client.get("/incidents-latest", params={"limit": 0}).status_code == 422


def test_event_stream(rw: httpx.Client, rw_server, rw_conn) -> None:
    lon, lat = point_in(rw_conn, 321)
    stream = Stream(rw_server.url, lambda got: len(got) == 2)
    r = rw.post(
        "/incidents",
        headers=auth("dispatcher"),
        json={"lon": lon, "lat": lat, "category": "环境", "reporter_phone": "13900000000"},
    )
    new_id = r.json()["id"]
    rw.post(f"/incidents/{new_id}/escalate", headers=auth("dispatcher"), json={})
    got = [payload for event, payload in stream.join() if event == "incident"]
    assert [(e["id"], e["op"], e["status"]) for e in got] == [
        (new_id, "insert", "reported"),
        (new_id, "update", "escalated"),
    ]
    assert got[0]["micro_grid_id"] == 321 and abs(got[0]["lon"] - lon) < 1e-6
    assert "reporter_phone" not in got[0] and "reporter_name" not in got[0]


_COPY = (
    "INSERT INTO citybrain.incidents (category, source, severity, status, tier, reported_at, "
    "updated_at, geom) SELECT category, source, severity, 'reported', tier, %(now)s, %(now)s, "
    "geom FROM citybrain.incidents WHERE id %% 97 = 0 ORDER BY id LIMIT %(n)s RETURNING id"
)


def test_bulk_writes_arrive_as_one_summary(rw_server, rw_conn) -> None:
    """A statement that writes at most 50 incidents announces each; a larger one (an import,
    a batch update by any program) sends one ``bulk`` event with its count and extent."""
    stream = Stream(rw_server.url, lambda got: sum(e == "bulk" for e, _ in got) == 2)
    few = [r[0] for r in rw_conn.execute(_COPY, {"now": now(), "n": 3})]
    many = [r[0] for r in rw_conn.execute(_COPY, {"now": now(), "n": 60})]
    rw_conn.execute("UPDATE citybrain.incidents SET severity = 1 WHERE id = ANY(%s)", [many])
    got = stream.join()
    xs, ys = zip(
        *rw_conn.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM citybrain.incidents WHERE id = ANY(%s)", [many]
        ),
        strict=True,
    )
    bbox = [min(xs), min(ys), max(xs), max(ys)]
    rw_conn.execute("DELETE FROM citybrain.incidents WHERE id = ANY(%s)", [few + many])

    assert [(e, p["op"], p["id"]) for e, p in got if e == "incident"] == [
        ("incident", "insert", i) for i in few
    ]
    bulk = [p for e, p in got if e == "bulk"]
    assert [(p["op"], p["count"]) for p in bulk] == [("insert", 60), ("update", 60)]
    for p in bulk:
        assert p["bbox"] == pytest.approx(bbox, abs=1e-6)


def test_stats_follow_a_write_at_once(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    """The KPIs are kept in memory while nothing they count changes: a report made right
    after a screen asked is in the next answer, as SQL counts it."""

    open_now = (
        "SELECT count(*) FROM citybrain.incidents "
        "WHERE status IN ('reported', 'dispatched', 'on_site', 'escalated')"
    )
    before = rw.get("/stats").json()
    assert before["open_now"] == one(rw_conn, open_now)
    report(rw, rw_conn, micro_grid=5)
    after = rw.get("/stats").json()
    assert after["open_now"] == one(rw_conn, open_now) == before["open_now"] + 1
    assert after["today"] == before["today"] + 1
    assert after["waiting_dispatch"] == before["waiting_dispatch"] + 1
