"""Incident intake, the state machine, atomic assignment, idempotency and access control —
over HTTP against the writable copy of the seeded county."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.utils.county import now, point_in
from tests.utils.keys import auth
from tests.utils.photos import photo_id
from tests.utils.server import LiveServer

DISPATCHER = auth("dispatcher")
ADMIN = auth("admin")


def _report(rw: httpx.Client, lon: float, lat: float, **extra) -> dict:
    r = rw.post(
        "/incidents", headers=DISPATCHER, json={"lon": lon, "lat": lat, "category": "治安", **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()


def _row(conn: psycopg.Connection, incident_id: int) -> tuple:
    return conn.execute(
        "SELECT status, tier, team_id, dispatched_at, on_site_at, resolved_at, "
        "closed_at, escalated_at, updated_at FROM citybrain.incidents WHERE id = %s",
        [incident_id],
    ).fetchone()


def _events(conn: psycopg.Connection, incident_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM citybrain.incident_events WHERE incident_id = %s", [incident_id]
    ).fetchone()[0]


def _free_team(conn: psycopg.Connection, category: str = "治安") -> int:
    """A team that handles the category, made available with nothing active."""
    team = conn.execute(
        "SELECT id FROM citybrain.teams WHERE %s = ANY (skills) AND id > 600 ORDER BY id LIMIT 1",
        [category],
    ).fetchone()[0]
    conn.execute(
        "UPDATE citybrain.incidents SET status = 'resolved', resolved_at = %s "
        "WHERE team_id = %s AND status IN ('dispatched', 'on_site')",
        [now(), team],
    )
    conn.execute(
        "UPDATE citybrain.teams SET status = 'available', capacity = 3 WHERE id = %s", [team]
    )
    return team


def _assign_at_once(
    server: LiveServer,
    moves: list[tuple[int, int]],
    reassign: bool = False,
    workers: int | None = None,
) -> list[int]:
    """Each (incident, team) assignment posted by a client of its own, all at once (``workers``
    at a time, all of them unless told); the status codes, in the order of ``moves``."""

    def assign(move: tuple[int, int]) -> int:
        incident, team = move
        body = {"team_id": team, "reassign": True} if reassign else {"team_id": team}
        with server.client(timeout=60) as c:
            return c.post(
                f"/incidents/{incident}/assign", json=body, headers=DISPATCHER
            ).status_code

    with ThreadPoolExecutor(workers or len(moves)) as pool:
        return list(pool.map(assign, moves))


def test_report_and_read(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    lon, lat = point_in(rw_conn, 1234)
    body = _report(
        rw,
        lon,
        lat,
        severity=3,
        description="夜间聚众喧哗",
        reporter_name="张三",
        reporter_phone="13800000000",
    )
    assert body["status"] == "reported" and body["tier"] == "town"  # severity 3 raises it
    assert body["micro_grid_id"] == 1234
    import h3

    assert body["h3"] == h3.latlng_to_cell(lat, lon, 15)
    assert body["reporter_phone"] == "13800000000"
    # The case file is for viewers and above, the reporter masked unless the role needs it
    # (dispatchers, admins); the public reads the layer's public fields.
    for path in (f"/incidents/{body['id']}", f"/incidents/{body['id']}/events"):
        r = rw.get(path)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    seen = rw.get(f"/incidents/{body['id']}", headers=auth("viewer")).json()
    assert (seen["reporter_name"], seen["reporter_phone"]) == ("张*", "138****0000")
    assert seen["description"] == "夜间聚众喧哗"
    public = rw.get(f"/collections/incidents/items/{body['id']}").json()["properties"]
    assert "description" not in public and "reporter_phone" not in public
    assert public["category"] == "治安"
    seen = rw.get(f"/incidents/{body['id']}", headers=DISPATCHER).json()
    assert seen["reporter_name"] == "张三"
    events = rw.get(f"/incidents/{body['id']}/events", headers=auth("viewer")).json()
    assert [(e["action"], e["to_status"], e["role"], e["actor"]) for e in events] == [
        ("report", "reported", "dispatcher", "env-dispatcher-1")  # the key's name, no part of it
    ]


def test_access_control(rw: httpx.Client) -> None:
    payload = {"lon": 120.91, "lat": 30.85, "category": "治安"}
    r = rw.post("/incidents", json=payload)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    r = rw.post("/incidents", json=payload, headers={"Authorization": "Bearer nope-nope-nope"})
    assert r.status_code == 401
    r = rw.post("/incidents", json=payload, headers=auth("viewer"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert rw.post("/incidents", json=payload, headers=auth("admin")).status_code == 201


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"lon": 121.9, "lat": 30.85, "category": "治安"}, 400),  # outside the county
        ({"lon": 120.91, "lat": 30.85, "category": "飞碟"}, 400),
        ({"lon": 120.91, "lat": 30.85, "category": "治安", "severity": 0}, 422),
        ({"lon": 120.91, "lat": 30.85, "category": "治安", "source": "rumour"}, 422),
        (
            {
                "lon": 120.91,
                "lat": 30.85,
                "category": "治安",
                "reported_at": "2099-01-01T00:00:00Z",
            },
            422,
        ),
        (
            {"lon": 120.91, "lat": 30.85, "category": "治安", "reported_at": "2026-01-01T00:00:00"},
            422,
        ),
        ({"lon": 200, "lat": 30.85, "category": "治安"}, 422),
        ({"lon": 120.91, "lat": 30.85, "category": "治安", "description": "a\u0000b"}, 422),
        ({"lon": 120.91, "lat": 30.85, "category": "治安\u0000"}, 400),
    ],
)
def test_bad_reports_change_nothing(
    rw: httpx.Client, rw_conn: psycopg.Connection, payload: dict, code: int
) -> None:
    before = rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
    r = rw.post("/incidents", json=payload, headers=DISPATCHER)
    assert r.status_code == code and r.json()["detail"]
    assert rw_conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0] == before


def test_idempotency_key(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    lon, lat = point_in(rw_conn, 2222)
    payload = {"lon": lon, "lat": lat, "category": "消防"}
    headers = {**DISPATCHER, "Idempotency-Key": "retry-me-1"}
    recent = (  # counted before and after: the writable copy is shared by the tests
        "SELECT count(*) FROM citybrain.incidents WHERE micro_grid_id = 2222 "
        "AND category = '消防' AND reported_at > %s - interval '1 hour'"
    )
    before = rw_conn.execute(recent, [now()]).fetchone()[0]
    first = rw.post("/incidents", json=payload, headers=headers)
    again = rw.post("/incidents", json=payload, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert rw_conn.execute(recent, [now()]).fetchone()[0] == before + 1
    other = rw.post("/incidents", json={**payload, "severity": 2}, headers=headers)
    assert other.status_code == 409


def test_idempotency_under_concurrency(
    rw: httpx.Client, rw_conn: psycopg.Connection, rw_server
) -> None:
    lon, lat = point_in(rw_conn, 3333)
    payload = {"lon": lon, "lat": lat, "category": "环境"}
    headers = {**DISPATCHER, "Idempotency-Key": "parallel-1"}

    def post(_: int) -> httpx.Response:
        with rw_server.client() as c:
            return c.post("/incidents", json=payload, headers=headers)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(12)))
    assert sorted(r.status_code for r in answers) == [200] * 11 + [201]
    assert len({r.json()["id"] for r in answers}) == 1


def test_workflow_and_audit(rw: httpx.Client, rw_conn: psycopg.Connection) -> None:
    team = _free_team(rw_conn)
    lon, lat = point_in(rw_conn, 4000)
    inc = _report(rw, lon, lat)["id"]
    r = rw.post(f"/incidents/{inc}/assign", json={"team_id": team}, headers=DISPATCHER)
    assert (
        r.status_code == 200 and r.json()["status"] == "dispatched" and r.json()["team_id"] == team
    )
    for step in ("on_site", "resolved"):
        r = rw.post(
            f"/incidents/{inc}/status", json={"status": step, "note": step}, headers=DISPATCHER
        )
        assert r.status_code == 200 and r.json()["status"] == step
    # Closing needs a check on the ground first, by someone who did not handle it.
    r = rw.post(f"/incidents/{inc}/status", json={"status": "closed"}, headers=DISPATCHER)
    assert r.status_code == 409 and "verify" in r.json()["detail"]
    dispatchers = {"photos": [photo_id(rw, DISPATCHER, "p/1.jpg")]}
    r = rw.post(f"/incidents/{inc}/steps/verify", json=dispatchers, headers=DISPATCHER)
    assert r.status_code == 403 and "did not handle" in r.json()["detail"]
    # A step carries only photos its taker sent.
    r = rw.post(f"/incidents/{inc}/steps/verify", json=dispatchers, headers=ADMIN)
    assert r.status_code == 400 and "unknown photos" in r.json()["detail"]
    checked = [photo_id(rw, ADMIN, "p/1.jpg")]
    assert checked == dispatchers["photos"]  # (the same picture: the same id)
    r = rw.post(f"/incidents/{inc}/steps/verify", json={"photos": checked}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "checked"
    r = rw.post(f"/incidents/{inc}/status", json={"status": "closed"}, headers=DISPATCHER)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    body = r.json()
    stamps = [
        body[k]
        for k in (
            "reported_at",
            "registered_at",
            "dispatched_at",
            "on_site_at",
            "resolved_at",
            "checked_at",
            "closed_at",
        )
    ]
    assert all(stamps) and stamps == sorted(stamps)
    events = rw.get(f"/incidents/{inc}/events", headers=DISPATCHER).json()
    assert [e["to_status"] for e in events] == [
        "reported",
        "dispatched",
        "on_site",
        "resolved",
        "checked",
        "closed",
    ]
    assert [e["action"] for e in events] == [
        "report",
        "dispatch",
        "handle",
        "report_done",
        "verify",
        "close",
    ]
    assert events[1]["team_id"] == team and events[4]["detail"] == {"photos": checked}
    assert [e["actor"] for e in events] == ["env-dispatcher-1"] * 4 + ["env-admin-1"] + [
        "env-dispatcher-1"
    ]


VERIFY = ("steps/verify",)  # (by an admin: the dispatcher handled the case)
INVALID = [
    # (steps to get there, the invalid request)
    ([], ("status", {"status": "on_site"})),  # reported → on_site skips dispatch
    ([], ("status", {"status": "closed"})),
    ([("assign",)], ("status", {"status": "resolved"})),  # dispatched → resolved skips on site
    (
        [("assign",), ("status", "on_site"), ("status", "resolved")],
        ("status", {"status": "closed"}),
    ),
    (
        [("assign",), ("status", "on_site"), ("status", "resolved"), VERIFY, ("status", "closed")],
        ("escalate", {}),
    ),  # closed is final
    (
        [("assign",), ("status", "on_site"), ("status", "resolved"), VERIFY, ("status", "closed")],
        ("status", {"status": "on_site"}),
    ),
    ([("assign",)], ("assign", {})),  # already dispatched (without reassign)
    ([("escalate",), ("escalate",)], ("escalate", {})),  # village → town → county → nothing
    ([], ("status", {"status": "dispatched"})),  # dispatch only by assignment: 400
]


@pytest.mark.parametrize("steps,bad", INVALID)
def test_invalid_transitions_change_nothing(
    rw: httpx.Client, rw_conn: psycopg.Connection, steps, bad
) -> None:
    team = _free_team(rw_conn)
    lon, lat = point_in(rw_conn, 5000)
    inc = _report(rw, lon, lat)["id"]
    for step in steps:
        headers = DISPATCHER
        if step[0] == "assign":
            payload = {"team_id": team}
        elif step[0] == "status":
            payload = {"status": step[1], "note": "done"}
        elif step == VERIFY:
            payload, headers = {"photos": [photo_id(rw, ADMIN, "p/2.jpg")]}, ADMIN
        else:
            payload = {}
        r = rw.post(f"/incidents/{inc}/{step[0]}", json=payload, headers=headers)
        assert r.status_code == 200, r.text
    before, n_events = _row(rw_conn, inc), _events(rw_conn, inc)
    action, payload = bad
    if action == "assign":
        payload = {"team_id": team}
    r = rw.post(f"/incidents/{inc}/{action}", json=payload, headers=DISPATCHER)
    assert r.status_code == (400 if payload.get("status") == "dispatched" else 409), r.text
    assert r.json()["detail"]
    assert _row(rw_conn, inc) == before and _events(rw_conn, inc) == n_events


def test_escalation_moves_tier_and_frees_team(
    rw: httpx.Client, rw_conn: psycopg.Connection
) -> None:
    team = _free_team(rw_conn)
    lon, lat = point_in(rw_conn, 6000)
    inc = _report(rw, lon, lat)["id"]
    rw.post(f"/incidents/{inc}/assign", json={"team_id": team}, headers=DISPATCHER)
    r = rw.post(f"/incidents/{inc}/escalate", json={"note": "需要镇级协调"}, headers=DISPATCHER)
    body = r.json()
    assert (body["status"], body["tier"], body["team_id"]) == ("escalated", "town", None)
    assert body["escalated_at"] is not None
    last = rw.get(f"/incidents/{inc}/events", headers=DISPATCHER).json()[-1]
    assert (last["from_tier"], last["to_tier"], last["note"]) == ("village", "town", "需要镇级协调")
    # Re-dispatched at the town tier.
    r = rw.post(f"/incidents/{inc}/assign", json={"team_id": team}, headers=DISPATCHER)
    assert r.status_code == 200 and r.json()["status"] == "dispatched"


def test_race_for_a_teams_last_place(
    rw: httpx.Client, rw_conn: psycopg.Connection, rw_server
) -> None:
    team = _free_team(rw_conn)
    rw_conn.execute("UPDATE citybrain.teams SET capacity = 1 WHERE id = %s", [team])
    lon, lat = point_in(rw_conn, 7000)
    incidents = [_report(rw, lon, lat)["id"] for _ in range(24)]
    codes = _assign_at_once(rw_server, [(inc, team) for inc in incidents])
    assert sorted(codes) == [200] + [409] * 23
    active, status = rw_conn.execute(
        "SELECT (SELECT count(*) FROM citybrain.incidents WHERE team_id = t.id "
        "AND status IN ('dispatched', 'on_site')), status FROM citybrain.teams t WHERE id = %s",
        [team],
    ).fetchone()
    assert (active, status) == (1, "busy")
    winners = rw_conn.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE id = ANY(%s) AND status = 'dispatched'",
        [incidents],
    ).fetchone()[0]
    assert winners == 1


def test_race_for_one_incident(rw: httpx.Client, rw_conn: psycopg.Connection, rw_server) -> None:
    teams = [
        r[0]
        for r in rw_conn.execute(
            "SELECT id FROM citybrain.teams WHERE '治安' = ANY (skills) AND id BETWEEN 300 AND 600 "
            "ORDER BY id LIMIT 20"
        )
    ]
    rw_conn.execute(
        "UPDATE citybrain.teams SET status = 'available', capacity = 50 WHERE id = ANY(%s)", [teams]
    )
    lon, lat = point_in(rw_conn, 8000)
    inc = _report(rw, lon, lat)["id"]
    codes = _assign_at_once(rw_server, [(inc, team) for team in teams])
    assert sorted(codes) == [200] + [409] * 19
    assert _events(rw_conn, inc) == 2  # report + one assignment


def test_unknown_ids_are_404(rw: httpx.Client) -> None:
    viewer = auth("viewer")
    assert rw.get("/incidents/999999999").status_code == 401  # whether it exists: not for all
    assert rw.get("/incidents/999999999", headers=viewer).status_code == 404
    r = rw.post("/incidents/999999999/assign", json={"team_id": 1}, headers=DISPATCHER)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert rw.get("/incidents/0", headers=viewer).status_code == 422
    assert rw.get("/incidents/abc", headers=viewer).status_code == 422


def test_opposite_reassignments_never_deadlock(
    rw: httpx.Client, rw_conn: psycopg.Connection, rw_server
) -> None:
    """Incidents of team 1 moved to team 2 while incidents of team 2 move to team 1, all at
    once: each transaction holds both teams, so without one lock order they deadlock (503)."""
    one, two = (
        r[0]
        for r in rw_conn.execute(
            "SELECT id FROM citybrain.teams WHERE '治安' = ANY (skills) AND id BETWEEN 200 AND 299 "
            "ORDER BY id LIMIT 2"
        )
    )
    rw_conn.execute(
        "UPDATE citybrain.teams SET status = 'available', capacity = 500 WHERE id IN (%s, %s)",
        [one, two],
    )
    lon, lat = point_in(rw_conn, 9000)
    pairs = []
    for _ in range(16):
        a, b = _report(rw, lon, lat)["id"], _report(rw, lon, lat)["id"]
        for inc, team in ((a, one), (b, two)):
            r = rw.post(f"/incidents/{inc}/assign", json={"team_id": team}, headers=DISPATCHER)
            assert r.status_code == 200, r.text
        pairs.append((a, b))
    moves = [m for a, b in pairs for m in ((a, two), (b, one))]
    codes = _assign_at_once(rw_server, moves, reassign=True, workers=16)
    assert codes == [200] * len(moves)
    teams = dict(
        rw_conn.execute(
            "SELECT id, team_id FROM citybrain.incidents WHERE id = ANY(%s)",
            [[inc for inc, _ in moves]],
        ).fetchall()
    )
    assert teams == dict(moves)
    assert all(_events(rw_conn, inc) == 3 for inc, _ in moves)  # report, assign, reassign
