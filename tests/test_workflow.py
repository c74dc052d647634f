"""The closed loop (issue 32): cases walked through every path of the declared workflow by the
seeded county's people (grid members, town dispatchers, departments' handlers, the leader)
and outside channels' keys, through the API of a real server. Every refused step is checked
to say why and to change nothing (the incident's row and its audit trail, read as the owner);
who sees a case afterwards is checked against SQL written apart from the policies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import httpx
import psycopg
import pytest
from pyproj import Geod

from citybrain.domain import (
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW,
    REPEAT_WINDOW,
    TOWN_PLATFORMS,
    UNCLOSED,
    Status,
    why_department_cannot_take,
)
from citybrain.workflow import STEPS
from tests.utils.cases import People, department, grid_of, ok, report, step
from tests.utils.keys import auth
from tests.utils.people import visible_to
from tests.utils.photos import photo_id
from tests.utils.server import LiveServer
from tests.utils.workhours import Minutes

TOWN, OTHER_TOWN = "330421001", "330421002"
INTAKE = auth("intake")


@pytest.fixture(scope="module")
def url(fresh_county_module) -> str:
    return fresh_county_module


@pytest.fixture(scope="module")
def live(module_server) -> LiveServer:
    return module_server


@pytest.fixture(scope="module")
def owner(module_owner) -> psycopg.Connection:
    return module_owner


@pytest.fixture(scope="module")
def c(module_client) -> httpx.Client:
    return module_client


@pytest.fixture(scope="module")
def people(live, url) -> People:
    return People(live, url)


@pytest.fixture(scope="module")
def grid(owner) -> dict:
    return grid_of(owner, TOWN)


def state(owner, incident: int) -> tuple:
    """Everything a step may change: the incident's row, its case file's scope, its trail."""
    row = owner.execute(
        "SELECT to_jsonb(i) - 'changed' FROM citybrain.incidents i WHERE id = %s", [incident]
    ).fetchone()
    scope = owner.execute(
        "SELECT town_id, village_id, grid_id, team_id, department_id FROM citybrain.case_files "
        "WHERE incident_id = %s",
        [incident],
    ).fetchone()
    trail = owner.execute(
        "SELECT count(*) FROM citybrain.incident_events WHERE incident_id = %s", [incident]
    ).fetchone()[0]
    return row, scope, trail


def refused(c, owner, headers, incident, name, code, words, **body) -> None:
    """The step is refused with ``code``, its detail says ``words``, and nothing changed."""
    before = state(owner, incident)
    r = step(c, headers, incident, name, **body)
    assert r.status_code == code, r.text
    assert words in r.json()["detail"], r.json()["detail"]
    assert state(owner, incident) == before


def trail(owner, incident: int) -> list[tuple]:
    return owner.execute(
        "SELECT action, actor, role, from_status, to_status, team_id, department_id "
        "FROM citybrain.incident_events WHERE incident_id = %s ORDER BY id",
        [incident],
    ).fetchall()


# --- the declaration ------------------------------------------------------------------------


def test_the_workflow_is_declared_and_listed(c) -> None:
    listed = c.get("/workflow").json()
    assert [s["step"] for s in listed] == list(STEPS)
    by_name = {s["step"]: s for s in listed}
    # The closed loop's main path, status by status, is a chain of declared steps.
    path = ["register", "dispatch", "handle", "report_done", "verify", "close"]
    status = "reported"
    for name in path:
        assert status in by_name[name]["from"], name
        status = by_name[name]["to"]
    assert status == "closed" and "closed" in by_name["evaluate"]["from"]
    assert by_name["verify"]["holder"] == "not_handler" and by_name["verify"]["needs"] == ["photos"]
    assert by_name["evaluate"]["roles"] == ["dispatcher", "admin"]


# --- the main path through a town's platform ------------------------------------------------


def test_a_case_through_a_towns_platform(c, people, owner, grid) -> None:
    member, other_member = grid["members"]
    dispatcher = people[f"d-{TOWN}"]
    zz = department(owner, f"{TOWN}-zz")  # 综治工作平台: 矛盾纠纷
    handler, wrong_handler = people[f"h-{TOWN}-zz"], people[f"h-{TOWN}-bm"]
    inc = report(c, people[member], grid)

    refused(c, owner, people[member], inc, "register", 403, "dispatcher or admin")
    refused(c, owner, people[f"d-{OTHER_TOWN}"], inc, "register", 404, "in your area")
    refused(c, owner, dispatcher, inc, "handle", 409, "steps are: register, reject, merge")
    ok(c, dispatcher, inc, "register")
    refused(c, owner, dispatcher, inc, "dispatch", 400, "team_id or department_id")
    bm = department(owner, f"{TOWN}-bm")
    refused(
        c, owner, dispatcher, inc, "dispatch", 409, "does not handle 矛盾纠纷", department_id=bm
    )
    other_zz = department(owner, f"{OTHER_TOWN}-zz")
    refused(c, owner, dispatcher, inc, "dispatch", 409, "another town", department_id=other_zz)
    body = ok(c, dispatcher, inc, "dispatch", department_id=zz, note="请综治平台处置")
    assert (body["status"], body["department_id"], body["team_id"]) == ("dispatched", zz, None)

    # Only the department's own staff (or a dispatcher) take its steps; others do not see it.
    assert c.get(f"/incidents/{inc}", headers=wrong_handler).status_code == 404
    refused(c, owner, wrong_handler, inc, "handle", 404, "in your area")
    refused(c, owner, people[other_member], inc, "handle", 403, f"department {zz}")
    assert c.get(f"/incidents/{inc}", headers=handler).json()["reporter_name"] == "张三"
    ok(c, handler, inc, "handle")
    refused(c, owner, handler, inc, "report_done", 400, "needs note")
    ok(c, handler, inc, "report_done", note="已调解，双方签字", photos=["a/1.jpg", "a/2.jpg"])

    # Checked on the ground by the grid's member, not by whoever handled it.
    refused(c, owner, handler, inc, "verify", 403, "did not handle", photos=["x.jpg"])
    refused(c, owner, people[member], inc, "verify", 400, "needs photos")
    ok(c, people[member], inc, "verify", photos=["check/1.jpg"])
    refused(c, owner, people[member], inc, "close", 403, "dispatcher or admin")
    body = ok(c, dispatcher, inc, "close")
    assert body["status"] == "closed" and body["checked_at"] <= body["closed_at"]

    # The return visit (回访), recorded once.
    refused(
        c,
        owner,
        people[member],
        inc,
        "evaluate",
        403,
        "dispatcher or admin",
        satisfaction="satisfied",
    )
    refused(c, owner, INTAKE, inc, "evaluate", 403, "you are intake", satisfaction="satisfied")
    refused(c, owner, dispatcher, inc, "evaluate", 400, "needs satisfaction")
    ok(c, dispatcher, inc, "evaluate", satisfaction="basically_satisfied")
    refused(
        c, owner, dispatcher, inc, "evaluate", 409, "evaluated already", satisfaction="satisfied"
    )
    assert owner.execute(
        "SELECT satisfaction FROM citybrain.incidents WHERE id = %s", [inc]
    ).fetchone() == ("basically_satisfied",)

    steps = trail(owner, inc)
    assert [s[0] for s in steps] == [
        "report",
        "register",
        "dispatch",
        "handle",
        "report_done",
        "verify",
        "close",
        "evaluate",
    ]
    assert [s[1] for s in steps] == [
        member,
        f"d-{TOWN}",
        f"d-{TOWN}",
        f"h-{TOWN}-zz",
        f"h-{TOWN}-zz",
        member,
        f"d-{TOWN}",
        f"d-{TOWN}",
    ]
    assert [s[4] for s in steps] == [
        "reported",
        "registered",
        "dispatched",
        "on_site",
        "resolved",
        "checked",
        "closed",
        "closed",
    ]
    assert steps[2][6] == zz and steps[4][6] == zz
    detail = owner.execute(
        "SELECT detail FROM citybrain.incident_events WHERE incident_id = %s AND action = %s",
        [inc, "report_done"],
    ).fetchone()[0]
    sent = [photo_id(c, handler, n) for n in ("a/1.jpg", "a/2.jpg")]
    assert detail == {"photos": sent}
    # The photos now show the case, with the step that carried each.
    shown = owner.execute(
        "SELECT photo_id, step FROM citybrain.incident_photos WHERE incident_id = %s", [inc]
    ).fetchall()
    checked = photo_id(c, people[member], "check/1.jpg")
    assert sorted(shown) == sorted([(p, "report_done") for p in sent] + [(checked, "verify")])


# --- returned, failed check, extension --------------------------------------------------------


def test_a_department_returns_a_case_that_is_not_its_own(c, people, owner, grid) -> None:
    dispatcher = people[f"d-{TOWN}"]
    zf = department(owner, f"{TOWN}-zf")  # 综合执法: 城市管理, 环境, 消防, 交通
    inc = report(c, dispatcher, grid, category="城市管理")
    ok(c, dispatcher, inc, "dispatch", department_id=zf)
    handler = people[f"h-{TOWN}-zf"]
    refused(c, owner, handler, inc, "return", 400, "needs reason")
    body = ok(c, handler, inc, "return", reason="属于住建部门职责")
    assert body == {"id": inc, "status": "registered", "in_view": False}
    # Returned: the department no longer holds it nor sees it; the dispatcher sends it on.
    assert c.get(f"/incidents/{inc}", headers=handler).status_code == 404
    assert inc not in visible_to(owner, f"h-{TOWN}-zf")
    body = ok(c, dispatcher, inc, "dispatch", team_id=grid["team"])
    assert (body["status"], body["team_id"]) == ("dispatched", grid["team"])
    ret = owner.execute(
        "SELECT from_status, to_status, department_id, detail FROM citybrain.incident_events "
        "WHERE incident_id = %s AND action = 'return'",
        [inc],
    ).fetchone()
    assert ret == ("dispatched", "registered", zf, {"reason": "属于住建部门职责"})


def test_a_failed_check_sends_it_back(c, people, owner, grid) -> None:
    handler, checker = grid["members"]
    dispatcher = people[f"d-{TOWN}"]
    inc = report(c, dispatcher, grid)
    ok(c, dispatcher, inc, "dispatch", team_id=grid["team"])
    ok(c, people[handler], inc, "handle")
    ok(c, people[handler], inc, "report_done", note="已处理")
    # The team's other member did not handle it: they may check it.
    refused(c, owner, people[checker], inc, "fail_check", 400, "needs reason")
    first_done = c.get(f"/incidents/{inc}", headers=dispatcher).json()["resolved_at"]
    assert first_done is not None
    body = ok(c, people[checker], inc, "fail_check", reason="现场仍有积水", photos=["c/1.jpg"])
    # Not resolved after all: the resolution is stamped again when it is.
    assert body["status"] == "on_site" and body["resolved_at"] is None
    again = ok(c, people[handler], inc, "report_done", note="已彻底处理")
    assert again["resolved_at"] is not None and again["resolved_at"] >= first_done
    refused(c, owner, people[handler], inc, "verify", 403, "did not handle", photos=["x"])
    ok(c, people[checker], inc, "verify", photos=["c/2.jpg"])
    assert [s[4] for s in trail(owner, inc)] == [
        "reported",
        "dispatched",
        "on_site",
        "resolved",
        "on_site",
        "resolved",
        "checked",
    ]
    fails = owner.execute(
        "SELECT count(*) FROM citybrain.incident_events WHERE incident_id = %s "
        "AND action = 'fail_check'",
        [inc],
    ).fetchone()[0]
    assert fails == 1


def test_an_extension_asked_and_approved_moves_the_due_time(c, people, owner, grid) -> None:
    dispatcher = people[f"d-{TOWN}"]
    handler = f"h-{TOWN}-bm"  # 便民服务平台: 民生诉求
    inc = report(c, dispatcher, grid, category="民生诉求")
    refused(c, owner, people[handler], inc, "ask_extension", 404, "in your area")
    ok(c, dispatcher, inc, "dispatch", department_id=department(owner, f"{TOWN}-bm"))
    before = c.get(f"/incidents/{inc}", headers=dispatcher).json()
    refused(c, owner, people[handler], inc, "ask_extension", 400, "minutes", reason="需协调")
    refused(c, owner, dispatcher, inc, "approve_extension", 409, "no extension is asked")
    body = ok(c, people[handler], inc, "ask_extension", minutes=600, reason="需多部门协调")
    assert body["extension_asked"] == 600 and body["resolve_due_at"] == before["resolve_due_at"]
    refused(
        c,
        owner,
        people[handler],
        inc,
        "ask_extension",
        409,
        "already asked",
        minutes=60,
        reason="再延",
    )
    refused(c, owner, people[handler], inc, "approve_extension", 403, "dispatcher or admin")
    refused(
        c,
        owner,
        people[grid["members"][0]],
        inc,
        "ask_extension",
        403,
        "do not hold",
        minutes=60,
        reason="x",
    )
    body = ok(c, dispatcher, inc, "approve_extension")
    assert (body["extension_minutes"], body.get("extension_asked")) == (600, None)
    # The due time: the category's working-hour limit plus the extension, counted minute by
    # minute over another package's calendar.
    limit = owner.execute(
        "SELECT minutes FROM citybrain.time_limits WHERE category = '民生诉求' "
        "AND step = 'resolve' AND working"
    ).fetchone()[0]
    reported = datetime.fromisoformat(body["reported_at"])
    reference = Minutes(date(2026, 10, 1), date(2026, 12, 31))
    due = reference.due(reported, limit + 600)
    assert abs(datetime.fromisoformat(body["resolve_due_at"]) - due) < timedelta(seconds=1)
    was = reference.due(reported, limit)
    assert abs(datetime.fromisoformat(before["resolve_due_at"]) - was) < timedelta(seconds=1)
    assert due - was >= timedelta(hours=10)  # (600 working minutes span a night at least)
    # A second request may then be refused, saying why.
    ok(c, people[handler], inc, "ask_extension", minutes=120, reason="材料未齐")
    refused(c, owner, dispatcher, inc, "refuse_extension", 400, "needs reason")
    body = ok(c, dispatcher, inc, "refuse_extension", reason="不符合延期条件")
    assert (body["extension_minutes"], body.get("extension_asked")) == (600, None)


# --- escalation to a county department ----------------------------------------------------


def test_escalation_routes_to_the_towns_platforms_then_the_county(c, people, owner, grid) -> None:
    dispatcher, county = people[f"d-{TOWN}"], people["dispatcher"]
    inc = report(c, dispatcher, grid, category="治安")
    zz = department(owner, f"{TOWN}-zz")
    gaj = department(owner, "330421-gaj")  # 县公安局: 治安, 交通
    ok(c, dispatcher, inc, "dispatch", department_id=zz)
    body = ok(c, dispatcher, inc, "escalate", note="需镇级协调")
    assert (body["tier"], body["department_id"], body["status"]) == ("town", None, "escalated")
    # At the town tier the town's 综治 platform may take it, and the county's police.
    offered = c.get(f"/incidents/{inc}/departments", headers=dispatcher).json()
    departments = owner.execute(
        "SELECT id, kind, town_id, categories FROM citybrain.departments ORDER BY id"
    ).fetchall()
    expected = {
        d[0] for d in departments if "治安" in d[3] and (d[1] == "county" or d[2] == grid["town"])
    }
    assert {d["id"] for d in offered if d["can_take"]} == expected
    assert zz in expected and gaj in expected
    body = ok(c, county, inc, "escalate", note="涉及多镇，报县")
    assert body["tier"] == "county"
    refused(c, owner, county, inc, "dispatch", 409, "county tier", department_id=zz)
    offered = c.get(f"/incidents/{inc}/departments", headers=county).json()
    assert {d["id"] for d in offered if d["can_take"]} == {
        d[0] for d in departments if "治安" in d[3] and d[1] == "county"
    }
    for d in offered:  # each refusal is the rule's own reason
        assert d["why_not"] == why_department_cannot_take(
            d["kind"], d["town_id"], d["categories"], grid["town"], "治安", "county"
        )
    body = ok(c, county, inc, "dispatch", department_id=gaj)
    assert (body["status"], body["department_id"]) == ("dispatched", gaj)
    police = people["h-330421-gaj"]
    ok(c, police, inc, "handle")
    assert inc in visible_to(owner, "h-330421-gaj")
    # The town's dispatcher still sees the case in its town; the town's platform does not.
    assert c.get(f"/incidents/{inc}", headers=dispatcher).status_code == 200
    assert c.get(f"/incidents/{inc}", headers=people[f"h-{TOWN}-zz"]).status_code == 404
    refused(c, owner, county, inc, "escalate", 409, "already at the county")


# --- reject, merge, supervise, reassign ------------------------------------------------------


def test_a_duplicate_is_merged_and_its_reporter_follows_the_case(c, people, owner, grid) -> None:
    dispatcher = people[f"d-{TOWN}"]
    first = report(c, dispatcher, grid)
    second = report(c, people[grid["members"][1]], grid, offset=0.0002)  # (about 20 m away)
    other_kind = report(c, dispatcher, grid, category="环境")
    refused(c, owner, dispatcher, second, "merge", 400, "duplicate_of")
    refused(c, owner, dispatcher, second, "merge", 409, "itself", duplicate_of=second)
    refused(c, owner, dispatcher, second, "merge", 409, "same category", duplicate_of=other_kind)
    refused(c, owner, dispatcher, second, "merge", 404, "no incident", duplicate_of=2**40)
    body = ok(c, dispatcher, second, "merge", duplicate_of=first)
    assert (body["status"], body["merged_into"]) == ("merged", first)
    refused(c, owner, dispatcher, second, "dispatch", 409, "final", team_id=grid["team"])
    # The second reporter (through Open311) is told where the first case is.
    ok(c, dispatcher, first, "dispatch", team_id=grid["team"])
    got = c.get(f"/open311/v2/requests/{second}.json").json()[0]
    assert got["status"] == "open" and got["status_notes"] == f"已并入{first}号案件办理：已派遣"
    # Nothing merges into a closed case.
    closed = owner.execute(
        "SELECT id FROM citybrain.incidents WHERE status = 'closed' AND category = '矛盾纠纷' "
        "ORDER BY id LIMIT 1"
    ).fetchone()[0]
    third = report(c, dispatcher, grid)
    refused(c, owner, people["dispatcher"], third, "merge", 409, "unclosed", duplicate_of=closed)


def test_reject_supervise_and_reassign(c, people, owner, grid) -> None:
    dispatcher, member = people[f"d-{TOWN}"], people[grid["members"][0]]
    out_of_scope = report(c, member, grid, category="民生诉求")
    refused(c, owner, dispatcher, out_of_scope, "reject", 400, "needs reason")
    body = ok(c, dispatcher, out_of_scope, "reject", reason="属司法诉讼事项，不予受理")
    assert body["status"] == "rejected" and body["closed_at"] is None
    got = c.get(f"/open311/v2/requests/{out_of_scope}.json").json()[0]
    assert (got["status"], got["status_notes"]) == ("closed", "不予立案")

    inc = report(c, dispatcher, grid)
    ok(c, dispatcher, inc, "dispatch", team_id=grid["team"])
    refused(c, owner, member, inc, "supervise", 403, "leader, dispatcher or admin", note="x")
    minimal = {**people["leader"], "Prefer": "return=minimal"}
    r = c.post(f"/incidents/{inc}/steps/supervise", json={"note": "请加快处置"}, headers=minimal)
    assert r.status_code == 200 and r.headers["preference-applied"] == "return=minimal"
    assert r.json() == {"id": inc, "status": "dispatched", "in_view": None}
    body = c.get(f"/incidents/{inc}", headers=people["leader"]).json()
    assert body["supervised_at"] is not None
    zz = department(owner, f"{TOWN}-zz")
    refused(c, owner, member, inc, "reassign", 403, "dispatcher or admin", department_id=zz)
    body = ok(c, dispatcher, inc, "reassign", department_id=zz, note="转综治平台")
    assert (body["team_id"], body["department_id"], body["status"]) == (None, zz, "dispatched")
    # The team's members no longer hold it: their steps are refused (they still see it: their
    # grid's case, to check it on the ground).
    refused(c, owner, member, inc, "handle", 403, "do not hold")
    assert inc in visible_to(owner, grid["members"][0])


def test_unknown_steps_and_roles_without_steps(c, people, owner, grid) -> None:
    dispatcher = people[f"d-{TOWN}"]
    inc = report(c, dispatcher, grid)
    r = step(c, dispatcher, inc, "approve")
    assert r.status_code == 404 and "register" in r.json()["detail"]
    refused(c, owner, people["leader"], inc, "register", 403, "you are leader")
    refused(c, owner, auth("viewer"), inc, "register", 403, "you are viewer")
    r = c.post(f"/incidents/{inc}/steps/register", json={})
    assert r.status_code in (401, 403)
    refused(c, owner, dispatcher, 2**40, "register", 404, "no incident")


@pytest.mark.parametrize("platform", TOWN_PLATFORMS, ids=lambda p: p.code)
def test_every_town_has_its_four_platforms_and_staff(owner, platform) -> None:
    rows = owner.execute(
        "SELECT t.code, d.name, d.categories, u.login, u.role, u.area_code "
        "FROM citybrain.towns t JOIN citybrain.departments d ON d.town_id = t.id "
        "JOIN citybrain.users u ON u.department_id = d.id WHERE d.code = t.code || '-' || %s",
        [platform.code],
    ).fetchall()
    towns = owner.execute("SELECT count(*) FROM citybrain.towns").fetchone()[0]
    assert len(rows) == towns
    for code, name, categories, login, role, area in rows:
        assert name.endswith(platform.name) and tuple(categories) == platform.categories
        assert (login, role, area) == (f"h-{code}-{platform.code}", "handler", code)


def test_statuses_are_all_reachable() -> None:
    reached = {Status.reported}
    for s in STEPS.values():
        if s.target:
            reached.add(s.target)
    assert reached == set(Status)


# --- duplicates (并案) and repeats (重复件) ---------------------------------------------------


GEOD = Geod(ellps="WGS84")


def _metres(lon1, lat1, lon2, lat2) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_duplicates_offered_are_the_near_unclosed_cases_of_the_category(
    c, people, owner, grid
) -> None:
    dispatcher = people[f"d-{TOWN}"]
    # Around the grid's point: the same category at about 0, 30 and 80 m; another category.
    near = [report(c, dispatcher, grid, "环境", offset=d) for d in (0.0, 0.0003, 0.0008)]
    report(c, dispatcher, grid, "交通")
    new = report(c, dispatcher, grid, "环境", offset=0.0001)
    offered = c.get(f"/incidents/{new}/duplicates", headers=dispatcher).json()
    # Brute force over every incident, by the definition, with pyproj's geodesic distances.
    lon, lat, at = owner.execute(
        "SELECT ST_X(geom), ST_Y(geom), reported_at FROM citybrain.incidents WHERE id = %s", [new]
    ).fetchone()
    rows = owner.execute(
        "SELECT id, ST_X(geom), ST_Y(geom), status, reported_at FROM citybrain.incidents "
        "WHERE category = '环境' AND id <> %s",
        [new],
    ).fetchall()
    expected = sorted(
        (_metres(lon, lat, x, y), i)
        for i, x, y, status, t in rows
        if status in UNCLOSED
        and abs(t - at) <= DUPLICATE_WINDOW
        and _metres(lon, lat, x, y) <= DUPLICATE_RADIUS_M
    )
    assert [d["id"] for d in offered] == [i for _, i in expected]
    assert [d["distance_m"] for d in offered] == pytest.approx([m for m, _ in expected], abs=0.15)
    assert {near[0], near[1]} <= {d["id"] for d in offered} and near[2] not in {
        d["id"] for d in offered
    }
    # Merged, the first is offered no more.
    ok(c, dispatcher, near[1], "merge", duplicate_of=near[0])
    again = c.get(f"/incidents/{new}/duplicates", headers=dispatcher).json()
    assert near[1] not in {d["id"] for d in again} and near[0] in {d["id"] for d in again}
    # A caller who may not see the report is told so.
    r = c.get(f"/incidents/{new}/duplicates", headers=people[f"d-{OTHER_TOWN}"])
    assert r.status_code == 404


def test_a_report_where_a_case_was_closed_within_30_days_is_a_repeat(
    c, people, owner, grid
) -> None:
    dispatcher = people[f"d-{TOWN}"]
    # Close a case here through the workflow, then report the same thing again nearby.
    first = report(c, dispatcher, grid, "出租房屋")
    zz = department(owner, f"{TOWN}-zz")
    ok(c, dispatcher, first, "dispatch", department_id=zz)
    handler = people[f"h-{TOWN}-zz"]
    ok(c, handler, first, "handle")
    ok(c, handler, first, "report_done", note="已整改")
    ok(c, people[grid["members"][0]], first, "verify", photos=["v.jpg"])
    ok(c, dispatcher, first, "close")
    again = report(c, dispatcher, grid, "出租房屋", offset=0.0002)
    other = report(c, dispatcher, grid, "出租房屋", offset=0.002)  # about 200 m away
    got = c.get(f"/incidents/{again}", headers=dispatcher).json()
    lon, lat, at = owner.execute(
        "SELECT ST_X(geom), ST_Y(geom), reported_at FROM citybrain.incidents WHERE id = %s",
        [again],
    ).fetchone()
    closed = owner.execute(
        "SELECT id, ST_X(geom), ST_Y(geom), closed_at FROM citybrain.incidents "
        "WHERE category = '出租房屋' AND status = 'closed' AND closed_at <= %s",
        [at],
    ).fetchall()
    candidates = [
        (t, i)
        for i, x, y, t in closed
        if at - t <= REPEAT_WINDOW and _metres(lon, lat, x, y) <= DUPLICATE_RADIUS_M
    ]
    assert got["repeat_of"] == max(candidates)[1] == first
    assert c.get(f"/incidents/{other}", headers=dispatcher).json()["repeat_of"] is None


def test_concurrent_steps_on_one_team_neither_deadlock_nor_overfill(
    live, c, people, owner, grid
) -> None:
    """Dispatches to a team racing with its members' steps on its other cases: every step
    answers (none is a deadlock's 503), and the team ends within its capacity."""
    dispatcher, member = people[f"d-{TOWN}"], people[grid["members"][0]]
    held = [report(c, dispatcher, grid) for _ in range(8)]
    for inc in held:
        ok(c, dispatcher, inc, "dispatch", team_id=grid["team"])
    fresh = [report(c, dispatcher, grid) for _ in range(8)]
    active = owner.execute(
        "SELECT count(*) FROM citybrain.incidents WHERE team_id = %s "
        "AND status IN ('dispatched', 'on_site')",
        [grid["team"]],
    ).fetchone()[0]
    owner.execute(
        "UPDATE citybrain.teams SET capacity = %s WHERE id = %s", [active + 4, grid["team"]]
    )
    jobs = [(inc, "handle", member, {}) for inc in held] + [
        (inc, "dispatch", dispatcher, {"team_id": grid["team"]}) for inc in fresh
    ]

    def run(job):
        inc, name, headers, body = job
        with live.client() as client:
            return step(client, headers, inc, name, **body).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(run, jobs))
    assert sorted(codes[:8]) == [200] * 8  # every member's step taken
    assert sorted(codes[8:]) == [200] * 4 + [409] * 4  # four places, four dispatches
    after = owner.execute(
        "SELECT count(*), (SELECT capacity FROM citybrain.teams WHERE id = %s) "
        "FROM citybrain.incidents WHERE team_id = %s AND status IN ('dispatched', 'on_site')",
        [grid["team"], grid["team"]],
    ).fetchone()
    assert after[0] == after[1] == active + 4
    owner.execute(
        "UPDATE citybrain.teams SET capacity = 1000, status = 'available' WHERE id = %s",
        [grid["team"]],
    )
