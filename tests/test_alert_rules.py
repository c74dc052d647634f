"""The rules a command centre writes itself fire exactly when their condition becomes true and
not twice: ``overdue`` (a grid's cases waiting for dispatch past their time limit) and
``cameras_offline`` (more than x % of an area's cameras offline), each against a brute-force
count in Python over the same rows (the hierarchy read table by table, not through the view the
SQL uses). Also ``GET /alerts?since=`` and a closed alert whose condition still holds."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from citybrain.alerts import Detector, load_detectors
from citybrain.alerts.runner import run_detector
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import AWAITING_DISPATCH
from tests.utils.county import SEED_END, point_in
from tests.utils.keys import auth
from tests.utils.server import LiveServer, server_settings

SHIPPED = Path(__file__).resolve().parents[1] / "alerts"


def shipped(name: str, **changes) -> Detector:
    """A detector as shipped in alerts/, with ``changes`` (validated again)."""
    return Detector.model_validate(load_detectors(SHIPPED)[name].model_dump() | changes)


def grid_of_micro_grid(conn: psycopg.Connection) -> dict[int, int]:
    compound_grid = dict(conn.execute("SELECT id, grid_id FROM citybrain.compounds").fetchall())
    return {
        m: compound_grid[c]
        for m, c in conn.execute("SELECT id, compound_id FROM citybrain.micro_grids")
    }


def codes(conn: psycopg.Connection, table: str) -> dict[int, str]:
    return dict(conn.execute(f"SELECT id, code FROM citybrain.{table}").fetchall())


def active_alerts(conn: psycopg.Connection, detector: str) -> dict[str, dict]:
    """The detector's active alerts by their (single) area code."""
    rows = conn.execute(
        "SELECT id, area_codes, observed, expected, statistic, incident_ids, window_start, "
        "summary, summary_en, status FROM citybrain.alerts WHERE detector = %s AND active",
        [detector],
    ).fetchall()
    out = {}
    for id_, area_codes, observed, expected, statistic, ids, start, summary, en, status in rows:
        assert len(area_codes) == 1 and area_codes[0] not in out
        out[area_codes[0]] = {
            "id": id_,
            "observed": observed,
            "expected": expected,
            "statistic": statistic,
            "incident_ids": ids,
            "window_start": start,
            "summary": summary,
            "summary_en": en,
            "status": status,
        }
    return out


def raises(conn: psycopg.Connection, detector: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM citybrain.alert_events e JOIN citybrain.alerts a "
        "ON a.id = e.alert_id WHERE a.detector = %s AND e.action = 'raise'",
        [detector],
    ).fetchone()[0]


# --- overdue ------------------------------------------------------------------------------------


def overdue_oracle(conn: psycopg.Connection, now: datetime, at_least: int) -> dict[str, dict]:
    """Grids (by code) holding at least ``at_least`` cases waiting for dispatch whose time limit
    (from the escalation, for an escalated case) had passed by ``now``: their cases, oldest
    start and teams, counted in Python."""
    limit = dict(
        conn.execute(
            "SELECT category, minutes FROM citybrain.time_limits "
            "WHERE step = 'dispatch' AND NOT working"  # (dispatch runs on the clock)
        )
    )
    grid_of = grid_of_micro_grid(conn)
    waiting = {str(s) for s in AWAITING_DISPATCH}
    cases: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for id_, status, category, reported, escalated, micro in conn.execute(
        "SELECT id, status, category, reported_at, escalated_at, micro_grid_id "
        "FROM citybrain.incidents"
    ):
        start = escalated or reported
        if (
            status in waiting
            and micro is not None
            and start + timedelta(minutes=limit[category]) < now
        ):
            cases[grid_of[micro]].append((id_, start))
    teams: dict[int, list[str]] = defaultdict(list)
    for grid, name in conn.execute("SELECT grid_id, name FROM citybrain.teams ORDER BY id"):
        teams[grid].append(name)
    grid_code = codes(conn, "grids")
    return {
        grid_code[g]: {
            "incident_ids": sorted(i for i, _ in held),
            "oldest": min(s for _, s in held),
            "teams": "、".join(teams[g]) or "none",
        }
        for g, held in cases.items()
        if len(held) >= at_least
    }


def assert_overdue_agrees(conn: psycopg.Connection, rule: Detector, now: datetime) -> dict:
    expected = overdue_oracle(conn, now, rule.at_least)
    found = active_alerts(conn, rule.id)
    assert set(found) == set(expected)
    for code, want in expected.items():
        got = found[code]
        assert got["incident_ids"] == want["incident_ids"], code
        n = len(want["incident_ids"])
        assert (got["observed"], got["statistic"], got["expected"]) == (n, float(n), None)
        assert got["window_start"] == want["oldest"]
        # Said in Chinese (the screen's) and in English, with the same figures.
        assert got["summary"].startswith(f"{n} 起案件超过派遣时限"), got["summary"]
        zh = "无" if want["teams"] == "none" else want["teams"]
        assert got["summary"].endswith(f"队伍：{zh}"), got["summary"]
        assert got["summary_en"].endswith(f"team: {want['teams']}"), got["summary_en"]
    return found


def plant(
    conn: psycopg.Connection,
    micro_grid: int,
    reported_at: datetime,
    status: str = "reported",
    escalated_at: datetime | None = None,
    dispatched_at: datetime | None = None,
    category: str = "治安",
) -> int:
    """One incident in the micro-grid (its chain and H3 cells are the database's to fill)."""
    lon, lat = point_in(conn, micro_grid)
    return conn.execute(
        "INSERT INTO citybrain.incidents (category, source, severity, status, tier, reported_at, "
        "escalated_at, dispatched_at, updated_at, geom) VALUES (%s, 'grid_patrol', 2, %s, "
        "%s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
        [
            category,
            status,
            "town" if status == "escalated" else "village",
            reported_at,
            escalated_at,
            dispatched_at,
            reported_at,
            lon,
            lat,
        ],
    ).fetchone()[0]


def test_overdue_fires_exactly_where_and_when_the_count_says(fresh_county: str) -> None:
    """A grid with two overdue cases (the rule: three) raises nothing; one second later its
    third case passes its limit and the grid raises one alert naming both its teams; the same
    situation again raises nothing; an escalated case counts from its escalation; dispatched
    cases never count, and dispatching lets the alert pass. Every other grid of the seeded
    county is alerted exactly as the oracle says."""
    rule = shipped("rule_overdue")
    assert (rule.at_least, rule.areas) == (3, "grids")
    now = SEED_END
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        minutes = conn.execute(
            "SELECT minutes FROM citybrain.time_limits "
            "WHERE category = '治安' AND step = 'dispatch' AND NOT working"
        ).fetchone()[0]
        limit = timedelta(minutes=minutes)
        # A grid with one team and nothing open, and a second team for it (a grid may have
        # several: teams.grid_id is not unique).
        grid, grid_code, micro, team = conn.execute(
            "SELECT g.id, g.code, min(m.id), min(t.id) FROM citybrain.grids g "
            "JOIN citybrain.compounds c ON c.grid_id = g.id "
            "JOIN citybrain.micro_grids m ON m.compound_id = c.id "
            "JOIN citybrain.teams t ON t.grid_id = g.id "
            "WHERE NOT EXISTS (SELECT FROM citybrain.incidents i "
            "  JOIN citybrain.micro_grids mi ON mi.id = i.micro_grid_id "
            "  JOIN citybrain.compounds ci ON ci.id = mi.compound_id "
            "  WHERE ci.grid_id = g.id AND i.status IN ('reported', 'escalated')) "
            "GROUP BY g.id HAVING count(DISTINCT t.id) = 1 ORDER BY g.id LIMIT 1"
        ).fetchone()
        conn.execute(
            "INSERT INTO citybrain.teams (code, name, grid_id, status, skills, members, "
            "capacity, position_at, h3, micro_grid_id, geom) SELECT code || 'B', name || '二组', "
            "grid_id, status, skills, members, capacity, position_at, h3, micro_grid_id, geom "
            "FROM citybrain.teams WHERE id = %s",
            [team],
        )
        late = [plant(conn, micro, now - limit - timedelta(minutes=m)) for m in (5, 50)]
        on_the_limit = plant(conn, micro, now - limit)  # overdue from now + 1 s
        escalated = plant(  # waits for the town from its escalation: overdue from now + 30 min
            conn,
            micro,
            now - 10 * limit,
            status="escalated",
            escalated_at=now - limit + timedelta(minutes=30),
        )
        plant(  # on its way: never overdue
            conn,
            micro,
            now - 10 * limit,
            status="dispatched",
            dispatched_at=now - 9 * limit,
        )

        # Any one overdue case: the seed's own waiting cases, grid by grid, as the oracle says.
        anyone = shipped("rule_overdue", id="overdue_any", at_least=1)
        assert (
            run_detector(conn, anyone, now).raised
            == len(assert_overdue_agrees(conn, anyone, now))
            > 1
        )

        # Two of three: nothing in this grid (nor anywhere in the seed's county).
        first = run_detector(conn, rule, now)
        before = assert_overdue_agrees(conn, rule, now)
        assert grid_code not in before and first.raised == len(before) == first.found

        # One second later the case on the limit is past it: the grid fires, once.
        at = now + timedelta(seconds=1)
        second = run_detector(conn, rule, at)
        found = assert_overdue_agrees(conn, rule, at)
        assert second.raised == len(set(found) - set(before)) and grid_code in found
        alert = found[grid_code]
        assert alert["incident_ids"] == sorted([*late, on_the_limit])
        teams = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM citybrain.teams WHERE grid_id = %s ORDER BY id", [grid]
            )
        ]
        assert len(teams) == 2 and alert["summary"].endswith("队伍：" + "、".join(teams))
        assert alert["summary_en"].endswith("team: " + "、".join(teams))

        # The same situation again: the same alert, nothing raised.
        total = conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0]
        assert run_detector(conn, rule, at + timedelta(seconds=1)).raised == 0
        assert conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0] == total
        assert active_alerts(conn, "rule_overdue")[grid_code]["id"] == alert["id"]

        # Half an hour on, the escalated case is past its limit too: the alert grows.
        later = now + timedelta(minutes=31)
        grown = run_detector(conn, rule, later)
        found_later = assert_overdue_agrees(conn, rule, later)
        assert grown.raised == len(set(found_later) - set(found))
        assert found_later[grid_code]["id"] == alert["id"]
        assert found_later[grid_code]["incident_ids"] == sorted([*late, on_the_limit, escalated])
        assert raises(conn, "rule_overdue") == len(
            {*before, *found, *found_later}
        )  # one raise per grid, ever

        # Two of them dispatched: two left, below the rule; the alert passes (still open).
        conn.execute(
            "UPDATE citybrain.incidents SET status = 'dispatched', dispatched_at = %s, "
            "team_id = %s WHERE id = ANY (%s)",
            [later, team, late],
        )
        run_detector(conn, rule, later)
        assert grid_code not in assert_overdue_agrees(conn, rule, later)
        assert conn.execute(
            "SELECT active, status FROM citybrain.alerts WHERE id = %s", [alert["id"]]
        ).fetchone() == (False, "new")


# --- cameras offline ----------------------------------------------------------------------------


def cameras_oracle(
    conn: psycopg.Connection, level: str, above: float, at_least: int
) -> dict[str, tuple[int, int]]:
    """Areas of ``level`` (by code) where more than ``above`` % of the cameras, and at least
    ``at_least`` of them, are offline: (offline, cameras), counted in Python."""
    grid_of = grid_of_micro_grid(conn)
    village_of = dict(conn.execute("SELECT id, village_id FROM citybrain.grids").fetchall())
    town_of = dict(conn.execute("SELECT id, town_id FROM citybrain.villages").fetchall())
    up = {
        "grids": lambda m: grid_of[m],
        "villages": lambda m: village_of[grid_of[m]],
        "towns": lambda m: town_of[village_of[grid_of[m]]],
    }[level]
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for online, micro in conn.execute("SELECT online, micro_grid_id FROM citybrain.cameras"):
        if micro is not None:
            c = counts[up(micro)]
            c[0] += not online
            c[1] += 1
    area_code = codes(conn, level)
    return {
        area_code[a]: (off, n)
        for a, (off, n) in counts.items()
        if off / n * 100 > above and off >= at_least
    }


def assert_cameras_agree(conn: psycopg.Connection, rule: Detector) -> dict:
    expected = cameras_oracle(conn, rule.areas, rule.above_percent, max(rule.at_least, 1))
    found = active_alerts(conn, rule.id)
    assert set(found) == set(expected)
    for code, (off, n) in expected.items():
        got = found[code]
        assert (got["observed"], got["expected"]) == (off, n)
        assert got["statistic"] == pytest.approx(100 * off / n, rel=1e-12)
        assert got["incident_ids"] == []
    return found


def test_cameras_offline_fires_above_the_share_and_once(fresh_county: str) -> None:
    """A town with exactly 20 % of its cameras offline (the rule: more than 20 %) raises
    nothing; one camera more and it raises one alert; again, nothing new. Every other town, and
    the villages with the rule at that level, as the oracle says."""
    rule = shipped("rule_cameras_offline")
    assert (rule.areas, rule.above_percent, rule.at_least) == ("towns", 20, 1)
    now = SEED_END
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:

        def town_cameras(town: int) -> list[int]:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT c.id FROM citybrain.cameras c "
                    "JOIN citybrain.micro_grids m ON m.id = c.micro_grid_id "
                    "JOIN citybrain.compounds co ON co.id = m.compound_id "
                    "JOIN citybrain.grids g ON g.id = co.grid_id "
                    "JOIN citybrain.villages v ON v.id = g.village_id "
                    "WHERE v.town_id = %s ORDER BY c.id",
                    [town],
                )
            ]

        towns = [r[0] for r in conn.execute("SELECT id FROM citybrain.towns ORDER BY id")]
        town, other = towns[0], towns[1]
        town_code = codes(conn, "towns")[town]
        # Exactly a fifth of the town's cameras offline: as many as divide by five, all online
        # but a fifth.
        ids = town_cameras(town)
        assert len(ids) >= 10
        if len(ids) % 5:
            conn.execute("DELETE FROM citybrain.cameras WHERE id = ANY (%s)", [ids[: len(ids) % 5]])
            ids = ids[len(ids) % 5 :]
        conn.execute("UPDATE citybrain.cameras SET online = true WHERE id = ANY (%s)", [ids])
        fifth = len(ids) // 5
        conn.execute(
            "UPDATE citybrain.cameras SET online = false WHERE id = ANY (%s)", [ids[:fifth]]
        )
        # Another town far above it (so the oracle's set is not only the seed's).
        theirs = town_cameras(other)
        conn.execute(
            "UPDATE citybrain.cameras SET online = false WHERE id = ANY (%s)",
            [theirs[: len(theirs) // 2 + 1]],
        )

        first = run_detector(conn, rule, now)
        before = assert_cameras_agree(conn, rule)
        assert town_code not in before and codes(conn, "towns")[other] in before
        assert first.raised == first.found == len(before)

        conn.execute("UPDATE citybrain.cameras SET online = false WHERE id = %s", [ids[fifth]])
        second = run_detector(conn, rule, now + timedelta(minutes=10))
        found = assert_cameras_agree(conn, rule)
        assert town_code in found and second.raised == 1 == len(set(found) - set(before))
        assert found[town_code]["observed"] == fifth + 1

        total = conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0]
        again = run_detector(conn, rule, now + timedelta(minutes=20))
        assert again.raised == 0
        assert conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0] == total
        assert assert_cameras_agree(conn, rule)[town_code]["id"] == found[town_code]["id"]
        assert raises(conn, rule.id) == len(found)

        # At least this many offline, too: the town (fifth + 1 offline) is one short of it.
        strict = shipped(
            "rule_cameras_offline", id="cameras_strict", at_least=fifth + 2, areas="towns"
        )
        run_detector(conn, strict, now)
        assert town_code not in assert_cameras_agree(conn, strict)
        # The same rule over villages (the area column follows the level).
        villages = shipped("rule_cameras_offline", id="cameras_villages", areas="villages")
        ran = run_detector(conn, villages, now)
        assert ran.raised == len(assert_cameras_agree(conn, villages)) > 0


# --- GET /alerts?since= and closed alerts ----------------------------------------------------


def busy_compounds(days: int = 30, **fields) -> Detector:
    """Five or more incidents in one compound within ``days`` days (a handful of alerts in the
    seeded county)."""
    return shipped(
        "rule_public_order",
        **{
            "categories": None,
            "by_category": False,
            "window_hours": 24 * days,
            "at_least": 5,
            "on_change": False,
        }
        | fields,
    )


def test_since_filter_and_a_closed_alert_stays_closed(fresh_county: str) -> None:
    """``since`` keeps the alerts last seen at or after it (a zone given, a naive local time, a
    date; a bad one is a 400). A closed alert whose condition still holds is updated but stays
    closed and raises nothing; once the condition has passed, its return raises a new alert."""
    early_rule, late_rule = busy_compounds(id="rule_early"), busy_compounds(id="rule_late")
    early, late = SEED_END - timedelta(days=10), SEED_END
    local = ZoneInfo("Asia/Shanghai")
    with psycopg.connect(libpq_conninfo(fresh_county), autocommit=True) as conn:
        run_detector(conn, early_rule, early)
        ran = run_detector(conn, late_rule, late)
        seen = dict(conn.execute("SELECT id, last_seen FROM citybrain.alerts").fetchall())
        assert ran.raised >= 2 and len(seen) > ran.raised  # both detectors found some
        assert len(seen) <= 500

        with LiveServer(server_settings(fresh_county)) as live, live.client() as api:

            def since(value: str) -> list[int]:
                r = api.get("/alerts", params={"since": value, "limit": 500})
                assert r.status_code == 200, r.text
                return sorted(a["id"] for a in r.json())

            def oracle(t: datetime) -> list[int]:
                return sorted(i for i, last in seen.items() if last >= t)

            assert sorted(seen) == since("2000-01-01")
            for t in (early, early + timedelta(seconds=1), late, late + timedelta(seconds=1)):
                assert since(t.astimezone(local).isoformat()) == oracle(t)
                assert since(t.isoformat().replace("+00:00", "Z")) == oracle(t)
            assert 0 < len(oracle(late)) < len(seen) and oracle(late + timedelta(seconds=1)) == []
            # Without a zone it is the server's (Asia/Shanghai): the late run was at 16:00
            # there (08:00 UTC); 12:00 is before it there, and would be after it in UTC.
            naive = late.astimezone(local).replace(tzinfo=None)
            assert since(naive.isoformat()) == oracle(late)
            assert since((naive + timedelta(seconds=1)).isoformat()) == []
            assert since(naive.replace(hour=12).isoformat()) == oracle(late)
            # A date is its local midnight: 2026-11-01 00:00 +08:00, after the early run.
            assert since(late.astimezone(local).date().isoformat()) == oracle(late)
            bad = api.get("/alerts", params={"since": "yesterday"})
            assert bad.status_code == 400 and "since" in bad.json()["detail"]

            # Close one of the late alerts; its compound still holds five or more.
            closed = min(oracle(late))
            r = api.post(f"/alerts/{closed}/close", headers=auth("dispatcher"))
            assert r.status_code == 200 and r.json()["status"] == "closed"
            code = r.json()["area_codes"]
            total = len(seen)
            again = run_detector(conn, late_rule, late + timedelta(minutes=1))
            assert again.raised == 0
            assert conn.execute("SELECT count(*) FROM citybrain.alerts").fetchone()[0] == total
            # Seen again (its condition holds), and still closed.
            row = api.get(f"/alerts/{closed}").json()
            assert (row["status"], row["area_codes"]) == ("closed", code)
            assert datetime.fromisoformat(row["last_seen"]) == late + timedelta(minutes=1)
            opened = [a["id"] for a in api.get("/alerts", params={"status": "new"}).json()]
            assert closed not in opened
            trail = api.get(f"/alerts/{closed}/events", headers=auth("viewer")).json()
            assert [e["action"] for e in trail] == ["raise", "close"]

        # The condition passes (a month on, nothing in the window), then holds again: the
        # closed alert stays closed and a new one is raised for its compound, the only one.
        run_detector(conn, late_rule, late + timedelta(days=31))
        back = run_detector(conn, late_rule, late + timedelta(minutes=2))
        assert back.raised == 1
        rows = conn.execute(
            "SELECT id, status, active FROM citybrain.alerts WHERE detector = 'rule_late' "
            "AND area_codes = %s ORDER BY id",
            [code],
        ).fetchall()
        assert rows[0] == (closed, "closed", False)
        assert len(rows) == 2 and rows[1][1:] == ("new", True)
