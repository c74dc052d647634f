"""考核 (issue 32): the assessment of towns, villages, grids, teams and departments over a
period. Cases are walked through every kind of step the assessment counts (returned, failed
check, extension, rejected, merged, repeat, supervised, evaluated) by the seeded county's
people; then every figure of ``GET /reports/assessment`` is recomputed here, from the rows and
the audit trail read as the owner, with on-time counted against another package's working
calendar (``tests/utils/workhours``); the XLSX opens with openpyxl and holds the same figures;
the PDF renders to pages whose text carries them."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pypdf
import pytest

from citybrain.services.assessment import FIGURES, HEADERS, LEVEL_NAMES
from tests.utils.cases import People, department, grid_of, ok, report
from tests.utils.cli import citybrain
from tests.utils.county import now
from tests.utils.keys import auth
from tests.utils.workhours import Minutes

TOWN = "330421001"
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEADER = auth("viewer")  # a key that reads the county's assessment (as a leader)


@pytest.fixture(scope="module")
def walked(module_client, module_server, fresh_county_module, module_owner) -> dict:
    """Cases of this month walked through the workflow, each path once or more."""
    people = People(module_server, fresh_county_module)
    grid = grid_of(module_owner, TOWN)
    d, admin = people[f"d-{TOWN}"], auth("admin")
    member, checker = (people[m] for m in grid["members"])
    zz, bm = department(module_owner, f"{TOWN}-zz"), department(module_owner, f"{TOWN}-bm")
    zz_handler = people[f"h-{TOWN}-zz"]
    cases = {}
    # Through a department, checked, closed, evaluated satisfied; supervised on the way.
    a = cases["platform"] = report(module_client, d, grid)
    ok(module_client, d, a, "register")
    ok(module_client, d, a, "dispatch", department_id=zz)
    ok(module_client, people["leader"], a, "supervise", note="加快")
    ok(module_client, zz_handler, a, "handle")
    ok(module_client, zz_handler, a, "report_done", note="已调解")
    ok(module_client, member, a, "verify", photos=["v.jpg"])
    ok(module_client, d, a, "close")
    ok(module_client, d, a, "evaluate", satisfaction="satisfied")
    # Returned by the department, then to the team; a failed check; closed; dissatisfied.
    b = cases["returned"] = report(module_client, d, grid)
    ok(module_client, d, b, "dispatch", department_id=zz)
    ok(module_client, zz_handler, b, "return", reason="非本部门")
    ok(module_client, d, b, "dispatch", team_id=grid["team"])
    ok(module_client, member, b, "handle")
    ok(module_client, member, b, "report_done", note="处理")
    ok(module_client, checker, b, "fail_check", reason="未完成")
    ok(module_client, member, b, "report_done", note="再处理")
    ok(module_client, checker, b, "verify", photos=["v2.jpg"])
    ok(module_client, d, b, "close")
    ok(module_client, d, b, "evaluate", satisfaction="dissatisfied")
    # An extension granted, resolved; basically satisfied after closing.
    e = cases["extended"] = report(module_client, d, grid, category="民生诉求")
    ok(module_client, d, e, "dispatch", department_id=bm)
    ok(module_client, people[f"h-{TOWN}-bm"], e, "ask_extension", minutes=480, reason="需协调")
    ok(module_client, d, e, "approve_extension")
    ok(module_client, people[f"h-{TOWN}-bm"], e, "handle")
    ok(module_client, people[f"h-{TOWN}-bm"], e, "report_done", note="办结")
    ok(module_client, admin, e, "verify", photos=["v3.jpg"])
    ok(module_client, d, e, "close")
    ok(module_client, d, e, "evaluate", satisfaction="basically_satisfied")
    # Rejected; merged into the first; a repeat of the first (closed here); left open.
    r = cases["rejected"] = report(module_client, d, grid, category="环境")
    ok(module_client, d, r, "reject", reason="不属于受理范围")
    m = cases["merged"] = report(module_client, d, grid, category="城市管理")
    target = report(module_client, d, grid, category="城市管理", offset=0.0001)
    ok(module_client, d, m, "merge", duplicate_of=target)
    cases["repeat"] = report(module_client, d, grid, offset=0.0001)
    ok(module_client, d, cases["repeat"], "dispatch", team_id=grid["team"])
    cases["open"] = report(module_client, member, grid, category="出租房屋")
    return cases


def _month_of(t: datetime) -> str:
    return f"{t.astimezone(SHANGHAI):%Y-%m}"


def _period(month: str) -> tuple[datetime, datetime]:
    y, m = map(int, month.split("-"))
    start = datetime(y, m, 1, tzinfo=SHANGHAI)
    return start, datetime(y + m // 12, m % 12 + 1, 1, tzinfo=SHANGHAI)


def expected(module_owner, level: str, start: datetime, end: datetime, as_of: datetime) -> dict:
    """Every figure per unit, from the rows and the trail, in Python; due times on the clock or
    minute by minute over chinesecalendar's working days."""
    limits = {
        (cat, step): (minutes, working)
        for cat, step, minutes, working in module_owner.execute(
            "SELECT category, step, minutes, working FROM citybrain.time_limits"
        )
    }
    rows = module_owner.execute(
        """SELECT i.id, i.category, i.status, i.reported_at, i.registered_at, i.dispatched_at,
                  i.resolved_at,
                  i.closed_at, i.repeat_of, i.satisfaction, i.supervised_at,
                  i.extension_minutes, i.team_id, i.department_id,
                  g.id, v.id, v.town_id
           FROM citybrain.incidents i
           JOIN citybrain.micro_grids mg ON mg.id = i.micro_grid_id
           JOIN citybrain.compounds cp ON cp.id = mg.compound_id
           JOIN citybrain.grids g ON g.id = cp.grid_id
           JOIN citybrain.villages v ON v.id = g.village_id
           WHERE i.reported_at >= %s AND i.reported_at < %s""",
        [start, end],
    ).fetchall()
    reference = Minutes(date(2025, 10, 1), date(2026, 12, 31))

    def due(category, step, since, extra=0):
        minutes, working = limits[(category, step)]
        minutes += extra
        return reference.due(since, minutes) if working else since + timedelta(minutes=minutes)

    out: dict = defaultdict(Counter)
    unit_of = {}
    for (
        i,
        cat,
        status,
        rep,
        reg,
        dis,
        res,
        clo,
        repeat,
        sat,
        sup,
        ext,
        team,
        dept,
        grid,
        village,
        town,
    ) in rows:
        unit = {"town": town, "village": village, "grid": grid, "team": team, "department": dept}[
            level
        ]
        unit_of[i] = unit
        f = out[unit]
        f["received"] += 1
        ended = status in ("rejected", "merged")
        f["not_registered"] += ended
        f["registered"] += not ended and (reg is not None or dis is not None)
        if dis is not None:
            f["dispatched"] += 1
            f["dispatched_on_time"] += dis <= due(cat, "dispatch", rep)
        resolve_due = due(cat, "resolve", rep, ext)
        if res is not None:
            f["resolved"] += 1
            f["resolved_on_time"] += res <= resolve_due
        f["overdue"] += not ended and (res if res is not None else as_of) > resolve_due
        f["closed"] += clo is not None
        f["repeats"] += repeat is not None
        f["supervised"] += sup is not None
        f["evaluated"] += sat is not None
        f["satisfied"] += sat in ("satisfied", "basically_satisfied")
    events = module_owner.execute(
        "SELECT incident_id, action, team_id, department_id FROM citybrain.incident_events "
        "WHERE action IN ('return', 'fail_check') AND incident_id = ANY (%s)",
        [list(unit_of)],
    ).fetchall()
    for incident, action, team, dept in events:
        unit = {"team": team, "department": dept}.get(level, unit_of[incident])
        out[unit]["returned" if action == "return" else "failed_checks"] += 1
    return out


def _check(answer: dict, want: dict) -> None:
    got = {u["id"]: {k: u[k] for k in FIGURES} for u in answer["units"]}
    for unit, figures in got.items():
        assert figures == {k: want.get(unit, Counter())[k] for k in FIGURES}, unit
    # Every case of a listed unit is counted; none is lost to a unit not listed.
    listed = sum(f["received"] for f in got.values())
    assert listed == sum(f["received"] for u, f in want.items() if u in got)
    for k in FIGURES:
        assert answer["total"][k] == sum(f[k] for f in got.values())
    for u in answer["units"]:
        if u["resolved"]:
            assert u["resolved_on_time_pct"] == round(
                100 * u["resolved_on_time"] / u["resolved"], 1
            )
        else:
            assert u["resolved_on_time_pct"] is None


@pytest.mark.parametrize("level", ["town", "village", "grid", "team", "department"])
def test_this_months_walked_cases(module_client, module_owner, walked, level) -> None:
    month = _month_of(now())
    start, end = _period(month)
    r = module_client.get(
        "/reports/assessment", params={"period": month, "level": level}, headers=LEADER
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert datetime.fromisoformat(answer["start"]) == start
    assert datetime.fromisoformat(answer["end"]) == end
    _check(answer, expected(module_owner, level, start, end, min(end, now())))
    total = answer["total"]
    # (the walked paths are all counted: at a holder level, the return by the department and
    # the failed check of the team's work each go to the one it concerned)
    assert total["returned"] >= (level != "team") and total["failed_checks"] >= (
        level != "department"
    )
    if level not in ("team", "department"):
        assert total["repeats"] >= 1 and total["not_registered"] >= 2
        assert total["evaluated"] >= 3 and total["satisfied"] >= 2


@pytest.mark.parametrize("level", ["town", "grid"])
def test_a_month_of_the_seeded_county(module_client, module_owner, level) -> None:
    start, end = _period("2026-10")
    r = module_client.get(
        "/reports/assessment", params={"period": "2026-10", "level": level}, headers=LEADER
    )
    answer = r.json()
    want = expected(module_owner, level, start, end, min(end, now()))
    _check(answer, want)
    assert answer["total"]["received"] == sum(f["received"] for f in want.values()) > 1000


def test_a_town_sees_its_own_units(
    module_client, module_server, fresh_county_module, module_owner, walked
) -> None:
    people = People(module_server, fresh_county_module)
    month = _month_of(now())
    r = module_client.get(
        "/reports/assessment",
        params={"period": month, "level": "village"},
        headers=people[f"d-{TOWN}"],
    )
    ids = {u["id"] for u in r.json()["units"]}
    assert ids == {
        v
        for (v,) in module_owner.execute(
            "SELECT v.id FROM citybrain.villages v JOIN citybrain.towns t ON t.id = v.town_id "
            "WHERE t.code = %s",
            [TOWN],
        )
    }
    r = module_client.get(
        "/reports/assessment",
        params={"period": month, "level": "department"},
        headers=people[f"d-{TOWN}"],
    )
    kinds = module_owner.execute(
        "SELECT d.id FROM citybrain.departments d LEFT JOIN citybrain.towns t "
        "ON t.id = d.town_id WHERE t.code = %s OR d.town_id IS NULL",
        [TOWN],
    ).fetchall()
    assert {u["id"] for u in r.json()["units"]} == {k for (k,) in kinds}


@pytest.mark.parametrize(
    "params,words",
    [
        ({"period": "2026-13"}, "a month"),
        ({"period": "2026-11-10..2026-11-01"}, "ends before"),
        ({"period": "2020-01-01..2026-01-01"}, "longer than a year"),
        ({"period": "9999-12-31..9999-12-31"}, "a month"),  # (past the last day there is)
        ({"period": "2026-11", "level": "province"}, "one of town"),
    ],
)
def test_bad_periods_and_levels(module_client, params, words) -> None:
    r = module_client.get("/reports/assessment", params=params, headers=LEADER)
    assert r.status_code == 400 and words in r.json()["detail"]


def test_who_may_read_it(module_client) -> None:
    r = module_client.get(
        "/reports/assessment", params={"period": "2026-10"}, headers=auth("display")
    )
    assert r.status_code == 403


def test_the_xlsx_and_the_pdf(
    module_client, fresh_county_module, module_owner, walked, tmp_path
) -> None:
    month = _month_of(now())
    out = tmp_path / "考核"
    done = citybrain(
        fresh_county_module, "report", "assessment", "--period", month, "--out", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    book = openpyxl.load_workbook(out.with_suffix(".xlsx"), read_only=True)
    assert book.sheetnames == [LEVEL_NAMES[k] for k in LEVEL_NAMES]
    for level in ("town", "department"):
        answer = module_client.get(
            "/reports/assessment", params={"period": month, "level": level}, headers=LEADER
        ).json()
        sheet = list(book[LEVEL_NAMES[level]].iter_rows(values_only=True))
        header = list(sheet[2])
        assert header[:4] == [
            HEADERS["code"],
            HEADERS["name"],
            HEADERS["received"],
            HEADERS["registered"],
        ]
        body = sheet[3:]
        assert len(body) == len(answer["units"]) + 1 and body[-1][1] == "合计"
        for row, unit in zip(body, answer["units"], strict=False):
            assert row[0] == unit["code"] and row[1] == unit["name"]
            for key in FIGURES:
                assert row[header.index(HEADERS[key])] == unit[key], (unit["code"], key)
        assert body[-1][header.index(HEADERS["received"])] == answer["total"]["received"]
    pdf = pypdf.PdfReader(out.with_suffix(".pdf"))
    assert len(pdf.pages) >= 3
    text = "\n".join(p.extract_text() for p in pdf.pages)
    towns = module_client.get(
        "/reports/assessment", params={"period": month, "level": "town"}, headers=LEADER
    ).json()
    assert "嘉善县基层治理考核" in text and "按时处置率" in text
    for unit in towns["units"]:
        assert unit["name"] in text
    words = text.split()
    wanted = next(u for u in towns["units"] if u["code"] == TOWN)
    line = words[words.index(TOWN) : words.index(TOWN) + 6]
    assert line[:4] == [TOWN, wanted["name"], str(wanted["received"]), str(wanted["registered"])]
